#!/usr/bin/env Rscript
# lme4 side of benchmarks/contention.py (called by it, once idle and once next to a busy process).
#
# Usage (from the repository root):
#   Rscript benchmarks/r/contention_bench.R DATA_DIR DEPT_LEVELS CROSSED_CSV N_INSTEVAL N_CROSSED N_SLEEP
#     DATA_DIR     folder holding insteval.csv and sleepstudy.csv
#     DEPT_LEVELS  comma-separated dept levels in R's order (from factor_levels_r.json)
#     CROSSED_CSV  the generated crossed data set (columns y, x, a, b)
#     N_*          repetitions of each fit (the caller reports the best)
#
# Prints "key seconds" per fit on stdout, timed inside R (start-up and loading excluded), and
# "key_criterion value" once per model (-2 log-likelihood: ML deviance or REML criterion).
# Exits with status 3 when lme4 is not installed.
if (!requireNamespace("lme4", quietly = TRUE)) {
  cat("lme4 is not installed\n", file = stderr())
  quit(save = "no", status = 3)
}
suppressPackageStartupMessages(library(lme4))

args <- commandArgs(trailingOnly = TRUE)
data_dir <- args[[1]]
dept_levels <- strsplit(args[[2]], ",", fixed = TRUE)[[1]]
crossed_csv <- args[[3]]
reps <- as.integer(args[4:6])

out <- function(key, value) cat(key, " ", sprintf("%.17g", value), "\n", sep = "")
timed <- function(key, n, expr_fun) {
  fit <- NULL
  for (i in seq_len(n)) {
    t0 <- Sys.time()
    fit <- expr_fun()
    out(key, as.numeric(Sys.time()) - as.numeric(t0))
  }
  out(paste0(key, "_criterion"), -2 * as.numeric(logLik(fit)))  # ML deviance or REML criterion
}

insteval <- read.csv(file.path(data_dir, "insteval.csv"))
for (v in c("s", "d", "service")) insteval[[v]] <- factor(insteval[[v]])
insteval$dept <- factor(insteval$dept, levels = dept_levels)
timed("insteval", reps[[1]], function() lmer(y ~ service + (1 | s) + (1 | d) + (1 | dept), insteval, REML = FALSE))

crossed <- read.csv(crossed_csv)
crossed$a <- factor(crossed$a)
crossed$b <- factor(crossed$b)
timed("crossed", reps[[2]], function() lmer(y ~ x + (1 | a) + (1 | b), crossed))

sleepstudy <- read.csv(file.path(data_dir, "sleepstudy.csv"))
sleepstudy$Subject <- factor(sleepstudy$Subject)
invisible(lmer(Reaction ~ Days + (Days | Subject), sleepstudy))  # warm-up
timed("sleepstudy", reps[[3]], function() lmer(Reaction ~ Days + (Days | Subject), sleepstudy))

#!/usr/bin/env Rscript
# lme4 side of benchmarks/lmer_vs_lme4.py (called by it; can also be run alone).
#
# Usage (from the repository root):
#   Rscript benchmarks/r/lmer_bench.R DATA_DIR DEPT_LEVELS N_INSTEVAL N_SLEEP
#     DATA_DIR     folder holding insteval.csv and sleepstudy.csv
#     DEPT_LEVELS  comma-separated dept levels in R's order (from factor_levels_r.json)
#     N_INSTEVAL   repetitions of the InstEval ML fit (best is reported by the caller)
#     N_SLEEP      number of timed sleepstudy REML fits (after one warm-up fit)
#
# Prints one "key value" pair per line on stdout; times are in seconds and
# measured inside R, so R start-up and package loading are excluded.
# Exits with status 3 when lme4 is not installed.
if (!requireNamespace("lme4", quietly = TRUE)) {
  cat("lme4 is not installed\n", file = stderr())
  quit(save = "no", status = 3)
}
suppressPackageStartupMessages(library(lme4))

args <- commandArgs(trailingOnly = TRUE)
data_dir <- if (length(args) >= 1) args[[1]] else "src/multilevel/datasets/data"
dept_levels <- if (length(args) >= 2) strsplit(args[[2]], ",", fixed = TRUE)[[1]] else NULL
n_inst <- if (length(args) >= 3) as.integer(args[[3]]) else 3L
n_sleep <- if (length(args) >= 4) as.integer(args[[4]]) else 50L

out <- function(key, value) cat(key, " ", sprintf("%.17g", value), "\n", sep = "")
cat("lme4_version ", as.character(packageVersion("lme4")), "\n", sep = "")
cat("r_version ", paste(R.version$major, R.version$minor, sep = "."), "\n", sep = "")

## ---------------------------------------------------------------- InstEval, ML
insteval <- read.csv(file.path(data_dir, "insteval.csv"))
insteval$s <- factor(insteval$s)
insteval$d <- factor(insteval$d)
insteval$service <- factor(insteval$service)
insteval$dept <- if (is.null(dept_levels)) factor(insteval$dept) else
  factor(insteval$dept, levels = dept_levels)
stopifnot(!anyNA(insteval$dept))

fit <- NULL
for (i in seq_len(n_inst)) {
  tm <- system.time(
    fit <- lmer(y ~ service + (1 | s) + (1 | d) + (1 | dept), insteval, REML = FALSE)
  )
  out("insteval_seconds", unclass(tm)[["elapsed"]])
}
out("insteval_deviance", deviance(fit))
for (th in getME(fit, "theta")) out("insteval_theta", th)

## -------------------------------------------------------- sleepstudy, REML
sleepstudy <- read.csv(file.path(data_dir, "sleepstudy.csv"))
sleepstudy$Subject <- factor(sleepstudy$Subject)
fit <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)  # warm-up
# Per-fit times come from Sys.time() (microsecond resolution); system.time()
# only resolves milliseconds, which is coarse at ~10-20 ms per fit.
for (i in seq_len(n_sleep)) {
  t0 <- Sys.time()
  fit <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
  out("sleepstudy_seconds", as.numeric(Sys.time()) - as.numeric(t0))
}
out("sleepstudy_reml", REMLcrit(fit))

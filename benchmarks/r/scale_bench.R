#!/usr/bin/env Rscript
# lme4 side of benchmarks/scale.py: one crossed fit on a generated data set.
#
# Usage (from the repository root):
#   Rscript benchmarks/r/scale_bench.R CSV FORMULA REML
#     CSV      the generated data set (columns y, x, a, b; a and b integer codes)
#     FORMULA  the model, e.g. "y ~ x + (1|a) + (1|b)"
#     REML     TRUE or FALSE
#
# Prints "seconds S" (the lmer call, timed inside R: reading the file excluded), "criterion C"
# (-2 log-likelihood: ML deviance or REML criterion) and "r_max_mb M" (R's own gc() maximum of
# memory used). benchmarks/scale.py runs this under /usr/bin/time -v for the peak resident size.
# Exits with status 3 when lme4 is not installed.
if (!requireNamespace("lme4", quietly = TRUE)) {
  cat("lme4 is not installed\n", file = stderr())
  quit(save = "no", status = 3)
}
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[[1]])
data$a <- factor(data$a)
data$b <- factor(data$b)
invisible(gc(reset = TRUE))
t0 <- Sys.time()
fit <- lmer(as.formula(args[[2]]), data, REML = as.logical(args[[3]]))
seconds <- as.numeric(Sys.time()) - as.numeric(t0)
used <- gc()
out <- function(key, value) cat(key, " ", sprintf("%.17g", value), "\n", sep = "")
out("seconds", seconds)
out("criterion", -2 * as.numeric(logLik(fit)))
out("r_max_mb", sum(used[, ncol(used)]))

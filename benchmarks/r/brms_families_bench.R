#!/usr/bin/env Rscript
# brms side of benchmarks/brm_families.py (called by it once per family, in a fresh process).
#
# Usage (from the repository root):
#   Rscript benchmarks/r/brms_families_bench.R CSV FAMILY LINK FORMULA CHAINS DRAWS WARMUP CORES SEED
#     CSV       the data (written by brm_families.py; both sides read the same file)
#     FAMILY    brms family name (zero_inflated_poisson, cumulative, beta, bernoulli, ...)
#     LINK      its link, or "default" for the family's default
#     FORMULA   e.g. "y ~ x + (1 | g)"
#     CHAINS    number of chains (4)
#     DRAWS     post-warmup draws per chain (1000)
#     WARMUP    warmup iterations per chain (1000)
#     CORES     chains run in parallel on this many cores (brm's `cores`)
#     SEED      brm's `seed`
#
# Prints one record per line on stdout:
#   key VALUE                                   (versions)
#   brm_seconds VALUE                           (system.time(brm(...)), compilation included)
#   warmup_seconds VALUE / sample_seconds VALUE (rstan::get_elapsed_time summed over chains)
#   divergent VALUE
#   par NAME MEAN SD MCSE_MEAN ESS_BULK ESS_TAIL RHAT
#                                               (posterior::summarise_draws; b_, sd_, cor_ and the
#                                                family's parameters; constants such as disc dropped)
# brms's default priors. Exits with status 3 when brms, posterior or rstan is missing.
for (pkg in c("brms", "posterior", "rstan")) {
  if (!requireNamespace(pkg, quietly = TRUE)) {
    cat(pkg, "is not installed\n", file = stderr())
    quit(save = "no", status = 3)
  }
}
suppressPackageStartupMessages({
  library(brms)
  library(posterior)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 9) stop("usage: CSV FAMILY LINK FORMULA CHAINS DRAWS WARMUP CORES SEED")
data <- read.csv(args[[1]])
family <- if (args[[3]] == "default") brmsfamily(args[[2]]) else brmsfamily(args[[2]], link = args[[3]])
formula <- as.formula(args[[4]])
chains <- as.integer(args[[5]])
draws <- as.integer(args[[6]])
warmup <- as.integer(args[[7]])
cores <- as.integer(args[[8]])
seed <- as.integer(args[[9]])

cat("r_version ", paste(R.version$major, R.version$minor, sep = "."), "\n", sep = "")
cat("brms_version ", as.character(packageVersion("brms")), "\n", sep = "")
cat("rstan_version ", as.character(packageVersion("rstan")), "\n", sep = "")
cat("posterior_version ", as.character(packageVersion("posterior")), "\n", sep = "")
cat("cores ", cores, "\n", sep = "")
num <- function(x) sprintf("%.17g", x)

fit <- NULL
tm <- system.time(
  fit <- suppressMessages(brm(formula, data = data, family = family, chains = chains,
                              iter = warmup + draws, warmup = warmup, cores = cores, seed = seed,
                              refresh = 0, silent = 2))
)
cat("brm_seconds ", num(unclass(tm)[["elapsed"]]), "\n", sep = "")
el <- rstan::get_elapsed_time(fit$fit)
cat("warmup_seconds ", num(sum(el[, "warmup"])), "\n", sep = "")
cat("sample_seconds ", num(sum(el[, "sample"])), "\n", sep = "")
np <- nuts_params(fit)
cat("divergent ", sum(np$Value[np$Parameter == "divergent__"]), "\n", sep = "")
dr <- as_draws_array(fit)
keep <- grep("^(b_|sd_|cor_)|^(sigma|shape|zi|hu|ndt|beta|phi|alpha|disc)$", variables(dr), value = TRUE)
sm <- summarise_draws(subset_draws(dr, variable = keep), "mean", "sd", "mcse_mean", "ess_bulk", "ess_tail",
                      "rhat")
sm <- sm[sm$sd > 0, ]  # constants (cumulative's disc = 1) have no ESS
for (i in seq_len(nrow(sm))) {
  cat("par ", sm$variable[i], " ",
      paste(num(c(sm$mean[i], sm$sd[i], sm$mcse_mean[i], sm$ess_bulk[i], sm$ess_tail[i], sm$rhat[i])),
            collapse = " "), "\n", sep = "")
}

#!/usr/bin/env Rscript
# brms side of benchmarks/brm_vs_brms.py (called by it; can also be run alone).
#
# Usage (from the repository root):
#   Rscript benchmarks/r/brms_bench.R DATA_DIR CHAINS DRAWS WARMUP CORES SEED [MODELS]
#     DATA_DIR  folder holding sleepstudy.csv, reedfrogs.csv and bangladesh.csv
#     CHAINS    number of chains (4)
#     DRAWS     post-warmup draws per chain (1000)
#     WARMUP    warmup iterations per chain (1000)
#     CORES     chains run in parallel on this many cores (brm's `cores`)
#     SEED      brm's `seed`
#     MODELS    comma-separated subset of sleepstudy,reedfrogs,bangladesh (default: all)
#
# Prints one record per line on stdout:
#   key VALUE                                   (versions)
#   seconds MODEL VALUE                         (system.time(brm(...)), compilation included)
#   warmup_seconds MODEL VALUE / sample_seconds MODEL VALUE
#                                               (rstan::get_elapsed_time summed over chains)
#   divergent MODEL VALUE
#   par MODEL NAME MEAN SD MCSE_MEAN ESS_BULK ESS_TAIL RHAT
#                                               (posterior::summarise_draws; b_, sd_, cor_, sigma)
# Timings are measured inside R after library(brms), so R start-up and package
# loading are excluded.  Exits with status 3 when brms (or posterior) is missing.
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
arg <- function(i, default) if (length(args) >= i) args[[i]] else default
data_dir <- arg(1, "src/multilevel/datasets/data")
chains <- as.integer(arg(2, "4"))
draws <- as.integer(arg(3, "1000"))
warmup <- as.integer(arg(4, "1000"))
cores <- as.integer(arg(5, as.character(min(chains, parallel::detectCores()))))
seed <- as.integer(arg(6, "1"))
models <- strsplit(arg(7, "sleepstudy,reedfrogs,bangladesh"), ",", fixed = TRUE)[[1]]

cat("r_version ", paste(R.version$major, R.version$minor, sep = "."), "\n", sep = "")
cat("brms_version ", as.character(packageVersion("brms")), "\n", sep = "")
cat("rstan_version ", as.character(packageVersion("rstan")), "\n", sep = "")
cat("posterior_version ", as.character(packageVersion("posterior")), "\n", sep = "")
cat("cores ", cores, "\n", sep = "")
num <- function(x) sprintf("%.17g", x)

## ------------------------------------------------------------------- data
rd <- function(f) read.csv(file.path(data_dir, f))
sleepstudy <- rd("sleepstudy.csv")
sleepstudy$Subject <- factor(sleepstudy$Subject)
reedfrogs <- rd("reedfrogs.csv")
reedfrogs$tank <- seq_len(nrow(reedfrogs))
bangladesh <- rd("bangladesh.csv")
bangladesh$district <- factor(bangladesh$district)

specs <- list(
  sleepstudy = list(formula = bf(Reaction ~ Days + (Days | Subject)), data = sleepstudy,
                    family = gaussian(), prior = NULL),
  reedfrogs = list(formula = bf(surv | trials(density) ~ 1 + (1 | tank)), data = reedfrogs,
                   family = binomial(),
                   prior = c(prior(normal(0, 1.5), class = Intercept),
                             prior(exponential(1), class = sd))),
  bangladesh = list(formula = bf(use.contraception ~ urban + (1 + urban | district)),
                    data = bangladesh, family = bernoulli(), prior = NULL)
)

## ------------------------------------------------------------------ fits
for (m in models) {
  s <- specs[[m]]
  if (is.null(s)) stop("unknown model ", m)
  fit <- NULL
  tm <- system.time(
    fit <- suppressMessages(brm(s$formula, data = s$data, family = s$family, prior = s$prior,
                                chains = chains, iter = warmup + draws, warmup = warmup,
                                cores = cores, seed = seed, refresh = 0, silent = 2))
  )
  cat("seconds ", m, " ", num(unclass(tm)[["elapsed"]]), "\n", sep = "")
  el <- rstan::get_elapsed_time(fit$fit)
  cat("warmup_seconds ", m, " ", num(sum(el[, "warmup"])), "\n", sep = "")
  cat("sample_seconds ", m, " ", num(sum(el[, "sample"])), "\n", sep = "")
  np <- nuts_params(fit)
  cat("divergent ", m, " ", sum(np$Value[np$Parameter == "divergent__"]), "\n", sep = "")
  dr <- as_draws_array(fit)
  keep <- grep("^(b_|sd_|cor_|sigma$)", variables(dr), value = TRUE)
  sm <- summarise_draws(subset_draws(dr, variable = keep), "mean", "sd", "mcse_mean",
                        "ess_bulk", "ess_tail", "rhat")
  for (i in seq_len(nrow(sm))) {
    cat("par ", m, " ", sm$variable[i], " ",
        paste(num(c(sm$mean[i], sm$sd[i], sm$mcse_mean[i], sm$ess_bulk[i], sm$ess_tail[i],
                    sm$rhat[i])), collapse = " "), "\n", sep = "")
  }
}

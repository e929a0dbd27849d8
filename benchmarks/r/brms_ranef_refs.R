#!/usr/bin/env Rscript
# Posterior summaries of the group-level effects r_ (brms 2.18) for tests/fixtures/brms_ranef.json,
# and for penicillin (crossed) of every parameter.
# Usage (repository root): Rscript benchmarks/r/brms_ranef_refs.R > /tmp/brms_ranef.json
# Fits: sleepstudy Reaction ~ Days + (Days | Subject) (default priors) and reedfrogs
# surv | trials(density) ~ 1 + (1 | tank) with normal(0, 1.5) Intercept and exponential(1) sd priors;
# and Penicillin diameter ~ 1 + (1 | plate) + (1 | sample) (default priors);
# 4 chains x 2000 post-warmup draws, seed 2026; every r_ parameter's mean, sd and MCSE (posterior).
suppressPackageStartupMessages({ library(brms); library(posterior); library(jsonlite) })
data_dir <- "src/multilevel/datasets/data"
sleepstudy <- read.csv(file.path(data_dir, "sleepstudy.csv"))
sleepstudy$Subject <- factor(sleepstudy$Subject)
reedfrogs <- read.csv(file.path(data_dir, "reedfrogs.csv"))
reedfrogs$tank <- seq_len(nrow(reedfrogs))
penicillin <- read.csv(file.path(data_dir, "penicillin.csv"))
penicillin$plate <- factor(penicillin$plate)
penicillin$sample <- factor(penicillin$sample)
fits <- list(
  sleepstudy_default = brm(Reaction ~ Days + (Days | Subject), sleepstudy, chains = 4, iter = 3000,
                           warmup = 1000, cores = 2, seed = 2026, refresh = 0),
  reedfrogs_pp = brm(surv | trials(density) ~ 1 + (1 | tank), reedfrogs, family = binomial(),
                     prior = c(prior(normal(0, 1.5), class = Intercept), prior(exponential(1), class = sd)),
                     chains = 4, iter = 3000, warmup = 1000, cores = 2, seed = 2026, refresh = 0),
  penicillin_crossed = brm(diameter ~ 1 + (1 | plate) + (1 | sample), penicillin, chains = 4, iter = 3000,
                           warmup = 1000, cores = 2, seed = 2026, refresh = 0)
)
out <- list(meta = list(brms = as.character(packageVersion("brms")), R = R.version.string,
                        draws = "4 chains x 2000 post-warmup (iter 3000, warmup 1000), seed 2026"), fits = list())
for (key in names(fits)) {
  d <- as_draws_df(fits[[key]])
  d <- subset_draws(d, variable = "^(r_|b_|sd_|sigma)", regex = TRUE)
  s <- summarise_draws(d, mean, sd, mcse_mean, ess_bulk)
  out$fits[[key]] <- lapply(split(s, s$variable), function(row) list(mean = row$mean, sd = row$sd,
                             mcse_mean = row$mcse_mean, ess_bulk = row$ess_bulk))
}
cat(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE))

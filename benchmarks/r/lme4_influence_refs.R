#!/usr/bin/env Rscript
# Reference leverages and Cook's distances (issue 14, item 3): lme4's hatvalues.merMod and
# cooks.distance.merMod, R's hatvalues/cooks.distance for lm and glm.
# Usage (from the repository root): Rscript benchmarks/r/lme4_influence_refs.R [OUT_JSON]
# Default OUT_JSON=tests/fixtures/lme4_influence.json. Data: the bundled CSVs.
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
out_json <- if (length(args) >= 1) args[[1]] else "tests/fixtures/lme4_influence.json"
data_dir <- "src/multilevel/datasets/data"
ss <- read.csv(file.path(data_dir, "sleepstudy.csv")); ss$Subject <- factor(ss$Subject)
ss$w <- 1 + (seq_len(nrow(ss)) %% 3)  # prior weights 1, 2, 3 (rebuilt the same way in the tests)
cbpp <- read.csv(file.path(data_dir, "cbpp.csv")); cbpp$herd <- factor(cbpp$herd); cbpp$period <- factor(cbpp$period)
pen <- read.csv(file.path(data_dir, "penicillin.csv")); pen$plate <- factor(pen$plate); pen$sample <- factor(pen$sample)
tight <- glmerControl(optimizer = c("bobyqa", "bobyqa"), optCtrl = list(rhoend = 1e-12, maxfun = 1e6), tolPwrss = 1e-12)

keep <- function(m, glmm = FALSE) {
  h <- suppressWarnings(hatvalues(m)); d <- suppressWarnings(cooks.distance(m))
  list(hat = unname(h), cooks = unname(d), hat_sum = sum(h))
}
out <- list(meta = list(generated = format(Sys.Date()), R = R.version.string,
                        lme4 = as.character(packageVersion("lme4")), script = "benchmarks/r/lme4_influence_refs.R",
                        notes = "sleepstudy w = 1 + (row %% 3) for rows 1..n. glmer fits with tight bobyqa control."))
out$lmer_slopes <- keep(lmer(Reaction ~ Days + (Days | Subject), ss))
out$lmer_ml_weighted <- keep(lmer(Reaction ~ Days + (1 | Subject), ss, weights = w, REML = FALSE))
out$lmer_crossed <- keep(lmer(diameter ~ 1 + (1 | plate) + (1 | sample), pen))
out$glmer_cbpp <- keep(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial, control = tight), TRUE)
out$lm_weighted <- keep(lm(Reaction ~ Days, ss, weights = w))
out$glm_cbpp <- keep(glm(cbind(incidence, size - incidence) ~ period, binomial, cbpp))
out$glm_poisson <- keep(glm(incidence ~ period + size, poisson, cbpp))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), out_json)
cat("wrote", out_json, "\n")

#!/usr/bin/env Rscript
# lme4 reference values for the contrasts= argument (issue 14, item 2).
# Usage (from the repository root):
#   Rscript benchmarks/r/lme4_contrasts_refs.R [OUT_JSON]
# Default OUT_JSON=tests/fixtures/lme4_contrasts.json. Data: the bundled CSVs.
# Produced with the Debian packages r-base-core, r-cran-lme4, r-cran-mass, r-cran-jsonlite.
suppressPackageStartupMessages({
  library(lme4)
  library(MASS)  # contr.sdif
  library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
out_json <- if (length(args) >= 1) args[[1]] else "tests/fixtures/lme4_contrasts.json"
data_dir <- "src/multilevel/datasets/data"

ss <- read.csv(file.path(data_dir, "sleepstudy.csv"))
ss$Subject <- factor(ss$Subject)
ss$dayf <- factor(ss$Days %/% 2)  # five levels 0..4 (built the same way in the tests)
ss$dayo <- factor(ss$Days %/% 2, ordered = TRUE)
cbpp <- read.csv(file.path(data_dir, "cbpp.csv"))
cbpp$herd <- factor(cbpp$herd)
cbpp$period <- factor(cbpp$period)

custom <- matrix(c(-2, -1, 0, 1, 2,
                    2, -1, -2, -1, 2,
                    0, 0, 0, -1, 1,
                    1, -1, 0, 0, 0), nrow = 5,
                 dimnames = list(NULL, c("lin", "quad", "top", "low")))
unnamed <- unname(custom)

summarise_lmm <- function(m) {
  list(fixef = as.list(fixef(m)), names = names(fixef(m)), theta = unname(getME(m, "theta")),
       sigma = sigma(m), reml = REMLcrit(m), loglik = as.numeric(logLik(m)),
       se = unname(sqrt(diag(as.matrix(vcov(m))))))
}
summarise_glmm <- function(m) {
  list(fixef = as.list(fixef(m)), names = names(fixef(m)), theta = unname(getME(m, "theta")),
       loglik = as.numeric(logLik(m)), deviance = deviance(m),
       se = unname(sqrt(diag(as.matrix(vcov(m))))))
}

out <- list(meta = list(generated = format(Sys.Date()), R = R.version.string,
                        lme4 = as.character(packageVersion("lme4")), script = "benchmarks/r/lme4_contrasts_refs.R",
                        notes = "sleepstudy: dayf = factor(Days %/% 2), dayo the same as an ordered factor. custom: a 5 x 4 matrix given column-major in 'custom'."),
            custom = custom)
codings <- list(sum = "contr.sum", helmert = "contr.helmert", poly = "contr.poly", sdif = "contr.sdif",
                treatment = "contr.treatment", matrix = custom, matrix_unnamed = unnamed)
for (name in names(codings)) {
  m <- lmer(Reaction ~ dayf + (1 | Subject), ss, contrasts = list(dayf = codings[[name]]))
  out[[paste0("lmer_", name)]] <- summarise_lmm(m)
}
# an interaction with a covariate, and the ordered factor's default poly overridden
m <- lmer(Reaction ~ dayf * Days + (Days | Subject), ss, contrasts = list(dayf = "contr.sum"))
out$lmer_sum_interaction <- summarise_lmm(m)
m <- lmer(Reaction ~ dayo + (1 | Subject), ss, contrasts = list(dayo = "contr.treatment"))
out$lmer_ordered_treatment <- summarise_lmm(m)
m <- lmer(Reaction ~ dayo + (1 | Subject), ss)
out$lmer_ordered_default <- summarise_lmm(m)
# contrasts apply to the fixed-effects matrix only: the random-effects term keeps treatment coding
ss$half <- factor(ifelse(ss$Days < 5, "early", "late"))
m <- lmer(Reaction ~ half + (half | Subject), ss, contrasts = list(half = "contr.sum"))
out$lmer_random_factor <- c(summarise_lmm(m), list(ranef_names = colnames(ranef(m)$Subject)))
for (name in c("sum", "helmert", "sdif")) {
  # tight control (as benchmarks/r/glmer_tight_refs.R): lme4's defaults stop short of the optimum
  m <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial,
             contrasts = list(period = codings[[name]]),
             control = glmerControl(optimizer = c("bobyqa", "bobyqa"),
                                    optCtrl = list(rhoend = 1e-12, maxfun = 1e6), tolPwrss = 1e-12))
  out[[paste0("glmer_", name)]] <- summarise_glmm(m)
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), out_json)
cat("wrote", out_json, "\n")

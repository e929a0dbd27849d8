#!/usr/bin/env Rscript
# glmmTMB reference values for structured covariances of a random-effects term (issue 14, item 6):
# cs() (heterogeneous variances, one common correlation), ar1() (one variance, correlation
# rho^|i-j|) and diag() (heterogeneous variances, no correlation). ML fits (glmmTMB's default).
# homdiag() (one shared variance) is not in glmmTMB 1.1.5: the tests check it against lme4's
# (1 | g:f), the same model. diag(x | g) is also checked against lme4's (x || g).
# Usage (from the repository root):
#   Rscript benchmarks/r/glmmtmb_structured_refs.R [OUT_JSON]
# Default OUT_JSON=tests/fixtures/glmmtmb_structured.json. Data: the bundled CSVs.
# Produced with R, glmmTMB 1.1.5, lme4 and jsonlite as installed on the project machine.
suppressPackageStartupMessages({
  library(glmmTMB)
  library(lme4)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
out_json <- if (length(args) >= 1) args[[1]] else "tests/fixtures/glmmtmb_structured.json"
data_dir <- "src/multilevel/datasets/data"

ss <- read.csv(file.path(data_dir, "sleepstudy.csv"))
ss$Subject <- factor(ss$Subject)
ss$dayf <- factor(ss$Days %/% 2)  # five levels 0..4, consecutive times (built the same way in the tests)
cbpp <- read.csv(file.path(data_dir, "cbpp.csv"))
cbpp$herd <- factor(cbpp$herd)
cbpp$period <- factor(cbpp$period)

summarise_tmb <- function(m, group) {
  vc <- VarCorr(m)$cond[[group]]
  corr <- attr(vc, "correlation")
  list(loglik = as.numeric(logLik(m)), fixef = as.list(fixef(m)$cond), names = names(fixef(m)$cond),
       sd = unname(attr(vc, "stddev")), corr = unname(corr[lower.tri(corr)]),
       sigma = if (family(m)$family == "gaussian") sigma(m) else NULL,
       df = attr(logLik(m), "df"), convergence = m$fit$convergence)
}
ctrl <- glmmTMBControl(optCtrl = list(iter.max = 1e4, eval.max = 1e4, rel.tol = 1e-12))

out <- list(meta = list(generated = format(Sys.Date()), R = R.version.string,
                        glmmTMB = as.character(packageVersion("glmmTMB")),
                        lme4 = as.character(packageVersion("lme4")),
                        script = "benchmarks/r/glmmtmb_structured_refs.R",
                        notes = paste("sleepstudy: dayf = factor(Days %/% 2). ML fits (REML = FALSE),",
                                      "nlminb with rel.tol = 1e-12. corr: the lower triangle of the",
                                      "correlation matrix by column.")))
out$ar1 <- summarise_tmb(glmmTMB(Reaction ~ Days + ar1(0 + dayf | Subject), ss, control = ctrl), "Subject")
out$cs <- summarise_tmb(glmmTMB(Reaction ~ Days + cs(0 + dayf | Subject), ss, control = ctrl), "Subject")
# REML (glmmTMB integrates the fixed effects out with the random effects)
out$ar1_reml <- summarise_tmb(glmmTMB(Reaction ~ Days + ar1(0 + dayf | Subject), ss, REML = TRUE, control = ctrl),
                              "Subject")
out$diag <- summarise_tmb(glmmTMB(Reaction ~ Days + diag(Days | Subject), ss, control = ctrl), "Subject")
out$glmm_ar1 <- summarise_tmb(glmmTMB(cbind(incidence, size - incidence) ~ period + ar1(0 + period | herd),
                                      cbpp, family = binomial, control = ctrl), "herd")
out$glmm_cs <- summarise_tmb(glmmTMB(cbind(incidence, size - incidence) ~ period + cs(0 + period | herd),
                                     cbpp, family = binomial, control = ctrl), "herd")
# lme4: (x || g) for diag(), and (1 | g:f) for homdiag(0 + f | g) (ML, tight optimizer)
tight <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e6))
m <- lmer(Reaction ~ Days + (Days || Subject), ss, REML = FALSE, control = tight)
out$lme4_uncorrelated <- list(loglik = as.numeric(logLik(m)), fixef = as.list(fixef(m)), theta = unname(getME(m, "theta")),
                              sigma = sigma(m))
m <- lmer(Reaction ~ Days + (1 | Subject:dayf), ss, REML = FALSE, control = tight)
out$lme4_homdiag <- list(loglik = as.numeric(logLik(m)), fixef = as.list(fixef(m)), theta = unname(getME(m, "theta")),
                         sigma = sigma(m))
# cs() of two columns is the unstructured 2 x 2 covariance: lme4's (Days | Subject)
m <- lmer(Reaction ~ Days + (Days | Subject), ss, REML = FALSE, control = tight)
vc <- VarCorr(m)$Subject
out$lme4_unstructured2 <- list(loglik = as.numeric(logLik(m)), fixef = as.list(fixef(m)), sd = unname(attr(vc, "stddev")),
                               corr = attr(vc, "correlation")[2, 1], sigma = sigma(m))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), out_json)
cat("wrote", out_json, "\n")

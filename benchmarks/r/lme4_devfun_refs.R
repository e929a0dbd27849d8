#!/usr/bin/env Rscript
# lme4's devFunOnly objectives at given parameters (issue 14, item 5).
# Usage (from the repository root): Rscript benchmarks/r/lme4_devfun_refs.R [OUT_JSON]
suppressPackageStartupMessages({ library(lme4); library(jsonlite) })
args <- commandArgs(trailingOnly = TRUE)
out_json <- if (length(args) >= 1) args[[1]] else "tests/fixtures/lme4_devfun.json"
data_dir <- "src/multilevel/datasets/data"
ss <- read.csv(file.path(data_dir, "sleepstudy.csv")); ss$Subject <- factor(ss$Subject)
cbpp <- read.csv(file.path(data_dir, "cbpp.csv")); cbpp$herd <- factor(cbpp$herd); cbpp$period <- factor(cbpp$period)
# PIRLS converged tightly (lme4 default tolPwrss 1e-7 leaves ~1e-4 in the Laplace deviance of cbpp)
tight <- glmerControl(tolPwrss = 1e-12)
f <- cbind(incidence, size - incidence) ~ period + (1 | herd)
out <- list(meta = list(generated = format(Sys.Date()), R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                        script = "benchmarks/r/lme4_devfun_refs.R"))
points <- list(c(1, 0, 1), c(0.9, 0.05, 0.2), c(0.5, -0.1, 0.3))
dd <- lmer(Reaction ~ Days + (Days | Subject), ss, devFunOnly = TRUE)
out$lmer_reml <- list(theta = points, value = sapply(points, function(t) dd(t)))
dd <- lmer(Reaction ~ Days + (Days | Subject), ss, REML = FALSE, devFunOnly = TRUE)
out$lmer_ml <- list(theta = points, value = sapply(points, function(t) dd(t)))
gpoints <- list(c(1, -1.4, -0.9, -1.1, -1.5), c(0.64, -1.4, -1.0, -1.1, -1.6), c(0.3, -1.2, -0.8, -1.3, -1.4))
gd <- glmer(f, cbpp, binomial, devFunOnly = TRUE, control = tight)
out$glmer_laplace <- list(params = gpoints, value = sapply(gpoints, function(t) gd(t)))
gd <- glmer(f, cbpp, binomial, nAGQ = 5, devFunOnly = TRUE, control = tight)
out$glmer_agq5 <- list(params = gpoints, value = sapply(gpoints, function(t) gd(t)))
gd <- glmer(f, cbpp, binomial, nAGQ = 0, devFunOnly = TRUE, control = tight)
out$glmer_nagq0 <- list(theta = list(1, 0.64, 0.3), value = sapply(list(1, 0.64, 0.3), function(t) gd(t)))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), out_json)
cat("wrote", out_json, "\n")

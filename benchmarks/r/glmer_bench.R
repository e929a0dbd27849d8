#!/usr/bin/env Rscript
# lme4 side of benchmarks/glmer_vs_lme4.py (called by it; can also be run alone).
#
# Usage (from the repository root):
#   Rscript benchmarks/r/glmer_bench.R DATA_DIR N_REPS N_INSTEVAL
#     DATA_DIR    folder holding bangladesh.csv, grouseticks.csv, insteval.csv and
#                 factor_levels_r.json
#     N_REPS      repetitions of the bangladesh and grouseticks fits (best is
#                 reported by the caller)
#     N_INSTEVAL  repetitions of the InstEval binary fit (~45 s each); 0 skips it
#
# Data loading and factor conversions are those of benchmarks/r/glmer_tight_refs.R
# (grouseticks INDEX/BROOD/YEAR/LOCATION with the levels of factor_levels_r.json;
# bangladesh district, insteval s/d/service via factor()).
#
# Prints one "key value" pair per line on stdout; times are in seconds and
# measured inside R with system.time(), so R start-up, package and data loading
# are excluded. -2 logLik and the fixed effects are those of the last fit of each
# model; warnings and messages of the fits are printed as "<model>_warning" lines.
# Exits with status 3 when lme4 (or jsonlite, needed for the factor levels) is
# not installed.
for (pkg in c("lme4", "jsonlite")) {
  if (!requireNamespace(pkg, quietly = TRUE)) {
    cat(pkg, "is not installed\n", file = stderr())
    quit(save = "no", status = 3)
  }
}
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
data_dir <- if (length(args) >= 1) args[[1]] else "src/multilevel/datasets/data"
n_reps <- if (length(args) >= 2) as.integer(args[[2]]) else 3L
n_inst <- if (length(args) >= 3) as.integer(args[[3]]) else 1L

out <- function(key, value) cat(key, " ", sprintf("%.17g", value), "\n", sep = "")
cat("lme4_version ", as.character(packageVersion("lme4")), "\n", sep = "")
cat("r_version ", paste(R.version$major, R.version$minor, sep = "."), "\n", sep = "")

## ------------------------------------------------------------------- data
## (as in benchmarks/r/glmer_tight_refs.R)
rd <- function(f) read.csv(file.path(data_dir, f))
flv <- fromJSON(file.path(data_dir, "factor_levels_r.json"))
fac <- function(x, lv) factor(as.character(x), levels = lv)

grouseticks <- rd("grouseticks.csv")
for (v in c("INDEX", "BROOD", "YEAR", "LOCATION"))
  grouseticks[[v]] <- fac(grouseticks[[v]], flv$grouseticks[[v]]$levels)
bangladesh <- rd("bangladesh.csv")
bangladesh$district <- factor(bangladesh$district)
insteval <- rd("insteval.csv")
insteval$s <- factor(insteval$s); insteval$d <- factor(insteval$d)
insteval$service <- factor(insteval$service)
stopifnot(!anyNA(grouseticks$INDEX), !anyNA(grouseticks$BROOD), !anyNA(grouseticks$YEAR),
          !anyNA(grouseticks$LOCATION))

## ------------------------------------------------------------------ fits
## Fit `n` times; warnings/messages are collected (not printed) so they do not
## interleave with the key-value output. The handlers cost nothing measurable.
bench <- function(key, n, expr) {
  expr <- substitute(expr)
  fit <- NULL
  notes <- character(0)
  for (i in seq_len(n)) {
    notes <- character(0)
    tm <- system.time(
      fit <- withCallingHandlers(eval(expr, globalenv()),
        warning = function(w) { notes <<- c(notes, conditionMessage(w)); invokeRestart("muffleWarning") },
        message = function(m) { notes <<- c(notes, conditionMessage(m)); invokeRestart("muffleMessage") })
    )
    out(paste0(key, "_seconds"), unclass(tm)[["elapsed"]])
  }
  out(paste0(key, "_m2loglik"), -2 * as.numeric(logLik(fit)))
  fx <- fixef(fit)
  for (nm in names(fx)) {
    cat(key, "_fixef_name ", nm, "\n", sep = "")
    out(paste0(key, "_fixef"), fx[[nm]])
  }
  for (th in getME(fit, "theta")) out(paste0(key, "_theta"), th)
  for (msg in unique(notes))
    cat(key, "_warning ", gsub("[\r\n]+", " ", trimws(msg)), "\n", sep = "")
  invisible(fit)
}

bench("bangladesh", n_reps,
      glmer(use.contraception ~ urban + (1 + urban | district), bangladesh, family = binomial))
bench("grouseticks", n_reps,
      glmer(TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION), grouseticks,
            family = poisson))
if (n_inst > 0)
  bench("insteval", n_inst,
        glmer(I(y > 3) ~ service + (1 | s) + (1 | d), insteval, family = binomial))

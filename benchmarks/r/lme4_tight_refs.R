#!/usr/bin/env Rscript
# Tightly converged lme4 reference values for the lmerMod fits of
# /work/shared/reference/lme4.json (same keys, same fields).
#
# lme4's default optimizer (nloptwrap/BOBYQA, ftol_abs = 1e-8) stops early in
# flat problems, so its theta is only good to about 1e-4. Here every model is
#   1. fitted with nloptwrap and very tight tolerances, then
#   2. polished with minqa::bobyqa started from that theta;
# whichever of the two has the lower criterion is kept ("optimizer" field).
# The default-control fit is also run, and its criterion and theta are stored
# as "criterion_default" / "theta_default" for comparison.
#
# Usage (from the repository root):
#   Rscript benchmarks/r/lme4_tight_refs.R [DATA_DIR] [OUT_JSON]
# Defaults: DATA_DIR=/work/shared/data, OUT_JSON=tests/fixtures/lme4_tight.json
# Produced with the Debian packages r-base-core, r-cran-lme4, r-cran-jsonlite.
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
data_dir <- if (length(args) >= 1) args[[1]] else "/work/shared/data"
out_json <- if (length(args) >= 2) args[[2]] else "tests/fixtures/lme4_tight.json"
rd <- function(f) read.csv(file.path(data_dir, f))
flv <- fromJSON(file.path(data_dir, "factor_levels_r.json"))

## ------------------------------------------------------------------- data
sleepstudy <- rd("sleepstudy.csv"); sleepstudy$Subject <- factor(sleepstudy$Subject)
dyestuff <- rd("dyestuff.csv"); dyestuff$Batch <- factor(dyestuff$Batch)
penicillin <- rd("penicillin.csv")
penicillin$plate <- factor(penicillin$plate); penicillin$sample <- factor(penicillin$sample)
pastes <- rd("pastes.csv"); pastes$batch <- factor(pastes$batch); pastes$cask <- factor(pastes$cask)
classroom <- rd("classroom.csv")
classroom$classid <- factor(classroom$classid); classroom$schoolid <- factor(classroom$schoolid)
classroom$classid2 <- factor(classroom$classid2)
ma <- rd("mathachieve.csv"); ms <- rd("mathachieveschool.csv")
mathach <- merge(ma, ms, by = "school"); mathach$school <- factor(mathach$school)
blp <- rd("blp-short2.csv")
blp$participant <- factor(blp$participant); blp$spelling <- factor(blp$spelling)
insteval <- rd("insteval.csv")
insteval$s <- factor(insteval$s); insteval$d <- factor(insteval$d)
insteval$dept <- factor(insteval$dept, levels = flv$insteval$dept$levels)
insteval$service <- factor(insteval$service)

## ------------------------------------------------------------------ models
## key = list(data object name, data label as in lme4.json, formula, REML)
specs <- list(
  sleep_slopes_reml     = list("sleepstudy", "sleepstudy", "Reaction ~ Days + (Days|Subject)", TRUE),
  sleep_slopes_ml       = list("sleepstudy", "sleepstudy", "Reaction ~ Days + (Days|Subject)", FALSE),
  sleep_int_reml        = list("sleepstudy", "sleepstudy", "Reaction ~ Days + (1|Subject)", TRUE),
  sleep_slope_only_reml = list("sleepstudy", "sleepstudy", "Reaction ~ Days + (0+Days|Subject)", TRUE),
  sleep_diag_reml       = list("sleepstudy", "sleepstudy", "Reaction ~ Days + (Days||Subject)", TRUE),
  dyestuff_reml         = list("dyestuff", "dyestuff", "Yield ~ 1 + (1|Batch)", TRUE),
  dyestuff_ml           = list("dyestuff", "dyestuff", "Yield ~ 1 + (1|Batch)", FALSE),
  penicillin_reml       = list("penicillin", "penicillin", "diameter ~ 1 + (1|plate) + (1|sample)", TRUE),
  pastes_nested_reml    = list("pastes", "pastes", "strength ~ 1 + (1|batch/cask)", TRUE),
  classroom_reml        = list("classroom", "classroom", "mathscore ~ ses + (ses||classid) + (ses|schoolid)", TRUE),
  classroom_nested_reml = list("classroom", "classroom", "mathscore ~ ses + (1|schoolid/classid2)", TRUE),
  mathach_glp_reml      = list("mathach", "mathachieve+mathachieveschool (merge by school)",
                               "mathach ~ ses + himinty + ses:himinty + (ses|school)", TRUE),
  blp_crossed_reml      = list("blp", "blp-short2", "rt ~ 1 + (1|participant) + (1|spelling)", TRUE),
  insteval_ml           = list("insteval", "insteval", "y ~ service + (1|s) + (1|d) + (1|dept)", FALSE)
)

tight_ctrl_txt <- paste0("lmerControl(optimizer=\"nloptwrap\", optCtrl=list(ftol_abs=1e-14, ",
                         "ftol_rel=1e-14, xtol_abs=1e-12, xtol_rel=0, maxeval=1e6))")
polish_ctrl_txt <- "lmerControl(optimizer=\"bobyqa\", optCtrl=list(rhobeg=1e-3, rhoend=1e-12, maxfun=1e6))"
tight_ctrl <- lmerControl(optimizer = "nloptwrap",
                          optCtrl = list(ftol_abs = 1e-14, ftol_rel = 1e-14, xtol_abs = 1e-12,
                                         xtol_rel = 0, maxeval = 1e6))
polish_ctrl <- lmerControl(optimizer = "bobyqa",
                           optCtrl = list(rhobeg = 1e-3, rhoend = 1e-12, maxfun = 1e6))

## run an expression, collecting warnings and messages instead of printing them
quietly <- function(expr) {
  msgs <- character(0); warns <- character(0)
  val <- withCallingHandlers(expr,
    message = function(m) { msgs <<- c(msgs, conditionMessage(m)); invokeRestart("muffleMessage") },
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  list(value = val, messages = msgs, warnings = warns)
}
crit <- function(fit) if (isREML(fit)) REMLcrit(fit) else deviance(fit)
na_null <- function(v) if (length(v) == 1 && is.na(v)) NA else v

fit_entry <- function(key, sp) {
  dname <- sp[[1]]; dlabel <- sp[[2]]; fstr <- sp[[3]]; reml <- sp[[4]]
  dat <- get(dname)
  form <- as.formula(fstr)
  cat(sprintf("%-22s ", key)); flush.console()
  t0 <- proc.time()[["elapsed"]]

  f_def <- quietly(lmer(form, dat, REML = reml))$value
  r_tight <- quietly(lmer(form, dat, REML = reml, control = tight_ctrl))
  f_tight <- r_tight$value
  th_tight <- getME(f_tight, "theta")
  r_pol <- quietly(lmer(form, dat, REML = reml, start = list(theta = unname(th_tight)),
                        control = polish_ctrl))
  f_pol <- r_pol$value
  c_def <- crit(f_def); c_tight <- crit(f_tight); c_pol <- crit(f_pol)
  use_pol <- c_pol < c_tight
  fit <- if (use_pol) f_pol else f_tight
  kept <- if (use_pol) r_pol else r_tight

  vc <- as.data.frame(VarCorr(fit))
  varcorr <- lapply(seq_len(nrow(vc)), function(i) list(
    grp = vc$grp[i], var1 = na_null(vc$var1[i]), var2 = na_null(vc$var2[i]),
    vcov = vc$vcov[i], sdcor = vc$sdcor[i]))
  V <- as.matrix(vcov(fit))
  re <- ranef(fit)
  ranef_first3 <- lapply(re, function(d) {
    d3 <- head(d, 3)
    list(levels = rownames(d3), columns = lapply(as.list(d3), unname))
  })
  ll <- logLik(fit)
  grad <- fit@optinfo$derivs$gradient

  call_str <- paste0(
    "fit_tight <- lmer(", fstr, ", ", dname, ", REML=", reml, ", control=", tight_ctrl_txt, "); ",
    "fit_polish <- lmer(", fstr, ", ", dname, ", REML=", reml,
    ", start=list(theta=getME(fit_tight, \"theta\")), control=", polish_ctrl_txt, "); ",
    "kept: the one with the lower criterion (", if (use_pol) "fit_polish" else "fit_tight", ")")

  cat(sprintf("crit_default=%.10f crit_tight=%.10f crit_polish=%.10f kept=%s (%.1fs)\n",
              c_def, c_tight, c_pol, if (use_pol) "bobyqa" else "nloptwrap",
              proc.time()[["elapsed"]] - t0))

  list(
    data = dlabel,
    formula = fstr,
    class = class(fit)[1],
    reml = reml,
    call = call_str,
    optimizer = if (use_pol) "bobyqa" else "nloptwrap",
    theta = unname(getME(fit, "theta")),
    fixef = as.list(fixef(fit)),
    se = as.list(sqrt(diag(V))),
    varcorr = varcorr,
    loglik = as.numeric(ll),
    aic = AIC(fit),
    bic = BIC(fit),
    nobs = nobs(fit),
    ngroups = as.list(ngrps(fit)),
    singular = isSingular(fit),
    sigma = sigma(fit),
    criterion = crit(fit),
    criterion_default = c_def,
    theta_default = unname(getME(f_def, "theta")),
    criterion_nloptwrap_tight = c_tight,
    criterion_bobyqa_polish = c_pol,
    feval_nloptwrap_tight = f_tight@optinfo$feval,
    feval_bobyqa_polish = f_pol@optinfo$feval,
    gradient = if (is.null(grad)) NA else unname(grad),
    vcov = list(names = rownames(V), rows = unname(lapply(seq_len(nrow(V)), function(i) unname(V[i, ])))),
    ranef_first3 = ranef_first3,
    fit_messages = I(kept$messages),
    fit_warnings = I(kept$warnings)
  )
}

out <- list()
out$meta <- list(
  generated = format(Sys.Date()),
  R = R.version.string,
  lme4 = as.character(packageVersion("lme4")),
  Matrix = as.character(packageVersion("Matrix")),
  minqa = as.character(packageVersion("minqa")),
  nloptr = as.character(packageVersion("nloptr")),
  jsonlite = as.character(packageVersion("jsonlite")),
  script = "benchmarks/r/lme4_tight_refs.R",
  control_tight = tight_ctrl_txt,
  control_polish = paste0(polish_ctrl_txt, " with start=list(theta=<theta of the tight fit>)"),
  notes = c(
    "Same keys and fields as /work/shared/reference/lme4.json (lmerMod fits only), at a tightly converged optimum.",
    "optimizer: which fit was kept (the one with the lower criterion): 'nloptwrap' (tight) or 'bobyqa' (polish).",
    "criterion: REML criterion for REML fits, ML deviance (-2 logLik) for ML fits. criterion_default / theta_default: default lmerControl() fit.",
    "criterion_nloptwrap_tight / criterion_bobyqa_polish: criteria of the two candidate fits; feval_*: their function evaluations.",
    "gradient: lme4's finite-difference gradient of the criterion in theta (optinfo$derivs) at the kept fit. It is dominated by finite-difference noise (up to ~3e-3 for insteval_ml); a Newton-step check with a central-difference Hessian puts every theta within ~2e-6 relative of the optimum.",
    "vcov: as.matrix(vcov(fit)), names = fixed-effect names, rows = matrix rows. se = sqrt(diag(vcov)).",
    "ranef_first3: head(ranef(fit)[[group]], 3) for every grouping factor: levels = row names, columns = one array per random-effect term.",
    "singular: isSingular(fit) (tol 1e-4). fit_messages / fit_warnings: conditions raised by the kept fit.",
    "Factors: grouping columns converted with factor() (sorted levels); insteval dept levels follow factor_levels_r.json; insteval service as factor().",
    "Numbers written with jsonlite digits = NA (15 significant digits)."
  )
)
out$fits <- list()
for (key in names(specs)) out$fits[[key]] <- fit_entry(key, specs[[key]])

writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null", null = "null"),
           out_json)
cat("wrote", out_json, "\n")

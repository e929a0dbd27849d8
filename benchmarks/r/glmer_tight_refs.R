#!/usr/bin/env Rscript
# Tightly converged lme4 reference values for the glmerMod fits of
# /work/shared/reference/lme4.json (same keys), plus an InstEval binary GLMM.
#
# lme4's default glmer stage-2 optimizer (Nelder_Mead) stops early, so its
# estimates are up to ~3e-6 relative off in -2 logLik. Here every model is
# refitted with
#   A. glmerControl(optimizer=c("bobyqa","bobyqa"),
#                   optCtrl=list(rhoend=1e-12, maxfun=1e6), tolPwrss=1e-12)
#   B. glmerControl(optimizer="nloptwrap",
#                   optCtrl=list(ftol_abs=1e-14, xtol_abs=1e-12, maxeval=1e6))
# and the candidate with the lowest -2 logLik is kept ("optimizer" field; a
# candidate that errors is skipped). For glmer.nb the outer optimize() over
# the NB dispersion uses tol=5e-5 (on log theta) by default; each control is
# also run with tol=1e-10 ("nb_tol" field says which was kept).
# The default-control fit is also run: m2loglik_default / theta_default /
# fixef_default.
#
# Usage (from the repository root):
#   Rscript benchmarks/r/glmer_tight_refs.R [DATA_DIR] [OUT_JSON]
# Defaults: DATA_DIR=/work/shared/data, OUT_JSON=tests/fixtures/glmer_tight.json
# Environment: SKIP_INSTEVAL=1 skips the InstEval fits, SKIP_INSTEVAL_TIGHT=1
# only the tight InstEval refit, SKIP_TIMINGS=1 the timings.
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
options(width = 80)  # fixed width so the captured printouts are reproducible

args <- commandArgs(trailingOnly = TRUE)
data_dir <- if (length(args) >= 1) args[[1]] else "/work/shared/data"
out_json <- if (length(args) >= 2) args[[2]] else "tests/fixtures/glmer_tight.json"
rd <- function(f) read.csv(file.path(data_dir, f))
flv <- fromJSON(file.path(data_dir, "factor_levels_r.json"))
fac <- function(x, lv) factor(as.character(x), levels = lv)

## ------------------------------------------------------------------- data
cbpp <- rd("cbpp.csv")
cbpp$herd <- fac(cbpp$herd, flv$cbpp$herd$levels)
cbpp$period <- fac(cbpp$period, flv$cbpp$period$levels)
grouseticks <- rd("grouseticks.csv")
for (v in c("INDEX", "BROOD", "YEAR", "LOCATION"))
  grouseticks[[v]] <- fac(grouseticks[[v]], flv$grouseticks[[v]]$levels)
bangladesh <- rd("bangladesh.csv")
bangladesh$district <- factor(bangladesh$district)
insteval <- rd("insteval.csv")
insteval$s <- factor(insteval$s); insteval$d <- factor(insteval$d)
insteval$dept <- factor(insteval$dept, levels = flv$insteval$dept$levels)
insteval$service <- factor(insteval$service)

## ------------------------------------------------------------------ models
## key = list(data label, formula, fitting call without control (R code))
cb_f <- "cbind(incidence, size - incidence) ~ period + (1|herd)"
gp_f <- "TICKS ~ YEAR + cHEIGHT + (1|BROOD) + (1|INDEX) + (1|LOCATION)"
nb_f <- "TICKS ~ YEAR + cHEIGHT + (1|BROOD) + (1|LOCATION)"
bg_f <- "use.contraception ~ urban + (1 + urban|district)"
specs <- list(
  cbpp_laplace        = list("cbpp", cb_f, paste0("glmer(", cb_f, ", cbpp, family=binomial")),
  cbpp_agq5           = list("cbpp", cb_f, paste0("glmer(", cb_f, ", cbpp, family=binomial, nAGQ=5")),
  cbpp_agq9           = list("cbpp", cb_f, paste0("glmer(", cb_f, ", cbpp, family=binomial, nAGQ=9")),
  grouseticks_poisson = list("grouseticks", gp_f, paste0("glmer(", gp_f, ", grouseticks, family=poisson")),
  bangladesh_slopes   = list("bangladesh", bg_f, paste0("glmer(", bg_f, ", bangladesh, family=binomial")),
  grouseticks_nb      = list("grouseticks", nb_f, paste0("glmer.nb(", nb_f, ", grouseticks"))
)

ctrl_txt <- list(
  bobyqa = paste0("glmerControl(optimizer=c(\"bobyqa\",\"bobyqa\"), ",
                  "optCtrl=list(rhoend=1e-12, maxfun=1e6), tolPwrss=1e-12)"),
  nloptwrap = paste0("glmerControl(optimizer=\"nloptwrap\", ",
                     "optCtrl=list(ftol_abs=1e-14, xtol_abs=1e-12, maxeval=1e6))")
)

## run an expression, collecting warnings and messages instead of printing them
quietly <- function(expr) {
  msgs <- character(0); warns <- character(0)
  t0 <- proc.time()[["elapsed"]]
  val <- tryCatch(withCallingHandlers(expr,
    message = function(m) { msgs <<- c(msgs, conditionMessage(m)); invokeRestart("muffleMessage") },
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") }),
    error = function(e) e)
  list(value = val, messages = msgs, warnings = warns,
       elapsed = proc.time()[["elapsed"]] - t0)
}
run_call <- function(txt) quietly(eval(parse(text = txt), envir = globalenv()))
failed <- function(r) inherits(r$value, "error")
m2ll <- function(fit) -2 * as.numeric(logLik(fit))
na_null <- function(v) if (length(v) == 1 && is.na(v)) NA else v
mat_plain <- function(m) list(rownames = rownames(m), colnames = colnames(m),
                              values = unname(lapply(seq_len(nrow(m)), function(i) unname(m[i, ]))))
reldiff <- function(a, b) max(abs(a - b) / pmax(abs(b), 1e-300))

first5 <- function(x) unname(x[1:5])

fit_entry <- function(key, sp) {
  dlabel <- sp[[1]]; fstr <- sp[[2]]; base <- sp[[3]]
  is_nb <- startsWith(base, "glmer.nb(")
  cat(sprintf("%-20s ", key)); flush.console()
  t0 <- proc.time()[["elapsed"]]

  call_def <- paste0(base, ")")
  r_def <- run_call(call_def)
  if (failed(r_def)) stop(conditionMessage(r_def$value))
  f_def <- r_def$value

  cands <- list()
  for (opt in names(ctrl_txt)) {
    tols <- if (is_nb) c("5e-05", "1e-10") else NA
    for (tl in tols) {
      cl <- paste0(base, if (!is.na(tl) && tl != "5e-05") paste0(", tol=", tl) else "",
                   ", control=", ctrl_txt[[opt]], ")")
      nm <- if (is.na(tl)) opt else paste0(opt, "_tol", tl)
      r <- run_call(cl)
      cands[[nm]] <- list(optimizer = opt, nb_tol = if (is.na(tl)) NA else as.numeric(tl),
                          call = cl, res = r,
                          m2loglik = if (failed(r)) NA else m2ll(r$value))
    }
  }
  ok <- Filter(function(cn) !is.na(cn$m2loglik), cands)
  if (!length(ok)) stop("all tight candidates failed for ", key)
  best <- ok[[which.min(vapply(ok, function(cn) cn$m2loglik, 0))]]
  fit <- best$res$value

  fam <- family(fit)
  vc <- as.data.frame(VarCorr(fit))
  varcorr <- lapply(seq_len(nrow(vc)), function(i) list(
    grp = vc$grp[i], var1 = na_null(vc$var1[i]), var2 = na_null(vc$var2[i]),
    vcov = vc$vcov[i], sdcor = vc$sdcor[i]))
  V <- as.matrix(vcov(fit))
  Vrx <- as.matrix(vcov(fit, use.hessian = FALSE))
  re <- ranef(fit, condVar = TRUE)
  ranef_first5 <- lapply(re, function(d) {
    pv <- attr(d, "postVar")
    k <- min(5, nrow(d))
    list(levels = rownames(d)[1:k],
         columns = lapply(as.list(d[1:k, , drop = FALSE]), unname),
         postVar = lapply(seq_len(k), function(i) {
           m <- pv[, , i, drop = TRUE]
           if (length(m) == 1) m else m[lower.tri(m, diag = TRUE)][c(1, 2, 3)]  # [v11, v12, v22]
         }))
  })
  ll <- logLik(fit)
  grad <- fit@optinfo$derivs$gradient
  ciw <- confint(fit, method = "Wald")
  sr <- residuals(fit, type = "pearson", scaled = TRUE)

  th <- unname(getME(fit, "theta")); th_def <- unname(getME(f_def, "theta"))
  fx <- fixef(fit); fx_def <- fixef(f_def)
  cat(sprintf("m2ll_default=%.10f  kept=%s m2ll=%.10f  rel=%.2e  theta=%.2e fixef=%.2e (%.1fs)\n",
              m2ll(f_def), names(ok)[which.min(vapply(ok, function(cn) cn$m2loglik, 0))],
              m2ll(fit), (m2ll(f_def) - m2ll(fit)) / m2ll(fit),
              reldiff(th_def, th), reldiff(fx_def, fx), proc.time()[["elapsed"]] - t0))
  for (nm in names(cands))
    cat(sprintf("    %-22s %s\n", nm, if (is.na(cands[[nm]]$m2loglik))
      paste("FAILED:", conditionMessage(cands[[nm]]$res$value)) else sprintf("%.12f", cands[[nm]]$m2loglik)))

  e <- list(
    data = dlabel,
    formula = fstr,
    class = class(fit)[1],
    reml = FALSE,
    call = best$call,
    call_default = call_def,
    optimizer = best$optimizer,
    family = fam$family,
    link = fam$link,
    nagq = unname(fit@devcomp$dims[["nAGQ"]]),
    theta = th,
    fixef = as.list(fx),
    se = as.list(sqrt(diag(V))),
    se_rx = as.list(sqrt(diag(Vrx))),
    vcov = list(names = rownames(V), rows = unname(lapply(seq_len(nrow(V)), function(i) unname(V[i, ])))),
    varcorr = varcorr,
    loglik = as.numeric(ll),
    m2loglik = m2ll(fit),
    aic = AIC(fit),
    bic = BIC(fit),
    deviance_glmer = deviance(fit),
    nobs = nobs(fit),
    ngroups = as.list(ngrps(fit)),
    singular = isSingular(fit),
    m2loglik_default = m2ll(f_def),
    theta_default = th_def,
    fixef_default = as.list(fx_def),
    candidates = lapply(cands, function(cn) list(
      optimizer = cn$optimizer, nb_tol = cn$nb_tol, call = cn$call,
      m2loglik = cn$m2loglik,
      error = if (failed(cn$res)) conditionMessage(cn$res$value) else NA,
      elapsed = round(cn$res$elapsed, 3))),
    feval = fit@optinfo$feval,
    gradient = if (is.null(grad)) NA else unname(grad),
    ranef_first5 = ranef_first5,
    fitted_1_5 = first5(fitted(fit)),
    predict_link_1_5 = first5(predict(fit, type = "link")),
    resid_deviance_1_5 = first5(residuals(fit, type = "deviance")),
    resid_pearson_1_5 = first5(residuals(fit, type = "pearson")),
    resid_response_1_5 = first5(residuals(fit, type = "response")),
    scaled_residuals_quantiles = list(
      call = "quantile(residuals(fit, type=\"pearson\", scaled=TRUE))  # summary's 'Scaled residuals'",
      names = c("Min", "1Q", "Median", "3Q", "Max"), values = unname(quantile(sr))),
    confint_wald = c(list(call = "confint(fit, method=\"Wald\")  # NA rows for the variance parameters"),
                     mat_plain(ciw)),
    summary_text = paste(capture.output(print(summary(fit))), collapse = "\n"),
    fit_messages = I(best$res$messages),
    fit_warnings = I(best$res$warnings),
    default_fit_messages = I(r_def$messages),
    default_fit_warnings = I(r_def$warnings)
  )
  if (is_nb) {
    e$nb_theta <- getME(fit, "glmer.nb.theta")
    e$nb_theta_default <- getME(f_def, "glmer.nb.theta")
    e$nb_tol <- best$nb_tol
  }
  e
}

out <- list()
out$meta <- list(
  generated = format(Sys.Date()),
  R = R.version.string,
  lme4 = as.character(packageVersion("lme4")),
  Matrix = as.character(packageVersion("Matrix")),
  minqa = as.character(packageVersion("minqa")),
  nloptr = as.character(packageVersion("nloptr")),
  MASS = as.character(packageVersion("MASS")),
  jsonlite = as.character(packageVersion("jsonlite")),
  script = "benchmarks/r/glmer_tight_refs.R",
  control_bobyqa = ctrl_txt$bobyqa,
  control_nloptwrap = ctrl_txt$nloptwrap,
  notes = c(
    "Same keys as the glmerMod fits of /work/shared/reference/lme4.json, at a tightly converged optimum.",
    "optimizer: which tight candidate was kept (lowest -2 logLik): 'bobyqa' or 'nloptwrap' (controls in meta); candidates: all of them, with their -2 logLik (NA + error if the fit failed).",
    "call: R code of the kept fit (data objects cbpp, grouseticks, bangladesh, insteval as loaded by this script); call_default: the default-control fit, summarised by m2loglik_default, theta_default, fixef_default.",
    "grouseticks_nb: glmer.nb optimizes the NB dispersion with optimize(tol) on log(theta), default tol=5e-5; candidates with tol=1e-10 were also run; nb_tol says which was kept. nb_theta = getME(fit, 'glmer.nb.theta').",
    "theta: lme4 relative covariance factor (for glmer, Cholesky factor of Sigma), column-wise.",
    "se = sqrt(diag(vcov(fit))) (lme4 default: from the finite-difference Hessian of the deviance in (theta, beta)); se_rx = sqrt(diag(vcov(fit, use.hessian=FALSE))) (from RX, beta conditional on theta).",
    "vcov: as.matrix(vcov(fit)), names = fixed-effect names, rows = matrix rows.",
    "loglik = logLik(fit); m2loglik = -2 logLik; deviance_glmer = deviance(fit) (sum of squared deviance residuals for Laplace; not -2 logLik).",
    "ranef_first5: first 5 rows of ranef(fit, condVar=TRUE)[[group]]: levels, columns (one array per term), postVar (scalar for 1-term factors, [v11, v12, v22] for 2-term).",
    "fitted_1_5 = fitted(fit)[1:5] (response scale; cbpp: proportions), predict_link_1_5 = predict(fit, type='link')[1:5], resid_*_1_5 = residuals(fit, type=*)[1:5].",
    "gradient / feval: lme4's finite-difference gradient (optinfo$derivs) and function evaluations of the kept fit.",
    "summary_text: capture.output(print(summary(fit))) with options(width=80).",
    "Factors: cbpp herd/period and grouseticks INDEX/BROOD/YEAR/LOCATION with the levels of factor_levels_r.json; bangladesh district, insteval s/d/service via factor(); insteval dept levels as factor_levels_r.json.",
    "Numbers written with jsonlite digits = NA (15 significant digits)."
  )
)
out$fits <- list()
for (key in names(specs)) out$fits[[key]] <- fit_entry(key, specs[[key]])

## ------------------------------------------------------------- InstEval
ie_f <- "I(y > 3) ~ service + (1|s) + (1|d)"
ie_entry <- function(r, call) {
  fit <- r$value
  V <- as.matrix(vcov(fit))
  list(data = "insteval", formula = ie_f, call = call,
       elapsed_seconds = round(r$elapsed, 3),
       theta = unname(getME(fit, "theta")),
       fixef = as.list(fixef(fit)),
       se = as.list(sqrt(diag(V))),
       se_rx = as.list(sqrt(diag(as.matrix(vcov(fit, use.hessian = FALSE))))),
       loglik = as.numeric(logLik(fit)),
       m2loglik = m2ll(fit),
       deviance_glmer = deviance(fit),
       nobs = nobs(fit), ngroups = as.list(ngrps(fit)),
       feval = fit@optinfo$feval,
       fit_messages = I(r$messages), fit_warnings = I(r$warnings))
}
if (!identical(Sys.getenv("SKIP_INSTEVAL"), "1")) {
  call_ie <- paste0("glmer(", ie_f, ", insteval, family=binomial)")
  cat("insteval_binary (default control) ... "); flush.console()
  r_ie <- run_call(call_ie)
  if (failed(r_ie)) stop(conditionMessage(r_ie$value))
  out$fits$insteval_binary <- ie_entry(r_ie, call_ie)
  out$fits$insteval_binary$note <- "default glmerControl(); elapsed_seconds = system.time(...)[['elapsed']] of this single fit"
  cat(sprintf("%.1fs m2ll=%.10f\n", r_ie$elapsed, m2ll(r_ie$value)))
  if (!identical(Sys.getenv("SKIP_INSTEVAL_TIGHT"), "1")) {
    call_iet <- paste0("glmer(", ie_f, ", insteval, family=binomial, control=", ctrl_txt$nloptwrap, ")")
    cat("insteval_binary_tight (nloptwrap tight) ... "); flush.console()
    r_iet <- run_call(call_iet)
    if (failed(r_iet)) {
      cat("FAILED:", conditionMessage(r_iet$value), "\n")
    } else {
      out$fits$insteval_binary_tight <- ie_entry(r_iet, call_iet)
      out$fits$insteval_binary_tight$optimizer <- "nloptwrap"
      out$fits$insteval_binary_tight$m2loglik_default <- m2ll(r_ie$value)
      cat(sprintf("%.1fs m2ll=%.10f\n", r_iet$elapsed, m2ll(r_iet$value)))
    }
  }
}

## ------------------------------------------------------------------ timings
if (!identical(Sys.getenv("SKIP_TIMINGS"), "1")) {
  tm <- function(txt) {
    ex <- parse(text = txt)
    t <- replicate(3, system.time(suppressWarnings(suppressMessages(
      eval(ex, envir = globalenv()))))[["elapsed"]])
    list(call = paste0("min over 3 x system.time(", txt, ")[['elapsed']]"),
         best_elapsed = min(t), all_elapsed = round(t, 3))
  }
  out$timings_seconds <- list(
    date = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"),
    machine = paste(Sys.info()[["sysname"]], Sys.info()[["machine"]],
                    paste0(parallel::detectCores(), " cores")),
    blas = tryCatch(sessionInfo()$BLAS, error = function(e) NA),
    bangladesh_slopes = tm(paste0(specs$bangladesh_slopes[[3]], ")")),
    grouseticks_poisson = tm(paste0(specs$grouseticks_poisson[[3]], ")"))
  )
  cat(sprintf("timings: bangladesh %.3fs, grouseticks_poisson %.3fs\n",
              out$timings_seconds$bangladesh_slopes$best_elapsed,
              out$timings_seconds$grouseticks_poisson$best_elapsed))
}

writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null", null = "null"),
           out_json)
cat("wrote", out_json, "\n")

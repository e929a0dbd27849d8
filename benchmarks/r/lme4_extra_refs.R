#!/usr/bin/env Rscript
# Extra lme4 reference values for the multilevel test suite.
# Usage (from the repository root):
#   Rscript benchmarks/r/lme4_extra_refs.R [DATA_DIR] [OUT_JSON]
# Defaults: DATA_DIR=/work/shared/data, OUT_JSON=tests/fixtures/lme4_extra.json
# Produced with the Debian packages r-base-core, r-cran-lme4, r-cran-jsonlite.
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
options(width = 80)  # fixed width so the captured printouts are reproducible

args <- commandArgs(trailingOnly = TRUE)
data_dir <- if (length(args) >= 1) args[[1]] else "/work/shared/data"
out_json <- if (length(args) >= 2) args[[2]] else "tests/fixtures/lme4_extra.json"
rd <- function(f) read.csv(file.path(data_dir, f))
flv <- fromJSON(file.path(data_dir, "factor_levels_r.json"))

out <- list()
out$meta <- list(
  generated = format(Sys.Date()),
  R = R.version.string,
  lme4 = as.character(packageVersion("lme4")),
  Matrix = as.character(packageVersion("Matrix")),
  jsonlite = as.character(packageVersion("jsonlite")),
  script = "benchmarks/r/lme4_extra_refs.R",
  notes = c(
    "Grouping columns converted with factor() (sorted levels); insteval dept levels follow factor_levels_r.json; insteval service as factor() (coefficient service1).",
    "postVar entries: per-level conditional covariance matrix of the random effects, given as [v11, v12, v22] (scalar variance for 1-term factors).",
    "Printed output captured with options(width = 80).",
    "Numbers written with jsonlite digits = NA (15 significant digits)."
  )
)

named <- function(x) as.list(x)   # named vector -> JSON object
mat_rows <- function(m) {          # matrix -> list of named rows (row name kept as 'row')
  lapply(seq_len(nrow(m)), function(i) c(list(row = rownames(m)[i]), as.list(m[i, ])))
}
mat_plain <- function(m) list(rownames = rownames(m), colnames = colnames(m),
                              values = unname(lapply(seq_len(nrow(m)), function(i) unname(m[i, ]))))

## ---------------------------------------------------------------- sleepstudy
sleepstudy <- rd("sleepstudy.csv")
sleepstudy$Subject <- factor(sleepstudy$Subject)
fm1 <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
s <- list(data = "sleepstudy",
          call_fit = "fm1 <- lmer(Reaction ~ Days + (Days|Subject), sleepstudy)")

re <- ranef(fm1, condVar = TRUE)
pv <- attr(re$Subject, "postVar")
s$ranef <- list(
  call = "ranef(fm1, condVar=TRUE)$Subject; attr(., 'postVar')[,,i] as [v11, v12, v22]",
  levels = rownames(re$Subject),
  `(Intercept)` = unname(re$Subject[["(Intercept)"]]),
  Days = unname(re$Subject[["Days"]]),
  postVar = lapply(seq_len(dim(pv)[3]), function(i) c(pv[1, 1, i], pv[1, 2, i], pv[2, 2, i]))
)
cf <- coef(fm1)$Subject
s$coef <- list(call = "coef(fm1)$Subject", levels = rownames(cf),
               `(Intercept)` = unname(cf[["(Intercept)"]]), Days = unname(cf[["Days"]]))
s$vcov <- c(list(call = "as.matrix(vcov(fm1))"), mat_plain(as.matrix(vcov(fm1))))
s$fitted_1_10 <- list(call = "fitted(fm1)[1:10]", values = unname(fitted(fm1)[1:10]))
s$residuals_1_10 <- list(call = "residuals(fm1)[1:10]", values = unname(residuals(fm1)[1:10]))
sr <- residuals(fm1, scaled = TRUE)
s$scaled_residuals_quantiles <- list(
  call = "quantile(residuals(fm1, scaled=TRUE))  # summary's 'Scaled residuals' (Min 1Q Median 3Q Max)",
  names = c("Min", "1Q", "Median", "3Q", "Max"), values = unname(quantile(sr)))
ciw <- confint(fm1, method = "Wald")
s$confint_wald <- c(list(call = "confint(fm1, method=\"Wald\")  # NA rows for the variance parameters"),
                    mat_plain(ciw))
cip <- confint(fm1, method = "profile")
s$confint_profile <- c(list(call = "confint(fm1, method=\"profile\")"), mat_plain(cip))
nd <- data.frame(Days = c(0, 5, 9, 3), Subject = c("308", "309", "999", "372"))
s$predict_newdata <- list(
  call_newdata = "nd <- data.frame(Days=c(0,5,9,3), Subject=c(\"308\",\"309\",\"999\",\"372\"))  # 999 is a new level",
  newdata = list(Days = nd$Days, Subject = nd$Subject),
  allow_new_levels = list(call = "predict(fm1, newdata=nd, allow.new.levels=TRUE)",
                          values = unname(predict(fm1, newdata = nd, allow.new.levels = TRUE))),
  re_form_NA = list(call = "predict(fm1, newdata=nd, re.form=NA)",
                    values = unname(predict(fm1, newdata = nd, re.form = NA)))
)
sm1 <- summary(fm1)
s$fixef_correlation <- c(list(call = "as.matrix(cov2cor(vcov(fm1)))  # summary(fm1)'s 'Correlation of Fixed Effects'"),
                         mat_plain(as.matrix(cov2cor(vcov(fm1)))))
s$summary_print <- list(call = "print(summary(fm1))",
                        text = paste(capture.output(print(sm1)), collapse = "\n"))
s$print <- list(call = "print(fm1)", text = paste(capture.output(print(fm1)), collapse = "\n"))
out$sleepstudy_fm1 <- s

## ------------------------------------------------------------ anova(fm0, fm1)
fm0 <- lmer(Reaction ~ Days + (1 | Subject), sleepstudy)
a <- anova(fm0, fm1)
out$sleepstudy_anova <- list(
  call = "fm0 <- lmer(Reaction ~ Days + (1|Subject), sleepstudy); anova(fm0, fm1)  # refits both with ML",
  rows = rownames(a),
  columns = colnames(a),
  table = lapply(seq_len(nrow(a)), function(i) {
    r <- as.list(a[i, , drop = TRUE]); r <- lapply(r, function(v) if (is.na(v)) NA else v)
    c(list(model = rownames(a)[i]), r)
  }),
  text = paste(capture.output(print(a)), collapse = "\n")
)

## ----------------------------------------------------- dyestuff ML profile CI
dyestuff <- rd("dyestuff.csv"); dyestuff$Batch <- factor(dyestuff$Batch)
fmd <- lmer(Yield ~ 1 + (1 | Batch), dyestuff, REML = FALSE)
out$dyestuff_ml_confint_profile <- c(
  list(call = "confint(lmer(Yield ~ 1 + (1|Batch), dyestuff, REML=FALSE), method=\"profile\")"),
  mat_plain(confint(fmd, method = "profile")))

## --------------------------------------------------------- penicillin ranef
pen <- rd("penicillin.csv"); pen$plate <- factor(pen$plate); pen$sample <- factor(pen$sample)
fmp <- lmer(diameter ~ 1 + (1 | plate) + (1 | sample), pen)
rp <- ranef(fmp, condVar = TRUE)
pv_s <- attr(rp$sample, "postVar"); pv_p <- attr(rp$plate, "postVar")
out$penicillin_ranef <- list(
  call = "rp <- ranef(lmer(diameter ~ 1 + (1|plate) + (1|sample), Penicillin), condVar=TRUE)",
  sample = list(levels = rownames(rp$sample), `(Intercept)` = unname(rp$sample[["(Intercept)"]]),
                postVar = as.numeric(pv_s[1, 1, ])),
  plate_first5 = list(levels = rownames(rp$plate)[1:5],
                      `(Intercept)` = unname(rp$plate[["(Intercept)"]][1:5]),
                      postVar = as.numeric(pv_p[1, 1, 1:5])),
  ranef_names = names(rp)
)

## ------------------------------------------------------------- pastes nested
pastes <- rd("pastes.csv"); pastes$batch <- factor(pastes$batch); pastes$cask <- factor(pastes$cask)
fmn <- lmer(strength ~ 1 + (1 | batch/cask), pastes)
out$pastes_nested <- list(
  call = "fmn <- lmer(strength ~ 1 + (1|batch/cask), Pastes); names(ranef(fmn)); ngrps(fmn)",
  ranef_names = names(ranef(fmn)),
  ngroups = as.list(ngrps(fmn)),
  ranef_levels_first3 = lapply(ranef(fmn), function(d) head(rownames(d), 3))
)

## -------------------------------------------------------- rank-deficient X
ss2 <- sleepstudy; ss2$Days2 <- 2 * ss2$Days
msgs <- character(0); warns <- character(0)
fmr <- withCallingHandlers(
  lmer(Reaction ~ Days + Days2 + (1 | Subject), ss2),
  message = function(m) { msgs <<- c(msgs, conditionMessage(m)); invokeRestart("muffleMessage") },
  warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
out$rank_deficient <- list(
  call = "sleepstudy$Days2 <- 2*sleepstudy$Days; lmer(Reaction ~ Days + Days2 + (1|Subject), sleepstudy)",
  messages = I(msgs), warnings = I(warns),
  fixef = named(fixef(fmr)),
  fixef_add_dropped = named(fixef(fmr, add.dropped = TRUE)),
  dropped = attr(getME(fmr, "X"), "col.dropped")
)
out$rank_deficient$dropped <- as.list(out$rank_deficient$dropped)

## --------------------------------------------------------------- mathachieve
ma <- rd("mathachieve.csv"); ms <- rd("mathachieveschool.csv")
mathach <- merge(ma, ms, by = "school"); mathach$school <- factor(mathach$school)
fmm <- lmer(mathach ~ ses + himinty + ses:himinty + (ses | school), mathach)
out$mathach_summary <- list(
  call = "mathach <- merge(mathachieve, mathachieveschool, by=\"school\"); mathach$school <- factor(mathach$school); summary(lmer(mathach ~ ses + himinty + ses:himinty + (ses|school), mathach))",
  text = paste(capture.output(print(summary(fmm))), collapse = "\n"),
  scaled_residuals_quantiles = unname(quantile(residuals(fmm, scaled = TRUE)))
)

## ------------------------------------------------------------------ insteval
insteval <- rd("insteval.csv")
insteval$s <- factor(insteval$s); insteval$d <- factor(insteval$d)
insteval$dept <- factor(insteval$dept, levels = flv$insteval$dept$levels)
insteval$service <- factor(insteval$service)
fmi <- lmer(y ~ service + (1 | s) + (1 | d) + (1 | dept), insteval, REML = FALSE)
out$insteval_ml_summary <- list(
  call = "summary(lmer(y ~ service + (1|s) + (1|d) + (1|dept), insteval, REML=FALSE))  # s, d, service factor(); dept levels as factor_levels_r.json",
  text = paste(capture.output(print(summary(fmi))), collapse = "\n"),
  print_text = paste(capture.output(print(fmi)), collapse = "\n")
)

## ------------------------------------------------------------------ timings
if (!identical(Sys.getenv("SKIP_TIMINGS"), "1")) {
  t_ie <- replicate(2, system.time(
    lmer(y ~ service + (1 | s) + (1 | d) + (1 | dept), insteval, REML = FALSE))[["elapsed"]])
  t_ss <- replicate(20, system.time(
    lmer(Reaction ~ Days + (Days | Subject), sleepstudy))[["elapsed"]])
  out$timings_seconds <- list(
    date = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"),
    machine = paste(Sys.info()[["sysname"]], Sys.info()[["machine"]],
                    paste0(parallel::detectCores(), " cores")),
    blas = tryCatch(sessionInfo()$BLAS, error = function(e) NA),
    insteval_ml = list(call = "system.time(lmer(y ~ service + (1|s) + (1|d) + (1|dept), insteval, REML=FALSE))[['elapsed']], 2 runs",
                       elapsed = round(t_ie, 3)),
    sleepstudy_slopes_reml = list(call = "median of 20 x system.time(lmer(Reaction ~ Days + (Days|Subject), sleepstudy))[['elapsed']]",
                                  median_elapsed = round(median(t_ss), 3), mean_elapsed = round(mean(t_ss), 4),
                                  all_elapsed = round(t_ss, 3))
  )
}

writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null", null = "null"),
           out_json)
cat("wrote", out_json, "\n")

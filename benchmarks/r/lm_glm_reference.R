# Reference numbers for ml.lm / ml.glm (tests/test_lm.py), computed with R's stats::lm / stats::glm
# and lme4 (anova of glmer/lmer against glm/lm). R is not a dependency of multilevel: run this by
# hand to regenerate tests/fixtures/lm_glm_R.json.
#
#   Rscript benchmarks/r/lm_glm_reference.R   (from the repository root; needs lme4 and jsonlite)
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
data_dir <- "src/multilevel/datasets/data"
load_csv <- function(name, factors) {
  d <- read.csv(file.path(data_dir, paste0(name, ".csv")), check.names = FALSE)
  for (f in factors) d[[f]] <- factor(d[[f]])
  d
}
sleepstudy <- load_csv("sleepstudy", "Subject")
cbpp <- load_csv("cbpp", c("herd", "period"))
grouseticks <- load_csv("grouseticks", c("INDEX", "BROOD", "YEAR", "LOCATION"))
bangladesh <- load_csv("bangladesh", character(0))

num <- function(x) unname(as.numeric(x))
named <- function(x) as.list(setNames(as.numeric(x), names(x)))

lm_info <- function(fit) {
  s <- summary(fit)
  cf <- coef(fit)
  tab <- s$coefficients
  ci <- confint(fit)
  out <- list(
    coef_names = names(cf), coef = num(cf),
    se = num(tab[, 2]), t = num(tab[, 3]), p = num(tab[, 4]), table_rows = rownames(tab),
    sigma = s$sigma, df_residual = fit$df.residual, rank = fit$rank,
    r_squared = s$r.squared, adj_r_squared = s$adj.r.squared,
    fstatistic = num(s$fstatistic),
    f_pvalue = num(pf(s$fstatistic[1], s$fstatistic[2], s$fstatistic[3], lower.tail = FALSE)),
    loglik = as.numeric(logLik(fit)), loglik_df = attr(logLik(fit), "df"),
    aic = AIC(fit), bic = BIC(fit), deviance = deviance(fit), nobs = nobs(fit),
    confint_lower = num(ci[, 1]), confint_upper = num(ci[, 2]),
    vcov_diag = num(diag(vcov(fit))),
    fitted_head = num(head(fitted(fit), 10)), residuals_head = num(head(residuals(fit), 10)),
    summary_text = capture.output(print(s))
  )
  out
}

glm_info <- function(fit) {
  s <- summary(fit)
  tab <- s$coefficients
  ci <- confint.default(fit)
  list(
    coef_names = names(coef(fit)), coef = num(coef(fit)),
    se = num(tab[, 2]), stat = num(tab[, 3]), p = num(tab[, 4]), table_rows = rownames(tab),
    dispersion = s$dispersion, deviance = deviance(fit), null_deviance = fit$null.deviance,
    df_residual = fit$df.residual, df_null = fit$df.null, iter = fit$iter,
    loglik = as.numeric(logLik(fit)), loglik_df = attr(logLik(fit), "df"),
    aic = AIC(fit), bic = BIC(fit), nobs = nobs(fit),
    wald_lower = num(ci[, 1]), wald_upper = num(ci[, 2]),
    vcov_diag = num(diag(vcov(fit))),
    fitted_head = num(head(fitted(fit), 10)),
    resid_deviance_head = num(head(residuals(fit, "deviance"), 10)),
    resid_pearson_head = num(head(residuals(fit, "pearson"), 10)),
    resid_working_head = num(head(residuals(fit, "working"), 10)),
    resid_response_head = num(head(residuals(fit, "response"), 10)),
    summary_text = capture.output(print(s))
  )
}

anova_frame <- function(a) {
  out <- lapply(as.data.frame(a), function(col) num(col))
  out$rows <- rownames(a)
  out$text <- capture.output(print(a))
  out
}

ref <- list(R_version = R.version.string, lme4_version = as.character(packageVersion("lme4")))

# ---- lm ----------------------------------------------------------------------------------------
lm1 <- lm(Reaction ~ Days, data = sleepstudy)
lm_sub <- lm(Reaction ~ Days + Subject, data = sleepstudy)
lm2 <- lm(Reaction ~ Days * Subject, data = sleepstudy)
lm_w <- lm(incidence / size ~ period, data = cbpp, weights = size)
lm_rank <- lm(Reaction ~ Days + I(10 - Days), data = sleepstudy)
ref$lm_days <- lm_info(lm1)
ref$lm_days_subject <- lm_info(lm2)
ref$lm_weighted <- lm_info(lm_w)
ref$lm_rank_deficient <- lm_info(lm_rank)

# zero weights (the row does not count) and a formula offset
sleep_w <- sleepstudy
sleep_w$w <- rep(c(0, 1, 2), length.out = nrow(sleep_w))
lm_ow <- lm(Reaction ~ Days + offset(2 * Days), data = sleep_w, weights = w)
ref$lm_offset_zero_weights <- lm_info(lm_ow)

new_days <- data.frame(Days = c(0, 4.5, 9))
pc <- predict(lm1, new_days, se.fit = TRUE, interval = "confidence")
pp <- predict(lm1, new_days, se.fit = TRUE, interval = "prediction", level = 0.9)
ref$lm_predict <- list(newdata_days = new_days$Days, fit = num(pc$fit[, "fit"]), se_fit = num(pc$se.fit),
                       conf_lwr = num(pc$fit[, "lwr"]), conf_upr = num(pc$fit[, "upr"]),
                       pred90_lwr = num(pp$fit[, "lwr"]), pred90_upr = num(pp$fit[, "upr"]),
                       df = pc$df, residual_scale = pc$residual.scale)
new_period <- data.frame(period = factor(c("1", "2", "3", "4")))
pw <- predict(lm_w, new_period, se.fit = TRUE, interval = "confidence")
ref$lm_weighted_predict <- list(fit = num(pw$fit[, "fit"]), se_fit = num(pw$se.fit),
                                lwr = num(pw$fit[, "lwr"]), upr = num(pw$fit[, "upr"]))

ref$anova_lm_days_subject <- anova_frame(anova(lm2))
ref$anova_lm_weighted <- anova_frame(anova(lm_w))
ref$anova_lm_nested <- anova_frame(anova(lm1, lm_sub, lm2))

# ---- glm ---------------------------------------------------------------------------------------
g_bin <- glm(cbind(incidence, size - incidence) ~ period, family = binomial, data = cbpp)
g_pois <- glm(TICKS ~ YEAR + HEIGHT, family = poisson, data = grouseticks)
g_pois_off <- glm(TICKS ~ YEAR + cHEIGHT + offset(log(HEIGHT)), family = poisson, data = grouseticks)
g_gamma <- glm(Reaction ~ Days, family = Gamma(link = "log"), data = sleepstudy)
g_gamma_inv <- glm(Reaction ~ Days, family = Gamma, data = sleepstudy)
g_bern <- glm(use.contraception ~ urban + age.centered, family = binomial, data = bangladesh)
g_probit <- glm(use.contraception ~ urban + age.centered, family = binomial(link = "probit"), data = bangladesh)
g_gauss <- glm(Reaction ~ Days, family = gaussian, data = sleepstudy)
g_ig <- glm(Reaction ~ Days, family = inverse.gaussian, data = sleepstudy)
ref$glm_binomial_cbind <- glm_info(g_bin)
ref$glm_binomial_proportion <- glm_info(glm(incidence / size ~ period, family = binomial, weights = size, data = cbpp))
grouse_w <- grouseticks
grouse_w$w <- rep(c(0, 1, 1, 3), length.out = nrow(grouse_w))
ref$glm_poisson_zero_weights <- glm_info(glm(TICKS ~ YEAR + HEIGHT, family = poisson, weights = w, data = grouse_w))
ref$glm_poisson <- glm_info(g_pois)
ref$glm_poisson_offset <- glm_info(g_pois_off)
ref$glm_gamma_log <- glm_info(g_gamma)
ref$glm_gamma_inverse <- glm_info(g_gamma_inv)
ref$glm_bernoulli <- glm_info(g_bern)
ref$glm_bernoulli_probit <- glm_info(g_probit)
ref$glm_gaussian <- glm_info(g_gauss)
ref$glm_inverse_gaussian <- glm_info(g_ig)

pl <- predict(g_bin, new_period, type = "link", se.fit = TRUE)
pr <- predict(g_bin, new_period, type = "response", se.fit = TRUE)
ref$glm_binomial_predict <- list(link = num(pl$fit), link_se = num(pl$se.fit),
                                 response = num(pr$fit), response_se = num(pr$se.fit))
new_ticks <- data.frame(YEAR = factor(c("95", "96", "97"), levels = c("95", "96", "97")),
                        cHEIGHT = c(-10, 0, 25), HEIGHT = c(452, 462, 487))
po <- predict(g_pois_off, new_ticks, type = "response", se.fit = TRUE)
ref$glm_poisson_offset_predict <- list(YEAR = c("95", "96", "97"), cHEIGHT = new_ticks$cHEIGHT,
                                       HEIGHT = new_ticks$HEIGHT, response = num(po$fit),
                                       response_se = num(po$se.fit))
pg <- predict(g_gamma, data.frame(Days = c(0, 4.5, 9)), type = "link", se.fit = TRUE)
ref$glm_gamma_predict <- list(link = num(pg$fit), link_se = num(pg$se.fit), residual_scale = pg$residual.scale)

ref$anova_glm_binomial <- anova_frame(anova(g_bin, test = "Chisq"))
ref$anova_glm_poisson <- anova_frame(anova(g_pois, test = "Chisq"))
ref$anova_glm_gamma <- anova_frame(anova(g_gamma, test = "Chisq"))
g_pois0 <- glm(TICKS ~ YEAR, family = poisson, data = grouseticks)
ref$anova_glm_nested <- anova_frame(anova(g_pois0, g_pois, test = "Chisq"))

# ---- mixed against plain: lme4's anova (REML fits refitted by ML) ------------------------------
gm <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), family = binomial, data = cbpp)
ref$anova_glmer_glm <- anova_frame(anova(gm, g_bin))
lmm <- lmer(Reaction ~ Days + (Days | Subject), data = sleepstudy)
ref$anova_lmer_lm <- anova_frame(anova(lmm, lm1))

writeLines(toJSON(ref, digits = NA, auto_unbox = TRUE, pretty = TRUE), "tests/fixtures/lm_glm_R.json")
cat("wrote tests/fixtures/lm_glm_R.json\n")

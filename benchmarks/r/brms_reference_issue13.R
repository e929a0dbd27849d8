#!/usr/bin/env Rscript
# brms 2.18 reference posterior summaries for issue 13 (families, nonlinear syntax, distributional
# models, se()/weights() addition terms) -> tests/fixtures/brms_issue13.json.
#
# Usage (repository root):
#   Rscript benchmarks/r/brms_reference_issue13.R                 # every model
#   Rscript benchmarks/r/brms_reference_issue13.R wine_cumulative  # only the named ones
# Each model's entry is merged into the existing JSON (written again after every fit), so models can
# be (re)run one at a time. Writes:
#   tests/fixtures/brms_issue13.json                 meta + fits[<name>]
#   tests/fixtures/brms_issue13_<name>.csv           the generated data sets
#   tests/fixtures/brms_issue13_stancode/<name>.stan stancode(fit)
# Data: /work/shared/data (override with env BRMS_DATA_DIR).
# Sampling: 4 chains x 3000 iterations (1000 warm-up) = 4 x 2000 post-warm-up draws, as
# /work/shared/reference/brms.json; seed = 1; cores = 2. Wall seconds include compilation.
#
# rstan on Debian: r-cran-bh ships no headers, so link Debian's Boost into BH's include folder:
#   mkdir -p /usr/lib/R/site-library/BH/include
#   ln -s /usr/include/boost /usr/lib/R/site-library/BH/include/boost   (libboost-dev 1.74)
suppressPackageStartupMessages({ library(brms); library(posterior); library(jsonlite) })

data_dir <- Sys.getenv("BRMS_DATA_DIR", "/work/shared/data")
fix_dir <- "tests/fixtures"
json_path <- file.path(fix_dir, "brms_issue13.json")
stan_dir <- file.path(fix_dir, "brms_issue13_stancode")
dir.create(stan_dir, showWarnings = FALSE, recursive = TRUE)

SEED <- 1
CHAINS <- 4
ITER <- 3000
WARMUP <- 1000
DRAWS <- "4 chains x 2000 post-warmup (iter 3000, warmup 1000), seed 1"
KEEP <- "^(b_|bsp_|sd_|cor_|sigma|shape|zi|hu|ndt|beta|phi|disc|Intercept)"

read_data <- function(file) read.csv(file.path(data_dir, file))

write_generated <- function(name, d) {
  path <- file.path(fix_dir, paste0("brms_issue13_", name, ".csv"))
  write.csv(d, path, row.names = FALSE)
  path
}

# Fit with the common settings; returns the fit and its wall seconds (compilation included).
fit_brm <- function(...) {
  t0 <- proc.time()[["elapsed"]]
  fit <- brm(..., chains = CHAINS, iter = ITER, warmup = WARMUP, cores = 2, seed = SEED, refresh = 0)
  list(fit = fit, wall = proc.time()[["elapsed"]] - t0)
}

summarise_fit <- function(name, res, data_desc, formula_desc, family_desc, extra_draws = NULL,
                          keep = KEEP, extra = list()) {
  fit <- res$fit
  d <- as_draws_df(fit)
  vars <- grep(keep, variables(d), value = TRUE)
  d <- subset_draws(d, variable = vars)
  if (!is.null(extra_draws)) d <- extra_draws(fit, d)
  s <- summarise_draws(d, "mean", "sd", "mcse_mean", "ess_bulk", "ess_tail", "rhat")
  # constants (e.g. sigma = 0 in a se()-only model) have no MCSE/ESS/R-hat: dropped, as summary() does
  constant <- s$sd == 0
  fixed <- s$variable[constant]
  s <- s[!constant, ]
  params <- list()
  for (i in seq_len(nrow(s))) {
    params[[s$variable[i]]] <- list(mean = s$mean[i], sd = s$sd[i], mcse_mean = s$mcse_mean[i],
                                    ess_bulk = s$ess_bulk[i], ess_tail = s$ess_tail[i], rhat = s$rhat[i])
  }
  ps <- as.data.frame(prior_summary(fit))
  cols <- intersect(c("prior", "class", "coef", "group", "resp", "dpar", "nlpar", "lb", "ub", "source"),
                    names(ps))
  ps <- ps[, cols]
  ps[] <- lapply(ps, as.character)
  rownames(ps) <- NULL
  np <- nuts_params(fit)
  div <- sum(np$Value[np$Parameter == "divergent__"])
  treedepth <- sum(np$Value[np$Parameter == "treedepth__"] >= 10)
  writeLines(stancode(fit), file.path(stan_dir, paste0(name, ".stan")))
  entry <- c(list(
    data = data_desc, formula = formula_desc, family = family_desc,
    nobs = nobs(fit),
    priors = ps,
    draws = DRAWS,
    control = fit$fit@stan_args[[1]]$control,
    divergent_transitions = div,
    max_treedepth_hits = treedepth,
    max_rhat = max(s$rhat, na.rm = TRUE),
    constants_dropped = as.list(fixed),
    wall_seconds = round(res$wall, 3),
    params = params), extra)
  message(sprintf("%s: %.1f s, %d divergent, max rhat %.4f", name, res$wall, div, max(s$rhat, na.rm = TRUE)))
  entry
}

# ---- 1. eight schools -------------------------------------------------------------------------
eight_schools_data <- function() {
  d <- read_data("eightschools.csv")
  d$school <- factor(d$school)
  d
}

# school effects theta[s] = b_Intercept + r_school[s,Intercept]
add_theta <- function(fit, d) {
  for (s in levels(fit$data$school)) {
    d[[paste0("theta[", s, "]")]] <- d$b_Intercept + d[[paste0("r_school[", s, ",Intercept]")]]
  }
  d
}

fit_eight_schools <- function(name = "eight_schools") {
  d <- eight_schools_data()
  res <- fit_brm(y | se(sigma) ~ 1 + (1 | school), data = d, control = list(adapt_delta = 0.99))
  summarise_fit(name, res, "eightschools", "y | se(sigma) ~ 1 + (1 | school)", "gaussian",
                extra_draws = add_theta, keep = paste0(KEEP, "|^r_school\\["),
                extra = list(notes = "theta[s] = b_Intercept + r_school[s,Intercept] (school effects); control adapt_delta = 0.99"))
}

fit_eight_schools_cauchy <- function(name = "eight_schools_cauchy") {
  d <- eight_schools_data()
  res <- fit_brm(y | se(sigma) ~ 1 + (1 | school), data = d, control = list(adapt_delta = 0.99),
                 prior = c(prior(normal(0, 10), class = Intercept), prior(cauchy(0, 5), class = sd)))
  summarise_fit(name, res, "eightschools", "y | se(sigma) ~ 1 + (1 | school)", "gaussian",
                extra_draws = add_theta, keep = paste0(KEEP, "|^r_school\\["),
                extra = list(notes = "prior normal(0, 10) Intercept, cauchy(0, 5) sd; theta[s] = b_Intercept + r_school[s,Intercept]; adapt_delta = 0.99"))
}

# ---- 2. mlm no pooling ------------------------------------------------------------------------
mlm_data <- function() {
  d <- read_data("mlm.csv")
  d$id.f <- factor(d$id)
  # mlm.csv's 3 NA values are in week, not con: brms drops NA rows only of variables the model
  # uses, so both no-pooling models use all 219 rows
  d[!is.na(d$con), ]
}

fit_mlm_nopool_nl <- function(name = "mlm_nopool_nl") {
  d <- mlm_data()
  res <- fit_brm(bf(con ~ 0 + a, a ~ 0 + id.f, nl = TRUE), data = d,
                 prior = prior(normal(0, 1.5), class = b, nlpar = a))
  summarise_fit(name, res, "mlm (id.f = factor(id); all 219 rows: the 3 NA are in week, which these models do not use)",
                "bf(con ~ 0 + a, a ~ 0 + id.f, nl = TRUE)", "gaussian",
                extra = list(notes = "prior normal(0, 1.5) class b nlpar a"))
}

fit_mlm_nopool_linear <- function(name = "mlm_nopool_linear") {
  d <- mlm_data()
  res <- fit_brm(con ~ 0 + id.f, data = d, prior = prior(normal(0, 1.5), class = b))
  summarise_fit(name, res, "mlm (id.f = factor(id); all 219 rows: the 3 NA are in week, which these models do not use)", "con ~ 0 + id.f", "gaussian",
                extra = list(notes = "prior normal(0, 1.5) class b; same model as mlm_nopool_nl (b_id.f<k> = b_a_id.f<k>)"))
}

# ---- 3. wine cumulative -----------------------------------------------------------------------
wine_data <- function() {
  d <- read_data("wine.csv")
  d$rating <- factor(d$rating, levels = 1:5, ordered = TRUE)
  d$temp <- factor(d$temp)        # cold, warm
  d$contact <- factor(d$contact)  # no, yes
  d$judge <- factor(d$judge)
  d
}

fit_wine_cumulative <- function(name = "wine_cumulative") {
  res <- fit_brm(rating ~ temp + contact + (1 | judge), data = wine_data(), family = cumulative("logit"))
  summarise_fit(name, res, "wine (rating ordered factor 1..5)", "rating ~ temp + contact + (1 | judge)",
                "cumulative(logit)")
}

fit_wine_cumulative_probit <- function(name = "wine_cumulative_probit") {
  res <- fit_brm(rating ~ temp + contact, data = wine_data(), family = cumulative("probit"))
  summarise_fit(name, res, "wine (rating ordered factor 1..5)", "rating ~ temp + contact",
                "cumulative(probit)")
}

# ---- 4. zero-inflated poisson -----------------------------------------------------------------
fit_zip_generated <- function(name = "zip_generated") {
  set.seed(12)
  n <- 400; J <- 20
  g <- factor(rep(sprintf("g%02d", 1:J), each = n / J))
  x <- rnorm(n)
  u <- rnorm(J, 0, 0.5)
  mu <- exp(0.5 + 0.4 * x + u[as.integer(g)])
  zero <- rbinom(n, 1, 0.3)
  y <- ifelse(zero == 1, 0L, rpois(n, mu))
  d <- data.frame(y = y, x = x, g = g)
  path <- write_generated(name, d)
  res <- fit_brm(y ~ x + (1 | g), family = zero_inflated_poisson(), data = d)
  summarise_fit(name, res, basename(path), "y ~ x + (1 | g)", "zero_inflated_poisson",
                extra = list(generator = paste(
                  "set.seed(12); g = 20 groups g01..g20 x 20 rows; x = rnorm(400); u = rnorm(20, 0, 0.5);",
                  "mu = exp(0.5 + 0.4 x + u[g]); zero = rbinom(400, 1, 0.3); y = ifelse(zero, 0, rpois(400, mu))"),
                  truth = list(b_Intercept = 0.5, b_x = 0.4, sd_g__Intercept = 0.5, zi = 0.3)))
}

# ---- 5. hurdle lognormal ----------------------------------------------------------------------
fit_hurdle_lognormal_generated <- function(name = "hurdle_lognormal_generated") {
  set.seed(12)
  n <- 300
  x <- rnorm(n)
  hu <- rbinom(n, 1, 0.25)
  e <- rnorm(n, 0, 0.6)
  y <- ifelse(hu == 1, 0, exp(1 + 0.5 * x + e))
  d <- data.frame(y = y, x = x)
  path <- write_generated(name, d)
  res <- fit_brm(y ~ x, family = hurdle_lognormal(), data = d)
  summarise_fit(name, res, basename(path), "y ~ x", "hurdle_lognormal",
                extra = list(generator = paste(
                  "set.seed(12); x = rnorm(300); hu = rbinom(300, 1, 0.25); e = rnorm(300, 0, 0.6);",
                  "y = ifelse(hu, 0, exp(1 + 0.5 x + e))"),
                  truth = list(b_Intercept = 1, b_x = 0.5, sigma = 0.6, hu = 0.25)))
}

# ---- 6. distributional sigma ~ g --------------------------------------------------------------
fit_sigma_by_group <- function(name = "sigma_by_group") {
  set.seed(12)
  g <- factor(rep(c("a", "b", "c"), each = 80))
  x <- rnorm(240)
  sdg <- c(a = 0.5, b = 1, c = 2)[as.character(g)]
  y <- 1 + 0.5 * x + rnorm(240, 0, sdg)
  d <- data.frame(y = y, x = x, g = g)
  path <- write_generated(name, d)
  res <- fit_brm(bf(y ~ x, sigma ~ g), data = d)
  summarise_fit(name, res, basename(path), "bf(y ~ x, sigma ~ g)", "gaussian (sigma log link)",
                extra = list(generator = paste(
                  "set.seed(12); g = a,b,c x 80 rows; x = rnorm(240); y = 1 + 0.5 x + rnorm(240, 0, c(0.5, 1, 2)[g])"),
                  truth = list(b_Intercept = 1, b_x = 0.5, b_sigma_Intercept = log(0.5),
                               b_sigma_gb = log(2), b_sigma_gc = log(4))))
}

# ---- 7. exgaussian ----------------------------------------------------------------------------
fit_exgaussian_generated <- function(name = "exgaussian_generated") {
  set.seed(12)
  n <- 300
  x <- rnorm(n)
  y <- 400 + 30 * x + rnorm(n, 0, 40) + rexp(n, rate = 1 / 150)
  d <- data.frame(y = y, x = x)
  path <- write_generated(name, d)
  res <- fit_brm(y ~ x, family = exgaussian(), data = d)
  summarise_fit(name, res, basename(path), "y ~ x", "exgaussian",
                extra = list(generator = "set.seed(12); x = rnorm(300); y = 400 + 30 x + rnorm(300, 0, 40) + rexp(300, 1/150)",
                             truth = list(b_Intercept = 550, b_x = 30, sigma = 40, beta = 150),
                             notes = "brms exgaussian: mu is the mean (400 + 150 at x = 0), beta the exponential scale"))
}

# ---- 8. shifted lognormal ---------------------------------------------------------------------
fit_shifted_lognormal_generated <- function(name = "shifted_lognormal_generated") {
  set.seed(12)
  n <- 300
  x <- rnorm(n)
  y <- 200 + exp(5 + 0.2 * x + rnorm(n, 0, 0.4))
  d <- data.frame(y = y, x = x)
  path <- write_generated(name, d)
  res <- fit_brm(y ~ x, family = shifted_lognormal(), data = d)
  summarise_fit(name, res, basename(path), "y ~ x", "shifted_lognormal",
                extra = list(generator = "set.seed(12); x = rnorm(300); y = 200 + exp(5 + 0.2 x + rnorm(300, 0, 0.4))",
                             truth = list(b_Intercept = 5, b_x = 0.2, sigma = 0.4, ndt = 200)))
}

# ---- 9. weights -------------------------------------------------------------------------------
fit_weights_gaussian <- function(name = "weights_gaussian") {
  d <- read_data("sleepstudy.csv")
  d$Subject <- factor(d$Subject)
  d$w <- 1 + (d$Days %% 3)
  res <- fit_brm(Reaction | weights(w) ~ Days + (1 | Subject), data = d)
  summarise_fit(name, res, "sleepstudy (w = 1 + Days %% 3)", "Reaction | weights(w) ~ Days + (1 | Subject)",
                "gaussian")
}

MODELS <- c("eight_schools", "eight_schools_cauchy", "mlm_nopool_nl", "mlm_nopool_linear",
            "wine_cumulative", "wine_cumulative_probit", "zip_generated", "hurdle_lognormal_generated",
            "sigma_by_group", "exgaussian_generated", "shifted_lognormal_generated", "weights_gaussian")

meta <- function() list(
  generated = as.character(Sys.Date()),
  R = R.version.string,
  brms = as.character(packageVersion("brms")),
  rstan = as.character(packageVersion("rstan")),
  StanHeaders = as.character(packageVersion("StanHeaders")),
  posterior = as.character(packageVersion("posterior")),
  script = "benchmarks/r/brms_reference_issue13.R",
  draws = DRAWS,
  notes = c(
    "params: posterior mean, sd, Monte Carlo standard error of the mean, bulk/tail ESS, R-hat (posterior::summarise_draws).",
    "brms names: b_ fixed (b_<nlpar>_ nonlinear, b_<dpar>_ distributional), sd_<group>__<term>, sigma, zi, hu, beta, ndt; r_ dropped except eight schools.",
    "Compare a new fit's mean m with reference mean r by |m - r| <= 4 * sqrt(mcse_new^2 + mcse_ref^2).",
    "priors: prior_summary(fit) rows; wall_seconds: brm() call incl. compilation on a shared 2-core machine (cores = 2).",
    "Generated data sets: tests/fixtures/brms_issue13_<name>.csv; stancode: tests/fixtures/brms_issue13_stancode/<name>.stan."))

main <- function(which) {
  out <- if (file.exists(json_path)) fromJSON(json_path, simplifyVector = FALSE) else list(fits = list())
  for (name in which) {
    entry <- tryCatch(get(paste0("fit_", name))(name), error = function(e) {
      message(name, " FAILED: ", conditionMessage(e)); list(error = conditionMessage(e))
    })
    out$meta <- meta()
    out$fits[[name]] <- entry
    out$fits <- out$fits[c(intersect(MODELS, names(out$fits)), setdiff(names(out$fits), MODELS))]
    out <- out[c("meta", "fits")]
    writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null", na = "null"), json_path)
  }
}

args <- commandArgs(trailingOnly = TRUE)
which <- if (length(args)) args else MODELS
stopifnot(all(which %in% MODELS))
main(which)

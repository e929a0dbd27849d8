#!/usr/bin/env Rscript
# brms 2.18 reference posterior summaries for the response additions cens(), trunc() and rate()
# (issue 13, point 2) -> tests/fixtures/brms_cens.json.
#
# Usage (repository root):
#   Rscript benchmarks/r/brms_reference_cens.R                  # every model
#   Rscript benchmarks/r/brms_reference_cens.R gaussian_cens    # only the named ones
# Each model's entry is merged into the existing JSON (written again after every fit). Writes:
#   tests/fixtures/brms_cens.json                  meta + fits[<name>]
#   tests/fixtures/brms_cens_<name>.csv            the generated data sets
#   tests/fixtures/brms_cens_stancode/<name>.stan  stancode(fit)
# Sampling: 4 chains x 2000 iterations (1000 warm-up) = 4 x 1000 post-warm-up draws; seed = 1; cores = 2.
# Data: generated here (set.seed per model), n = 200 rows in 10 groups, y ~ x + (1 | g).
suppressPackageStartupMessages({ library(brms); library(posterior); library(jsonlite) })

fix_dir <- "tests/fixtures"
json_path <- file.path(fix_dir, "brms_cens.json")
stan_dir <- file.path(fix_dir, "brms_cens_stancode")
dir.create(stan_dir, showWarnings = FALSE, recursive = TRUE)

SEED <- 1
CHAINS <- 4
ITER <- 2000
WARMUP <- 1000
DRAWS <- "4 chains x 1000 post-warmup (iter 2000, warmup 1000), seed 1"
KEEP <- "^(b_|sd_|cor_|sigma|shape|nu|Intercept)"
N <- 200
J <- 10

write_generated <- function(name, d) {
  path <- file.path(fix_dir, paste0("brms_cens_", name, ".csv"))
  write.csv(d, path, row.names = FALSE)
  path
}

fit_brm <- function(...) {
  t0 <- proc.time()[["elapsed"]]
  fit <- brm(..., chains = CHAINS, iter = ITER, warmup = WARMUP, cores = 2, seed = SEED, refresh = 0)
  list(fit = fit, wall = proc.time()[["elapsed"]] - t0)
}

summarise_fit <- function(name, res, data_desc, formula_desc, family_desc, extra = list()) {
  fit <- res$fit
  d <- as_draws_df(fit)
  d <- subset_draws(d, variable = grep(KEEP, variables(d), value = TRUE))
  s <- summarise_draws(d, "mean", "sd", "mcse_mean", "ess_bulk", "ess_tail", "rhat")
  params <- list()
  for (i in seq_len(nrow(s))) {
    params[[s$variable[i]]] <- list(mean = s$mean[i], sd = s$sd[i], mcse_mean = s$mcse_mean[i],
                                    ess_bulk = s$ess_bulk[i], ess_tail = s$ess_tail[i], rhat = s$rhat[i])
  }
  ps <- as.data.frame(prior_summary(fit))
  cols <- intersect(c("prior", "class", "coef", "group", "resp", "dpar", "nlpar", "lb", "ub", "source"), names(ps))
  ps <- ps[, cols]
  ps[] <- lapply(ps, as.character)
  rownames(ps) <- NULL
  np <- nuts_params(fit)
  div <- sum(np$Value[np$Parameter == "divergent__"])
  writeLines(stancode(fit), file.path(stan_dir, paste0(name, ".stan")))
  ll <- log_lik(fit)
  entry <- c(list(
    data = data_desc, formula = formula_desc, family = family_desc, nobs = nobs(fit), priors = ps,
    draws = DRAWS, divergent_transitions = div, max_rhat = max(s$rhat, na.rm = TRUE),
    wall_seconds = round(res$wall, 3),
    # log_lik(fit) summed over rows, averaged over draws: a check of the censored/truncated likelihood
    mean_total_log_lik = mean(rowSums(ll)),
    params = params), extra)
  message(sprintf("%s: %.1f s, %d divergent, max rhat %.4f", name, res$wall, div, max(s$rhat, na.rm = TRUE)))
  entry
}

groups <- function() factor(rep(sprintf("g%02d", 1:J), each = N / J))

# ---- (a) gaussian, left- and right-censored ----------------------------------------------------
fit_gaussian_cens <- function(name = "gaussian_cens") {
  set.seed(21)
  g <- groups(); x <- rnorm(N); u <- rnorm(J, 0, 0.7)
  ystar <- 1 + 0.5 * x + u[as.integer(g)] + rnorm(N, 0, 1)
  censored <- ifelse(ystar > 2.2, "right", ifelse(ystar < -0.3, "left", "none"))
  y <- pmin(pmax(ystar, -0.3), 2.2)
  d <- data.frame(y = y, censored = censored, x = x, g = g)
  path <- write_generated(name, d)
  res <- fit_brm(y | cens(censored) ~ x + (1 | g), data = d)
  summarise_fit(name, res, basename(path), "y | cens(censored) ~ x + (1 | g)", "gaussian",
                extra = list(generator = paste(
                  "set.seed(21); g = 10 groups x 20 rows; x = rnorm(200); u = rnorm(10, 0, 0.7);",
                  "ystar = 1 + 0.5 x + u[g] + rnorm(200); right-censored above 2.2, left-censored below -0.3"),
                  censored = as.list(table(censored)),
                  truth = list(b_Intercept = 1, b_x = 0.5, sd_g__Intercept = 0.7, sigma = 1)))
}

# ---- (b) weibull, interval- and right-censored (numeric codes -1/0/1/2) -------------------------
fit_weibull_interval <- function(name = "weibull_interval") {
  set.seed(22)
  g <- groups(); x <- rnorm(N); u <- rnorm(J, 0, 0.4)
  mu <- exp(0.5 + 0.3 * x + u[as.integer(g)])
  shape <- 2
  ystar <- rweibull(N, shape = shape, scale = mu / gamma(1 + 1 / shape))
  # half the rows seen only to a 0.5-wide interval, the others exactly; all right-censored above 4
  interval <- seq_len(N) %% 2 == 0
  lo <- floor(ystar * 2) / 2
  y <- ifelse(interval & lo > 0, lo, ystar)
  y2 <- ifelse(interval & lo > 0, lo + 0.5, 0)
  cens <- ifelse(interval & lo > 0, 2, 0)
  right <- ystar > 4
  y[right] <- 4; y2[right] <- 0; cens[right] <- 1
  d <- data.frame(y = y, y2 = y2, cens = cens, x = x, g = g)
  path <- write_generated(name, d)
  res <- fit_brm(y | cens(cens, y2) ~ x + (1 | g), family = weibull(), data = d)
  summarise_fit(name, res, basename(path), "y | cens(cens, y2) ~ x + (1 | g)", "weibull",
                extra = list(generator = paste(
                  "set.seed(22); g = 10 groups x 20 rows; x = rnorm(200); u = rnorm(10, 0, 0.4);",
                  "mu = exp(0.5 + 0.3 x + u[g]); ystar = rweibull(200, 2, mu / gamma(1.5)); even rows with",
                  "floor(2 ystar) / 2 > 0 interval-censored to [lo, lo + 0.5] (cens = 2); ystar > 4 right-censored at 4"),
                  censored = as.list(table(cens)),
                  truth = list(b_Intercept = 0.5, b_x = 0.3, sd_g__Intercept = 0.4, shape = 2)))
}

# ---- (c) gaussian truncated below at 0 -----------------------------------------------------------
fit_gaussian_trunc <- function(name = "gaussian_trunc") {
  set.seed(23)
  g <- groups(); x <- rnorm(N); u <- rnorm(J, 0, 0.5)
  m <- 0.3 + 0.6 * x + u[as.integer(g)]
  y <- numeric(N)
  for (i in seq_len(N)) repeat { y[i] <- rnorm(1, m[i], 1); if (y[i] > 0) break }
  d <- data.frame(y = y, x = x, g = g)
  path <- write_generated(name, d)
  res <- fit_brm(y | trunc(lb = 0) ~ x + (1 | g), data = d)
  summarise_fit(name, res, basename(path), "y | trunc(lb = 0) ~ x + (1 | g)", "gaussian",
                extra = list(generator = paste(
                  "set.seed(23); g = 10 groups x 20 rows; x = rnorm(200); u = rnorm(10, 0, 0.5);",
                  "y ~ normal(0.3 + 0.6 x + u[g], 1) truncated to y > 0 (rejection)"),
                  truth = list(b_Intercept = 0.3, b_x = 0.6, sd_g__Intercept = 0.5, sigma = 1)))
}

# ---- (c2) poisson truncated to 1..10 (discrete: brms's lb - 1) -----------------------------------
fit_poisson_trunc <- function(name = "poisson_trunc") {
  set.seed(24)
  g <- groups(); x <- rnorm(N); u <- rnorm(J, 0, 0.4)
  m <- exp(1.2 + 0.4 * x + u[as.integer(g)])
  y <- integer(N)
  for (i in seq_len(N)) repeat { y[i] <- rpois(1, m[i]); if (y[i] >= 1 && y[i] <= 10) break }
  d <- data.frame(y = y, x = x, g = g, upper = 10)
  path <- write_generated(name, d)
  res <- fit_brm(y | trunc(lb = 1, ub = upper) ~ x + (1 | g), family = poisson(), data = d)
  summarise_fit(name, res, basename(path), "y | trunc(lb = 1, ub = upper) ~ x + (1 | g)", "poisson",
                extra = list(generator = paste(
                  "set.seed(24); g = 10 groups x 20 rows; x = rnorm(200); u = rnorm(10, 0, 0.4);",
                  "y ~ poisson(exp(1.2 + 0.4 x + u[g])) truncated to 1 <= y <= 10 (rejection); upper = 10 a column"),
                  truth = list(b_Intercept = 1.2, b_x = 0.4, sd_g__Intercept = 0.4)))
}

# ---- (d) poisson with an exposure rate -----------------------------------------------------------
fit_poisson_rate <- function(name = "poisson_rate") {
  set.seed(25)
  g <- groups(); x <- rnorm(N); u <- rnorm(J, 0, 0.5)
  exposure <- round(runif(N, 0.5, 10), 2)
  y <- rpois(N, exposure * exp(-0.5 + 0.3 * x + u[as.integer(g)]))
  d <- data.frame(y = y, exposure = exposure, x = x, g = g)
  path <- write_generated(name, d)
  res <- fit_brm(y | rate(exposure) ~ x + (1 | g), family = poisson(), data = d)
  summarise_fit(name, res, basename(path), "y | rate(exposure) ~ x + (1 | g)", "poisson",
                extra = list(generator = paste(
                  "set.seed(25); g = 10 groups x 20 rows; x = rnorm(200); u = rnorm(10, 0, 0.5);",
                  "exposure = round(runif(200, 0.5, 10), 2); y = rpois(200, exposure exp(-0.5 + 0.3 x + u[g]))"),
                  truth = list(b_Intercept = -0.5, b_x = 0.3, sd_g__Intercept = 0.5)))
}

# ---- (e) negbinomial with an exposure rate (brms 2.18 scales shape by the rate too) ---------------
fit_negbinomial_rate <- function(name = "negbinomial_rate") {
  set.seed(26)
  g <- groups(); x <- rnorm(N); u <- rnorm(J, 0, 0.5)
  exposure <- round(runif(N, 0.5, 10), 2)
  m <- exposure * exp(0.2 + 0.3 * x + u[as.integer(g)])
  y <- rnbinom(N, size = 3 * exposure, mu = m)
  d <- data.frame(y = y, exposure = exposure, x = x, g = g)
  path <- write_generated(name, d)
  res <- fit_brm(y | rate(exposure) ~ x + (1 | g), family = negbinomial(), data = d)
  summarise_fit(name, res, basename(path), "y | rate(exposure) ~ x + (1 | g)", "negbinomial",
                extra = list(generator = paste(
                  "set.seed(26); g = 10 groups x 20 rows; x = rnorm(200); u = rnorm(10, 0, 0.5);",
                  "exposure = round(runif(200, 0.5, 10), 2); y = rnbinom(200, size = 3 exposure,",
                  "mu = exposure exp(0.2 + 0.3 x + u[g])) (brms: neg_binomial_2(mu * rate, shape * rate))"),
                  truth = list(b_Intercept = 0.2, b_x = 0.3, sd_g__Intercept = 0.5, shape = 3)))
}

MODELS <- c("gaussian_cens", "weibull_interval", "gaussian_trunc", "poisson_trunc", "poisson_rate",
            "negbinomial_rate")

meta <- function() list(
  generated = as.character(Sys.Date()),
  R = R.version.string,
  brms = as.character(packageVersion("brms")),
  rstan = as.character(packageVersion("rstan")),
  posterior = as.character(packageVersion("posterior")),
  script = "benchmarks/r/brms_reference_cens.R",
  draws = DRAWS,
  notes = c(
    "params: posterior mean, sd, Monte Carlo standard error of the mean, bulk/tail ESS, R-hat (posterior::summarise_draws).",
    "Compare a new fit's mean m with reference mean r by |m - r| <= 4 * sqrt(mcse_new^2 + mcse_ref^2).",
    "mean_total_log_lik: mean over draws of sum over rows of log_lik(fit).",
    "Generated data sets: tests/fixtures/brms_cens_<name>.csv; stancode: tests/fixtures/brms_cens_stancode/<name>.stan."))

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

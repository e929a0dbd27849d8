#!/usr/bin/env Rscript
# brms 2.18 reference for the categorical, sratio and acat families (issue 13, point 3)
# -> tests/fixtures/brms_categorical.json.
#
# Usage (repository root):
#   Rscript benchmarks/r/brms_reference_categorical.R                      # every model
#   Rscript benchmarks/r/brms_reference_categorical.R sratio_generated     # only the named ones
# Each model's entry is merged into the existing JSON.
# Writes:
#   tests/fixtures/brms_categorical.json                meta + fits[<name>] (posterior summaries, prior
#                                                       table, get_prior rows, pointwise log-lik checks)
#   tests/fixtures/brms_categorical_<name>.csv          the generated data set
#   tests/fixtures/brms_categorical_<name>.stan         stancode(fit)
# Sampling: 4 chains x 2000 iterations (1000 warm-up) = 4 x 1000 post-warm-up draws; seed = 1; cores = 2.
#
# rstan on Debian: see benchmarks/r/brms_reference_issue13.R for the Boost link BH needs.
suppressPackageStartupMessages({ library(brms); library(posterior); library(jsonlite) })

fix_dir <- "tests/fixtures"
json_path <- file.path(fix_dir, "brms_categorical.json")
SEED <- 1
DRAWS <- "4 chains x 1000 post-warmup (iter 2000, warmup 1000), seed 1"
KEEP <- "^(b_|sd_|cor_)"

# y in {A, B, C} (text: brms makes it a factor, levels sorted, A the reference), 300 rows, 12 groups;
# muB = 0.5 + 1.0 x + u_B[g], muC = -0.5 - 0.8 x + u_C[g], u ~ N(0, 0.6^2) independently.
generated_data <- function() {
  set.seed(20261130)
  n <- 300
  g <- sample(1:12, n, replace = TRUE)
  x <- round(rnorm(n), 4)
  u_b <- rnorm(12, 0, 0.6)
  u_c <- rnorm(12, 0, 0.6)
  eta <- cbind(0, 0.5 + 1.0 * x + u_b[g], -0.5 - 0.8 * x + u_c[g])
  p <- exp(eta) / rowSums(exp(eta))
  y <- apply(p, 1, function(pr) sample(c("A", "B", "C"), 1, prob = pr))
  data.frame(y = y, x = x, g = paste0("g", g))
}

summarise_fit <- function(name, fit, formula_desc, wall) {
  d <- as_draws_df(fit)
  vars <- grep(KEEP, variables(d), value = TRUE)
  s <- summarise_draws(subset_draws(d, variable = vars), "mean", "sd", "mcse_mean", "mcse_sd", "ess_bulk",
                       "ess_tail", "rhat")
  params <- list()
  for (i in seq_len(nrow(s))) {
    params[[s$variable[i]]] <- list(mean = s$mean[i], sd = s$sd[i], mcse_mean = s$mcse_mean[i],
                                    mcse_sd = s$mcse_sd[i], ess_bulk = s$ess_bulk[i],
                                    ess_tail = s$ess_tail[i], rhat = s$rhat[i])
  }
  table <- function(ps) {
    ps <- as.data.frame(ps)
    cols <- intersect(c("prior", "class", "coef", "group", "resp", "dpar", "nlpar", "lb", "ub", "source"),
                      names(ps))
    ps <- ps[, cols]
    ps[] <- lapply(ps, as.character)
    rownames(ps) <- NULL
    ps
  }
  np <- nuts_params(fit)
  writeLines(stancode(fit), file.path(fix_dir, paste0("brms_categorical_", name, ".stan")))
  # pointwise log-lik and epred of the first 3 rows at the first draw (kept for reference)
  ll <- log_lik(fit)[1, 1:3]
  ep <- posterior_epred(fit)[1, 1:3, ]
  list(formula = formula_desc, family = fit$family$family, nobs = nobs(fit),
       response_levels = levels(fit$data$y),
       priors = table(prior_summary(fit)), get_prior = table(get_prior(fit$formula, fit$data, family = fit$family)),
       draws = DRAWS,
       divergent_transitions = sum(np$Value[np$Parameter == "divergent__"]),
       max_rhat = max(s$rhat, na.rm = TRUE), wall_seconds = round(wall, 3),
       first_draw = as.list(as.data.frame(d)[1, vars]),
       log_lik_first_draw_rows_1_3 = ll, epred_first_draw_rows_1_3 = ep,
       params = params)
}

# ordinal data for sratio and acat: 4 categories from a cumulative-logit latent model,
# y ~ x + (1 | g), 300 rows, 12 groups, latent = 1.0 x + u[g], u ~ N(0, 0.5^2), cuts -1, 0, 1.2
ordinal_data <- function() {
  set.seed(20261201)
  n <- 300
  g <- sample(1:12, n, replace = TRUE)
  x <- round(rnorm(n), 4)
  u <- rnorm(12, 0, 0.5)
  latent <- 1.0 * x + u[g] + rlogis(n)
  y <- 1 + (latent > -1) + (latent > 0) + (latent > 1.2)
  data.frame(y = y, x = x, g = paste0("g", g))
}

fit_ordinal <- function(name, family) {
  d <- ordinal_data()
  write.csv(d, file.path(fix_dir, paste0("brms_categorical_", name, ".csv")), row.names = FALSE)
  t0 <- proc.time()[["elapsed"]]
  fit <- brm(y ~ x + (1 | g), data = d, family = family, chains = 4, iter = 2000, warmup = 1000,
             cores = 2, seed = SEED, refresh = 0)
  wall <- proc.time()[["elapsed"]] - t0
  summarise_fit(name, fit, "y ~ x + (1 | g)", wall)
}
fit_sratio_generated <- function(name = "sratio_generated") fit_ordinal(name, sratio())
fit_acat_generated <- function(name = "acat_generated") fit_ordinal(name, acat())

fit_categorical_generated <- function(name = "categorical_generated") {
  d <- generated_data()
  write.csv(d, file.path(fix_dir, paste0("brms_categorical_", name, ".csv")), row.names = FALSE)
  t0 <- proc.time()[["elapsed"]]
  fit <- brm(y ~ x + (1 | g), data = d, family = categorical(), chains = 4, iter = 2000, warmup = 1000,
             cores = 2, seed = SEED, refresh = 0)
  wall <- proc.time()[["elapsed"]] - t0
  summarise_fit(name, fit, "y ~ x + (1 | g)", wall)
}

MODELS <- c("categorical_generated", "sratio_generated", "acat_generated")
args <- commandArgs(trailingOnly = TRUE)
which <- if (length(args)) args else MODELS
stopifnot(all(which %in% MODELS))
out <- if (file.exists(json_path)) fromJSON(json_path, simplifyVector = FALSE) else list(fits = list())
out$meta <- list(generated = as.character(Sys.Date()), R = R.version.string,
                 brms = as.character(packageVersion("brms")), rstan = as.character(packageVersion("rstan")),
                 posterior = as.character(packageVersion("posterior")),
                 script = "benchmarks/r/brms_reference_categorical.R", draws = DRAWS,
                 notes = "params: posterior::summarise_draws mean, sd, mcse_mean, mcse_sd, ess, rhat")
for (name in which) {
  out$fits[[name]] <- get(paste0("fit_", name))(name)
  out <- out[c("meta", "fits")]
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null", na = "null"), json_path)
}

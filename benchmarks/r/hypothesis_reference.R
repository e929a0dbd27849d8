# brms's hypothesis() on fixed draws, for tests/test_brm_hypothesis.py (brms 2.18.0, R 4.2.2).
# Run from the repository root: Rscript --vanilla benchmarks/r/hypothesis_reference.R
suppressMessages(library(brms))
draws <- read.csv("tests/fixtures/hypothesis_draws.csv", check.names = FALSE)
posterior <- draws[, c("b_a", "b_b", "b_x:z")]
names(posterior) <- c("a", "b", "x:z")  # hypothesis.default: class "", full names
hyps <- c("a > 0", "a - 2 * b < 0", "a = b", "exp(b) + x:z > 1.5", "a/b = 2")
out <- list()
for (alpha in c(0.05, 0.1)) {
  for (robust in c(FALSE, TRUE)) {
    h <- hypothesis(posterior, hyps, alpha = alpha, robust = robust)$hypothesis
    out[[length(out) + 1]] <- list(alpha = alpha, robust = robust, table = h)
  }
}
# the Savage-Dickey ratio of brms (internal density_ratio: R's density() on a 4096-point grid, spline at 0)
sd_ratio <- brms:::density_ratio(draws$b_a - 1, draws$prior_a - 1, point = 0)  # hypothesis "a = 1"
cat(jsonlite::toJSON(list(generated = format(Sys.Date()), brms = as.character(packageVersion("brms")),
                          hypotheses = hyps, results = out, savage_dickey_a_minus_1 = sd_ratio),
                     digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"))

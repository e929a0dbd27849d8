"""brm with cens(), trunc() and rate() against brms 2.18 (issue 13, point 2). Slow: NUTS fits.

Reference: tests/fixtures/brms_cens.json (benchmarks/r/brms_reference_cens.R; brms 2.18.0, rstan, 4 chains
x 1000 draws after 1000 warm-up, seed 1), fitted to the generated data stored beside it
(tests/fixtures/brms_cens_<name>.csv): gaussian with left- and right-censoring, weibull with interval-
and right-censoring (numeric codes), gaussian truncated below at 0, poisson truncated to [1, upper]
(brms's lb - 1 for counts), poisson and negbinomial with rate(). Each parameter's mean and sd agree by
conftest's ``assert_agrees_with_brms`` (4 combined MCSEs); the prior table's rows as brms's
prior_summary(); the posterior mean of the summed pointwise log-likelihood within 4 sqrt(2) of our MCSE
(brms's taken to be as large) of brms's ``mean(rowSums(log_lik(fit)))`` on the same data.
"""
import copy
import dataclasses
import functools
import warnings

import arviz_stats
import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from conftest import FIXTURES, assert_agrees_with_brms, load_fixture

FITS = load_fixture("brms_cens.json")["fits"]
FAMILIES = {"gaussian_cens": "gaussian", "weibull_interval": "weibull", "gaussian_trunc": "gaussian",
            "poisson_trunc": "poisson", "poisson_rate": "poisson", "negbinomial_rate": "negbinomial"}

pytestmark = pytest.mark.slow


def data(name):
    return pd.read_csv(FIXTURES / f"brms_cens_{name}.csv")


@functools.lru_cache(maxsize=None)
def fit(name):
    ref = FITS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.brm(ref["formula"], data(name), family=FAMILIES[name], seed=2, refresh=0, chains=4, draws=1000)


def largest_z(fitted, ref) -> float:
    """Largest |ours - brms| / sqrt(mcse_ours^2 + mcse_brms^2) over the reference's means."""
    draws = fitted.draws_by_chain()
    worst = 0.0
    for param, want in ref["params"].items():
        values = np.asarray(draws[param], dtype=float)
        mcse = float(arviz_stats.mcse(values, method="mean"))
        worst = max(worst, abs(values.mean() - want["mean"]) / np.hypot(mcse, want["mcse_mean"]))
    return worst


@pytest.mark.parametrize("name", list(FAMILIES))
def test_agrees_with_brms(name):
    ref = FITS[name]
    fitted = fit(name)
    draws = fitted.draws_by_chain()
    for param, want in ref["params"].items():
        assert_agrees_with_brms(param, draws[param], want)
    print(f"{name}: largest |z| of the means {largest_z(fitted, ref):.2f}")


@pytest.mark.parametrize("name", list(FAMILIES))
def test_pointwise_log_likelihood_agrees_with_brms(name):
    # brms: mean over draws of rowSums(log_lik(fit)). brms 2.18's log_lik leaves out the truncation term
    # (its log_lik_truncate computes x - log(F(ub) - F(lb)) and then returns x unchanged), so for the
    # truncated fits brms's number is compared with our log-likelihood without trunc(); ours, with it, is
    # the density the model samples (as Stan's target)
    fitted = fit(name)
    if any(k.startswith("trunc") for k in fitted.design.additions):
        fitted = copy.copy(fitted)
        fitted.design = dataclasses.replace(fitted.design, additions={
            k: v for k, v in fitted.design.additions.items() if not k.startswith("trunc")})
    total = fitted.log_likelihood().sum(axis=-1)
    mcse = float(arviz_stats.mcse(total, method="mean"))
    assert abs(total.mean() - FITS[name]["mean_total_log_lik"]) <= 4 * np.hypot(mcse, mcse)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_prior_table_as_brms(name):
    # rows (class, coef, group) in brms's order, its non-empty prior texts (brms prints the empty ones
    # of inherited rows as "(vectorized)" or "(flat)"; our table writes them out)
    ours = fit(name).prior_summary()
    reference = FITS[name]["priors"]
    assert [tuple(r) for r in ours[["class", "coef", "group"]].to_numpy()] == \
        [(r["class"], r["coef"], r["group"]) for r in reference]
    for row, ref in zip(ours.itertuples(), reference):
        if ref["prior"]:
            assert row.prior == ref["prior"], (name, ref)


def test_model_code_shows_censoring_and_truncation():
    code = fit("weibull_interval").model_code()
    assert "weibull_lccdf(y | exp(eta), shape)  if cens == 1 (right)" in code
    assert "log_diff_exp(weibull_lcdf(cens_y2 | exp(eta), shape), weibull_lcdf(y | exp(eta), shape))" in code
    code = fit("poisson_trunc").model_code()
    assert ("target += poisson_lpdf(y | exp(eta)) - log_diff_exp(poisson_lcdf(trunc_ub | exp(eta)), "
            "poisson_lcdf(trunc_lb - 1 | exp(eta)));") in code
    assert "poisson_lpdf(y | exp(eta) * rate)" in fit("poisson_rate").model_code()
    assert "negbinomial_lpdf(y | exp(eta) * rate, shape * rate)" in fit("negbinomial_rate").model_code()


def test_predictions_follow_truncation_and_rate():
    truncated = fit("poisson_trunc")
    draws = truncated.posterior_predict(ndraws=200, seed=1)
    assert draws.min() >= 1 and draws.max() <= 10
    new = pd.DataFrame({"x": [0.0, 0.0], "g": ["g01", "g01"], "upper": [3, 10]})
    draws = truncated.posterior_predict(newdata=new, ndraws=200, seed=1)
    assert draws[:, 0].max() <= 3 and draws[:, 1].max() <= 10 and draws.min() >= 1
    rate = fit("poisson_rate")
    new = pd.DataFrame({"x": [0.0, 0.0], "g": ["g01", "g01"], "exposure": [1.0, 4.0]})
    epred = rate.posterior_epred(newdata=new, ndraws=200, seed=1)
    np.testing.assert_allclose(epred[:, 1], 4 * epred[:, 0])  # brms's posterior_epred: mu * rate
    censored = fit("gaussian_cens")
    assert np.isfinite(censored.loo().estimates.loc["elpd_loo", "Estimate"])
    # censored rows predict the uncensored response (brms); newdata need not carry the censoring column
    draws = censored.posterior_predict(ndraws=400, seed=1)
    right = (data("gaussian_cens")["censored"] == "right").to_numpy()
    assert (draws[:, right] > 2.2).mean() > 0.3
    assert censored.posterior_predict(newdata=pd.DataFrame({"x": [0.0], "g": ["g01"]}), ndraws=10).shape == (10, 1)


def test_combination_of_cens_trunc_and_weights_fits():
    # brms allows y | cens(c) + trunc(lb = ...) + weights(w); its Stan code weights the censoring term only
    d = data("gaussian_cens")
    d = d.assign(w=1.0 + (np.arange(len(d)) % 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = ml.brm("y | cens(censored) + trunc(lb = -1) + weights(w) ~ x + (1 | g)", d, seed=1, refresh=0,
                        chains=2, warmup=300, draws=300)
    code = fitted.model_code()
    assert "weights * gaussian_lccdf(y | eta, sigma)  if cens == 1 (right)" in code
    assert "- gaussian_lccdf(trunc_lb | eta, sigma)  (truncation, not weighted: as brms);" in code
    assert np.isfinite(fitted.log_likelihood()).all()
    assert fitted.parameter_summary().loc["b_x", "Rhat"] < 1.05

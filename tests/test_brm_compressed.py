"""brm's sufficient statistics (issue 12): bernoulli, binomial and poisson rows with equal linear
predictors summed into patterns give the same log density and gradient as the row-by-row model
(to 1e-10, relative: the sums are the same numbers added in another order), pointwise
log-likelihoods stay per original row, and continuous covariates leave the model as it was."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.bayes import fit as brm_fit  # noqa: F401  (JAX started with x64)
from multilevel.bayes.likelihood import find_patterns, make_likelihood
from multilevel.bayes.model import build_layout, make_model
from multilevel.design import build_design
from multilevel.families import get_family
from multilevel.formula import parse_formula

DESIGN_FAMILY = {"bernoulli": "binomial", "binomial": "binomial", "poisson": "poisson"}


def _data(n=240, seed=3):
    """Six groups x a binary and a three-valued covariate: at most 36 patterns among n rows."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 6, n)
    x = rng.integers(0, 2, n).astype(float)
    w = rng.integers(0, 3, n).astype(float) - 1.0
    eta = -0.3 + 0.4 * x - 0.2 * w + np.linspace(-0.5, 0.5, 6)[g]
    trials = rng.integers(1, 6, n)
    return pd.DataFrame({
        "y": (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int),
        "k": rng.binomial(trials, 1 / (1 + np.exp(-eta))), "m": trials,
        "count": rng.poisson(np.exp(eta + 0.5)), "exposure": np.exp(rng.integers(0, 2, n) * 0.3),
        "x": x, "w": w, "g": pd.Categorical(g),
    })


CASES = [  # logit (bernoulli), probit (binomial: the clamped-probability branch) and log links
    ("bernoulli", "y ~ x + w + (1 + x | g)", None),
    ("binomial", "k | trials(m) ~ x + w + (1 + x | g)", "probit"),
    ("poisson", "count ~ x + w + offset(log(exposure)) + (1 | g)", None),
]


def _models(family, formula, link, data):
    likelihood = make_likelihood(family, link)
    design = build_design(parse_formula(formula), data, family=get_family(DESIGN_FAMILY[family]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layout = build_layout(design, likelihood, [])
    return design, layout, likelihood


@pytest.mark.parametrize("family, formula, link", CASES)
def test_log_density_and_gradient_equal_uncompressed(family, formula, link):
    import jax
    from numpyro.infer.util import log_density

    data = _data()
    design, layout, likelihood = _models(family, formula, link, data)
    compressed, vector = make_model(design, layout, likelihood)
    plain, plain_vector = make_model(design, layout, likelihood, compress=False)
    assert vector.patterns is not None and plain_vector.patterns is None
    assert vector.patterns.n_patterns < design.nobs / 3
    assert vector.patterns.n_rows == design.nobs

    def value(model):
        return jax.jit(jax.value_and_grad(lambda flat: log_density(model, (), {}, {"params": flat})[0]))

    f_compressed, f_plain = value(compressed), value(plain)
    rng = np.random.default_rng(11)
    for _ in range(5):
        flat = rng.normal(0.0, 0.7, vector.size)
        (v1, g1), (v2, g2) = f_compressed(flat), f_plain(flat)
        # the same log density, binomial coefficients and log y! included (lp__ is unchanged)
        np.testing.assert_allclose(float(v1), float(v2), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(np.asarray(g1), np.asarray(g2), rtol=1e-10, atol=1e-9)


def test_continuous_covariate_does_not_compress():
    data = _data()
    data["x"] = np.random.default_rng(0).standard_normal(len(data))
    design, layout, likelihood = _models("bernoulli", "y ~ x + (1 | g)", None, data)
    assert find_patterns(design) is None
    _, vector = make_model(design, layout, likelihood)
    assert vector.patterns is None


@pytest.fixture(scope="module")
def bernoulli_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.brm("y ~ x + w + (1 + x | g)", _data(), family="bernoulli", chains=2, draws=60, warmup=60,
                      seed=4, refresh=0, draws_dtype="float32")


def test_fit_records_patterns_and_log_lik_is_per_row(bernoulli_fit):
    fit = bernoulli_fit
    assert fit.run.settings["likelihood"].startswith("sufficient statistics: ")
    assert f"for {fit.nobs} rows" in fit.run.settings["likelihood"]
    assert fit.run.samples["b"].dtype == np.float32 and fit.run.samples["r_0"].dtype == np.float32
    assert np.all(np.isfinite(fit.parameter_summary()[["Estimate", "Rhat", "Bulk_ESS"]].to_numpy()))
    ll = fit.log_likelihood()
    assert ll.shape == (2, 60, fit.nobs)
    # the row-by-row formula at the same draws: log p(y_i | eta_i) from the fit's linear predictor
    eta = fit.posterior_linpred()
    y = fit.design.response
    expected = y * eta - np.logaddexp(0.0, eta)
    np.testing.assert_allclose(ll.reshape(-1, fit.nobs), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("family, formula, link", CASES)
def test_pointwise_log_lik_per_row_as_scipy(family, formula, link):
    """A fit assembled from random draws (no sampling): the chunked pointwise log-likelihood, per
    original row, against scipy.stats at the fit's own linear predictor."""
    from scipy import stats

    from multilevel.bayes import posterior

    data = _data(n=90)
    design, layout, likelihood = _models(family, formula, link, data)
    _, vector = make_model(design, layout, likelihood)
    fit = _fake_fit(design, layout, likelihood, np.random.default_rng(5).normal(0.0, 0.5, (2, 7, vector.size)))
    old = posterior.LOG_LIK_CHUNK_ELEMENTS
    posterior.LOG_LIK_CHUNK_ELEMENTS = 3 * design.nobs  # several chunks, the last one short
    try:
        ll = fit.log_likelihood()
    finally:
        posterior.LOG_LIK_CHUNK_ELEMENTS = old
    assert ll.shape == (2, 7, design.nobs)
    eta = fit.posterior_linpred()
    mu = {"logit": lambda e: 1 / (1 + np.exp(-e)), "probit": stats.norm.cdf, "log": np.exp}[likelihood.link_name](eta)
    if family == "bernoulli":
        expected = stats.bernoulli.logpmf(data["y"].to_numpy(), mu)
    elif family == "binomial":
        expected = stats.binom.logpmf(data["k"].to_numpy(), data["m"].to_numpy(), mu)
    else:
        expected = stats.poisson.logpmf(data["count"].to_numpy(), mu)
    np.testing.assert_allclose(ll.reshape(14, -1), expected, rtol=1e-9, atol=1e-12)


def _fake_fit(design, layout, likelihood, flat, dtype="float64"):
    """A BrmFit from given unconstrained draws (chains, draws, size), without sampling."""
    from multilevel.bayes.posterior import BrmFit
    from multilevel.bayes.sampler import SamplerRun

    _, vector = make_model(design, layout, likelihood)
    zeros = np.zeros(flat.shape[:2])
    run = SamplerRun(vector.unpack_draws(flat, dtype=dtype), zeros, zeros, zeros, 0.0, 0.0, {"chains": flat.shape[0]})
    return BrmFit(design, likelihood, layout, run, [])


def test_float32_draws_summarize_as_float64():
    data = _data(n=90)
    design, layout, likelihood = _models("bernoulli", "y ~ x + w + (1 + x | g)", None, data)
    _, vector = make_model(design, layout, likelihood)
    flat = np.random.default_rng(8).normal(0.3, 0.5, (2, 200, vector.size))
    wide, narrow = (_fake_fit(design, layout, likelihood, flat, dtype) for dtype in ("float64", "float32"))
    assert narrow.run.samples["r_0"].dtype == np.float32 and wide.run.samples["r_0"].dtype == np.float64
    # float32 keeps ~7 digits per draw: summaries agree far inside Monte Carlo error; R-hat and ESS
    # rank the draws, and rounding reorders a few near-ties (1e-4 seen)
    a, b = narrow.parameter_summary(), wide.parameter_summary()
    moments = ["Estimate", "Est.Error", "l-95% CI", "u-95% CI"]
    np.testing.assert_allclose(a[moments].to_numpy(), b[moments].to_numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.drop(columns=moments).to_numpy(), b.drop(columns=moments).to_numpy(), rtol=1e-3)
    np.testing.assert_allclose(narrow.ranef()["g"].to_numpy(), wide.ranef()["g"].to_numpy(), rtol=1e-5, atol=1e-6)


def test_bad_draws_dtype_is_an_argument_error():
    from multilevel.errors import ArgumentError

    with pytest.raises(ArgumentError, match="draws_dtype"):
        ml.brm("y ~ x + (1 | g)", _data(n=30), family="bernoulli", draws_dtype="float16")

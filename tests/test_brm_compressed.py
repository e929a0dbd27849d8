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


def test_centered_correlated_term_is_the_same_posterior():
    """A correlated term sampled centered (u_j = mean + r_j ~ N(mean, S S')) against brms's non-centered
    form (u_j = S^-1 r_j ~ N(0, I)) at the same r: the log densities differ by exactly the Jacobian of
    u -> r, -levels log|S| (S = diag(sd) L), at random points."""
    import dataclasses

    from numpyro.infer.util import log_density

    from multilevel.bayes.model import fixed_effects_vector

    data = _data()
    design, layout, likelihood = _models("bernoulli", "y ~ x + w + (1 + x | g)", None, data)
    plain = dataclasses.replace(layout, groups=tuple(dataclasses.replace(g, centering=(0.0,) * g.n_levels)
                                                     for g in layout.groups))
    centered = dataclasses.replace(layout, groups=tuple(dataclasses.replace(g, centering=(1.0,) * g.n_levels)
                                                        for g in layout.groups))
    assert centered.parameterization == "g Intercept+x: centered"
    model_plain, vector = make_model(design, plain, likelihood)
    model_centered, _ = make_model(design, centered, likelihood)
    g = layout.groups[0]
    start = sum(vector.sizes[:[name for name, _, _ in vector.blocks].index("u_0")])
    rng = np.random.default_rng(2)
    for _ in range(3):
        flat = rng.normal(0.0, 0.6, vector.size)
        values, _ = vector.unpack(flat)
        scale = np.asarray(values["sd_0"])[:, None] * np.asarray(values["L_0"])
        mean = np.asarray(g.mean_matrix) @ np.asarray(fixed_effects_vector(values, layout, np))
        u = np.asarray(values["u_0"])
        flat_centered = np.array(flat)
        flat_centered[start:start + u.size] = (scale @ u + mean[:, None]).reshape(-1)
        lp_plain = float(log_density(model_plain, (), {}, {"params": flat})[0])
        lp_centered = float(log_density(model_centered, (), {}, {"params": flat_centered})[0])
        log_det = g.n_levels * np.sum(np.log(np.diag(scale)))
        np.testing.assert_allclose(lp_centered, lp_plain - log_det, rtol=1e-10)
    # the effects come back the same from either form's draws
    r_plain = vector.unpack_draws(flat[None, None])["r_0"]
    _, vector_centered = make_model(design, centered, likelihood)
    r_centered = vector_centered.unpack_draws(flat_centered[None, None])["r_0"]
    np.testing.assert_allclose(r_centered, r_plain, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("family, formula, link", [CASES[0], CASES[2]])
def test_pilot_fit_on_patterns_is_the_full_data_fit(family, formula, link):
    """The centering's lme4-style pilot runs on the patterns (aggregated binomial with weights; poisson
    sums with log(count) in the offset): the same likelihood up to a constant, so the same fit."""
    from multilevel.bayes.parameterization import _PILOT_FAMILY, _pilot_fit

    design, layout, likelihood = _models(family, formula, link, _data())
    full = _pilot_fit(design, _PILOT_FAMILY[family])
    aggregated = _pilot_fit(likelihood.pattern_design(design, layout.patterns), _PILOT_FAMILY[family])
    assert aggregated.nobs == layout.patterns.n_patterns
    np.testing.assert_allclose(aggregated.theta, full.theta, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(aggregated.fixef().to_numpy(), full.fixef().to_numpy(), rtol=1e-5, atol=1e-7)
    for a, b in zip(aggregated._condvar_blocks(), full._condvar_blocks()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("p", [1, 2, 3])
def test_unrolled_effect_draws_equal_batched_linear_algebra(p, monkeypatch):
    """OneFactorMarginal.draw_effects written out element by element for small blocks (p <= 4) draws
    the same r, from the same noise, as batched Cholesky and solves (to rounding)."""
    from multilevel.bayes import marginal

    rng = np.random.default_rng(p)
    n, levels = 400, 13
    codes = rng.integers(0, levels, n)
    z = np.column_stack([np.ones(n)] + [rng.standard_normal(n) for _ in range(p - 1)])
    x = np.column_stack([np.ones(n), rng.standard_normal(n)])
    m = marginal.OneFactorMarginal(x, rng.standard_normal(n), codes, z, levels, [p])
    beta = rng.standard_normal((2, 9, 2))
    chol = np.linalg.cholesky(np.eye(p) + 0.3 * np.ones((p, p)))
    scales = [np.broadcast_to(rng.uniform(0.3, 2.0, (2, 9, p))[..., :, None] * chol, (2, 9, p, p))]
    sigma = rng.uniform(0.5, 2.0, (2, 9))
    unrolled = m.draw_effects(beta, scales, sigma, np.random.default_rng(1), chunk=4)[0]
    monkeypatch.setattr(marginal, "UNROLLED_UP_TO", 0)
    batched = m.draw_effects(beta, scales, sigma, np.random.default_rng(1), chunk=4)[0]
    assert unrolled.shape == (2, 9, levels, p)
    np.testing.assert_allclose(unrolled, batched, rtol=1e-10, atol=1e-12)


def test_pointwise_log_lik_without_patterns():
    """Continuous covariate: no patterns, every row computed (in chunks) as it stands."""
    from scipy import stats

    from multilevel.bayes import posterior

    data = _data(n=90)
    data["x"] = np.random.default_rng(1).standard_normal(len(data))
    design, layout, likelihood = _models("bernoulli", "y ~ x + (1 | g)", None, data)
    assert layout.patterns is None
    _, vector = make_model(design, layout, likelihood)
    fit = _fake_fit(design, layout, likelihood, np.random.default_rng(6).normal(0.0, 0.5, (2, 5, vector.size)))
    old = posterior.LOG_LIK_CHUNK_ELEMENTS
    posterior.LOG_LIK_CHUNK_ELEMENTS = 4 * design.nobs
    try:
        ll = fit.log_likelihood()
    finally:
        posterior.LOG_LIK_CHUNK_ELEMENTS = old
    p = 1 / (1 + np.exp(-fit.posterior_linpred()))
    np.testing.assert_allclose(ll.reshape(10, -1), stats.bernoulli.logpmf(data["y"].to_numpy(), p), rtol=1e-9)

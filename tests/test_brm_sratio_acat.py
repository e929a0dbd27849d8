"""brm's sratio and acat families (ordinal, logit link, issue 13) against brms 2.18's Stan functions.

The densities are transliterated below, loop by loop, from brms's ``sratio_logit_lpmf`` and
``acat_logit_lpmf`` (``make_stancode(y ~ x, family = sratio())`` / ``acat()`` in brms 2.18.0, disc = 1);
the thresholds are a plain vector (not ordered, unlike cumulative's).

Reference: tests/fixtures/brms_categorical.json, fits ``sratio_generated`` and ``acat_generated``
(y ~ x + (1 | g) on 300 generated rows with 4 categories, 12 groups), made by
benchmarks/r/brms_reference_categorical.R (brms 2.18.0, 4 chains x 1000 post-warm-up draws, seed 1);
agreement by conftest's assert_agrees_with_brms.
"""
import math
import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from conftest import FIXTURES, assert_agrees_with_brms, load_fixture
from multilevel.bayes.ordinal import category_probabilities, family_log_probabilities, ordinal_lpmf


def _log_inv_logit(x):
    return -math.log1p(math.exp(-x)) if x > 0 else x - math.log1p(math.exp(x))


def _stan_sratio(y: int, mu: float, thres: list) -> float:
    """brms's sratio_logit_lpmf, its loop as written (disc = 1)."""
    nthres = len(thres)
    p, q = [0.0] * (nthres + 1), [0.0] * nthres
    k = 1
    while k <= min(y, nthres):
        q[k - 1] = _log_inv_logit(-(thres[k - 1] - mu))  # log1m_inv_logit(x) = log_inv_logit(-x)
        p[k - 1] = math.log(-math.expm1(q[k - 1]))  # log1m_exp
        for kk in range(1, k):
            p[k - 1] += q[kk - 1]
        k += 1
    if y == nthres + 1:
        p[nthres] = sum(q)
    return p[y - 1]


def _stan_acat(y: int, mu: float, thres: list) -> float:
    """brms's acat_logit_lpmf: p = append_row(0, cumulative_sum(mu - thres)); p[y] - log_sum_exp(p)."""
    p = [0.0] + list(np.cumsum([mu - t for t in thres]))
    top = max(p)
    return p[y - 1] - (top + math.log(sum(math.exp(v - top) for v in p)))


@pytest.mark.parametrize("family, stan", [("sratio", _stan_sratio), ("acat", _stan_acat)])
def test_density_is_brms_stan_function_at_random_points(family, stan):
    rng = np.random.default_rng(7)
    n, nthres = 30, 4
    eta = rng.normal(0, 2, n)
    thres = rng.normal(0, 2, (n, nthres))  # not ordered: brms's sratio/acat thresholds are a plain vector
    y = rng.integers(1, nthres + 2, n)
    want = np.array([stan(int(y[i]), eta[i], list(thres[i])) for i in range(n)])
    log_p = family_log_probabilities(eta, thres, "logit", family, np)  # NumPy: log-lik, epred, predict
    np.testing.assert_allclose(log_p[np.arange(n), y - 1], want, rtol=1e-12, atol=1e-14)
    probs = category_probabilities(eta, thres, "logit", family)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.log(probs[np.arange(n), y - 1]), want, rtol=1e-9, atol=1e-12)


def test_links_other_than_logit_are_refused():
    from multilevel.bayes.likelihood import make_likelihood

    for family in ("sratio", "acat"):
        assert make_likelihood(family).ordinal
        with pytest.raises(ml.errors.ArgumentError, match="valid links: logit"):
            make_likelihood(family, "probit")


# ---- brms 2.18 reference (slow: one fit each) ----------------------------------------------------
def _reference(name):
    fits = load_fixture("brms_categorical.json")["fits"] if (FIXTURES / "brms_categorical.json").exists() else {}
    if name not in fits:
        pytest.skip(f"brms reference fit {name} not in tests/fixtures yet")
    return fits[name], pd.read_csv(FIXTURES / f"brms_categorical_{name}.csv")


@pytest.mark.parametrize("name", ["sratio_generated", "acat_generated"])
def test_prior_table_is_brms_prior_summary(name):
    ref, data = _reference(name)
    from multilevel.bayes import fit as brm_fit
    from multilevel.bayes.model import build_layout
    from multilevel.bayes.prior_table import prior_rows

    design, likelihood = brm_fit.design_and_likelihood("y ~ x + (1 | g)", data, name.split("_")[0])
    rows = prior_rows(build_layout(design, likelihood, []), [])
    ours = {(r["class"], r["coef"], r["group"]): r["prior"] for r in rows}
    for row in ref["priors"]:
        if row["prior"] or row["class"] == "b":
            assert ours[row["class"], row["coef"], row["group"]] == (row["prior"] or "(flat)"), row
    assert set(ours) == {(r["class"], r["coef"], r["group"]) for r in ref["priors"]}


@pytest.mark.slow  # JAX runs op by op here: ~6-15 s of small compilations
@pytest.mark.parametrize("family, stan", [("sratio", _stan_sratio), ("acat", _stan_acat)])
def test_jax_density_the_sampler_runs(family, stan):
    rng = np.random.default_rng(8)
    eta, thres, y = rng.normal(0, 2, 20), rng.normal(0, 2, (20, 3)), rng.integers(1, 5, 20)
    want = np.array([stan(int(y[i]), eta[i], list(thres[i])) for i in range(20)])
    # float32 unless the sampler's x64 mode is on in this process
    np.testing.assert_allclose(np.asarray(ordinal_lpmf(y.astype(float), eta, thres, "logit", family)), want,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sratio_generated", "acat_generated"])
def test_posterior_agrees_with_brms(name):
    ref, data = _reference(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.brm("y ~ x + (1 | g)", data, family=name.split("_")[0], seed=1, refresh=0)
    draws = fit.draws_by_chain()
    assert set(ref["params"]) == set(draws)  # b_Intercept[1..3], b_x, sd_g__Intercept
    for param, want in ref["params"].items():
        assert_agrees_with_brms(param, draws[param], want)
    assert fit.posterior_epred(ndraws=10, seed=1).shape == (10, len(data), 4)

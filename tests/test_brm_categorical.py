"""brm's categorical family (multinomial logit, issue 13) against numpy closed forms and brms 2.18.

The model is brms's (tests/fixtures/brms_categorical_categorical_generated.stan): the reference
category's predictor is 0, every other category k has ``mu<k>`` with the formula's terms, and
P(y = k) = softmax(0, mu_2, ..., mu_K)[k] (Stan's ``categorical_logit``).

Reference: tests/fixtures/brms_categorical.json, fit ``categorical_generated`` (y ~ x + (1 | g) on
300 generated rows, categories A, B, C, 12 groups), made by benchmarks/r/brms_reference_categorical.R
(brms 2.18.0, 4 chains x 1000 post-warm-up draws, seed 1). Means and sds agree by conftest's
assert_agrees_with_brms (|ours - brms| <= 4 sqrt(mcse_ours^2 + mcse_brms^2)).
"""
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import log_softmax

import multilevel as ml
from conftest import FIXTURES, assert_agrees_with_brms, load_fixture
from multilevel.bayes import fit as brm_fit
from multilevel.bayes.categorical import categorical_logit_lpmf, predictor_names, response_categories
from multilevel.bayes.prior_table import prior_rows
from multilevel.bayes.priors import PriorError
from multilevel.errors import ArgumentError, DataError


# ---- the density against numpy's softmax ---------------------------------------------------------
@pytest.mark.parametrize("k", [2, 3, 5])
def test_log_lik_is_log_softmax_at_random_points(k):
    import jax.numpy as jnp

    rng = np.random.default_rng(k)
    logits = np.concatenate([np.zeros((40, 1)), rng.normal(0, 3, (40, k - 1))], axis=1)
    y = rng.integers(1, k + 1, 40).astype(float)
    want = log_softmax(logits, axis=1)[np.arange(40), y.astype(int) - 1]  # scipy, independent of ours
    np.testing.assert_allclose(categorical_logit_lpmf(y, logits, np), want, rtol=1e-12)
    if k == 3:  # the JAX version the sampler runs (one compilation is enough)
        np.testing.assert_allclose(np.asarray(categorical_logit_lpmf(jnp.asarray(y), jnp.asarray(logits), jnp)),
                                   want, rtol=1e-6)


def test_likelihood_stacks_the_reference_first():
    """extra holds mu<k> of the non-reference categories; the reference's logit is eta (0 + offset)."""
    lik = brm_fit.make_likelihood("categorical")
    import dataclasses

    lik = dataclasses.replace(lik, categories=("A", "B", "C"))
    rng = np.random.default_rng(1)
    mu_b, mu_c, eta = rng.normal(size=(3, 6, 10))
    y = rng.integers(1, 4, 10).astype(float)
    got = np.asarray(lik.log_prob(eta, {"muB": mu_b, "muC": mu_c}, {"y": y}))
    logits = np.stack([eta, eta + mu_b, eta + mu_c], axis=-1)
    want = np.take_along_axis(log_softmax(logits, axis=-1), (y.astype(int) - 1)[None, :, None], -1)[..., 0]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    probs = lik.mean(eta, {"muB": mu_b, "muC": mu_c}, {"y": y})
    np.testing.assert_allclose(probs, np.exp(log_softmax(logits, axis=-1)), rtol=1e-12)
    np.testing.assert_allclose(probs.sum(-1), 1.0)


# ---- the response's coding -----------------------------------------------------------------------
def test_text_response_sorted_first_is_reference():
    codes, labels = response_categories(["b", "a", "c", None, "a"], "y")
    assert labels == ("a", "b", "c")  # R's levels(factor(y)): sorted
    np.testing.assert_array_equal(codes[[0, 1, 2, 4]], [2, 1, 3, 1])
    assert np.isnan(codes[3])


def test_pandas_categorical_keeps_its_order_and_drops_unused():
    values = pd.Categorical(["lo", "hi", "hi"], categories=["hi", "mid", "lo"])
    codes, labels = response_categories(values, "y")
    assert labels == ("hi", "lo")  # factor() drops the unused level mid
    np.testing.assert_array_equal(codes, [2, 1, 1])


def test_integer_response_labels_and_names():
    codes, labels = response_categories(np.array([3, 1, 2, 2]), "y")
    assert labels == (1, 2, 3)
    assert predictor_names(labels) == ("mu2", "mu3")  # brms: b_mu2_Intercept


def test_predictor_names_are_sanitised_as_brms():
    # make_stan_names(paste0("mu", cats)): other characters become ".", then "." and "_" go
    assert predictor_names(["ref", "B", "very good", "x_1", "a.b"]) == ("muB", "muverygood", "mux1", "muab")
    with pytest.raises(DataError, match="both give the predictor name 'muab'"):
        predictor_names(["ref", "a b", "a_b"])


def test_one_category_is_our_error():
    data = pd.DataFrame({"y": ["a"] * 5, "x": np.arange(5.0)})
    with pytest.raises(DataError, match="'y' has 1 category.*at least two"):
        ml.brm("y ~ x", data, family="categorical", chains=1, iter=20, refresh=0)


def test_mixed_text_and_numbers_is_our_error():
    with pytest.raises(DataError, match="mixes text and numbers"):
        response_categories(pd.Series(["a", 1, 2], dtype=object), "y")


def test_bf_with_further_formulas_is_refused():
    data = pd.DataFrame({"y": ["a", "b"] * 5, "x": np.arange(10.0)})
    with pytest.raises(ArgumentError, match="categorical family"):
        ml.brm(ml.bf("y ~ x", "sigma ~ x"), data, family="categorical", chains=1, iter=20, refresh=0)


# ---- brms 2.18 reference -------------------------------------------------------------------------
REF = load_fixture("brms_categorical.json")["fits"]["categorical_generated"] if (
    FIXTURES / "brms_categorical.json").exists() else None
needs_reference = pytest.mark.skipif(REF is None, reason="tests/fixtures/brms_categorical.json not generated")


def _generated():
    return pd.read_csv(FIXTURES / "brms_categorical_categorical_generated.csv")


def _layout(priors=()):
    return brm_fit._categorical_layout("y ~ x + (1 | g)", _generated(), "categorical", "omit", None, list(priors))


@needs_reference
def test_prior_table_rows_equal_brms():
    """Our prior_summary rows (no user priors) are brms's prior_summary(fit) rows: the same (class,
    coef, group, dpar) keys, and the same prior where brms's row has one of its own (brms prints the
    rows that inherit, e.g. sd of g, with an empty prior; ours name the inherited one), as
    tests/test_brm_issue13_reference.py compares them. brms's get_prior has two more rows, the
    class-wide b and Intercept with an empty dpar that stand for every mu<k>: ours has no row for
    them, but takes such priors (test_prior_without_dpar_stands_for_every_category)."""
    _design, likelihood, layout, _ = _layout()
    assert likelihood.category_predictors == ("muB", "muC")
    ours = {(r["class"], r["coef"], r["group"], r["dpar"]): r["prior"] for r in prior_rows(layout, [])}
    for row in REF["priors"]:
        if row["prior"] or row["class"] == "b":
            assert ours[row["class"], row["coef"], row["group"], row["dpar"]] == (row["prior"] or "(flat)"), row
    assert set(ours) == {(r["class"], r["coef"], r["group"], r["dpar"]) for r in REF["priors"]}
    shared = {(r["class"], r["coef"], r["group"], r["dpar"]) for r in REF["get_prior"]} - set(ours)
    assert shared == {("b", "", "", ""), ("Intercept", "", "", "")}


@needs_reference
def test_prior_without_dpar_stands_for_every_category():
    given = [ml.prior("normal(0, 1)", class_="b"), ml.prior("normal(0, 5)", class_="b", dpar="muC"),
             ml.prior("exponential(1)", class_="sd")]
    _design, _lik, layout, priors = _layout(given)
    resolved = layout.predictors.priors
    assert resolved["muB", "b", "x", ""].text == "normal(0, 1)"
    assert resolved["muC", "b", "x", ""].text == "normal(0, 5)"  # its own prior wins
    assert resolved["muC", "sd", "Intercept", "g"].text == "exponential(1)"
    assert resolved["muB", "Intercept", "", ""].text == "student_t(3, 0, 2.5)"
    with pytest.raises(PriorError, match="class 'sigma'.*muB, muC"):
        _layout([ml.prior("exponential(1)", class_="sigma")])


@pytest.fixture(scope="module")
def reference_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.brm("y ~ x + (1 | g)", _generated(), family="categorical", seed=1, refresh=0)


@needs_reference
@pytest.mark.slow
def test_posterior_agrees_with_brms(reference_fit):
    draws = reference_fit.draws_by_chain()
    assert set(REF["params"]) == set(draws)  # b_muB_Intercept, b_muC_x, sd_g__muB_Intercept...
    for name, want in REF["params"].items():
        assert_agrees_with_brms(name, draws[name], want)


@needs_reference
@pytest.mark.slow
def test_predictions_loo_and_names(reference_fit):
    fit = reference_fit
    epred = fit.posterior_epred(ndraws=20, seed=1)
    assert epred.shape == (20, 300, 3)
    np.testing.assert_allclose(epred.sum(-1), 1.0)
    linpred = fit.posterior_linpred(ndraws=20, seed=1)
    assert linpred.shape == (20, 300, 2)
    predicted = fit.posterior_predict(ndraws=20, seed=1)
    assert set(np.unique(predicted)) <= {"A", "B", "C"}
    frame = fit.add_epred_draws(pd.DataFrame({"x": [0.0], "g": ["g1"]}), ndraws=5, seed=1)
    assert list(pd.unique(frame[".category"])) == ["A", "B", "C"]
    assert fit.log_likelihood().shape == (4, 1000, 300)
    text = str(fit.summary())
    assert "Links: muB = logit; muC = logit" in text and "sd(muB_Intercept)" in text
    assert "categorical_logit_lpmf(y[n] | [0, muB[n], muC[n]]')" in fit.model_code()
    assert "r_g__muC[g1,Intercept]" in fit.draws().columns
    with pytest.raises(ArgumentError, match="re_formula='NA' is not available for categorical"):
        fit.posterior_epred(re_formula="NA")
    with pytest.raises(ArgumentError, match="not defined for ordinal or categorical"):
        fit.bayes_r2()

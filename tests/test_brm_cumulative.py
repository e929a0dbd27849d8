"""brm's cumulative family (ordinal regression, issue 13) against closed forms and brms 2.18.

The model is brms's (tests/fixtures/brms_issue13_stancode/wine_cumulative*.stan): no intercept in the
linear predictor, ``ordered[K - 1] Intercept`` thresholds for centered predictors,
P(y <= k) = F(Intercept[k] - mu) with F the logistic or normal cdf, disc = 1.

Reference: tests/fixtures/brms_issue13.json, fits ``wine_cumulative`` (logit, ``(1 | judge)``) and
``wine_cumulative_probit`` (probit, no group term), made by benchmarks/r/brms_reference_issue13.R
(brms 2.18.0, 4 chains x 2000 post-warm-up draws, seed 1). Means agree when |ours - brms| <= 4
sqrt(mcse_ours^2 + mcse_brms^2); posterior sds by the same rule with the MCSE of an sd,
sd sqrt((kurtosis - 1) / (4 ESS)) (as tests/test_brm_issue13_reference.py).
"""
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import multilevel as ml
from conftest import assert_agrees_with_brms, load_fixture
from multilevel.bayes import fit as brm_fit
from multilevel.bayes.priors import PriorError
from multilevel.errors import ArgumentError, DataError

FITS = load_fixture("brms_issue13.json")["fits"]
WINE = {"wine_cumulative": ("rating ~ temp + contact + (1 | judge)", "logit"),
        "wine_cumulative_probit": ("rating ~ temp + contact", "probit")}
CDF = {"logit": stats.logistic, "probit": stats.norm}


@pytest.fixture(scope="module")
def wine():
    return ml.datasets.load("wine")


class _Fits(dict):
    """The wine fits, each made on first use (the default run needs only the logit one)."""

    def __init__(self, data):
        super().__init__()
        self.data = data

    def __missing__(self, name):
        formula, link = WINE[name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self[name] = ml.brm(formula, self.data, family="cumulative", link=link, seed=3, refresh=0)
        return self[name]


@pytest.fixture(scope="module")
def fits(wine):
    return _Fits(wine)


# ---- (a) the log density against a closed form --------------------------------------------------
def _closed_form(raw: np.ndarray, wine: pd.DataFrame, link: str, grouped: bool) -> float:
    """brms's log posterior (up to Stan's dropped constants, as ours) written out with scipy:
    Stan's ordered transform and its Jacobian, student_t(3, 0, 2.5) on each threshold and on sd,
    flat b, u ~ N(0, 1) (non-centered), P(y = k) = F(c_k - mu) - F(c_{k-1} - mu)."""
    y = wine["rating"].to_numpy()
    x = np.column_stack([(wine["temp"] == "warm").to_numpy(float), (wine["contact"] == "yes").to_numpy(float)])
    xc = x - x.mean(axis=0)
    thresholds = np.concatenate([raw[:1], raw[0] + np.cumsum(np.exp(raw[1:4]))])
    log_jacobian = np.sum(raw[1:4])
    b = raw[4:6]
    mu = xc @ b
    log_prior = np.sum(stats.t.logpdf(thresholds, 3, 0, 2.5))
    if grouped:
        sd, u = np.exp(raw[6]), raw[7:16]
        log_jacobian += raw[6]
        log_prior += stats.t.logpdf(sd, 3, 0, 2.5) - 0.5 * np.sum(u**2)  # half-t without its constant, as Stan
        codes = pd.factorize(wine["judge"], sort=True)[0]
        mu = mu + sd * u[codes]
    cuts = np.concatenate([[-np.inf], thresholds, [np.inf]])
    upper, lower = cuts[y] - mu, cuts[y - 1] - mu
    # F(upper) - F(lower), as survivals above the median (no cancellation near 1)
    probability = np.where(upper <= 0, CDF[link].cdf(upper) - CDF[link].cdf(lower),
                           CDF[link].sf(lower) - CDF[link].sf(upper))
    return float(log_prior + log_jacobian + np.sum(np.log(probability)))


@pytest.mark.parametrize("name", list(WINE))
def test_log_density_is_brms_closed_form(name, wine):
    import jax.numpy as jnp
    from numpyro.infer.util import log_density

    from multilevel.bayes.model import build_layout, make_model

    formula, link = WINE[name]
    design, likelihood = brm_fit.design_and_likelihood(formula, wine, "cumulative", link=link)
    layout = build_layout(design, likelihood, [])
    model, vector = make_model(design, layout, likelihood)
    grouped = bool(layout.groups)
    assert [(n, k) for n, _, k in vector.blocks][:2] == [("Intercept", "ordered"), ("b", "real")]
    assert vector.size == (16 if grouped else 6)
    rng = np.random.default_rng(13)
    for _ in range(5):
        raw = rng.normal(scale=0.8, size=vector.size)
        ours = float(log_density(model, (), {"prior_only": False}, {"params": jnp.asarray(raw)})[0])
        assert ours == pytest.approx(_closed_form(raw, wine, link, grouped), rel=1e-10, abs=1e-9)


def test_ordered_transform_in_numpy_matches_jax_and_extreme_rows_stay_finite():
    import jax
    import jax.numpy as jnp

    from multilevel.bayes.ordinal import cumulative_lpmf, ordered_from_unconstrained

    raw = np.random.default_rng(2).normal(size=(3, 5, 4))
    ours, _ = ordered_from_unconstrained(raw, np)
    theirs, jac = ordered_from_unconstrained(jnp.asarray(raw), jnp)
    np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-14)
    assert np.all(np.diff(ours, axis=-1) > 0)
    np.testing.assert_allclose(np.asarray(jac), raw[..., 1:].sum(-1), rtol=1e-14)
    # far in either tail (probit: Phi underflows in double) the log probabilities and gradients stay finite
    thresholds = jnp.asarray([-1.0, 0.0, 1.0])
    for link in ("logit", "probit"):
        def total(t, link=link):
            return cumulative_lpmf(jnp.asarray([1.0, 4.0, 2.0, 3.0]), jnp.asarray([45.0, -45.0, 40.0, -40.0]), t,
                                   link).sum()
        assert np.isfinite(float(total(thresholds)))
        assert np.all(np.isfinite(np.asarray(jax.grad(total)(thresholds))))


# ---- (b) the wine fits against brms's -------------------------------------------------------------
@pytest.mark.slow  # 4 x 1000 fits of both wine models (~15 s)
@pytest.mark.parametrize("name", list(WINE))
def test_posterior_agrees_with_brms(name, fits):
    fit, ref = fits[name], FITS[name]
    draws = fit.draws_by_chain()
    assert list(draws) == list(ref["params"])  # brms's names, in its order
    assert np.sum(fit.run.stats["divergent__"]) == 0
    for param, want in ref["params"].items():
        assert_agrees_with_brms(param, draws[param], want)


@pytest.mark.slow  # the same fits
@pytest.mark.parametrize("name", list(WINE))
def test_prior_table_is_brms_prior_summary(name, fits):
    table = fits[name].prior_summary()
    link = "probit" if name.endswith("probit") else "logit"
    assert f"mu = {link}; disc = identity" in str(fits[name])  # (the default run prints only the logit fit)
    ours = {(c, coef, g): (prior, source) for prior, c, coef, g, source in
            zip(table["prior"], table["class"], table["coef"], table["group"], table["source"])}
    ref = FITS[name]["priors"]
    assert set(ours) == {(r["class"], r["coef"], r["group"]) for r in ref}
    for row in ref:
        prior, source = ours[row["class"], row["coef"], row["group"]]
        if row["prior"]:
            assert (prior, source) == (row["prior"], "default"), row
        elif row["class"] == "b":
            assert prior == "(flat)"
        else:  # brms prints the inherited prior on the rows under a class-wide one
            assert (prior, source) == ("student_t(3, 0, 2.5)", "(vectorized)"), row
    assert [r for r in table["class"]] == ["b"] * 3 + ["Intercept"] * 5 + (["sd"] * 3 if fits[name].layout.groups else [])


# ---- (c) the rest of a fit -------------------------------------------------------------------------
def test_print_names_and_predictions(fits, wine):
    fit = fits["wine_cumulative"]
    text = str(fit)
    assert " Family: cumulative " in text and "  Links: mu = logit; disc = identity " in text
    assert "Further Distributional Parameters" not in text
    rows = [line.split()[0] for line in text.split("Regression Coefficients:")[1].splitlines()[2:8]]
    assert rows == ["Intercept[1]", "Intercept[2]", "Intercept[3]", "Intercept[4]", "tempwarm", "contactyes"]
    assert list(fit.fixef().index) == rows
    assert list(fit.draws().columns[:7]) == list(FITS["wine_cumulative"]["params"])
    epred = fit.posterior_epred()
    assert epred.shape == (4000, 72, 5)
    np.testing.assert_allclose(epred.sum(axis=-1), 1.0, atol=1e-12)
    predicted = fit.posterior_predict(seed=1)
    assert predicted.shape == (4000, 72) and set(np.unique(predicted)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    # predictions follow the probabilities: the share of each category near the mean epred
    np.testing.assert_allclose((predicted[:, :, None] == np.arange(1, 6)).mean(axis=0).mean(axis=0),
                               epred.mean(axis=(0, 1)), atol=0.01)
    # new data: the same rows give the same probabilities
    np.testing.assert_allclose(fit.posterior_epred(newdata=wine.iloc[:5], ndraws=50, seed=2),
                               fit.posterior_epred(ndraws=50, seed=2)[:, :5], rtol=1e-10)
    log_lik = fit.log_likelihood()
    assert log_lik.shape == (4, 1000, 72)
    np.testing.assert_allclose(np.exp(log_lik).reshape(4000, 72),
                               np.take_along_axis(epred, wine["rating"].to_numpy()[None, :, None] - 1, -1)[..., 0],
                               rtol=1e-9)
    loo = fit.loo()
    assert np.isfinite(loo.estimates.loc["elpd_loo", "Estimate"])
    hypothesis = fit.hypothesis("tempwarm > contactyes")
    assert hypothesis.hypothesis["Post.Prob"].iloc[0] > 0.9
    code = fit.model_code()
    assert "ordered[4] Intercept" in code and "ordered_logistic_lpmf" in code and "b_Intercept = Intercept +" in code
    frame = ml.add_epred_draws(wine.iloc[:2], fit, ndraws=10, seed=1)
    assert len(frame) == 2 * 5 * 10 and list(frame[".category"].unique()) == [1, 2, 3, 4, 5]
    assert ml.get_variables(fit)[:4] == [f"b_Intercept[{k}]" for k in range(1, 5)]
    with pytest.raises(ArgumentError, match="ordinal"):
        fit.bayes_r2()
    # coef: each judge's thresholds, b_Intercept[k] - r_judge (r adds to mu)
    judge = fit.coef()["judge"]
    assert list(judge.columns.get_level_values(0).unique()) == [f"Intercept[{k}]" for k in range(1, 5)]
    expected = (fit.draws_by_chain()["b_Intercept[2]"][..., None] - fit.group_effects()[0][..., 0]).mean(axis=(0, 1))
    np.testing.assert_allclose(judge["Intercept[2]"]["Estimate"].to_numpy(), expected, rtol=1e-10)


def test_user_prior_on_one_threshold(wine):
    from multilevel.bayes.model import build_layout

    design, likelihood = brm_fit.design_and_likelihood("rating ~ temp", wine, "cumulative")
    layout = build_layout(design, likelihood, [ml.prior("normal(0, 1)", class_="Intercept", coef="2")])
    assert layout.priors["Intercept", "2", ""].text == "normal(0, 1)"
    assert layout.priors["Intercept", "1", ""].text == "student_t(3, 0, 2.5)"
    with pytest.raises(PriorError, match="coef"):
        build_layout(design, likelihood, [ml.prior("normal(0, 1)", class_="Intercept", coef="5")])


# ---- (d) errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize("y, match", [
    ([1, 2, 2.5, 3, 1, 2], "whole numbers"),
    ([0, 1, 2, 1, 2, 0], "whole numbers"),
    ([2, 2, 2, 2, 2, 2], "single category"),
])
def test_bad_responses_are_our_data_error(y, match):
    data = pd.DataFrame({"y": y, "x": np.arange(6.0)})
    with pytest.raises(DataError, match=f"'y'.*{match}|{match}.*'y'"):
        ml.brm("y ~ x", data, family="cumulative", refresh=0)


def test_text_response_and_model_errors_are_ours(wine):
    from multilevel.bayes.ordinal import ordinal_codes

    text = wine.assign(rating=wine["rating"].map({1: "a", 2: "b", 3: "c", 4: "d", 5: "e"}))
    with pytest.raises(DataError, match="rating"):
        ml.brm("rating ~ temp", text, family="cumulative", refresh=0)
    with pytest.raises(DataError, match="ordered categorical"):
        ordinal_codes(text["rating"], "rating")
    ordered = pd.Categorical(text["rating"], categories=list("abcde"), ordered=True)
    np.testing.assert_array_equal(ordinal_codes(ordered, "rating"), wine["rating"].to_numpy(float))
    with pytest.raises(ArgumentError, match="link"):
        ml.brm("rating ~ temp", wine, family="cumulative", link="identity", refresh=0)
    with pytest.raises(ArgumentError, match="intercept"):
        ml.brm("rating ~ 0 + temp", wine, family="cumulative", refresh=0)
    with pytest.raises(PriorError, match="flat"):  # sbc simulates ordinal responses, from proper priors only
        ml.sbc("rating ~ temp", wine, family="cumulative", nsim=2)


@pytest.mark.slow  # a fit of its own (~5 s)
def test_an_ordered_categorical_response_is_read_in_its_order():
    w = ml.datasets.load("wine")
    labels = {1: "very low", 2: "low", 3: "mid", 4: "high", 5: "very high"}
    w["r"] = pd.Categorical(w.rating.map(labels), categories=list(labels.values()), ordered=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.brm("r ~ temp + contact", w, family="cumulative", chains=1, iter=200, seed=2, refresh=0)
    assert np.array_equal(fit.design.response, w.rating.to_numpy(dtype=float))
    with pytest.raises(DataError, match="'temp' is text"):
        ml.brm("temp ~ contact", w, family="cumulative")


# ---- simulation-based calibration (slow): thresholds and slope of the cumulative family --------
@pytest.mark.slow
def test_simulation_based_calibration():
    # ml.sbc draws the ordered thresholds from their priors (iid normal(0, 1), sorted: the ordered
    # region of the product prior), simulates categories 1..4 and refits; 50 simulations, ranks
    # 0..99, chi-square over 10 bins at level 0.001 per variable (as tests/test_sbc_helper.py). The
    # priors keep every category likely in 100 rows (a replicate without the top one would be
    # counted as failed: its refit would have fewer thresholds).
    rng = np.random.default_rng(5)
    data = pd.DataFrame({"x": rng.normal(size=100), "y": np.tile([1, 2, 3, 4], 25)})
    priors = [ml.prior("normal(0, 1)", class_="Intercept"), ml.prior("normal(0, 1)", class_="b")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = ml.sbc("y ~ x", data, family="cumulative", priors=priors, nsim=50, thin_to=99, warmup=400,
                        draws=500, chains=2, seed=20261130, scheduler="synchronous")
    assert result.failed == 0, result.messages
    table = result.summary(bins=10)
    assert set(table.index) == {"b_Intercept[1]", "b_Intercept[2]", "b_Intercept[3]", "b_x"}
    assert (table["p_value"] > 0.001).all(), table


@pytest.mark.slow  # ~1-3 s of op-by-op JAX draws: kept out of the default run's budget
def test_sbc_draws_ordered_thresholds_and_simulates_categories():
    # the simulator behind ml.sbc: thresholds from their priors, increasing, and responses 1..K
    from multilevel.bayes.sbc import Simulator

    data = pd.DataFrame({"x": np.linspace(-1, 1, 40), "y": np.tile([1, 2, 3, 4], 10)})
    priors = [ml.prior("normal(0, 1)", class_="Intercept"), ml.prior("normal(0, 1)", class_="b")]
    simulator = Simulator.of("y ~ x", data, "cumulative", priors)
    assert simulator.variable_names() == ["b_x", "b_Intercept[1]", "b_Intercept[2]", "b_Intercept[3]"]
    for seed in range(3):
        truth, y = simulator.draw(np.random.default_rng(seed))
        assert np.all(np.diff([truth[f"b_Intercept[{k}]"] for k in (1, 2, 3)]) > 0)
        assert set(np.unique(y)) <= {1.0, 2.0, 3.0, 4.0}

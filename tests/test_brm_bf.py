"""ml.bf(): nonlinear and distributional formulas in brm, against brms 2.18 (issue 13, item 1).

Reference: tests/fixtures/brms_issue13.json (benchmarks/r/brms_reference_issue13.R; brms 2.18.0, 4 chains x
2000 draws, seed 1): ``mlm_nopool_nl`` = ``bf(con ~ 0 + a, a ~ 0 + id.f, nl = TRUE)`` with
``prior(normal(0, 1.5), class = b, nlpar = a)``, ``sigma_by_group`` = ``bf(y ~ x, sigma ~ g)``. Means agree
when |ours - brms| <= 4 sqrt(mcse_ours^2 + mcse_brms^2) (the fixture's rule); sds by the same rule with an
sd's MCSE, sd sqrt((kurtosis - 1) / (4 ESS)) (ESS of the squared deviations; brms's capped at its draws).
"""
import functools
import warnings

import arviz_stats
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import multilevel as ml
from conftest import load_fixture
from multilevel.errors import FormulaError, MultilevelError

FITS = load_fixture("brms_issue13.json")["fits"]
FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures"


def mlm():
    data = ml.datasets.load("mlm")
    return data.assign(**{"id.f": data["id"].astype("category")})


def sigma_data():
    return pd.read_csv(FIXTURES / "brms_issue13_sigma_by_group.csv")


@functools.lru_cache(maxsize=None)
def fit_nl(chains=4, draws=1000):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.brm(ml.bf("con ~ 0 + a", "a ~ 0 + id.f", nl=True), mlm(), seed=3, refresh=0, chains=chains,
                      draws=draws, priors=[ml.prior("normal(0, 1.5)", class_="b", nlpar="a")])


@functools.lru_cache(maxsize=None)
def fit_sigma(chains=4, draws=1000):
    return ml.brm(ml.bf("y ~ x", "sigma ~ g"), sigma_data(), seed=3, refresh=0, chains=chains, draws=draws)


def agree(fit, ref, skip=()):
    """Largest |difference| / combined MCSE of means and of sds over the reference's parameters."""
    draws = fit.draws_by_chain()
    worst = 0.0
    for param, want in ref["params"].items():
        if param in skip:
            continue
        values = np.asarray(draws[param], dtype=float)
        mcse = float(arviz_stats.mcse(values, method="mean"))
        worst = max(worst, abs(values.mean() - want["mean"]) / np.hypot(mcse, want["mcse_mean"]))
        # the MCSE of an sd from the ESS of the squared deviations (ours) and, for brms, its bulk ESS capped
        # at its 8000 draws: NUTS's antithetic draws give the mean an ESS above the draws, not the variance
        ess = float(arviz_stats.ess((values - values.mean()) ** 2, method="mean"))
        flat = values.ravel() - values.mean()
        tails = max(np.mean(flat**4) / np.mean(flat**2) ** 2 - 1, 2.0) / 4
        sd_mcse = np.sqrt(tails * (values.std() ** 2 / ess + want["sd"] ** 2 / min(want["ess_bulk"], 8000)))
        worst = max(worst, abs(values.std() - want["sd"]) / sd_mcse)
    return worst


def prior_keys(fit):
    table = fit.prior_summary()
    return {(r["class"], r["coef"], r["group"], r["dpar"], r["nlpar"]): r["prior"] for _, r in table.iterrows()}


# ---- the formula object ---------------------------------------------------------------------------
def test_bf_display_and_alias():
    f = ml.bf("con ~ 0 + a", "a ~ 0 + id.f", nl=True)
    assert f.display == "con ~ 0 + a\n         a ~ 0 + id.f"
    assert ml.brmsformula is ml.bf
    assert ml.bf("y ~ x", "sigma ~ g").parts == {"sigma": "g"}


@pytest.mark.parametrize("args, kwargs, match", [
    (("y ~ x", "a ~ 1"), {}, "not a distributional parameter"),
    (("y ~ x", "sigma ~ g", "sigma ~ h"), {}, "two formulas"),
    (("y x",), {}, "one '~'"),
    (("y ~ __import__('os')", "a ~ 1"), {"nl": True}, "not an arithmetic expression"),
    (("y ~ a; import os", "a ~ 1"), {"nl": True}, "not an arithmetic expression"),
    (("y ~ x", "1a ~ g"), {}, "name of a parameter"),
])
def test_bf_bad_input(args, kwargs, match):
    with pytest.raises(FormulaError, match=match):
        ml.bf(*args, **kwargs)


def test_brm_bad_input():
    data = sigma_data()
    with pytest.raises(FormulaError, match="'b'.*neither a nonlinear parameter"):
        ml.brm(ml.bf("y ~ a * b", "a ~ 1", nl=True), data)
    with pytest.raises(FormulaError, match="gaussian family has no parameter 'shape'"):
        ml.brm(ml.bf("y ~ x", "shape ~ g"), data)
    with pytest.raises(FormulaError, match="not an arithmetic expression"):
        ml.bf("y ~ a + (1 | g)", "a ~ 1", nl=True)
    with pytest.raises(FormulaError, match="names the distributional parameter"):
        ml.brm(ml.bf("y ~ a * sigma", "a ~ 1", "sigma ~ g", nl=True), data)
    with pytest.raises(FormulaError, match="system.*not available"):
        ml.brm(ml.bf("y ~ system(a)", "a ~ 1", nl=True), data)
    with pytest.raises(FormulaError, match="'c'.*do not appear"):
        ml.brm(ml.bf("y ~ a", "a ~ 1", "c ~ 1", nl=True), data)
    with pytest.raises(MultilevelError, match="no formula for 'b'"):
        ml.brm(ml.bf("y ~ a", "a ~ 1", nl=True), data, priors=[ml.prior("normal(0, 1)", nlpar="b")])
    with pytest.raises(MultilevelError, match="the class is 'b', 'Intercept', 'sd' or 'cor'"):
        ml.prior("normal(0, 1)", class_="sigma", nlpar="a")
    with pytest.raises(MultilevelError, match="class 'sigma'"):
        ml.brm(ml.bf("y ~ x", "sigma ~ g"), data, priors=[ml.prior("exponential(1)", class_="sigma")])


# ---- nonlinear: the lecture's no-pooling model ---------------------------------------------------
@pytest.mark.slow  # a 4 x 1000 fit of 44 parameters (~15 s)
def test_nonlinear_names_priors_and_values():
    fit = fit_nl(chains=2, draws=500)
    ref = FITS["mlm_nopool_nl"]
    assert set(ref["params"]) <= set(fit.draws_by_chain())
    assert "b_a_id.f6" in fit.draws_by_chain() and "sigma" in fit.draws_by_chain()
    ours = prior_keys(fit)
    assert set(ours) == {(r["class"], r["coef"], r["group"], r["dpar"], r["nlpar"]) for r in ref["priors"]}
    assert ours["b", "", "", "", "a"] == "normal(0, 1.5)"
    assert ours["sigma", "", "", "", ""] == "student_t(3, 0, 2.5)"
    assert "a ~ 0 + id.f" in str(fit)
    # log-lik in closed form at a few draws: normal(con | b_a[id], sigma)
    ll = fit.log_likelihood()
    assert ll.shape == (2, 500, 219)
    draws = fit.draws()
    data = mlm()
    for d in (0, 77, 999):
        mu = np.array([draws[f"b_a_id.f{i}"].iloc[d] for i in data["id"]])
        want = stats.norm.logpdf(data["con"], mu, draws["sigma"].iloc[d])
        np.testing.assert_allclose(ll.reshape(-1, 219)[d], want, rtol=1e-10)
    epred = fit.posterior_epred()
    assert epred.shape == (1000, 219)
    np.testing.assert_allclose(epred[5], [draws[f"b_a_id.f{i}"].iloc[5] for i in data["id"]])
    new = pd.DataFrame({"id.f": pd.Categorical([6, 29], categories=data["id.f"].cat.categories)})
    np.testing.assert_allclose(fit.posterior_epred(newdata=new)[:, 0], draws["b_a_id.f6"])
    assert fit.posterior_predict(newdata=new, ndraws=10, seed=1).shape == (10, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no pooling: many rows with Pareto k > 0.7
        loo = fit.loo()
    lppd = np.sum(np.log(np.mean(np.exp(ll.reshape(-1, 219)), axis=0)))
    assert np.isfinite(loo.elpd_loo) and loo.elpd_loo < lppd and loo.estimates.shape[0] == 3
    assert "nlp_a" in fit.model_code()


def test_linear_fixture_is_the_nonlinear_one():
    """brms's two fits of the same model agree with each other (a check of the fixture itself)."""
    nl, lin = FITS["mlm_nopool_nl"]["params"], FITS["mlm_nopool_linear"]["params"]
    for name, want in lin.items():
        if name.startswith("b_id.f"):
            other = nl["b_a_" + name[2:]]
            assert abs(other["mean"] - want["mean"]) <= 4 * np.hypot(other["mcse_mean"], want["mcse_mean"])


@pytest.mark.slow
def test_nonlinear_agrees_with_brms():
    assert agree(fit_nl(), FITS["mlm_nopool_nl"]) <= 4


# ---- distributional: sigma ~ g -------------------------------------------------------------------
def test_sigma_by_group_names_priors_values():
    fit = fit_sigma(chains=2, draws=500)
    ref = FITS["sigma_by_group"]
    assert set(ref["params"]) <= set(fit.draws_by_chain())
    assert "sigma" not in fit.draws_by_chain() and fit.layout.family_params == ()
    assert not fit.layout.integrate_out_effects
    ours = prior_keys(fit)
    assert ours == {(r["class"], r["coef"], r["group"], r["dpar"], r["nlpar"]): r["prior"] or "(flat)"
                    for r in ref["priors"]}
    table = fit.summary().sections()[-1][1]
    assert list(table.index) == ["Intercept", "sigma_Intercept", "x", "sigma_gb", "sigma_gc"]
    assert "sigma = log" in str(fit)
    draws, data = fit.draws(), sigma_data()
    ll = fit.log_likelihood().reshape(-1, 240)
    for d in (0, 500):
        row = draws.iloc[d]
        mu = row["b_Intercept"] + row["b_x"] * data["x"]
        sigma = np.exp(row["b_sigma_Intercept"] + row["b_sigma_gb"] * (data["g"] == "b")
                       + row["b_sigma_gc"] * (data["g"] == "c"))
        np.testing.assert_allclose(ll[d], stats.norm.logpdf(data["y"], mu, sigma), rtol=1e-10)
    new = pd.DataFrame({"x": [0.0, 0.0, 0.0], "g": ["a", "b", "c"]})
    predicted = fit.posterior_predict(newdata=new, seed=2)
    sigma = np.exp(draws["b_sigma_Intercept"].to_numpy()[:, None]
                   + np.c_[np.zeros(1000), draws["b_sigma_gb"], draws["b_sigma_gc"]])
    want = np.sqrt(np.mean(sigma**2, axis=0) + draws["b_Intercept"].var())
    np.testing.assert_allclose(predicted.std(axis=0), want, rtol=0.15)
    assert fit.posterior_epred(newdata=new).shape == (1000, 3)
    with pytest.raises(MultilevelError, match="newdata lacks"):
        fit.posterior_predict(newdata=new[["x"]])


@pytest.mark.slow
def test_sigma_by_group_agrees_with_brms():
    assert agree(fit_sigma(), FITS["sigma_by_group"]) <= 4


def test_bf_sbc_refusals():
    with pytest.raises(MultilevelError, match="flat: .*b gb \\(sigma\\)"):
        ml.sbc(ml.bf("y ~ x", "sigma ~ g"), sigma_data(), nsim=2, priors=[ml.prior("normal(0, 1)")])
    with pytest.raises(MultilevelError, match="group-level terms in the extra formulas"):
        ml.sbc(ml.bf("y ~ x", "sigma ~ 1 + (1 | g)"), sigma_data(), nsim=2)


def _sbc_data():
    rng = np.random.default_rng(3)
    return pd.DataFrame({"x": rng.uniform(0, 2, 60), "g": np.repeat(["a", "b", "c"], 20), "y": 0.0})


@pytest.mark.slow
@pytest.mark.parametrize("formula, priors", [
    (ml.bf("y ~ x", "sigma ~ g"),
     [ml.prior("normal(0, 1)", class_="Intercept"), ml.prior("normal(0, 1)"),
      ml.prior("normal(0, 1)", class_="Intercept", dpar="sigma"), ml.prior("normal(0, 0.5)", dpar="sigma")]),
    (ml.bf("y ~ b0 * exp(b1 * x)", "b0 ~ 1", "b1 ~ 1", nl=True),
     [ml.prior("normal(1, 0.3)", nlpar="b0"), ml.prior("normal(-0.5, 0.3)", nlpar="b1"),
      ml.prior("exponential(5)", class_="sigma")]),
])
def test_simulation_based_calibration(formula, priors):
    # 50 simulations, ranks 0..99, chi-square over 10 bins at level 0.001 per variable (as test_brm_families)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = ml.sbc(formula, _sbc_data(), priors=priors, nsim=50, thin_to=99, warmup=400, draws=500, chains=2,
                        seed=20261130, scheduler="synchronous")
    assert result.failed == 0
    table = result.summary(bins=10)
    assert (table["p_value"] > 0.001).all(), table


@pytest.mark.slow
def test_nonlinear_group_level_terms_match_the_linear_model():
    """bf(con ~ 0 + a, a ~ 1 + (1 | id), nl = TRUE) is con ~ 1 + (1 | id): the same posterior (means
    within 4 combined MCSE), brms's names (sd_id__a_Intercept), and new levels refused in newdata."""
    data = mlm()
    priors = [ml.prior("normal(0, 1.5)", nlpar="a"), ml.prior("exponential(1)", class_="sd", nlpar="a")]
    fit = ml.brm(ml.bf("con ~ 0 + a", "a ~ 1 + (1 | id)", nl=True), data, priors=priors, seed=2, refresh=0)
    linear = ml.brm("con ~ 1 + (1 | id)", data, seed=2, refresh=0,
                    priors=[ml.prior("normal(0, 1.5)", class_="Intercept"), ml.prior("exponential(1)", class_="sd")])
    ours, theirs = fit.draws_by_chain(), linear.draws_by_chain()
    for a, b in (("b_a_Intercept", "b_Intercept"), ("sd_id__a_Intercept", "sd_id__Intercept"), ("sigma", "sigma")):
        x, y = np.asarray(ours[a]), np.asarray(theirs[b])
        mcse = np.hypot(arviz_stats.mcse(x, method="mean"), arviz_stats.mcse(y, method="mean"))
        assert abs(x.mean() - y.mean()) <= 4 * mcse, (a, x.mean(), y.mean())
    assert "sd(a_Intercept)" in str(fit) and f"~id (Number of levels: {data['id'].nunique()})" in str(fit)
    keys = prior_keys(fit)
    assert keys["sd", "Intercept", "id", "", "a"] == "exponential(1)"
    frame = fit.draws()  # brms's r_id__a[<level>,Intercept]: epred of a row is b_a_Intercept + r
    first = data.iloc[0]
    np.testing.assert_allclose(fit.posterior_epred()[:, 0],
                               frame["b_a_Intercept"] + frame[f"r_id__a[{first['id']},Intercept]"])
    assert "a_Intercept" in fit.ranef()["id"].columns.get_level_values(0)
    epred = fit.posterior_epred(newdata=data.head(5))
    np.testing.assert_allclose(epred.mean(0), linear.posterior_epred(newdata=data.head(5)).mean(0), atol=0.01)
    with pytest.raises(MultilevelError, match="levels of 'id' the fit did not see"):
        fit.posterior_epred(newdata=pd.DataFrame({"id": [99999]}))


@pytest.mark.slow  # a fit of its own (~5 s)
def test_nonlinear_expression_with_a_data_column():
    """mu = b0 * exp(b1 * x): epred on new data is the expression at each draw; the truth is recovered."""
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 2, 200)
    data = pd.DataFrame({"x": x, "y": 2 * np.exp(-0.7 * x) + rng.normal(0, 0.1, 200)})
    fit = ml.brm(ml.bf("y ~ b0 * exp(b1 * x)", "b0 ~ 1", "b1 ~ 1", nl=True), data, chains=2, draws=300, warmup=300,
                 refresh=0, seed=1, priors=[ml.prior("normal(1, 2)", nlpar="b0"), ml.prior("normal(0, 2)", nlpar="b1")])
    frame = fit.draws()
    new = pd.DataFrame({"x": [0.0, 1.5]})
    want = frame["b_b0_Intercept"].to_numpy()[:, None] * np.exp(
        frame["b_b1_Intercept"].to_numpy()[:, None] * new["x"].to_numpy())
    np.testing.assert_allclose(fit.posterior_epred(newdata=new), want, rtol=1e-10)
    assert abs(frame["b_b0_Intercept"].mean() - 2) < 0.1 and abs(frame["b_b1_Intercept"].mean() + 0.7) < 0.1
    with pytest.raises(MultilevelError, match="newdata lacks column.*x"):
        fit.posterior_epred(newdata=pd.DataFrame({"z": [1.0]}))

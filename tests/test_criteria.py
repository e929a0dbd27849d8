"""multilevel.bayes.criteria: PSIS-LOO, WAIC, loo_compare and rethinking's compare for any Bayesian fit.

Second implementations: the exact leave-one-out predictive density of a conjugate normal model
(analytic), WAIC and every table column written out in numpy from the pointwise log-likelihoods
(R's loo package formulas: SE = sqrt(n * var(pointwise)) with R's var, denominator n - 1).
brms's loo values are not in shared/reference/brms.json, so no brms numbers are pinned here.
"""
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import multilevel as ml
from multilevel.bayes import criteria
from multilevel.results.protocol import Fit

pytestmark = pytest.mark.filterwarnings("ignore:.*have Pareto k:UserWarning")


class Pointwise(Fit):
    """A Bayesian fit that is nothing but a pointwise log-likelihood array (the protocol's minimum)."""

    engine = "synthetic"
    bayesian = True

    def __init__(self, log_lik):
        self._log_lik = np.asarray(log_lik)

    def log_likelihood(self):
        return self._log_lik

    @property
    def nobs(self):
        return self._log_lik.shape[-1]


def normal_model(seed=0, n=30, sigma=1.0, mean=None):
    """y_i ~ N(mu, sigma) with a flat prior: exact posterior draws of mu (4 x 1000), the pointwise
    log-likelihood, and the exact leave-one-out log predictive density of each y_i."""
    rng = np.random.default_rng(seed)
    y = rng.normal(0.0, 1.0, n)
    y[0] = 3.0  # one influential point
    mu = rng.normal(y.mean(), sigma / np.sqrt(n), size=(4, 1000)) if mean is None else np.full((4, 1000), mean)
    log_lik = stats.norm.logpdf(y[None, None, :], mu[..., None], sigma)
    loo_mean = (y.sum() - y) / (n - 1)
    exact = stats.norm.logpdf(y, loo_mean, sigma * np.sqrt(1 + 1 / (n - 1)))
    return Pointwise(log_lik), exact


def r_se(values):
    return np.sqrt(len(values) * np.var(values, ddof=1))


def by_hand_waic(log_lik):
    flat = log_lik.reshape(-1, log_lik.shape[-1])
    lppd = np.log(np.mean(np.exp(flat), axis=0))
    p_waic = np.var(flat, axis=0, ddof=1)
    return lppd, p_waic, lppd - p_waic


# ---- content against second implementations ---------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_psis_loo_matches_the_exact_leave_one_out_density(seed):
    fit, exact = normal_model(seed)
    result = criteria.loo(fit)
    # 4000 exact posterior draws: PSIS error seen <= 0.013 (total) and 0.008 (pointwise) over seeds 0-4
    assert result.elpd_loo == pytest.approx(exact.sum(), abs=0.05)
    assert np.max(np.abs(result.loo_i - exact)) < 0.02
    assert np.all(result.pareto_k < result.good_k) and not result.warning


def test_loo_columns_follow_r_loo():
    fit, _ = normal_model(3)
    result = criteria.loo(fit)
    flat = fit.log_likelihood().reshape(4000, -1)
    lppd = np.log(np.mean(np.exp(flat), axis=0))
    assert result.looic == pytest.approx(-2 * result.elpd_loo, rel=1e-12)
    assert result.se_looic == pytest.approx(2 * result.se, rel=1e-12)
    assert result.se == pytest.approx(r_se(result.loo_i), rel=1e-12)
    assert result.p_loo == pytest.approx(lppd.sum() - result.elpd_loo, rel=1e-9)
    assert result.se_p_loo == pytest.approx(r_se(lppd - result.loo_i), rel=1e-9)
    assert list(result.pointwise.columns) == ["elpd_loo", "p_loo", "looic", "influence_pareto_k"]
    assert list(result.estimates.index) == ["elpd_loo", "p_loo", "looic"]
    assert list(result.estimates.columns) == ["Estimate", "SE"]
    text = str(result).splitlines()
    assert text[0] == "Computed from 4000 by 30 log-likelihood matrix."
    assert text[2].split() == ["Estimate", "SE"]
    assert text[3].split() == ["elpd_loo", f"{result.elpd_loo:.1f}", f"{result.se:.1f}"]
    assert text[5].split() == ["looic", f"{result.looic:.1f}", f"{result.se_looic:.1f}"]
    assert "All Pareto k estimates are good (k < 0.7)." in text


def test_pareto_k_table_when_some_are_bad():
    rng = np.random.default_rng(4)
    log_lik = rng.normal(-1.0, 0.3, size=(2, 500, 20))
    log_lik[..., 3] -= 10 * rng.standard_exponential(size=(2, 500))  # heavy-tailed importance ratios
    with pytest.warns(UserWarning, match=r"1 of 20 observations of the fit have Pareto k > 0\.6"):
        result = criteria.loo(Pointwise(log_lik))
    text = str(result)
    assert "Pareto k diagnostic values:" in text and "(very bad)" in text
    assert result.pareto_k[3] > 0.7 and np.sum(result.pareto_k > result.good_k) == 1


def test_waic_by_hand():
    fit, _ = normal_model(5)
    lppd, p_waic, elpd = by_hand_waic(fit.log_likelihood())
    result = criteria.waic(fit)
    assert result.elpd_waic == pytest.approx(elpd.sum(), rel=1e-12)
    assert result.se == pytest.approx(r_se(elpd), rel=1e-12)
    assert result.p_waic == pytest.approx(p_waic.sum(), rel=1e-12)
    assert result.se_p_waic == pytest.approx(r_se(p_waic), rel=1e-12)
    assert result.waic == pytest.approx(-2 * elpd.sum(), rel=1e-12) and result.se_waic == pytest.approx(2 * result.se)
    assert str(result).splitlines()[3].split()[0] == "elpd_waic"
    # rethinking's deviance scale
    table, points = ml.waic(fit, pointwise=True)
    assert list(table.index) == ["WAIC", "lppd", "penalty", "std_err"]
    assert np.allclose(points, -2 * elpd, rtol=1e-12)
    assert table["WAIC"] == pytest.approx(-2 * elpd.sum(), rel=1e-12)
    assert table["lppd"] == pytest.approx(lppd.sum(), rel=1e-12)
    assert table["penalty"] == pytest.approx(p_waic.sum(), rel=1e-12)
    assert table["std_err"] == pytest.approx(r_se(-2 * elpd), rel=1e-12)


def test_rethinking_psis_is_loo_on_the_deviance_scale():
    fit, _ = normal_model(6)
    result = criteria.loo(fit)
    table, points, pareto_k = ml.psis(fit, pointwise=True)
    assert np.allclose(points, -2 * result.loo_i) and np.allclose(pareto_k, result.pareto_k)
    assert table["PSIS"] == pytest.approx(-2 * result.elpd_loo)
    assert table["penalty"] == pytest.approx(result.p_loo)
    assert table["std_err"] == pytest.approx(2 * result.se)


def synthetic_models():
    """Three fits of the same 30 observations: the right model, sigma too large, the mean fixed at 0.5."""
    right, _ = normal_model(7)
    wide, _ = normal_model(7, sigma=2.0)
    fixed, _ = normal_model(7, mean=0.5)
    return {"wide": wide, "right": right, "fixed": fixed}


def test_loo_compare_by_hand():
    fits = synthetic_models()
    table = ml.loo_compare(*fits.values(), names=list(fits))
    assert list(table.columns) == ["elpd_diff", "se_diff", "elpd_loo", "se_elpd_loo", "p_loo", "se_p_loo",
                                   "looic", "se_looic"]
    loos = {name: criteria.loo(fit) for name, fit in fits.items()}
    order = sorted(loos, key=lambda name: -loos[name].elpd_loo)
    assert list(table.index) == order and order[0] == "right"
    best = loos[order[0]].loo_i
    for name in order:
        diff = loos[name].loo_i - best
        row = table.loc[name]
        assert row["elpd_diff"] == pytest.approx(diff.sum(), abs=1e-10)
        assert row["se_diff"] == pytest.approx(r_se(diff) if name != order[0] else 0.0, abs=1e-10)
        assert row["elpd_loo"] == pytest.approx(loos[name].elpd_loo)
        assert row["se_elpd_loo"] == pytest.approx(r_se(loos[name].loo_i))
        assert row["looic"] == pytest.approx(-2 * row["elpd_loo"]) and row["se_looic"] == pytest.approx(2 * row["se_elpd_loo"])
        assert row["p_loo"] == pytest.approx(loos[name].p_loo) and row["se_p_loo"] == pytest.approx(loos[name].se_p_loo)
    assert table.iloc[0]["elpd_diff"] == 0 and table.iloc[0]["se_diff"] == 0
    lines = str(table).splitlines()  # R's print(loo_compare(...), simplify = FALSE): one decimal
    assert lines[0].split() == list(table.columns)
    assert lines[1].split()[:3] == ["right", "0.0", "0.0"]
    assert ml.loo_compare(fits["right"]).index.tolist() == ["model1"]


def test_rethinking_compare_by_hand():
    fits = synthetic_models()
    for func in ["WAIC", "PSIS"]:
        table = ml.compare(*fits.values(), names=list(fits), func=func)
        assert list(table.columns) == [func, "SE", f"d{func}", "dSE", f"p{func}", "weight"]
        points = {n: (ml.waic if func == "WAIC" else ml.psis)(f, pointwise=True)[1] for n, f in fits.items()}
        values = pd.Series({n: p.sum() for n, p in points.items()}).sort_values()
        assert list(table.index) == list(values.index) and table.index[0] == "right"
        best = points[values.index[0]]
        for name in values.index[1:]:
            assert table.loc[name, "dSE"] == pytest.approx(r_se(points[name] - best), rel=1e-10)
            assert table.loc[name, f"d{func}"] == pytest.approx(values[name] - values.iloc[0], rel=1e-10)
        weights = np.exp(-0.5 * (values - values.min()))
        assert np.allclose(table["weight"], weights / weights.sum())
        assert np.isnan(table["dSE"].iloc[0])


# ---- errors ------------------------------------------------------------------------------------
def test_different_observations_are_named():
    a, _ = normal_model(0, n=30)
    b, _ = normal_model(0, n=20)
    pattern = r"'model1' \(synthetic fit\) has 30, 'model2' \(synthetic fit\) has 20"
    with pytest.raises(ml.MultilevelError, match=pattern):
        ml.loo_compare(a, b)
    with pytest.raises(ml.MultilevelError, match=r"'big' \(synthetic fit\) has 30, 'small' \(synthetic fit\) has 20"):
        ml.compare(big=a, small=b)


def test_maximum_likelihood_fits_are_refused():
    lmer_fit = ml.lmer("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
    a, _ = normal_model(0)
    with pytest.raises(ml.MultilevelError, match="loo_compare needs pointwise log-likelihood draws; 'model2' is an "
                                                 "lmer fit, which has none - use ml.anova for likelihood-ratio tests"):
        ml.loo_compare(a, lmer_fit)
    with pytest.raises(ml.MultilevelError, match="compare needs pointwise log-likelihood draws; 'm1' is an lmer fit"):
        ml.compare(lmer_fit, a)
    with pytest.raises(ml.MultilevelError, match="'model1' is a DataFrame, not a fit - fit the model with ml.brm or ml.ulam"):
        ml.loo_compare(pd.DataFrame({"x": [1.0]}))
    with pytest.raises(ml.MultilevelError, match="func must be 'WAIC' or 'PSIS'"):
        ml.compare(a, func="DIC")


@pytest.mark.slow  # its own ulam fit (~8 s)
def test_ulam_without_log_lik_is_refused(ulam_fit):
    fit = ml.ulam("""
        surv ~ dbinom(density, p)
        logit(p) <- a
        a ~ dnorm(0, 1.5)""", frogs(), chains=1, draws=100, warmup=100, seed=3, log_lik=False)
    with pytest.raises(ml.MultilevelError, match=r"loo_compare needs pointwise log-likelihood draws, and 'model2' "
                                                 r"\(.*\) has none: .*log_lik=False"):
        ml.loo_compare(ulam_fit, fit)


# ---- real fits: brm and ulam on the same 48 tanks -------------------------------------------------
def frogs():
    data = ml.datasets.load("reedfrogs")
    data["tank"] = np.arange(1, len(data) + 1)
    return data


@pytest.fixture(scope="module")
def brm_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.brm("surv | trials(density) ~ 1 + (1 | tank)", frogs(), family="binomial", seed=2,
                      priors=[ml.prior("normal(0, 1.5)", class_="Intercept"), ml.prior("exponential(1)", class_="sd")],
                      chains=2, draws=400, warmup=400)


@pytest.fixture(scope="module")
def ulam_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.ulam("""
            surv ~ dbinom(density, p)
            logit(p) <- a[tank]
            a[tank] ~ dnorm(a_bar, sigma)
            a_bar ~ dnorm(0, 1.5)
            sigma ~ dexp(1)""", frogs(), chains=2, draws=400, warmup=400, seed=2)


def test_brm_and_ulam_compare_on_the_same_rows(brm_fit, ulam_fit):
    table = ml.loo_compare(ulam_fit, brm_fit, names=["ulam", "brm"])
    assert sorted(table.index) == ["brm", "ulam"] and table["elpd_diff"].iloc[0] == 0
    # the same model and priors in two engines: the same binomial log-likelihood, log choose(n, k)
    # term included (lppd per tank seen within 0.05; a missing term would shift it by up to ~20), and
    # elpd_loo within Monte Carlo error: most Pareto k are > 0.7 here, so PSIS is noisy (seen
    # elpd_diff -1.4, se_diff 2.0; dPSIS 2.8, dSE 4.1 with these seeds)
    lppd = {name: criteria._lppd_i(f.log_likelihood()) for name, f in [("brm", brm_fit), ("ulam", ulam_fit)]}
    assert np.max(np.abs(lppd["brm"] - lppd["ulam"])) < 0.15
    assert abs(table["elpd_diff"].iloc[1]) < 3 * table["se_diff"].iloc[1]
    assert abs(table.loc["brm", "p_loo"] - table.loc["ulam", "p_loo"]) < 4.0
    rethinking = ml.compare(brm_fit, ulam_fit, names=["brm", "ulam"], func="PSIS")
    assert sorted(rethinking.index) == ["brm", "ulam"]
    assert rethinking["dPSIS"].iloc[1] < 3 * rethinking["dSE"].iloc[1]
    assert rethinking.loc["brm", "PSIS"] == pytest.approx(table.loc["brm", "looic"])
    assert ml.compare(brm_fit, ulam_fit, func="WAIC")["weight"].sum() == pytest.approx(1.0)


def test_brm_methods_delegate_to_criteria(brm_fit):
    assert brm_fit.loo().elpd_loo == criteria.loo(brm_fit).elpd_loo
    assert brm_fit.waic().elpd_waic == criteria.waic(brm_fit).elpd_waic
    assert brm_fit.loo().nobs == 48 and brm_fit.loo().n_draws == 800


def test_to_arviz_datatree(brm_fit):
    import xarray as xr

    tree = brm_fit.to_arviz()
    assert isinstance(tree, xr.DataTree)
    assert {"posterior", "log_likelihood", "observed_data", "sample_stats"} <= set(tree.children)
    posterior = tree["posterior"]
    assert posterior["b_Intercept"].dims == ("chain", "draw") and posterior.sizes["chain"] == 2
    assert posterior["r_tank"].dims == ("chain", "draw", "tank", "tank_term")
    assert list(posterior["tank_term"].values) == ["Intercept"] and posterior.sizes["tank"] == 48
    assert np.allclose(tree["log_likelihood"]["y"].values, brm_fit.log_likelihood())
    assert np.array_equal(tree["observed_data"]["y"].values, frogs()["surv"].to_numpy())
    assert np.array_equal(tree["constant_data"]["trials"].values, frogs()["density"].to_numpy())
    sample_stats = tree["sample_stats"]
    assert {"lp", "acceptance_rate", "step_size", "tree_depth", "n_steps", "diverging", "energy"} <= set(sample_stats.data_vars)
    assert sample_stats["diverging"].dtype == bool
    assert np.all((sample_stats["acceptance_rate"] >= 0) & (sample_stats["acceptance_rate"] <= 1))


# slow: a fresh Python process imports JAX, NumPyro and ArviZ and fits (~13 s on 2 cores); the
# in-process criteria tests above cover the same code
@pytest.mark.slow
def test_no_arviz_warnings_in_a_fresh_process():
    # ArviZ 0.x printed a FutureWarning on the first Bayesian fit; ArviZ 1.x (arviz-base/stats) must not
    code = ("import multilevel as ml\n"
            "fit = ml.brm('Reaction ~ Days + (1|Subject)', ml.datasets.load('sleepstudy'), chains=2, draws=200,"
            " warmup=200, seed=1)\n"
            "print(fit.loo().elpd_loo, type(fit.to_arviz()).__name__)\n")
    done = subprocess.run([sys.executable, "-W", "error::FutureWarning", "-W", "error::DeprecationWarning", "-c", code],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-1] == "DataTree"


def test_rhat_and_ess_unchanged_from_arviz_0x():
    # summarize_draws' R-hat, bulk and tail ESS (rank-normalized, Vehtari et al. 2021) on a fixed
    # array, pinned to ArviZ 0.23.4's az.rhat / az.ess(method="bulk"/"tail") before the move to
    # arviz-stats 0.8 (both gave these numbers to the last digit)
    from multilevel.bayes.posterior import summarize_draws

    rng = np.random.default_rng(20261130)
    x = np.zeros((4, 500))
    for c in range(4):
        e = rng.normal(size=500)
        for t in range(1, 500):
            x[c, t] = 0.7 * x[c, t - 1] + e[t]
        x[c] += 0.1 * c
    rhat, bulk, tail = summarize_draws(x)[4:]
    assert rhat == pytest.approx(1.0189590424545976, rel=1e-10)
    assert bulk == pytest.approx(349.4787337688513, rel=1e-10)
    assert tail == pytest.approx(616.0447581621729, rel=1e-10)

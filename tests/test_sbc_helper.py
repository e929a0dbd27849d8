"""ml.sbc: simulation-based calibration of brm (Talts et al. 2018) as a map over seeds.

Fast tier (~15 s with JAX's compilations): a gaussian varying-intercepts model, 8 groups x 4 rows,
nsim=3 with few draws, run on Dask's synchronous and threaded schedulers (identical ranks), the
summary's statistics against scipy.stats, prior draws truncated at zero against scipy's truncnorm,
failed fits counted, and every error before any fit. Slow tier (``pytest -m slow``): nsim=60 and a
chi-square test of uniform ranks.
"""
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import multilevel as ml
from multilevel.errors import ArgumentError, DataError
from multilevel.results.sbc import SBCResult, max_ecdf_difference

N_GROUPS, PER_GROUP = 8, 4
PRIORS = [ml.prior("normal(0, 1)", class_="Intercept"), ml.prior("exponential(1)", class_="sd"),
          ml.prior("exponential(1)", class_="sigma")]
FAST = {"nsim": 3, "thin_to": 9, "warmup": 100, "draws": 90, "seed": 3}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(12)
    return pd.DataFrame({"y": rng.normal(size=N_GROUPS * PER_GROUP), "x": rng.normal(size=N_GROUPS * PER_GROUP),
                         "g": np.repeat([f"g{i}" for i in range(N_GROUPS)], PER_GROUP)})


@pytest.fixture(scope="module")
def runs(data):
    return {scheduler: ml.sbc("y ~ 1 + (1 | g)", data, priors=PRIORS, scheduler=scheduler,
                              variables=["b_Intercept", "sd_g__Intercept", "sigma", "r_g[g0,Intercept]"], **FAST)
            for scheduler in ("synchronous", "threads")}


@pytest.mark.slow  # shares a 17 s set-up of SBC runs
def test_same_ranks_on_every_scheduler(runs):
    one, threads = runs["synchronous"], runs["threads"]
    pd.testing.assert_frame_equal(one.ranks, threads.ranks)
    pd.testing.assert_frame_equal(one.truth, threads.truth)
    assert one.entropy == threads.entropy == 3 and one.seed == 3


@pytest.mark.slow  # the same SBC runs
def test_ranks_truth_and_counts(runs):
    result = runs["synchronous"]
    assert list(result.ranks.columns) == ["b_Intercept", "sd_g__Intercept", "sigma", "r_g[g0,Intercept]"]
    assert result.ranks.shape == (3, 4) and list(result.ranks.index) == [1, 2, 3]
    values = result.ranks.to_numpy()
    assert np.all((values >= 0) & (values <= 9) & (values == np.round(values)))
    assert (result.truth[["sd_g__Intercept", "sigma"]] > 0).all().all()
    assert result.failed == 0 and list(result.status) == ["ok"] * 3
    assert result.divergent == int(np.sum(result.divergences > 0))
    text = str(result)
    assert "3 simulations, ranks 0..9" in text and "0 failed fits" in text and "p_value" in text
    assert "r_g[g0,Intercept]" in result._repr_html_()


def test_default_variables_are_population_and_hyper_parameters(data):
    from multilevel.bayes.sbc import Simulator

    names = Simulator.of("y ~ x + (1 | g)", data, "gaussian", PRIORS + [ml.prior("normal(0, 1)")]).variable_names()
    assert [n for n in names if not n.startswith("r_")] == ["b_Intercept", "b_x", "sd_g__Intercept", "sigma"]
    assert names[4:] == [f"r_g[g{i},Intercept]" for i in range(N_GROUPS)]


# slow: compiles a second (binomial, correlated) model (~5-11 s); the gaussian replicates above run in CI
@pytest.mark.slow
def test_binomial_counts_keep_the_trials_and_correlations_are_drawn():
    from multilevel.bayes.sbc import Simulator

    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"y": rng.integers(0, 4, 40), "n": np.tile([3, 5], 20), "x": rng.normal(size=40),
                          "g": np.repeat(np.arange(10), 4)})
    priors = [ml.prior("normal(0, 1)", class_="Intercept"), ml.prior("normal(0, 1)", class_="b"),
              ml.prior("student_t(3, 0, 1)", class_="sd"), ml.prior("lkj(2)", class_="cor")]
    simulator = Simulator.of("y | trials(n) ~ x + (1 + x | g)", frame, "binomial", priors)
    truth, y = simulator.draw(np.random.default_rng(5))
    assert np.all((y >= 0) & (y <= frame["n"].to_numpy())) and np.all(y == np.round(y))
    assert -1 < truth["cor_g__Intercept__x"] < 1 and truth["sd_g__x"] > 0
    again, y_again = simulator.draw(np.random.default_rng(5))
    assert again == truth and np.array_equal(y, y_again)


def test_summary_against_scipy():
    # ranks 0..9 (thin_to=9), 20 replicates: counts over 2 bins of 5 rank values each
    ranks = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9] * 2, dtype=float)
    skewed = np.array([0] * 10 + [9] * 10, dtype=float)
    result = SBCResult(pd.DataFrame({"even": ranks, "ends": skewed, "low": np.r_[ranks[:10], [0] * 10]}),
                       pd.DataFrame({"even": ranks, "ends": skewed, "low": ranks}), 9, np.array(["ok"] * 20),
                       np.zeros(20, int), entropy=1)
    table = result.summary(bins=2)
    assert table.loc["even", "chisq"] == 0 and table.loc["even", "p_value"] == 1
    assert table.loc["even", "max_ecdf_diff"] == 0
    expected = stats.chisquare([15, 5], [10, 10])  # "low": 15 ranks in 0..4, 5 in 5..9
    assert table.loc["low", "chisq"] == pytest.approx(expected.statistic, rel=1e-12)
    assert table.loc["low", "p_value"] == pytest.approx(expected.pvalue, rel=1e-12)
    assert table.loc["ends", "max_ecdf_diff"] == pytest.approx(0.4)  # half the ranks at 0: 0.5 - 1/10
    # unequal bins: 3 bins over 10 rank values have 4, 3, 3 of them
    uneven = result.summary(bins=3).loc["ends"]
    assert uneven["chisq"] == pytest.approx(stats.chisquare([10, 0, 10], [8, 6, 6]).statistic)
    assert max_ecdf_difference(np.array([5.0]), 9) == pytest.approx(0.5)


def test_html_escapes_names_and_plot_returns_a_figure():
    import matplotlib
    import matplotlib.pyplot as plt

    name = "r_g[<b>,Intercept]"
    result = SBCResult(pd.DataFrame({name: [1.0, 2.0, np.nan]}), pd.DataFrame({name: [0.1, 0.2, 0.3]}), 4,
                       np.array(["ok", "ok", "failed"]), np.array([0, 2, 0]), entropy=5,
                       messages=["ArithmeticError: <boom>"])
    page = result._repr_html_()
    assert "&lt;b&gt;" in page and "<b>" not in page and "&lt;boom&gt;" in page
    assert result.failed == 1 and result.divergent == 1 and "1 failed fits, 1 fits with divergent" in str(result)
    figure = result.plot()
    assert isinstance(figure, matplotlib.figure.Figure) and figure.axes[0].get_title() == name
    plt.close(figure)
    with pytest.raises(ArgumentError, match="sigma"):
        result.plot("sigma")


def test_positive_priors_are_truncated_at_zero():
    # normal(1, 1) on sigma is brm's density truncated at zero: compare with scipy's truncnorm
    import jax

    from multilevel.bayes.sbc import _positive_draw

    key = jax.random.PRNGKey(0)
    prior = ml.prior("normal(1, 1)", class_="sigma")
    draws = np.array([_positive_draw(prior, jax.random.fold_in(key, i)) for i in range(400)])
    assert draws.min() > 0
    assert stats.kstest(draws, stats.truncnorm(-1, np.inf, loc=1, scale=1).cdf).pvalue > 0.001


def test_failed_fits_are_counted_not_dropped(data, monkeypatch):
    from multilevel.bayes import fit as brm_engine

    def failing(*args, **kwargs):
        raise ArithmeticError("no fit today")

    monkeypatch.setattr(brm_engine, "brm", failing)
    result = ml.sbc("y ~ 1 + (1 | g)", data, priors=PRIORS, nsim=2, thin_to=9, draws=90, warmup=10, seed=1,
                    scheduler="synchronous")
    assert result.failed == 2 and result.ranks.isna().all().all() and result.truth.notna().all().all()
    assert result.messages == ["ArithmeticError: no fit today"] and "2 failed fits" in str(result)
    assert result.summary()["n"].tolist() == [0, 0, 0]


@pytest.mark.parametrize("kwargs, error, match", [
    ({"nsim": 0}, ArgumentError, "nsim"),
    ({"variables": ["sd_g_Intercept"]}, ArgumentError, "did you mean 'sd_g__Intercept'"),
    ({"variables": []}, ArgumentError, "non-empty"),
    ({"thin_to": 99, "draws": 50}, ArgumentError, "thin_to=99"),
    ({"formula": "y ~ x + (1 | g)"}, ml.PriorError, "flat: b x"),
    ({"formula": "log(y) ~ 1 + (1 | g)"}, DataError, "column of data"),
    ({"scheduler": "fast"}, ArgumentError, "scheduler"),
])
def test_errors_are_our_own(data, kwargs, error, match):
    args = {"formula": "y ~ 1 + (1 | g)", "nsim": 2, "draws": 90, "warmup": 10, "thin_to": 9, **kwargs}
    formula = args.pop("formula")
    with pytest.raises(error, match=match):
        ml.sbc(formula, data.assign(y=data["y"].abs() + 1), priors=PRIORS, **args)


@pytest.mark.slow
def test_gaussian_ranks_are_uniform(data):
    # 60 simulations, ranks 0..99: a chi-square test over 10 bins at level 0.001 per variable
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = ml.sbc("y ~ 1 + (1 | g)", data, priors=PRIORS, nsim=60, thin_to=99, warmup=500, draws=990,
                        variables=["b_Intercept", "sd_g__Intercept", "sigma", "r_g[g0,Intercept]"], seed=20261130,
                        scheduler="synchronous", target_accept=0.95)
    assert result.failed == 0
    table = result.summary(bins=10)
    assert (table["p_value"] > 0.001).all(), table

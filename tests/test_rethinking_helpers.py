"""rethinking's helpers: PI and HPDI against numpy and a brute-force window, rlkjcorr against the LKJ
marginal (scipy.stats), rmvnorm's covariance, precis on draws, brm fits and lmer fits."""
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import multilevel as ml
from multilevel.errors import ArgumentError
from multilevel.results.protocol import MissingCapability


# ---- PI and HPDI ---------------------------------------------------------------------------------
def test_pi_is_numpys_quantile_with_rethinkings_labels():
    draws = np.random.default_rng(1).gamma(2.0, size=(3000, 4))
    # R: quantile(x, c(0.055, 0.945)) is type 7, numpy's default "linear"
    assert np.allclose(ml.PI(draws), np.quantile(draws, [0.055, 0.945], axis=0))
    one = ml.PI(draws[:, 0])
    assert list(one.index) == ["5%", "94%"]  # rethinking's labels: round(5.5) and round(94.5) in R are 5 and 94
    assert one.to_numpy() == pytest.approx(np.quantile(draws[:, 0], [0.055, 0.945]))
    assert list(ml.PI(draws[:, 0], prob=0.5).index) == ["25%", "75%"]
    assert one[0] == one["5%"] and one[1] == one["94%"]  # positions too, as R's x[1], x[2]
    frame = ml.PI(pd.DataFrame(draws, columns=list("abcd")))
    assert list(frame.columns) == list("abcd") and list(frame.index) == ["5%", "94%"]
    lower, upper = ml.PI(draws)
    assert lower.shape == (4,) and np.all(lower < upper)


def _narrowest(values, prob):
    """Every window of round(n * prob) + 1 sorted draws, the narrowest first (coda::HPDinterval)."""
    ordered = np.sort(values)
    gap = max(1, min(len(values) - 1, round(len(values) * prob)))
    widths = [ordered[i + gap] - ordered[i] for i in range(len(values) - gap)]
    best = int(np.argmin(widths))
    return ordered[best], ordered[best + gap]


@pytest.mark.parametrize("prob", [0.5, 0.89, 0.95])
def test_hpdi_is_the_narrowest_window(prob):
    rng = np.random.default_rng(2)
    draws = np.column_stack([rng.exponential(size=1001), rng.normal(size=1001), rng.beta(0.5, 3, size=1001)])
    interval = ml.HPDI(draws, prob=prob)
    for j in range(draws.shape[1]):
        assert tuple(interval[:, j]) == _narrowest(draws[:, j], prob)
    labelled = ml.HPDI(draws[:, 0], prob=prob)
    assert list(labelled.index) == [f"|{prob:g}", f"{prob:g}|"]
    # a skewed posterior: the HPDI starts at the mode (0), the percentile interval does not
    assert labelled.iloc[0] < ml.PI(draws[:, 0], prob=prob).iloc[0]


@pytest.mark.parametrize("function", [ml.PI, ml.HPDI])
def test_interval_input_errors(function):
    with pytest.raises(ArgumentError, match="prob must be a number strictly between 0 and 1"):
        function(np.arange(10.0), prob=1.5)
    with pytest.raises(ArgumentError, match="at least 2 draws"):
        function(np.array([1.0]))
    with pytest.raises(ArgumentError, match="finite draws"):
        function(np.array([1.0, np.nan, 2.0]))


# ---- random draws --------------------------------------------------------------------------------
@pytest.mark.parametrize("K, eta", [(2, 1.0), (4, 2.0), (5, 0.7)])
def test_rlkjcorr_off_diagonals_follow_the_lkj_marginal(K, eta):
    # LKJ(eta) in K dimensions: (r + 1) / 2 ~ Beta(eta - 1 + K/2, eta - 1 + K/2) for every r_ij
    # (Lewandowski, Kurowicka and Joe 2009); nine KS tests at a fixed seed, 4000 draws each, at the 0.1%
    # level (checked at 200,000 draws too: every pair, p > 0.02)
    R = ml.rlkjcorr(4000, K, eta=eta, seed=11)
    assert R.shape == (4000, K, K)
    assert np.allclose(R, np.swapaxes(R, 1, 2)) and np.all(R[:, np.arange(K), np.arange(K)] == 1)
    assert np.all(np.linalg.eigvalsh(R) > -1e-12)
    a = eta - 1 + K / 2
    for i, j in [(0, 1), (K - 2, K - 1), (0, K - 1)]:
        result = stats.kstest((R[:, i, j] + 1) / 2, stats.beta(a, a).cdf)
        assert result.pvalue > 0.001, (i, j, result)


def test_rlkjcorr_arguments():
    with pytest.raises(ArgumentError, match="K must be at least 2"):
        ml.rlkjcorr(10, 1)
    with pytest.raises(ArgumentError, match="eta must be a positive number"):
        ml.rlkjcorr(10, 3, eta=0)
    assert np.array_equal(ml.rlkjcorr(3, 3, seed=5), ml.rlkjcorr(3, 3, seed=5))


def test_rmvnorm_mean_and_covariance_within_monte_carlo_error():
    mean = np.array([1.0, -2.0, 0.5])
    sd = np.array([1.0, 2.0, 0.5])
    corr = np.array([[1, 0.6, -0.3], [0.6, 1, 0.2], [-0.3, 0.2, 1]])
    sigma = corr * np.outer(sd, sd)
    n = 20000
    draws = ml.rmvnorm(n, mean, sigma, seed=3)
    assert draws.shape == (n, 3)
    # sd of the sample mean: sd / sqrt(n); of a sample covariance: sqrt((s_ii s_jj + s_ij^2) / n)
    assert np.all(np.abs(draws.mean(axis=0) - mean) < 4 * sd / np.sqrt(n))
    se = np.sqrt((np.outer(np.diag(sigma), np.diag(sigma)) + sigma**2) / n)
    assert np.all(np.abs(np.cov(draws.T) - sigma) < 4 * se)
    singular = ml.rmvnorm(100, [0, 0], [[1, 1], [1, 1]], seed=1)  # positive semi-definite is allowed
    assert np.allclose(singular[:, 0], singular[:, 1])
    with pytest.raises(ArgumentError, match="positive semi-definite"):
        ml.rmvnorm(10, [0, 0], [[1, 2], [2, 1]])
    with pytest.raises(ArgumentError, match="symmetric"):
        ml.rmvnorm(10, [0, 0], [[1, 0.5], [0.2, 1]])
    with pytest.raises(ArgumentError, match="k x k sigma"):
        ml.rmvnorm(10, [0, 0, 0], np.eye(2))


# ---- precis --------------------------------------------------------------------------------------
def test_precis_of_a_dict_of_draws():
    rng = np.random.default_rng(4)
    draws = {"a_bar": rng.normal(1, 0.1, 2000), "a": rng.normal(0, 1, (2000, 3)), "Rho": rng.normal(0, 1, (2000, 2, 2))}
    table = ml.precis(draws)
    assert list(table.index) == ["a_bar"] and list(table.columns) == ["mean", "sd", "5.5%", "94.5%"]
    assert table.loc["a_bar", "5.5%"] == pytest.approx(np.quantile(draws["a_bar"], 0.055))
    assert list(ml.precis(draws, depth=2).index) == ["a_bar", "a[1]", "a[2]", "a[3]"]
    assert "Rho[2,1]" in ml.precis(draws, depth=3).index
    # pars matches names exactly: "a_bar" is not "a", and a name shows a vector whatever the depth
    assert list(ml.precis(draws, pars="a_bar").index) == ["a_bar"]
    assert list(ml.precis(draws, pars="a").index) == ["a[1]", "a[2]", "a[3]"]
    assert list(ml.precis(draws, pars=["a[2]", "a_bar"]).index) == ["a_bar", "a[2]"]
    assert list(ml.precis(draws, pars=r"^a\[[12]\]$", regex=True).index) == ["a[1]", "a[2]"]
    assert list(ml.precis(draws, pars="^Rho", regex=True).index) == ["Rho[1,1]", "Rho[1,2]", "Rho[2,1]", "Rho[2,2]"]
    with pytest.raises(ArgumentError, match="no parameters match pars='b'"):
        ml.precis(draws, pars="b")
    # prob relabels the interval; digits only changes printing
    wide = ml.precis(draws, prob=0.95, digits=4)
    assert list(wide.columns[2:4]) == ["2.5%", "97.5%"]
    assert f"{wide.loc['a_bar', 'mean']:.4f}" in str(wide) and f"{wide.loc['a_bar', 'mean']:.5f}" not in str(wide)
    assert f"{table.loc['a_bar', 'mean']:.2f}" in str(table)
    assert list(ml.precis(draws, prob=0.9).columns[2:4]) == ["5%", "95%"]


def test_precis_of_an_lmer_fit_points_to_summary(sleep_fit):
    with pytest.raises(MissingCapability, match=r"ml.precis summarizes posterior draws.*fit.summary\(\)"):
        ml.precis(sleep_fit)
    with pytest.raises(MissingCapability, match="ml.extract_samples"):
        ml.extract_samples(sleep_fit)
    with pytest.raises(MissingCapability, match="ml.link evaluates the definitions of an ml.ulam model"):
        ml.link(sleep_fit)


@pytest.fixture(scope="module")
def brm_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.brm("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"), chains=2, iter=600,
                      seed=1, refresh=0)


def test_precis_of_a_brm_fit_uses_brms_names(brm_fit):
    table = ml.precis(brm_fit)
    assert list(table.index) == ["b_Intercept", "b_Days", "sd_Subject__Intercept", "sigma"]
    assert list(table.columns) == ["mean", "sd", "5.5%", "94.5%", "n_eff", "Rhat"]
    reference = brm_fit.parameter_summary()  # the same draws summarized the brms way
    assert table["mean"].to_numpy() == pytest.approx(reference["Estimate"].to_numpy())
    assert table["sd"].to_numpy() == pytest.approx(reference["Est.Error"].to_numpy())
    assert table["n_eff"].to_numpy() == pytest.approx(reference["Bulk_ESS"].to_numpy())
    assert list(ml.precis(brm_fit, pars="^b_", regex=True).index) == ["b_Intercept", "b_Days"]
    samples = ml.extract_samples(brm_fit)
    assert samples["b_Days"].shape == (600,)  # 2 chains x (600 - 300)


def test_brm_takes_rs_sampler_arguments(brm_fit):
    settings = brm_fit.run.settings
    assert (settings["iter"], settings["warmup"], settings["draws"], settings["chains"]) == (600, 300, 300, 2)
    stats_ = brm_fit.sampler_stats()
    assert set(stats_) == {"lp__", "accept_stat__", "stepsize__", "treedepth__", "n_leapfrog__", "divergent__",
                           "energy__"}
    assert all(v.shape == (2, 300) for v in stats_.values())


def test_brm_reads_control_thin_and_conflicts_before_sampling(monkeypatch):
    import multilevel.bayes.fit as brm_module

    seen = {}

    def capture(design, layout, likelihood, settings, **kwargs):
        seen["settings"] = settings
        raise RuntimeError("stop before sampling")

    monkeypatch.setattr(brm_module, "_sample", capture)
    sleep = ml.datasets.load("sleepstudy")
    with pytest.raises(RuntimeError, match="stop before sampling"):
        ml.brm("Reaction ~ Days + (1|Subject)", sleep, iter=4000, thin=2, cores=2,
               control={"adapt_delta": 0.95, "max_treedepth": 12})
    s = seen["settings"]
    assert (s.iter, s.warmup, s.thin, s.draws, s.adapt_delta, s.max_treedepth, s.cores) == (4000, 2000, 2, 1000, 0.95,
                                                                                          12, 2)
    with pytest.raises(ArgumentError, match=r"target_accept=0.9 and control\['adapt_delta'\]=0.8"):
        ml.brm("Reaction ~ Days + (1|Subject)", sleep, target_accept=0.9, control={"adapt_delta": 0.8})
    with pytest.raises(ArgumentError, match="unknown key 'adapt_delt'"):
        ml.brm("Reaction ~ Days + (1|Subject)", sleep, control={"adapt_delt": 0.8})

"""Many fits on Dask: fit.bootstrap (lme4's bootMer), ml.power (simr), the executor layer."""
from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from scipy import stats

import multilevel as ml
from multilevel.errors import ArgumentError, MultilevelError
from multilevel.ml.power import clopper_pearson
from multilevel.results.bootstrap import FAILED, boot_interval, norm_inter

_FITS: dict = {}


def sleep_fit():
    if "sleep" not in _FITS:
        _FITS["sleep"] = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    return _FITS["sleep"]


def cbpp_fit():
    if "cbpp" not in _FITS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITS["cbpp"] = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                                     ml.datasets.load("cbpp"))
    return _FITS["cbpp"]


# ---- the same numbers whatever runs the replicates ------------------------------------------------
def test_bootstrap_same_numbers_on_local_schedulers():
    fit = sleep_fit()
    runs = [fit.bootstrap(12, seed=3, scheduler=s, progress=s == "threads").t.to_numpy()
            for s in ("synchronous", "threads")]
    assert np.array_equal(runs[0], runs[1])
    assert not np.isnan(runs[0]).any()


def _same_numbers_on_a_cluster(processes: bool):
    distributed = pytest.importorskip("distributed")
    fit = sleep_fit()
    one_thread = fit.bootstrap(16, seed=5, scheduler="synchronous")
    with distributed.LocalCluster(n_workers=2, processes=processes, threads_per_worker=1,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        on_cluster = fit.bootstrap(16, seed=5, client=client, progress=True)
        by_address = ml.power(fit, "Days", nsim=6, fixef={"Days": 1.0}, seed=2, client=cluster.scheduler_address)
    assert np.array_equal(one_thread.t.to_numpy(), on_cluster.t.to_numpy())
    local = ml.power(fit, "Days", nsim=6, fixef={"Days": 1.0}, seed=2, scheduler="synchronous")
    assert local.frame.equals(by_address.frame)


def test_bootstrap_same_numbers_on_a_threaded_local_cluster():
    _same_numbers_on_a_cluster(processes=False)  # the client path (scatter, map, gather) without start-up cost


@pytest.mark.slow
def test_bootstrap_same_numbers_on_a_local_cluster_of_processes():
    _same_numbers_on_a_cluster(processes=True)  # 7-13 s on 2 busy cores: two workers import the library


def test_seed_none_is_recorded_and_reproduces():
    fit = sleep_fit()
    first = fit.bootstrap(5)
    again = fit.bootstrap(5, seed=first.entropy)
    assert np.array_equal(first.t.to_numpy(), again.t.to_numpy())


def test_fits_pickle_and_bootstrap_the_same_after():
    for fit in (sleep_fit(), cbpp_fit()):
        copy = pickle.loads(pickle.dumps(fit))
        assert copy._problem is None
        a, b = fit.bootstrap(3, seed=8), copy.bootstrap(3, seed=8)
        assert np.array_equal(a.t.to_numpy(), b.t.to_numpy())


# ---- bootstrap: lme4's bootMer and boot.ci -----------------------------------------------------------
def test_bootstrap_percentile_intervals_contain_estimates_and_are_confint_boot():
    fit = sleep_fit()
    boot = fit.bootstrap(40, seed=1)
    assert list(boot.t.columns) == [".sig01", ".sig02", ".sig03", ".sigma", "(Intercept)", "Days"]
    assert (boot.failed, boot.nonconverged) == (0, 0)
    ci = boot.confint()
    for name in [".sig01", ".sig03", ".sigma", "(Intercept)", "Days"]:
        assert ci.loc[name, "2.5 %"] < boot.t0[name] < ci.loc[name, "97.5 %"]
    assert boot.t0["Days"] == pytest.approx(10.467286, abs=1e-5)  # lme4: fixef(fm1)["Days"]
    same = fit.confint("boot", nsim=40, seed=1)  # the same map over seeds behind confint
    assert np.array_equal(same.to_numpy(), ci.to_numpy())
    assert np.array_equal(same.attrs["replicates"], boot.t.to_numpy())


def test_boot_ci_norm_inter_by_hand():
    # boot's norm.inter (R/bootfuns.q): rk = (R+1) alpha; an integer rk takes the order statistic,
    # otherwise it interpolates on the normal-quantile scale between t[k] and t[k+1]
    t = np.arange(1.0, 11.0)[::-1]  # R = 10, unsorted
    assert norm_inter(t, np.array([1 / 11]))[0] == 1.0  # rk = 1
    z = stats.norm.ppf([0.25, 2 / 11, 3 / 11])
    assert norm_inter(t, np.array([0.25]))[0] == pytest.approx(2 + (z[0] - z[1]) / (z[2] - z[1]))
    assert norm_inter(t, np.array([0.025, 0.975])).tolist() == [1.0, 10.0]  # extreme order statistics
    lo, hi = boot_interval(5.0, t, 0.9, "basic")
    q = norm_inter(t, np.array([0.95, 0.05]))
    assert (lo, hi) == (10 - q[0], 10 - q[1])
    lo, hi = boot_interval(5.0, t, 0.95, "norm")  # t0 - bias +- z sd
    half = 1.959964 * np.std(t, ddof=1)
    assert (lo, hi) == pytest.approx((5 - 0.5 - half, 5 - 0.5 + half), rel=1e-6)


def test_bootstrap_statistic_use_u_and_types():
    fit = sleep_fit()
    boot = fit.bootstrap(10, seed=4, statistic=lambda f: f.fixef())
    assert list(boot.t.columns) == ["(Intercept)", "Days"]
    # use_u (lme4's use.u): the random effects stay at their modes, only the residual noise is new
    noise = fit.simulate(50, seed=4, use_u=True).to_numpy() - fit.fitted()[:, None]
    assert noise.std() == pytest.approx(fit.sigma, rel=0.05) and abs(noise.mean()) < 1
    held, new = fit.bootstrap(20, seed=4, use_u=True), fit.bootstrap(20, seed=4)
    assert held.t["Days"].std() < 0.6 * new.t["Days"].std()  # 0.73 vs 1.73 at nsim=60
    for type in ("perc", "basic", "norm"):
        ci = boot.confint(0.9, type=type)
        assert list(ci.columns) == ["5 %", "95 %"] and (ci.iloc[:, 0] < ci.iloc[:, 1]).all()
    assert "10 replicates, 0 failed, 0 not converged" in str(boot)


def test_failed_replicates_are_counted_not_hidden():
    fit = sleep_fit()
    slope = fit.fixef()["Days"]

    def statistic(f):
        if f.fixef()["Days"] > slope:  # fails on about half the replicates
            raise ZeroDivisionError("made to fail")
        return f.fixef()

    boot = fit.bootstrap(10, seed=6, statistic=lambda f: f.fixef() if f is fit else statistic(f))
    assert 0 < boot.failed < 10
    assert np.isnan(boot.t.to_numpy()[boot.status == FAILED]).all()
    assert any("made to fail" in m for m in boot.messages)
    assert np.isfinite(boot.confint().to_numpy()).all()  # over the replicates that did not fail


def test_glmer_bootstrap():
    fit = cbpp_fit()
    boot = fit.bootstrap(8, seed=2)
    assert list(boot.t.columns) == [".sig01", "(Intercept)", "period2", "period3", "period4"]
    assert boot.failed == 0 and boot.t.shape == (8, 5)
    assert np.array_equal(fit.confint("boot", nsim=8, seed=2).attrs["replicates"], boot.t.to_numpy())


# ---- power: simr -------------------------------------------------------------------------------
def test_clopper_pearson_is_binom_test():
    # simr's printed intervals (binom.test): 100/100 -> (96.38, 100.0), 33/100 -> (23.92, 43.12)
    assert np.round(100 * np.array(clopper_pearson(100, 100)), 2).tolist() == [96.38, 100.0]
    assert np.round(100 * np.array(clopper_pearson(33, 100)), 2).tolist() == [23.92, 43.12]


def test_power_of_a_strong_effect_is_near_one():
    result = ml.power(sleep_fit(), "Days", nsim=30, seed=1)
    assert result.power == 1.0 and result.confint()[0] > 0.88
    text = str(result)
    assert text.startswith("Power for predictor 'Days', (95% confidence interval):\n      100.0% (88.43, 100.0)")
    assert "Test: Likelihood ratio" in text and "Based on 30 simulations, (0 warnings, 0 errors)" in text


def test_power_of_a_null_effect_is_near_alpha():
    result = ml.power(sleep_fit(), "Days", nsim=60, fixef={"Days": 0.0}, seed=2)
    row = result.frame.iloc[0]
    assert row["trials"] == 60
    # the rejection rate is binomial(60, alpha) when the LR test holds its level: its exact 95%
    # interval covers alpha
    assert row["lower"] <= 0.05 <= row["upper"]
    z = ml.power(sleep_fit(), "Days", nsim=30, fixef={"Days": 0.0}, seed=2, method="z")
    assert z.frame["power"].iloc[0] < 0.25


def test_power_curve_along_an_extended_factor():
    data = ml.datasets.load("sleepstudy")
    result = ml.power(sleep_fit(), "Days", nsim=8, fixef={"Days": 4.0}, along="Subject", extend=24, breaks=[6, 24],
                      data=data, seed=3)
    assert result.frame["Subject"].tolist() == [6, 24]
    assert result.frame["nrow"].tolist() == [60, 240]
    assert result.frame["power"].iloc[1] >= result.frame["power"].iloc[0]
    assert "by number of levels in Subject:" in str(result)


def test_power_curve_along_an_extended_predictor_and_numeric_codes():
    data = ml.datasets.load("sleepstudy")
    days = ml.power(sleep_fit(), "Days", nsim=2, along="Days", extend=12, breaks=[5, 12], data=data, seed=1)
    assert days.frame["nrow"].tolist() == [90, 216]  # days 0..11: 18 subjects x 5, x 12
    coded = data.assign(Subject=data["Subject"].astype(str).astype(int))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.lmer("Reaction ~ Days + (Days | Subject)", coded)
    subjects = ml.power(fit, "Days", nsim=2, along="Subject", extend=20, breaks=[20], data=coded, seed=1)
    assert subjects.frame["nrow"].tolist() == [200]  # new subjects numbered after the largest code


def test_power_glmer_factor_term():
    result = ml.power(cbpp_fit(), "period", nsim=6, seed=1)
    assert result.frame["trials"].iloc[0] == 6 and result.effect is None


@pytest.mark.parametrize("call, message", [
    (lambda f: f.bootstrap(0), "nsim must be at least 1"),
    (lambda f: f.bootstrap(5, type="semiparametric"), "type must be one of 'parametric'"),
    (lambda f: f.bootstrap(5, statistic="fixef"), "statistic must be a function"),
    (lambda f: f.bootstrap(5, scheduler="gpu"), "scheduler must be one of"),
    (lambda f: f.bootstrap(5, seed="one"), "seed must be an integer"),
    (lambda f: f.bootstrap(5, client=3), "client must be a dask.distributed.Client"),
    (lambda f: ml.power(f, "Days", nsim=0), "nsim must be at least 1"),
    (lambda f: ml.power(f, "Hours"), "test names no fixed term or column of this model: 'Hours'"),
    (lambda f: ml.power(f, "Days", alpha=0), "alpha must be"),
    (lambda f: ml.power(f, "Days", alpha=1.5), "alpha must be"),
    (lambda f: ml.power(f, "Days", method="kr"), "method must be one of 'lr', 'z'"),
    (lambda f: ml.power(f, "Days", fixef={"days": 1}), "fixef names no fixed effect"),
    (lambda f: ml.power(f, "Days", along="Subject"), "along= needs data="),
    (lambda f: ml.power(f, "Days", extend=30), "extend= and breaks= need along="),
    (lambda f: ml.power(f, "Days", along="Subject", extend=5, data=ml.datasets.load("sleepstudy")),
     "extend must be at least 18"),
])
def test_bad_arguments_are_errors_of_ours(call, message):
    with pytest.raises(MultilevelError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        call(sleep_fit())


def test_z_test_needs_one_column():
    with pytest.raises(ArgumentError, match="method='z' tests one column"):
        ml.power(cbpp_fit(), "period", method="z")

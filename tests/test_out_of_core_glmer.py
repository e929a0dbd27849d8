"""glmer on out-of-core data (a Dask DataFrame or a parquet path) against the in-memory fit of the same rows.

The second implementation is our own in-memory glmer (pinned to lme4 in test_glmer_reference.py).
The in-memory PIRLS sums rows in its own order (and runs its own sorted system for one term); out of
core each partition sums its rows and the partitions are added in a fixed tree. The deviance at a
point therefore agrees to rounding, and the optimizer, which resolves theta to its tolerance (xtol
1e-6), ends at points that differ by less than that. Measured (this file's data, 3-4 partitions):
logLik <= 2e-15 relative; theta, beta <= 5e-7 (poisson with a slope; 2e-9 on cbpp); vcov (a
finite-difference Hessian of the deviance) <= 3e-6. Tolerances below are those, with margin. A fit
does not depend on the scheduler: the same partitions give the same bits on a cluster.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.errors import ArgumentError, DataError, MissingValuesWarning
from multilevel.results.protocol import MissingCapability, capabilities

dd = pytest.importorskip("dask.dataframe")  # needs pyarrow: the `parquet` extra

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
TOL = {"loglik": 1e-12, "theta": 2e-6, "beta": 2e-6, "vcov": 2e-5}


def relative_difference(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300), initial=0.0))


def assert_same_fit(ooc, mem):
    pairs = {"loglik": (ooc.loglik, mem.loglik), "theta": (ooc.theta, mem.theta), "beta": (ooc.fixef(), mem.fixef())}
    for name, (a, b) in pairs.items():
        assert relative_difference(a, b) <= TOL[name], (name, relative_difference(a, b))
    # vcov relative to the variances (an off-diagonal covariance near 0 has no relative precision)
    mine, theirs = ooc.vcov().to_numpy(), mem.vcov().to_numpy()
    scale = np.sqrt(np.outer(np.diag(theirs), np.diag(theirs)))
    assert np.max(np.abs(mine - theirs) / scale) <= TOL["vcov"], np.max(np.abs(mine - theirs) / scale)
    for name in ("aic", "bic"):
        assert relative_difference(getattr(ooc, name), getattr(mem, name)) <= TOL["loglik"]
    assert relative_difference(ooc.deviance, mem.deviance) <= 1e-6  # sum of squared deviance residuals at the modes
    assert list(ooc.fixef().index) == list(mem.fixef().index)
    assert ooc.nobs == mem.nobs and ooc.ngroups == mem.ngroups
    for group, frame in mem.ranef().items():
        np.testing.assert_allclose(ooc.ranef()[group].to_numpy(), frame.to_numpy(), rtol=1e-4, atol=1e-6)


def poisson_data(n: int = 200, seed: int = 3) -> pd.DataFrame:
    """Counts with a random intercept and slope in x by g (20 levels), an exposure for offsets."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 20, n)
    x = rng.standard_normal(n) + 2
    exposure = rng.uniform(0.5, 2, n)
    eta = 0.5 + 0.3 * x + 0.5 * rng.standard_normal(20)[g] + 0.2 * rng.standard_normal(20)[g] * x
    return pd.DataFrame({"y": rng.poisson(np.exp(eta) * exposure).astype(float), "x": x, "g": g,
                         "exposure": exposure})


_FITS: dict = {}


def fitted(key, make):
    if key not in _FITS:
        _FITS[key] = make()
    return _FITS[key]


def cbpp_fit(nagq: int = 1, partitions: int = 4):
    return fitted(("cbpp", nagq, partitions), lambda: ml.glmer(
        CBPP, dd.from_pandas(ml.datasets.load("cbpp"), npartitions=partitions), nagq=nagq))


def test_cbpp_binomial_with_trials_in_four_partitions_equals_the_in_memory_fit():
    mem = ml.glmer(CBPP, ml.datasets.load("cbpp"))
    ooc = cbpp_fit()
    assert_same_fit(ooc, mem)
    assert str(ooc.summary()) == str(mem.summary())  # Pearson residual quantiles found exactly over partitions
    assert relative_difference(ooc.confint("wald").dropna(), mem.confint("wald").dropna()) <= TOL["beta"]
    settings = ooc.optimizer.settings["out_of_core"]
    assert settings["partitions"] == 4 and settings["rows"] == 56 and "local" in settings["scheduler"]
    # one pass per PIRLS step tried, plus a handful before (scan, encoding, columns, medians, patterns)
    assert ooc.optimizer.settings["pirls_iterations"] < settings["passes"] < 2 * ooc.optimizer.settings["pirls_iterations"]


@pytest.mark.slow  # ~10 s
def test_poisson_with_a_random_slope_and_an_offset():
    data = poisson_data()
    mem = ml.glmer("y ~ x + (x | g)", data, family="poisson")
    ooc = ml.glmer("y ~ x + (x | g)", dd.from_pandas(data, npartitions=3), family="poisson")
    assert_same_fit(ooc, mem)
    formula = "y ~ x + offset(np.log(exposure)) + (1 | g)"
    mem = ml.glmer(formula, data, family="poisson", nagq=0)
    ooc = ml.glmer(formula, dd.from_pandas(data, npartitions=3), family="poisson", nagq=0)
    assert_same_fit(ooc, mem)


def test_nagq_0():
    assert_same_fit(cbpp_fit(0, 3), ml.glmer(CBPP, ml.datasets.load("cbpp"), nagq=0))


@pytest.mark.slow  # ~5 s: 500 passes
def test_adaptive_quadrature_one_pass_for_all_nodes():
    ooc = cbpp_fit(5, 3)
    assert_same_fit(ooc, ml.glmer(CBPP, ml.datasets.load("cbpp"), nagq=5))
    assert ooc.nagq == 5 and "Adaptive Gauss-Hermite" in str(ooc.summary())


@pytest.mark.slow  # ~5 s
def test_binary_response_with_crossed_factors_from_parquet_and_missing_values(tmp_path):
    rng = np.random.default_rng(5)
    n = 240
    g, h, x = rng.integers(0, 15, n), rng.integers(0, 6, n), rng.standard_normal(n)
    eta = 0.2 * x - 0.3 + rng.standard_normal(15)[g] + 0.7 * rng.standard_normal(6)[h]
    data = pd.DataFrame({"b": (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float), "x": x, "g": g, "h": h})
    data.loc[[3, 50, 200], "x"] = np.nan
    dd.from_pandas(data, npartitions=3).to_parquet(tmp_path / "binary")
    with pytest.warns(MissingValuesWarning, match="dropped 3 of 240 rows"):
        ooc = ml.glmer("b ~ x + (1 | g) + (1 | h)", tmp_path / "binary")
    with pytest.warns(MissingValuesWarning, match="dropped 3 of 240 rows"):
        mem = ml.glmer("b ~ x + (1 | g) + (1 | h)", data)
    assert_same_fit(ooc, mem)
    assert ooc.design.n_dropped == mem.design.n_dropped == 3
    assert ooc.design.dropped_by_column == mem.design.dropped_by_column == {"x": 3}


def test_per_row_questions_raise_our_error_and_the_rest_answer():
    ooc = cbpp_fit()
    for question in (ooc.fitted, ooc.residuals, ooc.simulate, lambda: ooc.bootstrap(5), ooc.predict,
                     ooc.fitted_mean, ooc.observed, lambda: ooc.confint("profile")):
        with pytest.raises(MissingCapability, match="out of core"):
            question()
    assert "fitted_mean" not in capabilities(ooc) and "summary" in capabilities(ooc)
    mem = ml.glmer(CBPP, ml.datasets.load("cbpp"))
    new = ml.datasets.load("cbpp").iloc[:5]
    np.testing.assert_allclose(ooc.predict(new, type="response"), mem.predict(new, type="response"), rtol=1e-6)
    assert relative_difference(ooc.varcorr().vcov, mem.varcorr().vcov) <= TOL["theta"] * 2


def test_clear_errors():
    cbpp = ml.datasets.load("cbpp")
    frame = dd.from_pandas(cbpp, npartitions=2)
    with pytest.raises(ArgumentError, match="offsets are written in the formula"):
        ml.glmer(CBPP, frame, offset="size")
    with pytest.raises(ArgumentError, match="single scalar random-effects term"):
        ml.glmer("y ~ x + (x | g)", dd.from_pandas(poisson_data(), npartitions=2), family="poisson", nagq=3)
    labelled = cbpp.assign(any=np.where(cbpp.incidence > 0, "yes", "no"))
    with pytest.raises(DataError, match="'any' has dtype .*must be numeric"):
        ml.glmer("any ~ period + (1 | herd)", dd.from_pandas(labelled, npartitions=2))
    with pytest.raises(DataError, match="is 0 in every row"):
        ml.glmer("y ~ x + (1 | g)", dd.from_pandas(poisson_data().assign(y=0.0), npartitions=2), family="poisson")
    with pytest.raises(ArgumentError, match="client= is for out-of-core data"):
        ml.glmer(CBPP, cbpp, client="tcp://nowhere:1")
    with pytest.raises(DataError, match="'sizes' is not in the data"):
        ml.glmer("cbind(incidence, sizes - incidence) ~ period + (1 | herd)", frame)


@pytest.mark.slow  # ~9 s; test_out_of_core.py keeps a two-process cluster in the default run
def test_on_a_local_cluster_of_two_processes():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        ooc = ml.glmer(CBPP, dd.from_pandas(ml.datasets.load("cbpp"), npartitions=3), nagq=0, client=client)
    local = cbpp_fit(0, 3)
    # the same partitions summed in the same tree: the same bits as on the local scheduler
    assert np.array_equal(ooc.theta, local.theta) and ooc.loglik == local.loglik
    assert np.array_equal(ooc.vcov().to_numpy(), local.vcov().to_numpy())
    settings = ooc.optimizer.settings["out_of_core"]
    assert "cluster" in settings["scheduler"] and settings["encoded"] == "persisted on the workers"

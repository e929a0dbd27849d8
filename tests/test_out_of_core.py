"""lmer on out-of-core data (a Dask DataFrame or a parquet path) against the in-memory fit of the same rows.

The second implementation here is our own in-memory lmer (itself pinned to lme4 in
test_lmer_reference.py). Both sum the cross-products exactly (linalg/crossprod.py), so the optimizer
sees the same objective and the fits agree to rounding: the tolerance is 1e-10 relative (measured: 0,
the numbers are identical).
"""
from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.errors import ArgumentError, DataError, MissingValuesWarning, ModelError
from multilevel.results.protocol import MissingCapability, capabilities

dd = pytest.importorskip("dask.dataframe")  # needs pyarrow: the `parquet` extra

RTOL = 1e-10


def relative_difference(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300), initial=0.0))


def assert_same_fit(ooc, mem):
    """theta, beta, sigma, the criterion, logLik/AIC/BIC, vcov and the random effects, to RTOL."""
    pairs = {"theta": (ooc.theta, mem.theta), "beta": (ooc.fixef(), mem.fixef()), "sigma": (ooc.sigma, mem.sigma),
             "loglik": (ooc.loglik, mem.loglik), "deviance": (ooc.deviance, mem.deviance),
             "aic": (ooc.aic, mem.aic), "bic": (ooc.bic, mem.bic), "vcov": (ooc.vcov(), mem.vcov())}
    for group, frame in mem.ranef().items():
        pairs[f"ranef {group}"] = (ooc.ranef()[group], frame)
        pairs[f"condsd {group}"] = (ooc.ranef()[group].attrs["condsd"], frame.attrs["condsd"])
    for name, (a, b) in pairs.items():
        assert relative_difference(a, b) <= RTOL, (name, relative_difference(a, b))
    assert list(ooc.fixef().index) == list(mem.fixef().index)
    assert ooc.nobs == mem.nobs and ooc.ngroups == mem.ngroups
    for term_o, term_m in zip(ooc.design.terms, mem.design.terms):
        assert list(term_o.levels) == list(term_m.levels)


def crossed_data(n: int = 600, seed: int = 7) -> pd.DataFrame:
    """Crossed factors g (30 levels, with a slope) and h (12), a text factor f, a continuous x off centre."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 30, n)
    h = rng.choice([f"h{k:02d}" for k in range(12)], n)
    f = rng.choice(["low", "mid", "high"], n)
    x = 50 + 10 * rng.standard_normal(n)
    slope = 0.3 * rng.standard_normal(30)
    effect_h = dict(zip(sorted(set(h)), rng.standard_normal(12)))
    y = (2 + 0.1 * x + (f == "mid") * 0.5 + rng.standard_normal(30)[g] + slope[g] * (x - 50) / 10
         + np.array([effect_h[k] for k in h]) + 0.5 * rng.standard_normal(n))
    return pd.DataFrame({"y": y, "x": x, "f": f, "g": g, "h": h, "w": rng.integers(1, 5, n).astype(float)})


_FITS: dict = {}


def fitted(key, make):
    if key not in _FITS:
        _FITS[key] = make()
    return _FITS[key]


def test_sleepstudy_in_four_partitions_equals_the_in_memory_fit():
    sleep = ml.datasets.load("sleepstudy")
    mem = ml.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    ooc = fitted("sleep", lambda: ml.lmer("Reaction ~ Days + (Days | Subject)", dd.from_pandas(sleep, npartitions=4)))
    assert_same_fit(ooc, mem)
    assert relative_difference(ooc.reml_criterion, mem.reml_criterion) <= RTOL
    assert str(ooc.summary()) == str(mem.summary())  # scaled residuals' quantiles too, found exactly
    settings = ooc.optimizer.settings["out_of_core"]
    assert settings["partitions"] == 4 and "map-reduced over 4 partitions" in settings["note"]
    ci = ooc.confint("wald")
    assert relative_difference(ci.dropna(), mem.confint("wald").dropna()) <= RTOL


def test_crossed_factors_text_factor_and_slope_by_maximum_likelihood():
    # sorted, so that partitions hold only some levels of f and h: levels and categories must be global
    data = crossed_data().sort_values(["f", "h"], kind="stable").reset_index(drop=True)
    formula = "y ~ f + x + (x | g) + (1 | h)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a singular fit warns in both, the same way
        mem = ml.lmer(formula, data, reml=False)
        ooc = ml.lmer(formula, dd.from_pandas(data, npartitions=5), reml=False)
    assert_same_fit(ooc, mem)
    assert ooc.messages == mem.messages


def test_fractional_weights_and_an_interaction_grouping_factor():
    # the standardization divides the weights by their mean: np.mean's pairwise sum, which the
    # partitions reproduce block by block (design/exact_statistics.py numpy_mean); a plain sum of the
    # partitions' sums differs in the last bit here, and the fit would differ at 1e-8
    data = crossed_data(3000, seed=3).assign(w=np.random.default_rng(5).uniform(0.5, 2, 3000))
    frame = dd.from_pandas(data, npartitions=5)
    pieces = [frame.get_partition(i).compute().w.to_numpy() for i in range(frame.npartitions)]
    assert sum(p.sum() for p in pieces) / len(data) != data.w.mean()
    formula = "y ~ x + (1 | g) + (1 | g:h)"
    assert_same_fit(ml.lmer(formula, frame, weights="w"), ml.lmer(formula, data, weights="w"))


def test_mean_absolute_deviation_when_most_values_tie():
    # f:x without f: two thirds of each column are 0, so its MAD is 0 and the standardization takes the
    # mean absolute deviation (numpy's mean, reproduced over partitions)
    data = crossed_data(600, seed=2)
    formula = "y ~ log(x) + f:x + (1 | g) + (1 | h)"
    assert_same_fit(ml.lmer(formula, dd.from_pandas(data, npartitions=3)), ml.lmer(formula, data))


def test_exact_medians_through_sampling_and_counting(monkeypatch):
    """Tiny gather and sample sizes force the pivot passes (ties included: x is rounded)."""
    from multilevel.design import dask_source

    monkeypatch.setattr(dask_source, "GATHER", 8)
    monkeypatch.setattr(dask_source, "SAMPLE", 3)
    data = crossed_data(300, seed=11).assign(x=lambda d: d.x.round(-1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mem = ml.lmer("y ~ x + (x | g)", data)
        ooc = ml.lmer("y ~ x + (x | g)", dd.from_pandas(data, npartitions=4))
    assert_same_fit(ooc, mem)
    assert ooc.optimizer.settings["out_of_core"]["passes"] > 9


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")
def test_parquet_directory_and_file(tmp_path):
    sleep = ml.datasets.load("sleepstudy")
    mem = ml.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    dd.from_pandas(sleep, npartitions=3).to_parquet(tmp_path / "sleep")
    assert_same_fit(ml.lmer("Reaction ~ Days + (1 | Subject)", tmp_path / "sleep"), mem)
    sleep.to_parquet(tmp_path / "one.parquet")
    one = ml.lmer("Reaction ~ Days + (1 | Subject)", str(tmp_path / "one.parquet"))
    assert_same_fit(one, mem)
    assert one.data_name.endswith("one.parquet")
    with pytest.raises(DataError, match="no parquet"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", tmp_path / "absent")


def test_missing_values_counted_per_partition_as_in_memory():
    data = crossed_data(300, seed=5)
    data.loc[[3, 50, 51, 200], "y"] = np.nan
    data.loc[[7, 50], "x"] = np.nan
    data.loc[[120], "h"] = None
    with pytest.warns(MissingValuesWarning) as mem_warning:
        mem = ml.lmer("y ~ x + (1 | g) + (1 | h)", data)
    with pytest.warns(MissingValuesWarning) as ooc_warning:
        ooc = ml.lmer("y ~ x + (1 | g) + (1 | h)", dd.from_pandas(data, npartitions=4))
    assert str(ooc_warning[0].message) == str(mem_warning[0].message)  # dropped 6 of 300 rows (y: 4, x: 2, h: 1)
    assert ooc.design.n_dropped == mem.design.n_dropped == 6
    assert ooc.design.dropped_by_column == mem.design.dropped_by_column
    assert_same_fit(ooc, mem)
    with pytest.raises(DataError, match="6 rows have missing values"):
        ml.lmer("y ~ x + (1 | g) + (1 | h)", dd.from_pandas(data, npartitions=4), na_action="raise")


def test_per_row_questions_raise_our_error_and_the_rest_answer():
    ooc = fitted("sleep", lambda: ml.lmer("Reaction ~ Days + (Days | Subject)",
                                          dd.from_pandas(ml.datasets.load("sleepstudy"), npartitions=4)))
    for question in (ooc.simulate, lambda: ooc.bootstrap(5), ooc.predict, ooc.fitted_mean, ooc.observed,
                     lambda: ooc.confint("profile"), ooc.hatvalues, ooc.cooks_distance):
        with pytest.raises(MissingCapability, match="out of core"):
            question()
    assert "fitted_mean" not in capabilities(ooc) and "replicated_data" not in capabilities(ooc)
    assert "summary" in capabilities(ooc) and "vcov" in capabilities(ooc)
    mem = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    # fitted values and residuals: lazy dask Series, partition by partition (1e-12: X beta is a BLAS product)
    np.testing.assert_allclose(ooc.fitted().compute().to_numpy(), mem.fitted(), rtol=1e-12)
    np.testing.assert_allclose(ooc.residuals(scaled=True).compute().to_numpy(), mem.residuals(scaled=True),
                               rtol=1e-9, atol=1e-12)
    new = pd.DataFrame({"Days": [0.0, 5.0], "Subject": [308, 309]})
    assert relative_difference(ooc.predict(new), mem.predict(new)) <= RTOL  # new data need no training rows
    assert relative_difference(ooc.refit_ml().loglik, mem.refit_ml().loglik) <= RTOL  # from the summed blocks
    assert ml.anova(ooc.refit_ml(), mem.refit_ml()) is not None


def test_clear_errors(monkeypatch, tmp_path):
    sleep = dd.from_pandas(ml.datasets.load("sleepstudy"), npartitions=2)
    with pytest.raises(DataError, match="'Dayz' is not in the data"):
        ml.lmer("Reaction ~ Dayz + (1 | Subject)", sleep)
    with pytest.raises(ModelError, match="compute over all rows"):
        ml.lmer("Reaction ~ scale(Days) + (1 | Subject)", sleep)
    with pytest.raises(ArgumentError, match="must name a column"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", sleep, weights=np.ones(180))
    with pytest.raises(DataError, match="compute\\(\\) a sample into pandas"):  # glm: in memory only, said so
        ml.glm("Reaction ~ Days", sleep, family="poisson")
    with pytest.raises(ArgumentError, match="client= is for out-of-core data"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"), client="tcp://nowhere:1")
    monkeypatch.setitem(sys.modules, "dask.dataframe", None)  # as if pyarrow / dask's dataframe were missing
    with pytest.raises(ModelError, match=r"multilevel\[parquet\]"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", tmp_path)


def test_on_a_local_cluster_of_two_processes():
    distributed = pytest.importorskip("distributed")
    sleep = ml.datasets.load("sleepstudy")
    mem = ml.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        ooc = ml.lmer("Reaction ~ Days + (1 | Subject)", dd.from_pandas(sleep, npartitions=4), client=client)
        by_address = ml.lmer("Reaction ~ Days + (1 | Subject)", dd.from_pandas(sleep, npartitions=3),
                             client=cluster.scheduler_address)
    assert_same_fit(ooc, mem)
    assert_same_fit(by_address, mem)
    assert "cluster" in ooc.optimizer.settings["out_of_core"]["scheduler"]

"""Shared fixtures: reference numbers (with their sources) and fitted models cached per session."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import multilevel as ml

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _close_figures():
    """Every plotting test leaves its figures to be closed here (matplotlib warns past 20 open)."""
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


def load_fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


# lme4 1.1.31 (R 4.2.2) with default settings: shared/reference/lme4.json
LME4_DEFAULT = load_fixture("lme4_default.json")["fits"]
# lme4 1.1.31 converged tightly (benchmarks/r/lme4_tight_refs.R): the optimum itself
LME4_TIGHT = load_fixture("lme4_tight.json")["fits"]
# lme4 1.1.31 extras: ranef/condVar, confint, anova, predict, printed summaries (benchmarks/r/lme4_extra_refs.R)
LME4_EXTRA = load_fixture("lme4_extra.json")

LMM_KEYS = [k for k, v in LME4_DEFAULT.items() if v["class"] == "lmerMod"]


def reference_data(name: str):
    if name.startswith("mathachieve"):
        return ml.datasets.load("mathachieve").merge(ml.datasets.load("mathachieveschool"), on="school")
    return ml.datasets.load(name)


_FITS: dict = {}


def fitted(key: str):
    """The fit of reference model ``key`` (from lme4.json), fitted once per test session."""
    if key not in _FITS:
        ref = LME4_DEFAULT[key]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITS[key] = ml.lmer(ref["formula"], reference_data(ref["data"]), reml=ref["reml"])
    return _FITS[key]


@pytest.fixture(scope="session")
def sleep_fit():
    return fitted("sleep_slopes_reml")


def as_array(value) -> np.ndarray:
    return np.atleast_1d(np.asarray(value, dtype=float))


def relative_error(actual, expected) -> float:
    actual, expected = as_array(actual), as_array(expected)
    scale = np.maximum(np.abs(expected), 1e-300)
    return float(np.max(np.abs(actual - expected) / scale))


# Property-based tests (hypothesis): CI runs a small, derandomized budget so that it is deterministic
# and quick (about a minute for all fuzzers); HYPOTHESIS_PROFILE=slow gives long runs
# (FUZZ_MINUTES per fuzzer, default 10) for the closing notes of the bad-input issue.
try:
    import os

    from hypothesis import HealthCheck, settings

    settings.register_profile("ci", max_examples=400, derandomize=True, deadline=None, database=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("slow", max_examples=2000, deadline=None, database=None,
                              suppress_health_check=list(HealthCheck))
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # pragma: no cover - hypothesis is in the test extras
    pass



def assert_agrees_with_brms(param: str, values, want: dict) -> None:
    """One parameter's draws (chains, draws) against a brms fixture entry: the mean within
    4 sqrt(mcse_ours^2 + mcse_brms^2) (the fixtures' rule), the sd within 4 MCSEs of an sd,
    sd sqrt((kurtosis - 1) / (4 ESS)) with the kurtosis of our draws (heavy tails widen it)."""
    import arviz_stats

    values = np.asarray(values, dtype=float)
    mcse = float(arviz_stats.mcse(values, method="mean"))
    assert abs(values.mean() - want["mean"]) <= 4 * np.hypot(mcse, want["mcse_mean"]), (param, values.mean(), want)
    ess = float(arviz_stats.ess(values, method="bulk"))
    flat = values.ravel() - values.mean()
    tails = max(np.mean(flat**4) / np.mean(flat**2) ** 2 - 1, 2.0) / 4
    sd_mcse = np.sqrt(tails * (values.std() ** 2 / ess + want["sd"] ** 2 / want["ess_bulk"]))
    assert abs(values.std() - want["sd"]) <= 4 * sd_mcse, (param, values.std(), want["sd"])

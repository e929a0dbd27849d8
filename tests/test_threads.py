"""The BLAS thread policy (multilevel.threads): sets and restores the count, never raises a user's
limit, can be turned off, is recorded in the fit, and does not change the numbers. No timings here:
benchmarks/contention.py and benchmarks/blas_threshold.py measure speed."""
from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import multilevel as ml
from multilevel.errors import ArgumentError
from multilevel.ml.lmm import LMMProblem
from multilevel.threads import (
    ENV_VAR,
    MIN_DENSE_FOR_THREADS,
    blas_threads_for,
    largest_dense_block,
    limit_blas_threads,
    policy_threads,
)


def blas_counts() -> list[int]:
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


@pytest.fixture(autouse=True)
def _default_policy(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def crossed():
    """Two crossed factors (60 x 120 levels): the 60-level term fills in densely."""
    rng = np.random.default_rng(20261130)
    n = 3000
    a, b = rng.integers(0, 60, n), rng.integers(0, 120, n)
    x = rng.standard_normal(n)
    y = 1 + 0.5 * x + rng.normal(0, 0.7, 60)[a] + rng.normal(0, 0.5, 120)[b] + rng.standard_normal(n)
    return pd.DataFrame({"y": y, "x": x, "a": a.astype(str), "b": b.astype(str)})


def test_sets_and_restores_the_count():
    assert blas_counts(), "numpy's BLAS is loaded"
    with threadpool_limits(limits=2, user_api="blas"):
        with limit_blas_threads(1) as threads:
            assert threads == 1 and blas_counts() == [1] * len(blas_counts())
        assert blas_counts() == [2] * len(blas_counts())
        with pytest.raises(RuntimeError):  # restored on the way out of an error too
            with limit_blas_threads(1):
                raise RuntimeError
        assert blas_counts() == [2] * len(blas_counts())


def test_overlapping_regions_from_two_threads_keep_the_cap_until_the_last_closes():
    """Parallel refits (Dask's threaded scheduler) open and close regions out of order."""
    entered, release_a, a_done = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with limit_blas_threads(1):
            entered.set()
            release_a.wait(10)
        a_done.set()

    with threadpool_limits(limits=2, user_api="blas"):
        worker = threading.Thread(target=first)
        worker.start()
        entered.wait(10)
        with limit_blas_threads(1):
            release_a.set()
            a_done.wait(10)
            seen["after the first closed"] = set(blas_counts())
        worker.join(10)
        seen["after both"] = set(blas_counts())
    assert seen == {"after the first closed": {1}, "after both": {2}}


def test_never_raises_a_users_limit(monkeypatch, crossed):
    with threadpool_limits(limits=1, user_api="blas"):
        with limit_blas_threads(2) as threads:
            assert threads == 1 and set(blas_counts()) == {1}
        monkeypatch.setenv(ENV_VAR, "2")
        fit = ml.lmer("y ~ x + (1 | a) + (1 | b)", crossed, reml=False)
        assert fit.optimizer.settings["blas_threads"] == 1
        assert set(blas_counts()) == {1}


def test_policy_caps_small_problems_during_the_fit():
    problem = LMMProblem(ml.build_design(ml.parse_formula("Reaction ~ Days + (Days | Subject)"),
                                         ml.datasets.load("sleepstudy")))
    with threadpool_limits(limits=2, user_api="blas"):
        with blas_threads_for(problem.cholesky) as blas:
            assert set(blas_counts()) == {1}
            problem.objective(problem.initial_theta())
        assert (blas.threads, blas.policy) == (1, "auto")
        assert set(blas_counts()) == {2}


def test_rule_and_environment_variable(monkeypatch):
    assert policy_threads(MIN_DENSE_FOR_THREADS - 1) == (1, "auto")
    assert policy_threads(MIN_DENSE_FOR_THREADS) == (None, "auto")  # large blocks keep the BLAS's threads
    monkeypatch.setenv(ENV_VAR, "off")
    assert policy_threads(10) == (None, "off")
    monkeypatch.setenv(ENV_VAR, "3")
    assert policy_threads(10) == (3, f"{ENV_VAR}=3")
    for bad in ("0", "many"):
        monkeypatch.setenv(ENV_VAR, bad)
        with pytest.raises(ArgumentError, match=ENV_VAR):
            policy_threads(10)


def test_largest_dense_block_is_the_filled_in_term(crossed):
    problem = LMMProblem(ml.build_design(ml.parse_formula("y ~ x + (1 | a) + (1 | b)"), crossed))
    # terms ordered by levels: b (120) stays block-diagonal, a (60) fills in; fixed rows: x, intercept, y
    assert largest_dense_block(problem.cholesky) == 60


def test_off_leaves_the_blas_alone_and_the_record_says_so(monkeypatch, crossed):
    with threadpool_limits(limits=2, user_api="blas"):
        auto = ml.lmer("y ~ x + (1 | a) + (1 | b)", crossed, reml=False)
        monkeypatch.setenv(ENV_VAR, "off")
        off = ml.lmer("y ~ x + (1 | a) + (1 | b)", crossed, reml=False)
    settings = auto.optimizer.settings
    assert (settings["blas_threads"], settings["blas_thread_policy"], settings["largest_dense_block"]) == (1, "auto", 60)
    assert (off.optimizer.settings["blas_threads"], off.optimizer.settings["blas_thread_policy"]) == (2, "off")
    # the same arithmetic on 1 or 2 threads: OpenBLAS splits a product by blocks of the output, so
    # each element is summed in the same order (tolerance 1e-10 on the deviance, as the brief asks)
    assert off.deviance == pytest.approx(auto.deviance, abs=1e-10)
    np.testing.assert_allclose(off.theta, auto.theta, rtol=0, atol=1e-10)


def test_glmer_records_the_count():
    fit = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"),
                   family="binomial")
    assert fit.optimizer.settings["blas_threads"] == 1
    assert fit.optimizer.settings["blas_thread_policy"] == "auto"

"""devfun_only= / fit.objective() and control= (issue 14, item 5).

References: tests/fixtures/lme4_devfun.json, made by benchmarks/r/lme4_devfun_refs.R (lme4 1.1.31's
devFunOnly functions at fixed parameters; glmer's with tolPwrss 1e-12 so that its PIRLS converges).
Tolerances: lmer 1e-10 relative (the same profiled criterion); glmer 1e-7 relative (PIRLS's stopping).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import multilevel as ml
from conftest import load_fixture
from multilevel.errors import ArgumentError, ConvergenceWarning

REF = load_fixture("lme4_devfun.json")
SLEEP = "Reaction ~ Days + (Days | Subject)"
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


@pytest.mark.parametrize("key,reml", [("lmer_reml", True), ("lmer_ml", False)])
def test_lmer_devfun_agrees_with_lme4(key, reml):
    sleep = ml.datasets.load("sleepstudy")
    devfun = ml.lmer(SLEEP, sleep, reml=reml, devfun_only=True)
    assert devfun.parameters == ["Subject.(Intercept)", "Subject.Days.(Intercept)", "Subject.Days"]
    assert devfun.lower_bounds.tolist() == [0.0, -np.inf, 0.0]
    values = [devfun(theta) for theta in REF[key]["theta"]]
    assert np.allclose(values, REF[key]["value"], rtol=1e-10)
    fit = ml.lmer(SLEEP, sleep, reml=reml)
    assert fit.objective(fit.theta) == pytest.approx(fit.reml_criterion if reml else fit.deviance, rel=1e-12)
    with pytest.raises(ArgumentError, match="takes 3 values"):
        devfun([1.0, 0.0])
    with pytest.raises(ArgumentError, match="finite numbers"):
        devfun([np.nan, 0.0, 1.0])
    with pytest.raises(ArgumentError, match="takes numbers"):
        devfun("abc")


@pytest.mark.parametrize("key,nagq", [("glmer_laplace", 1), ("glmer_agq5", 5), ("glmer_nagq0", 0)])
def test_glmer_devfun_agrees_with_lme4(key, nagq):
    cbpp = ml.datasets.load("cbpp")
    devfun = ml.glmer(CBPP, cbpp, nagq=nagq, devfun_only=True)
    points = REF[key]["theta"] if nagq == 0 else REF[key]["params"]
    values = [devfun(np.atleast_1d(point)) for point in points]
    assert np.allclose(values, REF[key]["value"], rtol=1e-7)
    if nagq == 1:
        assert devfun.parameters == ["herd.(Intercept)", "(Intercept)", "period2", "period3", "period4"]
        fit = ml.glmer(CBPP, cbpp)
        assert fit.objective(np.r_[fit.theta, fit.fixef()]) == pytest.approx(-2 * fit.loglik, rel=1e-10)


def test_control_is_used_and_recorded():
    sleep = ml.datasets.load("sleepstudy")
    with pytest.warns(ConvergenceWarning, match="maxeval"):
        short = ml.lmer(SLEEP, sleep, control={"maxfun": 5})  # lme4's spelling
    assert short.optimizer.settings["maxeval"] == 5 and short.optimizer.n_evaluations <= 8
    tight = ml.lmer(SLEEP, sleep, control={"xtol_abs": 1e-10})
    assert tight.optimizer.settings["xtol_abs"] == 1e-10
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cbpp = ml.datasets.load("cbpp")
        direct = ml.glmer(CBPP, cbpp, control={"nAGQ0initStep": False})
        usual = ml.glmer(CBPP, cbpp)
    assert direct.optimizer.settings["nagq0_init_step"] is False
    assert direct.loglik == pytest.approx(usual.loglik, abs=1e-6)
    with pytest.raises(ArgumentError, match="unknown setting 'tolerance'"):
        ml.lmer(SLEEP, sleep, control={"tolerance": 1e-3})
    with pytest.raises(ArgumentError, match="unknown setting 'nAGQ0initStep' for lmer"):
        ml.lmer(SLEEP, sleep, control={"nAGQ0initStep": False})
    with pytest.raises(ArgumentError, match="must be a number >= 0"):
        ml.lmer(SLEEP, sleep, control={"xtol_abs": -1})

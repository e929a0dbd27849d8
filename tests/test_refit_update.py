"""fit.refit(newresponse) and fit.update(...) of lmer, glmer, lm and glm (issue 14, item 4).

refit() must equal a fresh fit of the same model to the new response (the optimizer starts elsewhere,
so theta within 1e-6 and the log-likelihood within 1e-9); update() must equal the fit its changed call
describes, as R's update().
"""
from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

import multilevel as ml
from multilevel.errors import ArgumentError, DataError

SLEEP = "Reaction ~ Days + (Days | Subject)"
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


@pytest.fixture(scope="module")
def sleep_fit():
    return ml.lmer(SLEEP, ml.datasets.load("sleepstudy"))


def test_lmer_refit_equals_a_fresh_fit(sleep_fit):
    data = ml.datasets.load("sleepstudy")
    y = sleep_fit.simulate(1, seed=1).to_numpy()[:, 0]
    fresh = ml.lmer(SLEEP, data.assign(Reaction=y))
    for fit in (sleep_fit, pickle.loads(pickle.dumps(sleep_fit))):  # unpickled: the problems are rebuilt
        refit = fit.refit(y)
        assert np.allclose(refit.theta, fresh.theta, atol=1e-6)
        assert refit.loglik == pytest.approx(fresh.loglik, abs=1e-9)
        assert np.allclose(refit.fixef(), fresh.fixef(), rtol=1e-6)
    assert np.allclose(sleep_fit.refit(sleep_fit.design.response).theta, sleep_fit.theta, atol=1e-7)


def test_glmer_refit_equals_a_fresh_fit():
    data = ml.datasets.load("cbpp")
    fit = ml.glmer(CBPP, data)
    y = fit.simulate(1, seed=2).to_numpy()[:, 0]  # proportions, as lme4's simulate
    successes = np.round(y * data["size"]).astype(int)
    fresh = ml.glmer(CBPP, data.assign(incidence=successes))
    refit = fit.refit(y)
    assert refit.loglik == pytest.approx(fresh.loglik, abs=1e-6)
    assert np.allclose(refit.fixef(), fresh.fixef(), rtol=1e-4, atol=1e-6)


def test_refit_checks_the_new_response(sleep_fit):
    with pytest.raises(DataError, match="one response value per row the fit used \\(180\\)"):
        sleep_fit.refit(np.ones(10))
    with pytest.raises(DataError, match="needs numbers for the new response"):
        sleep_fit.refit("x")
    with pytest.raises(DataError, match="1 missing or infinite"):
        sleep_fit.refit(np.r_[np.nan, np.ones(179)])


def test_update_makes_the_changed_call(sleep_fit):
    data = ml.datasets.load("sleepstudy")
    ml_fit = sleep_fit.update(reml=False)
    assert ml_fit.loglik == pytest.approx(ml.lmer(SLEEP, data, reml=False).loglik, rel=1e-12)
    smaller = ml.update(sleep_fit, "~ . - (Days | Subject) + (1 | Subject)")
    assert smaller.formula == "Reaction ~ Days + (1 | Subject)"
    assert smaller.loglik == pytest.approx(ml.lmer("Reaction ~ Days + (1 | Subject)", data).loglik, rel=1e-12)
    first = data[data.Days < 8]
    assert sleep_fit.update(data=first).nobs == len(first)
    lm = ml.lm("Reaction ~ Days", data).update("~ . + I(Days**2)")
    assert list(lm.coef().index) == ["(Intercept)", "Days", "I(Days ** 2)"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        glmer = ml.glmer(CBPP, ml.datasets.load("cbpp")).update(nagq=5)
    assert glmer.nagq == 5
    with pytest.raises(ArgumentError, match="unknown argument bogus"):
        sleep_fit.update(bogus=1)
    with pytest.raises(ArgumentError, match="does not record the call"):
        sleep_fit.refit(sleep_fit.design.response).update(reml=False)

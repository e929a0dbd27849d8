"""hatvalues() and cooks_distance() of lmer, glmer, lm and glm (issue 14, item 3).

References: tests/fixtures/lme4_influence.json, made by benchmarks/r/lme4_influence_refs.R (lme4 1.1.31's
hatvalues.merMod and cooks.distance.merMod; R 4.2's stats for lm and glm). Tolerances: lm/glm 1e-10
(the same arithmetic); mixed models 1e-4 relative for leverages and 2e-3 for Cook's distances (lmer with
lme4's default control sits ~1e-5 from the optimum in theta; Cook's distance squares the residual).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import multilevel as ml
from conftest import load_fixture
from multilevel.ml import influence

REF = load_fixture("lme4_influence.json")


@pytest.fixture(scope="module")
def fits():
    sleep = ml.datasets.load("sleepstudy")
    sleep["w"] = 1 + np.arange(1, len(sleep) + 1) % 3  # as the R script
    cbpp, penicillin = ml.datasets.load("cbpp"), ml.datasets.load("penicillin")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "lmer_slopes": ml.lmer("Reaction ~ Days + (Days | Subject)", sleep),
            "lmer_ml_weighted": ml.lmer("Reaction ~ Days + (1 | Subject)", sleep, weights="w", reml=False),
            "lmer_crossed": ml.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", penicillin),
            "glmer_cbpp": ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp),
            "lm_weighted": ml.lm("Reaction ~ Days", sleep, weights="w"),
            "glm_cbpp": ml.glm("cbind(incidence, size - incidence) ~ period", cbpp, family="binomial"),
            "glm_poisson": ml.glm("incidence ~ period + size", cbpp, family="poisson"),
        }


@pytest.mark.parametrize("key", ["lmer_slopes", "lmer_ml_weighted", "lmer_crossed", "glmer_cbpp",
                                 "lm_weighted", "glm_cbpp", "glm_poisson"])
def test_leverage_and_cooks_distance_agree_with_r(fits, key):
    fit, ref = fits[key], REF[key]
    mixed = key.startswith(("lmer", "glmer"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hat, cooks = fit.hatvalues(), fit.cooks_distance()
    assert any("may not make sense for GLMMs" in str(w.message) for w in caught) == key.startswith("glmer")
    assert np.allclose(hat, ref["hat"], rtol=1e-4 if mixed else 1e-10)
    assert np.allclose(cooks, ref["cooks"], rtol=2e-3 if mixed else 1e-10, atol=1e-12)
    assert hat.sum() == pytest.approx(ref["hat_sum"], rel=1e-5 if mixed else 1e-12)


def test_leverage_is_the_same_in_chunks(fits, monkeypatch):
    whole = fits["lmer_crossed"].hatvalues()
    monkeypatch.setattr(influence, "CHUNK_ENTRIES", 100)  # one or two rows per chunk
    assert np.allclose(fits["lmer_crossed"].hatvalues(), whole, rtol=1e-13)
    fit = fits["lmer_slopes"]  # between p and p + q: the effective number of parameters
    assert 2 < fit.hatvalues().sum() < 2 + 36

"""contrasts= as lme4's (issue 14, item 2): codings, R's column names, agreement with lme4.

References: tests/fixtures/lme4_contrasts.json, made by benchmarks/r/lme4_contrasts_refs.R (lme4 1.1.31,
R 4.2, MASS for contr.sdif): lmer with lme4's default control (REML), glmer with tight bobyqa control
(lme4's defaults stop short of the optimum; see benchmarks/r/glmer_tight_refs.R). Tolerances as the
other lme4 references: fixed effects and theta 1e-4 (relative / absolute), standard errors 1e-3.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from conftest import load_fixture
from multilevel.design import build_design
from multilevel.errors import ArgumentError, DataError

REF = load_fixture("lme4_contrasts.json")
CUSTOM = np.array(REF["custom"], dtype=float)  # 5 x 4, columns lin, quad, top, low
CODINGS = {"sum": "sum", "helmert": "contr.helmert", "poly": "poly", "sdif": "contr.sdif", "treatment": "treatment",
           "matrix": pd.DataFrame(CUSTOM, columns=["lin", "quad", "top", "low"], index=[0, 1, 2, 3, 4]),
           "matrix_unnamed": CUSTOM}
GLMER = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


@pytest.fixture(scope="module")
def sleep():
    data = ml.datasets.load("sleepstudy")
    return data.assign(dayf=pd.Categorical(data.Days // 2),  # as the R script: factor(Days %/% 2)
                       dayo=pd.Categorical(data.Days // 2, ordered=True),
                       half=np.where(data.Days < 5, "early", "late"))


def assert_agrees(fit, ref):
    fixef = fit.fixef()
    assert list(fixef.index) == ref["names"]
    expected = np.array([ref["fixef"][name] for name in ref["names"]])
    assert np.allclose(fixef.to_numpy(), expected, rtol=1e-4, atol=1e-8)
    assert np.allclose(np.asarray(fit.theta), ref["theta"], rtol=1e-4, atol=1e-4)
    assert np.allclose(np.sqrt(np.diag(np.asarray(fit.vcov()))), ref["se"], rtol=1e-3)


@pytest.mark.parametrize("key", list(CODINGS))
def test_lmer_codings_agree_with_lme4(sleep, key):
    fit = ml.lmer("Reaction ~ dayf + (1 | Subject)", sleep, contrasts={"dayf": CODINGS[key]})
    assert_agrees(fit, REF[f"lmer_{key}"])
    assert fit.reml_criterion == pytest.approx(REF[f"lmer_{key}"]["reml"], rel=1e-8)
    assert fit.contrasts == {"dayf": "matrix" if key.startswith("matrix") else f"contr.{key}"}


def test_interaction_ordered_factor_and_random_term(sleep):
    assert_agrees(ml.lmer("Reaction ~ dayf * Days + (Days | Subject)", sleep, contrasts={"dayf": "contr.sum"}),
                  REF["lmer_sum_interaction"])
    assert_agrees(ml.lmer("Reaction ~ dayo + (1 | Subject)", sleep, contrasts={"dayo": "contr.treatment"}),
                  REF["lmer_ordered_treatment"])
    assert_agrees(ml.lmer("Reaction ~ dayo + (1 | Subject)", sleep), REF["lmer_ordered_default"])
    # as lme4: contrasts= codes the fixed effects only; the random-effects term keeps treatment coding
    fit = ml.lmer("Reaction ~ half + (half | Subject)", sleep, contrasts={"half": "contr.sum"})
    assert_agrees(fit, REF["lmer_random_factor"])
    assert list(fit.ranef()["Subject"].columns) == REF["lmer_random_factor"]["ranef_names"]


@pytest.mark.parametrize("key", ["sum", "helmert", "sdif"])
def test_glmer_codings_agree_with_lme4(key):
    fit = ml.glmer(GLMER, ml.datasets.load("cbpp"), contrasts={"period": key})
    assert_agrees(fit, REF[f"glmer_{key}"])
    assert fit.loglik == pytest.approx(REF[f"glmer_{key}"]["loglik"], rel=1e-6)


def test_new_data_are_coded_as_the_fit(sleep):
    fit = ml.lmer("Reaction ~ dayf + (1 | Subject)", sleep, contrasts={"dayf": CODINGS["matrix"]})
    assert np.allclose(fit.predict(sleep.head(12)), fit.fitted()[:12])
    plain = sleep.head(12).assign(dayf=sleep.Days.head(12) // 2)  # integers, not a categorical
    assert np.allclose(fit.predict(plain), fit.fitted()[:12])
    lm = ml.lm("Reaction ~ dayf", sleep, contrasts={"dayf": "sum"})
    assert np.isclose(lm.coef()["(Intercept)"], sleep.groupby("dayf", observed=True).Reaction.mean().mean())


def test_codings_round_trip(sleep):
    first = build_design("Reaction ~ dayf + (1 | Subject)", sleep, contrasts={"dayf": CODINGS["matrix"]})
    again = build_design("Reaction ~ dayf + (1 | Subject)", sleep, contrasts=first.fixed.codings.as_argument())
    assert np.array_equal(first.fixed.matrix, again.fixed.matrix)
    assert first.fixed.column_names == again.fixed.column_names


def test_bad_contrasts_are_named(sleep):
    formula = "Reaction ~ dayf + Days + (1 | Subject)"
    with pytest.raises(ArgumentError, match="'dayf': unknown coding 'contr.bogus'"):
        build_design(formula, sleep, contrasts={"dayf": "contr.bogus"})
    with pytest.raises(ArgumentError, match="needs 4"):
        build_design(formula, sleep, contrasts={"dayf": CUSTOM[:, :2]})
    with pytest.raises(ArgumentError, match="needs 5 rows"):
        build_design(formula, sleep, contrasts={"dayf": CUSTOM[:4]})
    with pytest.raises(ArgumentError, match="do not span"):
        build_design(formula, sleep, contrasts={"dayf": np.ones((5, 4))})
    with pytest.raises(DataError, match="'Days': the column is numeric"):
        build_design(formula, sleep, contrasts={"Days": "sum"})
    with pytest.raises(ArgumentError, match="must be a dict"):
        build_design(formula, sleep, contrasts=["dayf"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_design(formula, sleep, contrasts={"half": "sum"})
    assert any("'half' ignored" in str(w.message) for w in caught)

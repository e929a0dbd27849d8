"""Fits do not depend on the units of the predictors (issue 10, point 2).

A predictor D = a * x + c recodes the same model as x: with M = [[1, c], [0, a]] mapping
(1, x) -> (1, D), the estimates transform exactly as beta_D = M^-1 beta_x, Sigma_D = M^-1 Sigma_x
M^-T, b_D = M^-1 b_x, vcov_D = M^-1 V_x M^-T, and the ML log-likelihood is the same. The REML
criterion depends on X's scale by 2 log|a| (lme4's does too). The second implementation here is
the fit of the unscaled predictor itself, which the lme4 reference tests pin (tests/test_lmer_reference.py,
tests/test_glmer_reference.py); lme4 itself fails this test (it warns "consider rescaling").
Tolerances: log-likelihood 1e-6 relative (the issue's bound; seen ~1e-13), estimates 1e-4 of
their standard error (glmer's optimizer stops at xtol 1e-6 in standardized units; seen < 1e-5).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import multilevel as ml

MAGNITUDES = [(1e-6, 0.0), (1e-3, 0.0), (1e3, 0.0), (1e6, 0.0), (1.0, 1e3), (1e4, -5e5), (1e-6, 7.0)]


def _fit(engine, formula, data, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ml.SingularFitWarning)
        warnings.simplefilter("error", ml.ConvergenceWarning)
        warnings.simplefilter("ignore", ml.MissingValuesWarning)
        return engine(formula, data, **kwargs)


def _recoded(data, column, a, c):
    out = data.copy()
    out["D"] = a * out[column] + c
    return out


def _covariance(fit, group):
    table = fit.varcorr()
    rows = table[table.grp == group]
    names = list(rows.var1[rows.var2.isna()])
    cov = np.zeros((len(names), len(names)))
    for _, row in rows.iterrows():
        i = names.index(row.var1)
        j = i if not isinstance(row.var2, str) else names.index(row.var2)
        cov[i, j] = cov[j, i] = row.vcov
    return cov


def _check_transformed(base, fit, a, c, slope_in_random: bool, group: str, reml: bool, vcov_rtol: float = 1e-4):
    """The fit of D = a x + c against the fit of x, transformed exactly. ``vcov_rtol``: glmer's
    covariance comes from a finite-difference Hessian at optima that agree to the optimizer's
    tolerance, so 1e-3 there (the tolerance tests/test_glmer_reference.py holds lme4's SEs to)."""
    p = len(base.fixef())
    m_fixed = np.eye(p)  # columns: (Intercept), x, others unchanged
    m_fixed[0, 1], m_fixed[1, 1] = c, a
    inv = np.linalg.inv(m_fixed)
    beta = inv @ base.fixef().to_numpy()
    se_d = np.sqrt(np.diag(inv @ base.vcov().to_numpy() @ inv.T))
    assert np.all(np.abs(fit.fixef().to_numpy() - beta) <= 1e-4 * se_d)
    np.testing.assert_allclose(fit.vcov().to_numpy(), inv @ base.vcov().to_numpy() @ inv.T, rtol=vcov_rtol)
    expected_loglik = base.loglik - (np.log(abs(a)) if reml else 0.0)  # REML: log|X'V^-1X| gains 2 log|a|
    assert fit.loglik == pytest.approx(expected_loglik, rel=1e-6)
    if slope_in_random:
        m = np.array([[1.0, c], [0.0, a]])
        mi = np.linalg.inv(m)
        np.testing.assert_allclose(_covariance(fit, group), mi @ _covariance(base, group) @ mi.T, rtol=1e-4,
                                   atol=1e-8 * np.abs(mi @ _covariance(base, group) @ mi.T).max())
        b_base = base.ranef(condvar=False)[group].to_numpy()
        b_fit = fit.ranef(condvar=False)[group].to_numpy()
        np.testing.assert_allclose(b_fit, b_base @ mi.T, rtol=1e-3, atol=1e-6 * np.abs(b_base @ mi.T).max())
    assert not fit.is_singular()


@pytest.mark.parametrize("reml", [False, True])
@pytest.mark.parametrize("a,c", MAGNITUDES)
def test_lmer_sleepstudy_recoded_slope(a, c, reml):
    sleep = ml.datasets.load("sleepstudy")
    base = _fit(ml.lmer, "Reaction ~ Days + (Days | Subject)", sleep, reml=reml)
    fit = _fit(ml.lmer, "Reaction ~ D + (D | Subject)", _recoded(sleep, "Days", a, c), reml=reml)
    _check_transformed(base, fit, a, c, True, "Subject", reml)
    assert fit.sigma == pytest.approx(base.sigma, rel=1e-6)


def test_issue_example_no_longer_singular():
    """The issue's numbers: Days x 1e4 gave logLik -876.47 with a singular-fit warning (ML)."""
    sleep = _recoded(ml.datasets.load("sleepstudy"), "Days", 1e4, 0.0)
    fit = _fit(ml.lmer, "Reaction ~ D + (D | Subject)", sleep, reml=False)
    assert fit.loglik == pytest.approx(-875.9697, abs=1e-4)  # lme4: logLik(lmer(..., REML=FALSE)) -875.9697


@pytest.mark.parametrize("a,c", [(1e-6, 0.0), (1e6, 0.0), (1e2, -40.0)])
def test_lmer_mathachieve_recoded_ses(a, c):
    data = ml.datasets.load("mathachieve")
    base = _fit(ml.lmer, "mathach ~ ses + sex + (ses | school)", data, reml=False)
    fit = _fit(ml.lmer, "mathach ~ D + sex + (D | school)", _recoded(data, "ses", a, c), reml=False)
    _check_transformed(base, fit, a, c, True, "school", False)


def test_lmer_uncorrelated_slope_scaled():
    """(x || g) splits into (1 | g) + (0 + x | g): scaling keeps the model (a shift would not)."""
    sleep = ml.datasets.load("sleepstudy")
    base = _fit(ml.lmer, "Reaction ~ Days + (Days || Subject)", sleep, reml=False)
    for a in (1e-6, 1e6):
        fit = _fit(ml.lmer, "Reaction ~ D + (D || Subject)", _recoded(sleep, "Days", a, 0.0), reml=False)
        assert fit.loglik == pytest.approx(base.loglik, rel=1e-9)
        sd_base = base.varcorr().sdcor.to_numpy()
        sd_fit = fit.varcorr().sdcor.to_numpy()
        np.testing.assert_allclose(sd_fit, sd_base * np.array([1.0, 1.0 / a, 1.0]), rtol=1e-5)


@pytest.mark.parametrize("a,c", [(1e-6, 0.0), (1e7, 0.0), (1e3, 1e5)])
def test_glmer_poisson_recoded_height(a, c):
    ticks = ml.datasets.load("grouseticks")
    formula = "TICKS ~ {} + YEAR + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)"
    base = _fit(ml.glmer, formula.format("HEIGHT"), ticks, family="poisson")
    fit = _fit(ml.glmer, formula.format("D"), _recoded(ticks, "HEIGHT", a, c), family="poisson")
    _check_transformed(base, fit, a, c, False, "BROOD", False, vcov_rtol=1e-3)


@pytest.mark.parametrize("a,c", [(1e-6, 0.0), (1e6, 0.0), (10.0, 300.0)])
def test_glmer_binomial_recoded_random_slope(a, c):
    data = ml.datasets.load("bangladesh")
    formula = "use.contraception ~ {0} + urban + ({0} | district)"
    base = _fit(ml.glmer, formula.format("age.centered"), data, family="binomial")
    fit = _fit(ml.glmer, formula.format("D"), _recoded(data, "age.centered", a, c), family="binomial")
    _check_transformed(base, fit, a, c, True, "district", False, vcov_rtol=1e-3)


def test_record_reports_original_coordinates():
    sleep = _recoded(ml.datasets.load("sleepstudy"), "Days", 1e4, 0.0)
    fit = _fit(ml.lmer, "Reaction ~ D + (D | Subject)", sleep)
    record = fit.optimizer
    assert record.final_objective == pytest.approx(fit.reml_criterion, rel=1e-10)
    np.testing.assert_allclose(record.final, fit.theta)
    searched = record.settings["standardization"]
    assert len(searched["final"]) == len(fit.theta)
    # the theta the optimizer saw is of order one, whatever the units of D
    assert 0.01 < abs(searched["final"][2]) < 10


def test_profile_intervals_follow_the_units():
    """Profile refits search in standardized coordinates too: the interval of D = Days x 1e4 is
    Days's interval / 1e4, and the slope's sd interval scales the same way."""
    sleep = ml.datasets.load("sleepstudy")
    base = _fit(ml.lmer, "Reaction ~ Days + (Days | Subject)", sleep, reml=False)
    fit = _fit(ml.lmer, "Reaction ~ D + (D | Subject)", _recoded(sleep, "Days", 1e4, 0.0), reml=False)
    ci_base = base.confint("profile", parm=[".sig03", "Days"])
    ci_fit = fit.confint("profile", parm=[".sig03", "D"])
    np.testing.assert_allclose(ci_fit.to_numpy(), ci_base.to_numpy() / 1e4, rtol=1e-4)


@pytest.mark.parametrize("a", [1e-5, 1e5])
def test_bootstrap_refits_in_any_units(a):
    sleep = _recoded(ml.datasets.load("sleepstudy"), "Days", a, 0.0)
    fit = _fit(ml.lmer, "Reaction ~ D + (D | Subject)", sleep)
    ci = fit.confint("boot", nsim=20, seed=3)
    slope = ci.loc["D"].to_numpy() * a  # back in Days's units
    assert slope[0] < 10.467 < slope[1] and 2 < slope[1] - slope[0] < 20  # Wald 95%: 7.44, 13.50
    sd_slope = ci.loc[".sig03"].to_numpy() * a
    assert 1 < sd_slope[0] < 5.92 < sd_slope[1] < 20  # lme4: sd of the Days slopes 5.92


def test_an_outlier_does_not_stall_the_search():
    """Found by the formula fuzzer (tests/fixtures/outlier_slope.csv: its data with frac = 1e300 in
    row 47): log(frac) has one value of 690.8 among values in [-4.4, 0]. Scaled by the standard
    deviation, the rest of the column sat within 0.05 and the Laplace stage took 59,570 evaluations
    (54 s); as given, 1,246; scaled by the median absolute deviation, ~1,230 (about 1 s)."""
    import pandas as pd
    from pathlib import Path

    data = pd.read_csv(Path(__file__).parent / "fixtures" / "outlier_slope.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.SingularFitWarning)
        fit = ml.glmer("bin ~ ni + f + (np.log(frac) | g:h)", data, family="binomial")
    assert fit.optimizer.n_evaluations < 5000
    assert fit.loglik == pytest.approx(-38.786687, abs=1e-5)  # the search as given reaches -38.7866870

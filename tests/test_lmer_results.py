"""Results of an lmer fit against lme4 1.1.31 (tests/fixtures/lme4_extra.json, lme4 default settings).

lme4's default fit of sleepstudy stops with theta within 1e-5 (relative) of the optimum, so
quantities derived from it (random effects, fitted values, intervals) are compared at 1e-4;
lme4's profile intervals are spline-interpolated and compared at 2e-4.
"""
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from conftest import LME4_EXTRA, fitted, relative_error

SLEEP = LME4_EXTRA["sleepstudy_fm1"]


def test_ranef_and_condvar(sleep_fit):
    ref = SLEEP["ranef"]
    re = sleep_fit.ranef()["Subject"]
    assert list(re.index) == ref["levels"]
    assert np.allclose(re["(Intercept)"], ref["(Intercept)"], rtol=1e-4, atol=1e-4)
    assert np.allclose(re["Days"], ref["Days"], rtol=1e-4, atol=1e-4)
    condvar = re.attrs["condvar"]
    expected = np.array(ref["postVar"])
    assert np.allclose(condvar[:, 0, 0], expected[:, 0], rtol=1e-4)
    assert np.allclose(condvar[:, 0, 1], expected[:, 1], rtol=1e-4)
    assert np.allclose(condvar[:, 1, 1], expected[:, 2], rtol=1e-4)


def test_condvar_crossed_penicillin():
    ref = LME4_EXTRA["penicillin_ranef"]
    re = fitted("penicillin_reml").ranef()
    assert np.allclose(re["sample"]["(Intercept)"], ref["sample"]["(Intercept)"], rtol=1e-4)
    assert np.allclose(re["sample"].attrs["condvar"][:, 0, 0], ref["sample"]["postVar"], rtol=1e-4)
    assert np.allclose(re["plate"].attrs["condvar"][:5, 0, 0], ref["plate_first5"]["postVar"], rtol=1e-4)


def test_coef_is_fixef_plus_ranef(sleep_fit):
    coef = sleep_fit.coef()["Subject"]
    ref = SLEEP["coef"]
    assert list(coef.columns) == ["(Intercept)", "Days"]
    expected = sleep_fit.fixef().to_numpy() + sleep_fit.ranef(condvar=False)["Subject"].to_numpy()
    assert np.allclose(coef.to_numpy(), expected, rtol=1e-12)
    assert np.allclose(coef["Days"], ref["Days"] if "Days" in ref else ref["values"]["Days"], rtol=1e-4)


def test_vcov_and_fixed_correlation(sleep_fit):
    assert np.allclose(sleep_fit.vcov().to_numpy(), SLEEP["vcov"]["values"], rtol=1e-4)
    # REFERENCE_lme4.md row 2: correlation of the fixed effects -0.1375 (tests/lmer-1.R:55, tol 4e-4)
    v = sleep_fit.vcov().to_numpy()
    assert abs(v[0, 1] / np.sqrt(v[0, 0] * v[1, 1]) - (-0.1375)) < 4e-4


def test_fitted_residuals(sleep_fit):
    assert np.allclose(sleep_fit.fitted()[:10], SLEEP["fitted_1_10"]["values"], rtol=1e-6)
    assert np.allclose(sleep_fit.residuals()[:10], SLEEP["residuals_1_10"]["values"], rtol=1e-3, atol=1e-3)
    q = np.quantile(sleep_fit.residuals(scaled=True), [0, 0.25, 0.5, 0.75, 1])
    assert np.allclose(q, SLEEP["scaled_residuals_quantiles"]["values"], rtol=1e-4, atol=1e-5)
    assert np.allclose(sleep_fit.fitted() + sleep_fit.residuals(), sleep_fit.design.response)


def test_predict_new_levels_and_population(sleep_fit):
    ref = SLEEP["predict_newdata"]
    newdata = pd.DataFrame(ref["newdata"])
    got = sleep_fit.predict(newdata, allow_new_levels=True)
    assert np.allclose(got, ref["allow_new_levels"]["values"], rtol=1e-6)
    assert np.allclose(sleep_fit.predict(newdata, re_form="~0"), ref["re_form_NA"]["values"], rtol=1e-9)
    with pytest.raises(ml.DataError, match="999"):
        sleep_fit.predict(newdata)
    assert np.allclose(sleep_fit.predict(), sleep_fit.fitted())
    # a formula naming the bars to keep
    assert np.allclose(sleep_fit.predict(newdata, re_form="~(Days | Subject)", allow_new_levels=True), got)


def test_predict_encodes_factors_as_at_fit_time():
    data = ml.datasets.load("cbpp")
    data["rate"] = data.incidence / data["size"]
    fit = ml.lmer("rate ~ period + (1 | herd)", data)
    assert list(fit.fixef().index) == ["(Intercept)", "period2", "period3", "period4"]
    subset = data.iloc[[5, 9]].copy()  # only some periods present in the new data
    assert np.allclose(fit.predict(subset), fit.fitted()[[5, 9]])


def test_wald_intervals_reference_values(sleep_fit):
    # REFERENCE_lme4.md row 6: Wald 95% CI for Days 7.437592, 13.496980 (tests/confint.R:13, tol 1e-6)
    ci = sleep_fit.confint("wald")
    assert np.allclose(ci.loc["Days"], [7.437592, 13.496980], rtol=1e-6)
    assert ci.loc[".sig01"].isna().all()
    assert list(ci.index) == [".sig01", ".sig02", ".sig03", ".sigma", "(Intercept)", "Days"]


def test_wald_intervals_random_intercept():
    # REFERENCE_lme4.md row 7 (tests/testthat/test-methods.R:319, tol 1e-5)
    ci = fitted("sleep_int_reml").confint("wald")
    assert np.allclose(ci.loc["(Intercept)"], [232.301892, 270.508318], rtol=1e-5)
    assert np.allclose(ci.loc["Days"], [8.891041, 12.043531], rtol=1e-5)


def test_profile_intervals_match_lme4(sleep_fit):
    ref = SLEEP["confint_profile"]
    ci = sleep_fit.confint("profile")
    assert list(ci.index) == ref["rownames"]
    assert np.allclose(ci.to_numpy(), np.array(ref["values"]), rtol=2e-4, atol=1e-4)


def test_profile_dyestuff_reference_values():
    # REFERENCE_lme4.md row 9: profile CI of lmer(Yield ~ 1|Batch, Dyestuff, REML=FALSE)
    # sigma 38.22998, 67.65770 (tests/profile-tst.R:48, tol 1e-6 on lme4's own spline; ours: 1e-5)
    # (Intercept) 1486.451500, 1568.548494 (tol 1.5e-8)
    fit = fitted("dyestuff_ml")
    ci = fit.confint("profile")
    assert np.allclose(ci.loc[".sigma"], [38.22998, 67.65770], rtol=1e-5)
    assert np.allclose(ci.loc["(Intercept)"], [1486.451500, 1568.548494], rtol=1.5e-8, atol=0)
    ref = LME4_EXTRA["dyestuff_ml_confint_profile"]
    assert np.allclose(ci.loc[".sig01"], ref["values"][0], rtol=2e-4)


def test_bootstrap_intervals_cover_estimates():
    fit = fitted("dyestuff_reml")
    ci = fit.confint("boot", nsim=40, seed=1)
    assert ci.attrs["replicates"].shape == (40, 3)
    assert ci.loc["(Intercept)", "2.5 %"] < 1527.5 < ci.loc["(Intercept)", "97.5 %"]
    assert ci.loc[".sigma", "2.5 %"] < fit.sigma < ci.loc[".sigma", "97.5 %"]
    # reproducible with a seed
    assert np.allclose(ci.to_numpy(), fit.confint("boot", nsim=40, seed=1).to_numpy())


def test_anova_refits_by_ml_and_matches_lme4(sleep_fit):
    ref = LME4_EXTRA["sleepstudy_anova"]["table"]
    table = ml.anova(fitted("sleep_int_reml"), sleep_fit, names=["fm0", "fm1"])
    assert list(table.index) == ["fm0", "fm1"]
    for row, expected in zip(table.itertuples(), ref):
        assert row.npar == expected["npar"]
        assert relative_error([row.AIC, row.BIC, row.logLik, row.deviance],
                              [expected["AIC"], expected["BIC"], expected["logLik"], expected["deviance"]]) < 1e-8
    assert abs(table["Chisq"].iloc[1] - ref[1]["Chisq"]) < 1e-6
    assert relative_error(table["Pr(>Chisq)"].iloc[1], ref[1]["Pr(>Chisq)"]) < 1e-5
    assert "Pr(>Chisq)" in str(table)


def test_aic_bic_of_ml_refits():
    # REFERENCE_lme4.md row 5: AIC/BIC of ML refits of (Days|Subject) and (1|Subject)+(0+Days|Subject)
    data = ml.datasets.load("sleepstudy")
    m1 = ml.lmer("Reaction ~ Days + (Days|Subject)", data, reml=False)
    m2 = ml.lmer("Reaction ~ Days + (1|Subject) + (0+Days|Subject)", data, reml=False)
    assert np.allclose([m1.aic, m2.aic, m1.bic, m2.bic], [1763.94, 1762, 1783.1, 1777.97], rtol=1e-5)


def test_reml_refit_ml_deviance(sleep_fit):
    # REFERENCE_lme4.md row 4: refitML(fm1) deviance 1751.939 (REMLdev.R:18)
    assert abs(sleep_fit.refit_ml().deviance - 1751.93934446321) < 1e-6


def test_dyestuff_reference_values():
    # REFERENCE_lme4.md row 8 (tests/testthat/test-lmer.R): fixef 1527.5, Batch variance 1764.0375 (1e-5),
    # sigma 49.5101272946856 (1e-6), REMLcrit 319.654276842342 (1.5e-8), theta 0.84832031 (6e-6),
    # vcov[1,1] 375.714676744 (1e-5); ML deviance 327.327059881135 (1.5e-8), ML vcov 313.09721874266 (1e-7)
    fit = fitted("dyestuff_reml")
    assert fit.fixef().iloc[0] == pytest.approx(1527.5, rel=1e-12)
    assert fit.varcorr().vcov.iloc[0] == pytest.approx(1764.0375195, rel=1e-5)
    assert fit.sigma == pytest.approx(49.5101272946856, rel=1e-6)
    assert fit.reml_criterion == pytest.approx(319.654276842342, rel=1.5e-8)
    assert fit.theta[0] == pytest.approx(0.84832031, rel=6e-6)
    assert fit.vcov().iloc[0, 0] == pytest.approx(375.714676744, rel=1e-5)
    ml_fit = fitted("dyestuff_ml")
    assert ml_fit.deviance == pytest.approx(327.327059881135, rel=1.5e-8)
    assert ml_fit.vcov().iloc[0, 0] == pytest.approx(313.09721874266, rel=1e-7)


def test_simulate_has_the_fitted_moments(sleep_fit):
    sims = sleep_fit.simulate(200, seed=3)
    assert sims.shape == (180, 200)
    assert np.allclose(sims.mean(axis=1).mean(), sleep_fit.design.fixed.matrix.mean(axis=0) @ sleep_fit.fixef(), rtol=0.02)
    # total variance per day 0 observation: intercept variance + residual variance
    vc = sleep_fit.varcorr()
    day0 = sleep_fit.design.fixed.matrix[:, 1] == 0
    expected = vc.vcov.iloc[0] + vc.vcov.iloc[3]
    assert np.var(sims.to_numpy()[day0]) == pytest.approx(expected, rel=0.2)
    assert np.allclose(sims, sleep_fit.simulate(200, seed=3))


def test_icc_random_intercept():
    fit = fitted("dyestuff_reml")
    vc = fit.varcorr()
    assert fit.icc().iloc[0] == pytest.approx(vc.vcov.iloc[0] / vc.vcov.sum())


def test_pickle_round_trip_keeps_every_result(sleep_fit, tmp_path):
    path = tmp_path / "fit.pkl"
    path.write_bytes(pickle.dumps(sleep_fit))
    loaded = pickle.loads(path.read_bytes())
    assert np.array_equal(loaded.theta, sleep_fit.theta)
    assert str(loaded.summary()) == str(sleep_fit.summary())
    assert np.allclose(loaded.ranef()["Subject"].attrs["condvar"], sleep_fit.ranef()["Subject"].attrs["condvar"])
    nd = pd.DataFrame({"Days": [1, 2], "Subject": ["308", "372"]})
    assert np.allclose(loaded.predict(nd), sleep_fit.predict(nd))
    assert loaded.deviance == pytest.approx(sleep_fit.deviance)
    assert loaded.optimizer.n_evaluations == sleep_fit.optimizer.n_evaluations


def test_summary_text_like_lme4(sleep_fit):
    text = str(sleep_fit.summary())
    for piece in ["Linear mixed model fit by REML ['lmerMod']", "REML criterion at convergence: 1743.6",
                  "Scaled residuals:", "Random effects:", "Number of obs: 180, groups:  Subject, 18",
                  "Fixed effects:", "(Intercept)  251.405      6.825  36.838",
                  "Days          10.467      1.546   6.771", "Correlation of Fixed Effects:", "Days -0.138"]:
        assert piece in text
    html = sleep_fit._repr_html_()
    assert html.startswith("<div") and "<table" in html and "Fixed effects" in html
    assert "REML criterion at convergence: 1743.628" in str(sleep_fit)


def test_ml_summary_has_information_criteria():
    text = str(fitted("insteval_ml").summary())
    assert "AIC" in text and "237733.8" in text and "237789.0" in text and "73415" in text
    assert "s, 2972; d, 1128; dept, 14" in text


def test_optimizer_record(sleep_fit):
    record = sleep_fit.optimizer
    assert record.optimizer == "nlopt LN_BOBYQA"
    assert record.n_evaluations > 10 and record.elapsed_seconds > 0
    assert record.final_objective == pytest.approx(sleep_fit.reml_criterion)
    assert record.initial_objective > record.final_objective
    # lme4's start (identity factors) in the standardized coordinates the optimizer searched
    # (multilevel.ml.standardize); record.initial is that start mapped to Days' units
    assert np.array_equal(record.settings["standardization"]["initial"], [1.0, 0.0, 1.0])
    np.testing.assert_allclose(record.final, sleep_fit.theta)


def test_weights_scale_the_residual_variance():
    data = ml.datasets.load("sleepstudy")
    unweighted = ml.lmer("Reaction ~ Days + (1|Subject)", data)
    doubled = ml.lmer("Reaction ~ Days + (1|Subject)", data, weights=np.full(len(data), 2.0))
    # weight 2 claims var(e) = sigma^2 / 2, so sigma^2 doubles; beta and the Subject variance stay
    assert doubled.sigma**2 == pytest.approx(2 * unweighted.sigma**2, rel=1e-6)
    assert np.allclose(doubled.fixef(), unweighted.fixef(), rtol=1e-6)
    assert doubled.varcorr().vcov.iloc[0] == pytest.approx(unweighted.varcorr().vcov.iloc[0], rel=1e-5)


def test_rank_deficient_columns_dropped_with_a_message():
    # lme4: "fixed-effect model matrix is rank deficient so dropping 1 column / coefficient"
    data = ml.datasets.load("sleepstudy")
    data["Days2"] = 2 * data["Days"]
    with pytest.warns(UserWarning, match="rank deficient so dropping 1 column / coefficient: Days2"):
        fit = ml.lmer("Reaction ~ Days + Days2 + (1|Subject)", data)
    expected = LME4_EXTRA["rank_deficient"]["fixef"]
    assert list(fit.fixef().index) == list(expected)
    assert np.allclose(fit.fixef(), list(expected.values()), rtol=1e-9)


def test_is_singular_and_warning():
    data = ml.datasets.load("classroom")
    with pytest.warns(ml.SingularFitWarning):
        fit = ml.lmer("mathscore ~ ses + (ses||classid) + (ses|schoolid)", data)
    assert fit.is_singular()
    assert not fitted("sleep_slopes_reml").is_singular()


def test_uncorrelated_terms_merge_in_ranef():
    fit = fitted("sleep_diag_reml")
    re = fit.ranef()["Subject"]
    assert list(re.columns) == ["(Intercept)", "Days"]
    assert re.attrs["condvar"].shape == (18, 2, 2)
    assert list(fit.varcorr().grp) == ["Subject", "Subject.1", "Residual"]


def test_small_fit_is_fast_enough_to_refit_often():
    # not a timing assertion: the optimizer must need few evaluations for a small model
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = ml.lmer("Reaction ~ Days + (Days|Subject)", ml.datasets.load("sleepstudy"))
    assert fit.optimizer.n_evaluations < 200


def test_varcorr_prints_as_lme4_and_stays_a_frame(sleep_fit):
    # lme4 1.1-35, print(VarCorr(fm1)) for Reaction ~ Days + (Days | Subject), REML:
    #  Groups   Name        Std.Dev. Corr
    #  Subject  (Intercept) 24.7407
    #           Days         5.9221  0.066
    #  Residual             25.5918
    # (our REML optimum differs from lme4's in the 5th significant digit of the intercept sd)
    vc = sleep_fit.varcorr()
    lines = str(vc).splitlines()
    assert lines[0].split() == ["Groups", "Name", "Std.Dev.", "Corr"]
    assert lines[1].startswith(" Subject  (Intercept) 24.740")
    assert lines[2] == "          Days         5.9221  0.066"
    assert lines[3].startswith(" Residual             25.59")
    # the data frame of as.data.frame(VarCorr(fm1)) is still there, and slices are plain frames
    assert list(vc.columns) == ["grp", "var1", "var2", "vcov", "sdcor"]
    assert vc.sdcor.iloc[0] == pytest.approx(24.7407, rel=2e-5)
    sub = vc[vc.var2.isna()]
    assert type(sub) is pd.DataFrame and len(sub) == 3
    assert "<table" in vc._repr_html_() and "Std.Dev." in vc._repr_html_()


def test_varcorr_negative_correlation_widens_the_column():
    # R formats a term's correlation matrix to one width: a negative entry pads the positive ones
    data = ml.datasets.load("sleepstudy").assign(Down=lambda d: -d["Days"])
    fit = ml.lmer("Reaction ~ Down + (Down | Subject)", data)
    text = str(fit.varcorr())
    assert "-0.066" in text

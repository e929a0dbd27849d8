"""ml.lm and ml.glm against R 4.2.2's stats::lm / stats::glm (and lme4 1.1.31 for the mixed anova).

Reference numbers: tests/fixtures/lm_glm_R.json, made by benchmarks/r/lm_glm_reference.R.
Tolerance: 1e-8 relative for everything lm and glm compute (measured: ~1e-13 or better; both sides
solve the same least-squares systems to rounding). The likelihood-ratio rows that involve a mixed
model carry that model's own optimizer tolerance (stated at each test).
"""
from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.errors import (
    ArgumentError,
    DataError,
    MissingValuesWarning,
    ModelError,
    MultilevelError,
)
from multilevel.results.protocol import MissingCapability, answers

R = json.loads((Path(__file__).parent / "fixtures" / "lm_glm_R.json").read_text())
RTOL = 1e-8  # relative, against R (see the module docstring)

LM_MODELS = {  # fixture key -> (formula, data, options); R's formulas are in the R script
    "lm_days": ("Reaction ~ Days", "sleepstudy", {}),
    "lm_days_subject": ("Reaction ~ Days * Subject", "sleepstudy", {}),
    "lm_weighted": ("I(incidence / size) ~ period", "cbpp", {"weights": "size"}),
    "lm_rank_deficient": ("Reaction ~ Days + I(10 - Days)", "sleepstudy", {}),
    "lm_offset_zero_weights": ("Reaction ~ Days + offset(2 * Days)", "sleep_w", {"weights": "w"}),
}
GLM_MODELS = {
    "glm_binomial_cbind": ("cbind(incidence, size - incidence) ~ period", "cbpp", {"family": "binomial"}),
    "glm_binomial_proportion": ("I(incidence / size) ~ period", "cbpp", {"family": "binomial", "weights": "size"}),
    "glm_poisson": ("TICKS ~ YEAR + HEIGHT", "grouseticks", {"family": "poisson"}),
    "glm_poisson_zero_weights": ("TICKS ~ YEAR + HEIGHT", "grouse_w", {"family": "poisson", "weights": "w"}),
    "glm_poisson_offset": ("TICKS ~ YEAR + cHEIGHT + offset(log(HEIGHT))", "grouseticks", {"family": "poisson"}),
    "glm_gamma_log": ("Reaction ~ Days", "sleepstudy", {"family": "Gamma", "link": "log"}),
    "glm_gamma_inverse": ("Reaction ~ Days", "sleepstudy", {"family": "Gamma"}),
    "glm_bernoulli": ("use.contraception ~ urban + age.centered", "bangladesh", {"family": "binomial"}),
    "glm_bernoulli_probit": ("use.contraception ~ urban + age.centered", "bangladesh",
                             {"family": "binomial", "link": "probit"}),
    "glm_gaussian": ("Reaction ~ Days", "sleepstudy", {}),
    "glm_inverse_gaussian": ("Reaction ~ Days", "sleepstudy", {"family": "inverse.gaussian"}),
}


@functools.cache
def data(name: str) -> pd.DataFrame:
    """A bundled data set, or one with the weight column the R script adds (w: 0, 1, 2, ... repeated)."""
    if name == "sleep_w":
        frame = ml.datasets.load("sleepstudy")
        return frame.assign(w=np.resize([0.0, 1.0, 2.0], len(frame)))
    if name == "grouse_w":
        frame = ml.datasets.load("grouseticks")
        return frame.assign(w=np.resize([0.0, 1.0, 1.0, 3.0], len(frame)))
    return ml.datasets.load(name)


@functools.cache
def fit(key: str):
    """Each reference model fitted once per session."""
    models = {**LM_MODELS, **GLM_MODELS}
    formula, dataset, options = models[key]
    engine = ml.lm if key.startswith("lm") else ml.glm
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the rank-deficient model warns that it drops a column
        return engine(formula, data(dataset), data_name=dataset, **options)


def r_values(values) -> np.ndarray:
    """R's numbers from the JSON (NA -> NaN)."""
    values = values if isinstance(values, list) else [values]
    return np.array([np.nan if v == "NA" else v for v in values], dtype=float)


def assert_close(actual, expected, rtol: float = RTOL):
    np.testing.assert_allclose(np.atleast_1d(np.asarray(actual, dtype=float)), r_values(expected), rtol=rtol,
                               atol=0, equal_nan=True)


# ---- lm ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", LM_MODELS)
def test_lm_matches_r(key):
    f, ref = fit(key), R[key]
    table = f.coef_table()
    assert list(f.coef().index) == ref["coef_names"]
    assert_close(f.coef(), ref["coef"])
    assert list(table.index) == ref["table_rows"]
    assert_close(table["Std. Error"], ref["se"])
    assert_close(table["t value"], ref["t"])
    assert_close(table["Pr(>|t|)"], ref["p"])
    assert_close(np.diag(f.vcov()), ref["vcov_diag"])  # complete: NaN for the aliased column, as R
    for name in ("sigma", "r_squared", "adj_r_squared", "loglik", "aic", "bic", "deviance"):
        assert_close(getattr(f, name), ref[name])
    assert (f.df_residual, f.rank, f.nobs, f.n_parameters) == (ref["df_residual"], ref["rank"], ref["nobs"],
                                                                ref["loglik_df"])
    assert_close(f.fstatistic(), ref["fstatistic"])
    assert_close(f.f_pvalue(), ref["f_pvalue"])
    ci = f.confint()  # NaN rows for aliased coefficients, as R's NA
    assert list(ci.columns) == ["2.5 %", "97.5 %"]
    assert_close(ci.iloc[:, 0], ref["confint_lower"])
    assert_close(ci.iloc[:, 1], ref["confint_upper"])
    assert_close(f.fitted()[:10], ref["fitted_head"])
    assert_close(f.residuals()[:10], ref["residuals_head"])


def test_rank_deficient_lm_reports_na_coefficient():
    f = fit("lm_rank_deficient")
    assert f.aliased == ("I(10 - Days)",)
    assert np.isnan(f.coef()["I(10 - Days)"]) and np.isnan(f.vcov().loc["I(10 - Days)", "Days"])
    assert "Coefficients: (1 not defined because of singularities)" in str(f.summary())
    with pytest.warns(UserWarning, match="rank deficient"):
        ml.lm("Reaction ~ Days + I(10 - Days)", data("sleepstudy"))


def test_lm_predict_with_se_and_intervals():
    f, ref = fit("lm_days"), R["lm_predict"]
    new = pd.DataFrame({"Days": ref["newdata_days"]})
    conf = f.predict(new, se_fit=True, interval="confidence")
    assert_close(conf["fit"], ref["fit"])
    assert_close(conf["se_fit"], ref["se_fit"])
    assert_close(conf["lwr"], ref["conf_lwr"])
    assert_close(conf["upr"], ref["conf_upr"])
    pred = f.predict(new, interval="prediction", level=0.9)
    assert_close(pred["lwr"], ref["pred90_lwr"])
    assert_close(pred["upr"], ref["pred90_upr"])
    assert_close(f.predict(new), ref["fit"])
    np.testing.assert_allclose(f.predict(), f.fitted())


def test_weighted_lm_predict_on_factor_levels():
    f, ref = fit("lm_weighted"), R["lm_weighted_predict"]
    new = pd.DataFrame({"period": ["1", "2", "3", "4"]})
    out = f.predict(new, se_fit=True, interval="confidence")
    assert_close(out["fit"], ref["fit"])
    assert_close(out["se_fit"], ref["se_fit"])
    assert_close(out["lwr"], ref["lwr"])
    assert_close(out["upr"], ref["upr"])


# ---- glm -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", GLM_MODELS)
def test_glm_matches_r(key):
    f, ref = fit(key), R[key]
    table = f.coef_table()
    assert list(f.coef().index) == ref["coef_names"]
    assert_close(f.coef(), ref["coef"])
    assert_close(table["Std. Error"], ref["se"])
    assert_close(table.iloc[:, 2], ref["stat"])
    assert_close(table.iloc[:, 3], ref["p"])
    assert_close(np.diag(f.vcov()), ref["vcov_diag"])
    for name in ("dispersion", "deviance", "null_deviance", "loglik", "aic", "bic"):
        assert_close(getattr(f, name), ref[name])
    assert (f.df_residual, f.df_null, f.nobs, f.n_parameters) == (ref["df_residual"], ref["df_null"], ref["nobs"],
                                                                  ref["loglik_df"])
    assert f.iterations == ref["iter"] and f.converged
    ci = f.confint()  # Wald intervals (R's confint.default)
    assert_close(ci.iloc[:, 0], ref["wald_lower"])
    assert_close(ci.iloc[:, 1], ref["wald_upper"])
    assert_close(f.fitted()[:10], ref["fitted_head"])
    for kind in ("deviance", "pearson", "working", "response"):
        assert_close(f.residuals(kind)[:10], ref[f"resid_{kind}_head"])


def test_glm_test_statistic_is_t_when_the_dispersion_is_estimated():
    assert list(fit("glm_gamma_log").coef_table().columns[2:]) == ["t value", "Pr(>|t|)"]
    assert list(fit("glm_poisson").coef_table().columns[2:]) == ["z value", "Pr(>|z|)"]


def test_glm_predict_link_and_response_with_se():
    f, ref = fit("glm_binomial_cbind"), R["glm_binomial_predict"]
    new = pd.DataFrame({"period": ["1", "2", "3", "4"]})
    link = f.predict(new, se_fit=True)
    response = f.predict(new, type="response", se_fit=True)
    assert_close(link["fit"], ref["link"])
    assert_close(link["se_fit"], ref["link_se"])
    assert_close(response["fit"], ref["response"])
    assert_close(response["se_fit"], ref["response_se"])
    np.testing.assert_allclose(f.predict(type="response"), f.fitted())


def test_glm_predict_evaluates_the_formula_offset_on_new_data():
    f, ref = fit("glm_poisson_offset"), R["glm_poisson_offset_predict"]
    new = pd.DataFrame({"YEAR": ref["YEAR"], "cHEIGHT": ref["cHEIGHT"], "HEIGHT": ref["HEIGHT"]})
    out = f.predict(new, type="response", se_fit=True)
    assert_close(out["fit"], ref["response"])
    assert_close(out["se_fit"], ref["response_se"])
    gamma, ref = fit("glm_gamma_log"), R["glm_gamma_predict"]
    out = gamma.predict(pd.DataFrame({"Days": [0, 4.5, 9]}), se_fit=True)
    assert_close(out["fit"], ref["link"])
    assert_close(out["se_fit"], ref["link_se"])


# ---- printed summaries: R's key lines --------------------------------------------------------------
def key_lines(text_lines) -> list[str]:
    """The lines of a printed summary that carry numbers, right-stripped (R pads with spaces; R 4.2's
    summary.glm also printed deviance-residual quantiles, which R 4.3 dropped and we do not print)."""
    lines = [line.rstrip() for line in text_lines]
    out, in_coef = [], False
    for i, line in enumerate(lines):
        if line.startswith("Coefficients:"):
            in_coef = True
        if line.startswith("---"):
            in_coef = False
        if in_coef or line.startswith(("Residual standard error", "Multiple R-squared", "F-statistic", "(Dispersion",
                                       "    Null deviance", "Residual deviance", "AIC:", "Number of Fisher")):
            out.append(line)
        if line in ("Residuals:", "Weighted Residuals:"):
            out += lines[i: i + 3]
    return out


@pytest.mark.parametrize("key", list(LM_MODELS) + list(GLM_MODELS))
def test_summary_prints_r_layout(key):
    ours = key_lines(str(fit(key).summary()).splitlines())
    assert ours == key_lines(R[key]["summary_text"])
    assert len(ours) >= 6


def test_summary_text_reads_as_r():
    text = str(fit("lm_days").summary())
    assert "Call:\nlm(formula = Reaction ~ Days, data = sleepstudy)" in text
    assert "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1" in text
    text = str(fit("glm_binomial_cbind").summary())
    assert "(Dispersion parameter for binomial family taken to be 1)" in text


def test_html_escapes_user_text():
    frame = pd.DataFrame({"y": [1.0, 2.5, 2.0, 4.0, 3.0, 5.5], "g": ["a", "z<i>", "a", "z<i>", "a", "z<i>"]})
    for f in (ml.lm("y ~ g", frame, data_name="<b>d</b>"), ml.glm("y ~ g", frame, family="Gamma")):
        page = f._repr_html_()
        assert "<i>" not in page and "&lt;i&gt;" in page
        assert "<b>d</b>" not in page
    table = ml.lm("y ~ g", frame).anova()
    assert "<i>" not in table._repr_html_()


# ---- anova ---------------------------------------------------------------------------------------
def assert_table(table, ref, rtol=RTOL):
    assert list(table.index) == ref["rows"]
    for column in table.columns:
        assert_close(table[column], ref[column], rtol=rtol)


def r_table_lines(ref) -> list[str]:
    """R's printed table, right-stripped, with the plain quotes of our legend."""
    return [line.rstrip().replace("\u2018", "'").replace("\u2019", "'") for line in ref["text"]]


@pytest.mark.parametrize("key, model", [("anova_lm_days_subject", "lm_days_subject"),
                                        ("anova_lm_weighted", "lm_weighted")])
def test_anova_lm_sequential(key, model):
    table = fit(model).anova()
    assert_table(table, R[key])
    if key == "anova_lm_days_subject":  # the weighted one names the response as R deparses it
        assert str(table).splitlines() == r_table_lines(R[key])


@pytest.mark.parametrize("key, model", [("anova_glm_binomial", "glm_binomial_cbind"),
                                        ("anova_glm_poisson", "glm_poisson"),
                                        ("anova_glm_gamma", "glm_gamma_log")])
def test_anova_glm_analysis_of_deviance(key, model):
    table = ml.anova(fit(model))
    assert_table(table, R[key])
    assert str(table).splitlines() == r_table_lines(R[key])


def test_anova_between_lm_fits_is_r_f_test():
    sub = ml.lm("Reaction ~ Days + Subject", data("sleepstudy"))
    table = ml.anova(fit("lm_days"), sub, fit("lm_days_subject"))
    assert_table(table, R["anova_lm_nested"])
    assert str(table).splitlines() == r_table_lines(R["anova_lm_nested"])


def test_anova_between_glm_fits():
    small = ml.glm("TICKS ~ YEAR", data("grouseticks"), family="poisson")
    table = ml.anova(small, fit("glm_poisson"))
    assert_table(table, R["anova_glm_nested"])
    assert str(table).splitlines() == r_table_lines(R["anova_glm_nested"])


def test_anova_glmer_against_glm_as_lme4():
    """lme4's anova(glmer, glm): the glm row to 1e-8; the glmer row carries glmer's own agreement with
    lme4 (Laplace optimum, ~1e-6 relative in logLik), so those numbers are checked to 1e-4."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mixed = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", data("cbpp"))
    table = ml.anova(mixed, fit("glm_binomial_cbind"), names=["gm", "g_bin"])
    ref = R["anova_glmer_glm"]
    assert list(table.index) == ref["rows"]
    assert list(table["npar"]) == ref["npar"]
    for column in ("AIC", "BIC", "logLik", "deviance"):
        assert_close(table[column].iloc[0], ref[column][0])
        assert_close(table[column].iloc[1], ref[column][1], rtol=1e-4)
    assert_close(table["Chisq"].iloc[1], ref["Chisq"][1], rtol=1e-4)
    assert_close(table["Pr(>Chisq)"].iloc[1], ref["Pr(>Chisq)"][1], rtol=1e-3)


def test_anova_lmer_against_lm_refits_by_ml():
    """lme4 refits the REML lmer by ML before comparing it with lm; lmer's ML optimum agrees with
    lme4's to ~1e-7 relative in logLik, so the lmer row is checked to 1e-6."""
    mixed = ml.lmer("Reaction ~ Days + (Days | Subject)", data("sleepstudy"), data_name="sleepstudy")
    table = ml.anova(mixed, fit("lm_days"), names=["lmm", "lm1"])
    assert str(table).splitlines() == r_table_lines(R["anova_lmer_lm"])  # lme4's printed table, line for line
    ref = R["anova_lmer_lm"]
    assert list(table.index) == ref["rows"] and list(table["npar"]) == ref["npar"]
    for column in ("AIC", "BIC", "logLik", "deviance"):
        assert_close(table[column].iloc[0], ref[column][0])
        assert_close(table[column].iloc[1], ref[column][1], rtol=1e-6)
    assert_close(table["Chisq"].iloc[1], ref["Chisq"][1], rtol=1e-5)


# ---- missing values, protocol, errors ------------------------------------------------------------
def test_missing_rows_are_dropped_warned_and_reported():
    frame = data("sleepstudy").copy()
    frame.loc[[3, 50, 100], "Reaction"] = np.nan
    with pytest.warns(MissingValuesWarning, match="dropped 3 of 180 rows"):
        f = ml.lm("Reaction ~ Days", frame)
    assert f.nobs == 177 and f.df_residual == 175
    assert "(3 observations deleted due to missingness" in str(f.summary())
    with pytest.warns(MissingValuesWarning):
        g = ml.glm("Reaction ~ Days", frame, family="Gamma")
    assert "(3 observations deleted due to missingness" in str(g.summary())


def test_fits_answer_the_protocol():
    for f in (fit("lm_days"), fit("glm_binomial_cbind")):
        for question in ("summary", "fixef", "coef", "predict", "observed", "fitted_mean", "fixed_effect_table",
                         "model_text"):
            assert answers(f, question), question
        assert not answers(f, "grouping")
        with pytest.raises(MissingCapability):
            f.grouping()
        table = f.fixed_effect_table()
        assert list(table.columns) == ["estimate", "lower", "upper"]
        assert np.all(table["lower"] < table["estimate"]) and np.all(table["estimate"] < table["upper"])
    g = fit("glm_binomial_cbind")
    assert f.engine == "glm" and fit("lm_days").engine == "lm"
    np.testing.assert_allclose(g.observation_weights(), data("cbpp")["size"])
    np.testing.assert_allclose(g.observed(), data("cbpp")["incidence"] / data("cbpp")["size"])
    assert g.model_text == "cbind(incidence, size - incidence) ~ period"


@pytest.mark.parametrize("call, error, message", [
    (lambda: ml.glm("Reaction ~ Days", data("sleepstudy"), family="gama"), MultilevelError, "Did you mean 'Gamma'"),
    (lambda: ml.lm("Reaction ~ Dys", data("sleepstudy")), DataError, "column 'Dys' is not in the data"),
    (lambda: ml.glm("TICKS ~ YEAR", data("grouseticks"), family="poisson", link="logit"), ModelError,
     "link 'logit' is not available for the poisson family"),
    (lambda: ml.glm("TICKS ~ YEER", data("grouseticks"), family="poisson"), DataError, "'YEER' is not in the data"),
    (lambda: ml.lm("Reaction ~ Days + (1 | Subject)", data("sleepstudy")), ModelError, "ml.lmer"),
    (lambda: ml.glm("TICKS ~ 1 + (1 | BROOD)", data("grouseticks"), family="poisson"), ModelError, "ml.glmer"),
    (lambda: ml.glm("Days ~ Reaction", data("sleepstudy"), family="Gamma"), DataError, "must be positive"),
    (lambda: ml.lmer("Reaction ~ Days", data("sleepstudy")), ModelError, r"ml\.lm\(formula, data\)"),
    (lambda: ml.glmer("TICKS ~ YEAR", data("grouseticks"), family="poisson"), ModelError, r"ml\.glm\("),
    (lambda: ml.glmer("Reaction ~ Days + (1 | Subject)", data("sleepstudy"), family="Gamma", link="logit"), ModelError,
     "link 'logit' is not available for the Gamma family"),
])
def test_errors_name_the_fault(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_predict_refuses_new_factor_levels_and_bad_options():
    with pytest.raises(DataError, match="new levels 5"):
        fit("glm_binomial_cbind").predict(pd.DataFrame({"period": ["5"]}))
    with pytest.raises(DataError, match="new levels 999"):
        fit("lm_days_subject").predict(pd.DataFrame({"Days": [1], "Subject": ["999"]}))
    with pytest.raises(ArgumentError, match="interval"):
        fit("lm_days").predict(pd.DataFrame({"Days": [1]}), interval="confident")
    with pytest.raises(ArgumentError, match="interval"):
        fit("glm_poisson").predict(interval="confidence")


def test_print_shows_the_call_and_coefficients_as_r():
    lines = str(fit("lm_days")).splitlines()  # R's print(lm): names over values, 4 significant digits
    assert lines[-2].split() == ["(Intercept)", "Days"] and lines[-1].split() == ["251.41", "10.47"]


def test_anova_of_mixed_models_prints_lme4s_table():
    """The LRT table of two lmer fits, printed, is lme4 1.1.31's (tests/fixtures/lme4_extra.json)."""
    from conftest import LME4_EXTRA

    sleep = data("sleepstudy")
    small = ml.lmer("Reaction ~ Days + (1 | Subject)", sleep, data_name="sleepstudy")
    large = ml.lmer("Reaction ~ Days + (Days | Subject)", sleep, data_name="sleepstudy")
    expected = LME4_EXTRA["sleepstudy_anova"]["text"].splitlines()
    assert str(ml.anova(small, large, names=["fm0", "fm1"])).splitlines() == r_table_lines({"text": expected})


def test_factor_calls_keep_rs_names_in_coefficients_and_anova():
    # R: anova(lm(Reaction ~ factor(D) + Days, sleepstudy)) has rows factor(D), Days, Residuals and
    # coefficients (Intercept), factor(D)1, factor(D)2, Days; D = Days %% 3
    data = ml.datasets.load("sleepstudy").assign(D=lambda d: d.Days % 3)
    fit = ml.lm("Reaction ~ factor(D) + Days", data)
    assert list(fit.coef().index) == ["(Intercept)", "factor(D)1", "factor(D)2", "Days"]
    table = fit.anova()
    assert list(table.index) == ["factor(D)", "Days", "Residuals"]
    assert table["Df"].tolist() == [2, 1, 176]
    assert table["Sum Sq"].sum() == pytest.approx(float(((data.Reaction - data.Reaction.mean()) ** 2).sum()))
    glm_table = ml.glm("Reaction ~ factor(D)", data, family="Gamma").anova()
    assert "factor(D)" in glm_table.index

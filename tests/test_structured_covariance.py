"""Structured covariances of a random-effects term (issue 14, item 6): glmmTMB's cs(), ar1(), diag()
and homdiag().

Reference numbers: tests/fixtures/glmmtmb_structured.json, written by
benchmarks/r/glmmtmb_structured_refs.R (glmmTMB 1.1.5 and lme4 1.1.31, R 4.2.2; ML fits). glmmTMB's
optimizer (nlminb) stops less tightly than ours, so its fits are compared at 1e-6 (logLik) and 1e-3
(fixed effects, sds, correlations) relative (measured: logLik <= 1.5e-12, fixed effects <= 2.8e-6,
sds <= 2e-6 relative, correlations <= 1.7e-6 absolute); homdiag(0 + f | g) is lme4's (1 | g:f) and diag(x | g)
is lme4's (x || g), compared tightly with lme4.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from conftest import load_fixture
from multilevel.covariance import AR1, CompoundSymmetry, Diagonal, HomogeneousDiagonal, Unstructured
from multilevel.design import build_design
from multilevel.errors import DataError, DoubtWarning, FormulaError, SingularFitWarning
from multilevel.formula import parse_formula

REF = load_fixture("glmmtmb_structured.json")
COLUMNS = ("t0", "t1", "t2", "t3", "t4")
BINOMIAL = "cbind(incidence, size - incidence) ~ period"


@pytest.fixture(scope="module")
def sleep():
    data = ml.datasets.load("sleepstudy")
    return data.assign(dayf=pd.Categorical(data.Days // 2))  # as the R script: factor(Days %/% 2)


@pytest.fixture(scope="module")
def ar1_fit(sleep):
    return ml.lmer("Reaction ~ Days + ar1(0 + dayf | Subject)", sleep, reml=False)


@pytest.fixture(scope="module")
def homdiag_fit(sleep):
    return ml.lmer("Reaction ~ Days + homdiag(0 + dayf | Subject)", sleep, reml=False)


# ---- the covariance classes ------------------------------------------------------------------
def _sigma(sd, corr):
    return np.outer(sd, sd) * corr


def test_factors_give_the_intended_covariance():
    rng = np.random.default_rng(14)
    p, lag = len(COLUMNS), np.abs(np.subtract.outer(np.arange(5), np.arange(5)))
    for _ in range(5):
        sd, phi = rng.uniform(0.1, 3.0, p), rng.normal(0, 1.5)
        rho_cs = (np.exp(phi) - 1) / (np.exp(phi) + p - 1)
        cases = [(CompoundSymmetry(COLUMNS), np.r_[sd, phi], _sigma(sd, np.where(lag == 0, 1.0, rho_cs))),
                 (AR1(COLUMNS), np.r_[sd[0], phi], sd[0] ** 2 * np.tanh(phi) ** lag),
                 (HomogeneousDiagonal(COLUMNS), sd[:1], sd[0] ** 2 * np.eye(p)),
                 (Diagonal(COLUMNS), sd, np.diag(sd**2))]
        for cov, theta, expected in cases:
            lam = cov.factor(theta)
            assert np.allclose(np.triu(lam, 1), 0.0)
            assert np.allclose(lam @ lam.T, expected, rtol=1e-12, atol=1e-14), cov.structure
            assert np.allclose(cov.theta_from_factor(lam), theta, rtol=1e-10, atol=1e-12), cov.structure
            assert np.allclose(cov.theta_from_sdcor(cov.sdcor(theta)), theta, rtol=1e-10, atol=1e-12)
            assert len(cov.initial_theta()) == len(cov.lower_bounds()) == cov.n_theta == len(cov.theta_pairs())
            assert np.all(cov.initial_theta() >= cov.lower_bounds())


def test_bounds_and_correlation_ranges():
    cs, ar1 = CompoundSymmetry(COLUMNS), AR1(COLUMNS)
    assert list(cs.lower_bounds()) == [0, 0, 0, 0, 0, -np.inf] and list(ar1.lower_bounds()) == [0, -np.inf]
    assert HomogeneousDiagonal(COLUMNS).n_theta == 1
    # any real phi gives a positive semi-definite R: cs's rho spans (-1/(p - 1), 1), ar1's (-1, 1)
    for phi in (-800.0, -40.0, 0.0, 40.0, 800.0):
        for cov, theta in ((cs, np.r_[np.ones(5), phi]), (ar1, np.array([1.0, phi]))):
            lam = cov.factor(theta)
            assert np.all(np.isfinite(lam)) and np.allclose(np.diag(lam @ lam.T), 1.0)
    assert cs.rho(np.r_[np.ones(5), -800.0]) == pytest.approx(-0.25) and cs.rho(np.r_[np.ones(5), 0.0]) == 0.0
    with pytest.raises(np.linalg.LinAlgError):
        cs.theta_from_sdcor(np.r_[np.ones(5), -0.3])  # below -1/(p - 1)
    with pytest.raises(np.linalg.LinAlgError):
        ar1.theta_from_sdcor(np.array([1.0, 1.0]))
    assert Unstructured(COLUMNS).structure == "us" and Unstructured(COLUMNS).free_entries
    # singular: an sd at 0, or a correlation at the end of its range
    assert ar1.on_boundary(np.array([1.0, 10.0]), 1e-4) and not ar1.on_boundary(np.array([1.0, 1.0]), 1e-4)
    assert cs.on_boundary(np.r_[np.ones(5), -30.0], 1e-4) and cs.on_boundary(np.r_[1, 0, 1, 1, 1, 0.0], 1e-4)
    assert not cs.on_boundary(np.r_[np.ones(5), 2.0], 1e-4)
    assert [len(c.theta_labels("g")) for c in (cs, ar1)] == [6, 2] and cs.theta_labels("g")[-1] == "g.cs.phi"


# ---- the formula ---------------------------------------------------------------------------
@pytest.mark.parametrize("structure", ["cs", "ar1", "diag", "homdiag", "us"])
def test_parse_structures(structure):
    parsed = parse_formula(f"y ~ x + {structure}(0 + f | g) + (1 | h)")
    assert parsed.fixed == "x"
    assert [(b.lhs, b.group_name, b.structure) for b in parsed.bars] == [("0 + f", "g", structure), ("1", "h", "us")]
    assert parsed.bars[0].pos == 8  # the term starts at the structure's name
    assert [b.structure for b in parse_formula(f"y ~ {structure}(x | a/b)").bars] == [structure] * 2


@pytest.mark.parametrize("text, fragment", [
    ("y ~ x + toeplitz(0 + f | g)", "unknown covariance structure toeplitz()"),
    ("y ~ ar1(0 + f || g)", "ar1() takes a term written with one '|'"),
    ("y ~ cs(0 + f | gr(g, cor = FALSE))", "cs() takes a term written with one '|'"),
])
def test_parse_errors_name_the_term(text, fragment):
    with pytest.raises(FormulaError, match=fragment.replace("(", r"\(").replace(")", r"\)").replace("|", r"\|")):
        parse_formula(text)


def test_one_column_correlation_structure_is_our_error(sleep):
    with pytest.raises(DataError, match=r"ar1\(1 \| Subject\) has 1 column"):
        ml.lmer("Reaction ~ Days + ar1(1 | Subject)", sleep)


def test_ar1_with_an_intercept_is_doubted(sleep):
    with pytest.warns(DoubtWarning, match=r"ar1\(Days \| Subject\) has an intercept column"):
        build_design("Reaction ~ Days + ar1(Days | Subject)", sleep)


def test_brm_refuses_structured_terms(sleep):
    with pytest.raises(FormulaError, match=r"brm does not fit the structured covariance cs\(\) of the term"):
        ml.brm("Reaction ~ Days + cs(0 + dayf | Subject)", sleep)


# ---- fits against glmmTMB and lme4 -----------------------------------------------------------
def _assert_agrees_with_glmmtmb(fit, ref, structure):
    assert fit.loglik == pytest.approx(ref["loglik"], rel=1e-6)
    assert np.allclose(fit.fixef().to_numpy(), [ref["fixef"][n] for n in ref["names"]], rtol=1e-3)
    vc = pd.DataFrame(fit.varcorr())
    term = vc[vc.grp == vc.grp.iloc[0]]
    sd, corr = term[term.var2.isna()].sdcor.to_numpy(), term[term.var2.notna()].sdcor.to_numpy()
    # an sd glmmTMB puts at 4e-10 is 0 here (singular fit): compare on the largest sd's scale
    assert np.allclose(sd, ref["sd"], rtol=1e-3, atol=1e-6 * max(ref["sd"]))
    # our rows (i, j > i) in R's lower-triangle-by-column order
    assert np.allclose(corr, np.atleast_1d(ref["corr"]), rtol=1e-3, atol=1e-5)
    if ref.get("sigma"):
        assert fit.sigma == pytest.approx(ref["sigma"], rel=1e-3)
    assert fit.n_parameters == ref["df"]
    assert f"({structure})" in str(fit.summary())


def test_lmer_ml_ar1_agrees_with_glmmtmb(ar1_fit):
    _assert_agrees_with_glmmtmb(ar1_fit, REF["ar1"], "ar1")


def test_lmer_reml_ar1_agrees_with_glmmtmb(sleep):
    fit = ml.lmer("Reaction ~ Days + ar1(0 + dayf | Subject)", sleep)  # glmmTMB(..., REML = TRUE)
    _assert_agrees_with_glmmtmb(fit, REF["ar1_reml"], "ar1")


def test_lmer_ml_cs_agrees_with_glmmtmb(sleep):
    fit = ml.lmer("Reaction ~ Days + cs(0 + dayf | Subject)", sleep, reml=False)
    _assert_agrees_with_glmmtmb(fit, REF["cs"], "cs")


def test_diag_is_lme4_uncorrelated_and_agrees_with_glmmtmb(sleep):
    fit = ml.lmer("Reaction ~ Days + diag(Days | Subject)", sleep, reml=False)
    _assert_agrees_with_glmmtmb(fit, REF["diag"], "diag")
    ref = REF["lme4_uncorrelated"]  # lme4, (Days || Subject), tight bobyqa
    assert fit.loglik == pytest.approx(ref["loglik"], rel=1e-12)
    assert np.allclose(fit.theta, ref["theta"], rtol=1e-6)
    assert np.allclose(fit.fixef().to_numpy(), list(ref["fixef"].values()), rtol=1e-7)


def test_cs_of_two_columns_is_lme4_unstructured(sleep):
    """With two columns cs() is the full 2 x 2 covariance (rho = tanh(phi / 2) spans (-1, 1))."""
    fit = ml.lmer("Reaction ~ Days + cs(Days | Subject)", sleep, reml=False)
    ref = REF["lme4_unstructured2"]  # lme4, (Days | Subject), tight bobyqa
    assert fit.loglik == pytest.approx(ref["loglik"], rel=1e-11)
    vc = pd.DataFrame(fit.varcorr()).sdcor.to_numpy()
    assert np.allclose(vc[:2], ref["sd"], rtol=1e-5) and vc[2] == pytest.approx(ref["corr"], abs=1e-5)
    assert fit.sigma == pytest.approx(ref["sigma"], rel=1e-6)


def test_homdiag_is_lme4_interaction_intercept(homdiag_fit):
    fit = homdiag_fit
    ref = REF["lme4_homdiag"]  # lme4, (1 | Subject:dayf), tight bobyqa
    assert fit.loglik == pytest.approx(ref["loglik"], rel=1e-12)
    assert np.allclose(fit.theta, ref["theta"], rtol=1e-6)
    assert fit.sigma == pytest.approx(ref["sigma"], rel=1e-7)
    assert np.allclose(fit.fixef().to_numpy(), list(ref["fixef"].values()), rtol=1e-7)
    assert fit.n_parameters == 4


def test_structured_theta_with_prior_weights(sleep, ar1_fit):
    """Constant prior weights 3 leave the random-effects covariance as it is (theta shrinks by sqrt(3),
    rho does not): the weights' scale goes through the structure, not through theta entrywise."""
    plain = ar1_fit
    weighted = ml.lmer("Reaction ~ Days + ar1(0 + dayf | Subject)", sleep.assign(w=3.0), reml=False, weights="w")
    assert np.allclose(pd.DataFrame(weighted.varcorr()).sdcor.to_numpy()[:-1],
                       pd.DataFrame(plain.varcorr()).sdcor.to_numpy()[:-1], rtol=1e-6)
    assert weighted.theta[1] == pytest.approx(plain.theta[1], rel=1e-6)


def test_uncorrelated_structures_list_no_correlations(homdiag_fit):
    fit = homdiag_fit
    assert pd.DataFrame(fit.varcorr()).var2.isna().all()
    text = str(fit.summary())
    assert "Subject (homdiag)" in text and "Corr" not in text.split("Random effects")[1].split("Fixed")[0]


@pytest.mark.slow
def test_glmer_ar1_agrees_with_glmmtmb():
    fit = ml.glmer(f"{BINOMIAL} + ar1(0 + period | herd)", ml.datasets.load("cbpp"), family="binomial")
    _assert_agrees_with_glmmtmb(fit, REF["glmm_ar1"], "ar1")


@pytest.mark.slow
def test_glmer_cs_agrees_with_glmmtmb():
    with pytest.warns(SingularFitWarning):  # glmmTMB too puts period4's sd at 0
        fit = ml.glmer(f"{BINOMIAL} + cs(0 + period | herd)", ml.datasets.load("cbpp"), family="binomial")
    _assert_agrees_with_glmmtmb(fit, REF["glmm_cs"], "cs")


@pytest.mark.slow
def test_profile_interval_of_ar1_correlation(ar1_fit):
    fit = ar1_fit
    ci = fit.confint(method="profile")
    rho = np.tanh(fit.theta[1])
    assert ci.loc[".sig02", "2.5 %"] < rho < ci.loc[".sig02", "97.5 %"] < 1
    sd = pd.DataFrame(fit.varcorr()).sdcor.iloc[0]
    assert ci.loc[".sig01", "2.5 %"] < sd < ci.loc[".sig01", "97.5 %"]

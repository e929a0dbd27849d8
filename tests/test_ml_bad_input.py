"""lmer/glmer options and models they cannot fit: errors of ours that name the culprit (issue 10)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import multilevel as ml
from multilevel.errors import ArgumentError, ModelError

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


@pytest.fixture(scope="module")
def sleep():
    return ml.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def cbpp():
    return ml.datasets.load("cbpp")


@pytest.fixture(scope="module")
def sleep_fit(sleep):
    return ml.lmer("Reaction ~ Days + (Days | Subject)", sleep)


@pytest.fixture(scope="module")
def cbpp_fit(cbpp):
    return ml.glmer(CBPP, cbpp)


# before: lmer ValueError 'need at least one array to concatenate', glmer/glmer_nb IndexError
@pytest.mark.parametrize("call", [
    lambda d: ml.lmer("Reaction ~ Days", d["sleep"]),
    lambda d: ml.glmer("cbind(incidence, size - incidence) ~ period", d["cbpp"]),
    lambda d: ml.glmer_nb("incidence ~ period", d["cbpp"]),
])
def test_formula_without_grouping_terms(call, sleep, cbpp):
    with pytest.raises(ModelError, match=r"at least one random-effects term such as \(1 \| group\)"):
        call({"sleep": sleep, "cbpp": cbpp})


def test_glmer_gaussian_points_to_lmer(sleep):
    # before: a bare NotImplementedError
    with pytest.raises(ModelError, match="use ml.lmer"):
        ml.glmer("Reaction ~ Days + (1 | Subject)", sleep, family="gaussian")


@pytest.mark.parametrize("nagq, message", [(-1, "from 0 to 25, not -1"), (1000, "from 0 to 25, not 1000"),
                                           (26, "from 0 to 25"), (2.5, "whole number"), (True, "whole number"),
                                           ("5", "whole number")])
def test_nagq_outside_lme4s_range(cbpp, nagq, message):
    # before: nagq=1000 gave deviance 72.50 (lme4 nAGQ=25: 73.37) without a word; -1 a plain ValueError
    with pytest.raises(ArgumentError, match=message):
        ml.glmer(CBPP, cbpp, nagq=nagq)


def test_nagq_25_is_accepted_and_stable(cbpp):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agq9 = ml.glmer(CBPP, cbpp, nagq=9)
        agq25 = ml.glmer(CBPP, cbpp, nagq=25)
    # adaptive quadrature has converged by 9 nodes on cbpp: 25 nodes add nothing but rounding
    assert -2 * agq25.loglik == pytest.approx(-2 * agq9.loglik, abs=1e-4)


def test_nagq_above_one_needs_one_scalar_term(sleep):
    data = sleep.assign(y=(sleep.Reaction > 300).astype(int))
    with pytest.raises(ArgumentError, match="single scalar random-effects term"):
        ml.glmer("y ~ Days + (Days | Subject)", data, nagq=3)


@pytest.mark.parametrize("kwargs, message", [
    ({"reml": "no"}, "reml must be True or False"),
    ({"start": [1.0, 2.0]}, "start must have 3 values"),
    ({"progress": "yes"}, "progress must be True, False or None"),
])
def test_lmer_options(sleep, kwargs, message):
    with pytest.raises(ArgumentError, match=message):
        ml.lmer("Reaction ~ Days + (Days | Subject)", sleep, **kwargs)


@pytest.mark.parametrize("call, message", [
    (lambda f: f.confint("foo"), "method must be one of 'wald', 'profile', 'boot'"),
    (lambda f: f.confint("wald", level=2), "level must be a number strictly between 0 and 1"),
    (lambda f: f.confint("wald", level=0), "level must be"),
    (lambda f: f.confint("boot", nsim=0), "nsim must be at least 1"),
    (lambda f: f.confint("profile", parm=["Dayz"]), r"parm names no parameter of this model: \['Dayz'\]"),
    (lambda f: f.simulate(nsim=-1), "nsim must be at least 1, not -1"),
    (lambda f: f.simulate(nsim=1.5), "nsim must be a whole number"),
    (lambda f: f.residuals(type="foo"), "type must be one of"),
    (lambda f: ml.anova(f, "m2"), "argument 2 is a str"),
])
def test_lmer_fit_methods(sleep_fit, call, message):
    # before: plain ValueError, numpy's 'negative dimensions are not allowed', AttributeError, TypeError
    with pytest.raises(ArgumentError, match=message):
        call(sleep_fit)


def test_lmer_residual_types_agree_with_lme4s_meaning(sleep_fit):
    # lme4: for an unweighted LMM residuals(type = "response" / "working" / "deviance" / "pearson") agree
    for kind in ("working", "deviance", "pearson"):
        np.testing.assert_array_equal(sleep_fit.residuals(kind), sleep_fit.residuals())


@pytest.mark.parametrize("call, message", [
    (lambda f: f.predict(type="foo"), "type must be one of 'link', 'response'"),
    (lambda f: f.residuals("foo"), "type must be one of 'deviance'"),
    (lambda f: f.simulate(nsim=0), "nsim must be at least 1"),
    (lambda f: f.confint("wald", level=1.5), "level must be"),
])
def test_glmer_fit_methods(cbpp_fit, call, message):
    with pytest.raises(ArgumentError, match=message):
        call(cbpp_fit)


def test_latent_icc_needs_binomial(cbpp):
    ticks = ml.datasets.load("grouseticks")
    fit = ml.glmer("TICKS ~ YEAR + (1 | BROOD)", ticks, family="poisson")
    with pytest.raises(ModelError, match="poisson family with the log link"):
        fit.icc()


def _small(seed=1, n=60):
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame({"y": rng.normal(size=n), "x": rng.normal(size=n), "g": np.repeat(np.arange(6), n // 6)})


@pytest.mark.parametrize("response, message", [(lambda d: 1.0, "is constant"),
                                               (lambda d: 2 * d.x + 1, "exact linear function of the fixed effects")])
def test_response_without_residual_variation(response, message):
    # before: sigma 8.7e-25 with only a convergence warning; y = 2x + 1: logLik +2078 and a singular fit
    data = _small()
    data["y"] = response(data)
    with pytest.raises(ml.DataError, match=message):
        ml.lmer("y ~ x + (1 | g)", data)


@pytest.mark.parametrize("column, factor, message", [
    ("y", 1e300, "response 'y' has values of size"),
    ("y", 1e-300, "response 'y' has values of size"),
    ("x", 1e300, r"column 'x' of the term \(x \| g\)"),
])
def test_magnitudes_beyond_double_precision(column, factor, message):
    # before: y x 1e300 gave logLik nan after overflow warnings; y x 1e-300 NotPositiveDefinite;
    # x x 1e300 in a random slope: numpy's 'array must not contain infs or NaNs'
    data = _small()
    data[column] = data[column] * factor
    with pytest.raises(ml.DataError, match=message + ".*Rescale it"):
        ml.lmer("y ~ 1 + (x | g)", data)


@pytest.mark.parametrize("value", [1e300, 1e-300])
def test_extreme_weights(value):
    # before: weights 1e300 -> NotPositiveDefinite from the Cholesky kernels
    data = _small()
    with pytest.raises(ml.DataError, match="weights has values of size"):
        ml.lmer("y ~ x + (1 | g)", data, weights=np.full(len(data), value))


@pytest.mark.parametrize("reml", [False, True])
@pytest.mark.parametrize("zero_weight", [False, True])
def test_weights_units_do_not_matter(reml, zero_weight):
    """Prior weights times c: the same model with sigma times sqrt(c) and the same likelihood.
    (before: weights x 1e6 stopped short, a convergence warning and logLik 1e-9 lower)"""
    sleep = ml.datasets.load("sleepstudy")
    w = np.linspace(0.5, 2.0, len(sleep))
    if zero_weight:
        w[3] = 0.0
    base = ml.lmer("Reaction ~ Days + (Days | Subject)", sleep, weights=w, reml=reml)
    for c in (1e-6, 1e6):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fit = ml.lmer("Reaction ~ Days + (Days | Subject)", sleep, weights=w * c, reml=reml)
        assert fit.loglik == pytest.approx(base.loglik, rel=1e-9)
        assert fit.sigma == pytest.approx(base.sigma * np.sqrt(c), rel=1e-6)
        np.testing.assert_allclose(fit.fixef(), base.fixef(), rtol=1e-7)


@pytest.mark.parametrize("family, value, message", [("binomial", 0, r"0 \(no successes\) in every row"),
                                                    ("binomial", 1, r"1 \(only successes\) in every row"),
                                                    ("poisson", 0, "is 0 in every row")])
def test_glmm_response_on_the_boundary(family, value, message):
    # before: 'the deviance is not finite at any parameter value tried' (no reason given)
    data = _small().assign(k=value)
    with pytest.raises(ml.DataError, match=message):
        ml.glmer("k ~ x + (1 | g)", data, family=family)


@pytest.mark.parametrize("count", [1.0, 5.0, 1e6])
def test_constant_counts_fit(count):
    """A constant Poisson count is a perfect fit of the intercept: log(count), no variance between
    groups. Before: PIRLS's working response lay in the span of X, the fixed block's last pivot was
    zero, and the fit failed with 'the deviance is not finite' (5, 1e6) (glm in R: log(count))."""
    data = _small().assign(k=count)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.SingularFitWarning)
        fit = ml.glmer("k ~ x + (1 | g)", data, family="poisson")
    assert fit.fixef()["(Intercept)"] == pytest.approx(np.log(count), abs=1e-8)
    assert fit.fixef()["x"] == pytest.approx(0.0, abs=1e-8)
    from scipy import stats

    assert fit.loglik == pytest.approx(stats.poisson.logpmf(count, count) * len(data), rel=1e-9)


@pytest.mark.parametrize("reml", [False, True])
def test_zero_weight_rows_are_not_observations(reml):
    """A row of weight 0 gives the fit without that row (R's lm counts only nonzero weights).
    Before: n counted it, so the likelihood moved with the units of the other weights."""
    sleep = ml.datasets.load("sleepstudy")
    w = np.linspace(0.5, 2.0, len(sleep))
    w[[3, 50]] = 0.0
    with_zeros = ml.lmer("Reaction ~ Days + (Days | Subject)", sleep, weights=w, reml=reml)
    keep = w > 0
    dropped = ml.lmer("Reaction ~ Days + (Days | Subject)", sleep[keep], weights=w[keep], reml=reml)
    assert with_zeros.loglik == pytest.approx(dropped.loglik, rel=1e-10)
    assert with_zeros.sigma == pytest.approx(dropped.sigma, rel=1e-7)
    np.testing.assert_allclose(with_zeros.fixef(), dropped.fixef(), rtol=1e-7)


@pytest.mark.parametrize("factor", [1e140, 1e-140])
def test_tiny_or_huge_predictor_is_not_rank_deficient(factor):
    """x x 1e-140 (or 1e140) is still x: before, the rank test's norms under/overflowed beyond
    ~1e150 and the column was dropped as 'rank deficient'; within range the slope scales exactly."""
    data = _small()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.SingularFitWarning)  # random data: no group variance
        base = ml.lmer("y ~ x + (1 | g)", data)
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            warnings.simplefilter("ignore", ml.SingularFitWarning)
            fit = ml.lmer("y ~ x + (1 | g)", data.assign(x=data.x * factor))
    assert fit.fixef()["x"] * factor == pytest.approx(base.fixef()["x"], rel=1e-8)


@pytest.mark.parametrize("newdata", [[1, 2], {"Days": [1]}, "sleepstudy"])
def test_predict_needs_a_data_frame(sleep_fit, newdata):
    # before: AttributeError: 'list' object has no attribute 'columns'
    with pytest.raises(ml.DataError, match="newdata must be a pandas DataFrame"):
        sleep_fit.predict(newdata)

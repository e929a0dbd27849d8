"""brm's response additions cens(), trunc() and rate() (issue 13, point 2), as brms 2.18 has them.

Unit tests (no sampling; the families whose CDFs are incomplete gamma or beta functions in the slow
tier, their op-by-op compilation costs seconds): the censored and truncated log-likelihood of every
family with a CDF against scipy.stats at random points (tolerance 1e-8 relative; the discrete families'
lower bound is brms's ``lb - 1``, from its ``stan_log_lik_trunc``), brms's weighting, the parsing
of the additions and our errors. Reference agreement (slow): :mod:`test_brm_cens_reference`.
"""
import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

import multilevel as ml
from multilevel.bayes import censoring
from multilevel.bayes.fit import design_and_likelihood  # noqa: E402 (JAX in float64, as brm runs it)
from multilevel.bayes.likelihood import make_likelihood
from multilevel.errors import ArgumentError, DataError, FormulaError
from multilevel.formula import parse_formula

RNG = np.random.default_rng(13)
N = 12
# numpyro's NegativeBinomial2 log density (GammaPoisson, through jax's betaln) is good to ~1e-6 relative
RTOL = {"negbinomial": 2e-6}


def scipy_family(name, mu, extra):
    """The family at mean/location mu as scipy.stats has it (brms's parameterizations)."""
    if name == "gaussian":
        return stats.norm(mu, extra["sigma"])
    if name == "student":
        return stats.t(extra["nu"], mu, extra["sigma"])
    if name == "lognormal":
        return stats.lognorm(extra["sigma"], scale=np.exp(mu))
    if name == "poisson":
        return stats.poisson(mu)
    if name == "negbinomial":
        return stats.nbinom(extra["shape"], extra["shape"] / (extra["shape"] + mu))
    if name == "gamma":
        return stats.gamma(extra["shape"], scale=mu / extra["shape"])
    if name == "exponential":
        return stats.expon(scale=mu)
    if name == "weibull":
        return stats.weibull_min(extra["shape"], scale=mu / special.gamma(1 + 1 / extra["shape"]))
    raise ValueError(name)


# family -> (extra parameters, eta -> mu, y sampler)
CASES = {
    "gaussian": ({"sigma": 1.3}, lambda e: e),
    "student": ({"sigma": 0.8, "nu": 4.5}, lambda e: e),
    "lognormal": ({"sigma": 0.6}, lambda e: e),
    "poisson": ({}, np.exp),
    "negbinomial": ({"shape": 2.5}, np.exp),
    "gamma": ({"shape": 3.0}, np.exp),
    "exponential": ({}, np.exp),
    "weibull": ({"shape": 1.7}, np.exp),
}


# the incomplete gamma and beta functions take seconds to compile op by op: those families run in the slow tier
SPECIAL_FUNCTIONS = ("student", "poisson", "negbinomial", "gamma")
FAMILY_PARAMS = [pytest.param(name, marks=pytest.mark.slow) if name in SPECIAL_FUNCTIONS else name for name in CASES]


def case(name):
    extra, inverse = CASES[name]
    eta = RNG.normal(0.8, 0.5, N)
    mu = inverse(eta)
    reference = scipy_family(name, mu, extra)
    y = np.asarray(reference.rvs(random_state=RNG), dtype=float)
    if name in censoring.DISCRETE:
        y = np.maximum(y, 1.0)
    return eta, mu, extra, reference, y


def ours(name, eta, extra, data):
    import jax.numpy as jnp

    lik = make_likelihood(name)
    jdata = {k: jnp.asarray(v, dtype=float) for k, v in data.items()}
    return np.asarray(lik.log_prob(jnp.asarray(eta), {k: jnp.asarray(v) for k, v in extra.items()}, jdata))


@pytest.mark.parametrize("name", FAMILY_PARAMS)
def test_censored_log_likelihood_matches_scipy(name):
    eta, mu, extra, reference, y = case(name)
    cens = np.tile([0, 1, -1, 2], N // 4).astype(float)
    y2 = np.where(cens == 2, y + (1.0 if name in censoring.DISCRETE else 0.7), 0.0)
    want = np.select([cens == 0, cens == 1, cens == -1],
                     [reference.logpmf(y) if name in censoring.DISCRETE else reference.logpdf(y),
                      reference.logsf(y), reference.logcdf(y)],
                     np.log(reference.cdf(y2) - reference.cdf(y)))
    got = ours(name, eta, extra, {"y": y, "cens": cens, "cens_y2": y2})
    np.testing.assert_allclose(got, want, rtol=RTOL.get(name, 1e-8), atol=1e-10)


@pytest.mark.parametrize("name", FAMILY_PARAMS)
def test_truncated_log_likelihood_matches_scipy(name):
    eta, mu, extra, reference, y = case(name)
    lb = np.floor(y * 0.5) if name in censoring.DISCRETE else y * 0.5
    if name in ("gaussian", "student"):
        lb = y - 1.0
    ub = y + 2.0
    density = reference.logpmf(y) if name in censoring.DISCRETE else reference.logpdf(y)
    below = lb - 1 if name in censoring.DISCRETE else lb  # brms: lb - 1 for discrete families
    for data, normalizer in (({"trunc_lb": lb}, reference.sf(below)),
                             ({"trunc_ub": ub}, reference.cdf(ub)),
                             ({"trunc_lb": lb, "trunc_ub": ub}, reference.cdf(ub) - reference.cdf(below))):
        got = ours(name, eta, extra, {"y": y, **data})
        np.testing.assert_allclose(got, density - np.log(normalizer), rtol=RTOL.get(name, 1e-8), atol=1e-10)


def test_weights_with_censoring_and_truncation_follow_brms():
    # brms 2.18's Stan code: without cens(), weights[n] * (normal_lpdf(...) - normal_lccdf(lb | ...));
    # with cens(), weights[n] * normal_lcdf(...) - normal_lccdf(lb | ...) (the truncation unweighted)
    eta, mu, extra, reference, y = case("gaussian")
    w, lb = RNG.uniform(0.5, 2, N), y - 1.0
    trunc = reference.logsf(lb)
    got = ours("gaussian", eta, extra, {"y": y, "trunc_lb": lb, "weights": w})
    np.testing.assert_allclose(got, w * (reference.logpdf(y) - trunc), rtol=1e-10)
    cens = np.full(N, -1.0)
    got = ours("gaussian", eta, extra, {"y": y, "trunc_lb": lb, "weights": w, "cens": cens})
    np.testing.assert_allclose(got, w * reference.logcdf(y) - trunc, rtol=1e-10)


def test_rate_scales_mu_and_negbinomial_shape():
    # brms 2.18: poisson_log_lpmf(Y | mu + log_denom); neg_binomial_2_log_lpmf(Y | mu + log_denom, shape * denom)
    eta, rate, y = RNG.normal(0, 0.5, N), RNG.uniform(0.5, 5, N), RNG.poisson(3, N).astype(float)
    got = ours("poisson", eta, {}, {"y": y, "rate": rate})
    np.testing.assert_allclose(got, stats.poisson(np.exp(eta) * rate).logpmf(y), rtol=1e-10)
    shape = 2.0 * rate
    got = ours("negbinomial", eta, {"shape": 2.0}, {"y": y, "rate": rate})
    want = stats.nbinom(shape, shape / (shape + np.exp(eta) * rate)).logpmf(y)
    np.testing.assert_allclose(got, want, rtol=1e-6)  # numpyro's NegativeBinomial2 (GammaPoisson): ~3e-7


@pytest.mark.slow
def test_betainc_derivatives_in_all_arguments():
    import jax

    a, b, x = 2.3, 4.1, 0.37
    grads = jax.grad(lambda v: censoring.betainc(v[0], v[1], v[2]))(jax.numpy.array([a, b, x]))
    h = 1e-6
    for i in range(3):
        up, down = [a, b, x], [a, b, x]
        up[i] += h
        down[i] -= h
        numeric = (special.betainc(*up) - special.betainc(*down)) / (2 * h)
        assert abs(float(grads[i]) - numeric) < 1e-7 * max(1.0, abs(numeric))


def test_truncated_draws_stay_inside_and_follow_the_truncated_law():
    rng = np.random.default_rng(1)
    draws = censoring.truncated_draws("gaussian", {"mu": np.zeros(20000), "sigma": np.ones(20000)}, 0.5, 2.0, rng)
    assert draws.min() >= 0.5 and draws.max() <= 2.0
    want = stats.truncnorm(0.5, 2.0).mean()  # scipy's truncated normal
    assert abs(draws.mean() - want) < 4 * draws.std() / np.sqrt(draws.size)
    counts = censoring.truncated_draws("poisson", {"mu": np.full(20000, 3.0)}, 1, 10, rng)
    assert counts.min() >= 1 and counts.max() <= 10 and np.all(counts == np.round(counts))
    k = np.arange(1, 11)
    p = stats.poisson(3.0).pmf(k) / stats.poisson(3.0).pmf(k).sum()
    assert abs(counts.mean() - (k * p).sum()) < 4 * counts.std() / np.sqrt(counts.size)


# ---- parsing ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, additions", [
    ("y | cens(c) ~ x", (("cens", "c"),)),
    ("y | cens(c, hi) + weights(w) ~ x", (("cens", "c"), ("cens.y2", "hi"), ("weights", "w"))),
    ("y | cens(c, y2 = hi) ~ x", (("cens", "c"), ("cens.y2", "hi"))),
    ("y | trunc(lb = 0) ~ x", (("trunc", "lb = 0"), ("trunc.lb", "0"))),
    ("y | trunc(0, upper) ~ x", (("trunc", "0, upper"), ("trunc.lb", "0"), ("trunc.ub", "upper"))),
    ("y | trunc(ub = 10, lb = -Inf) ~ x", (("trunc", "ub = 10, lb = - Inf"), ("trunc.ub", "10"))),
    ("y | rate(exposure) ~ x", (("rate", "exposure"),)),
    ("y | trunc(lb = 0) + cens(c) ~ x", (("trunc", "lb = 0"), ("trunc.lb", "0"), ("cens", "c"))),
])
def test_parse_cens_trunc_rate(text, additions):
    assert parse_formula(text).response_additions == additions


@pytest.mark.parametrize("text, message", [
    ("y | cens() ~ x", "cens() needs an expression"),
    ("y | cens(y2 = a) ~ x", "cens() needs the censoring column first"),
    ("y | trunc(lb = 0, low = 1) ~ x", "trunc() has no argument 'low'; its arguments: lb, ub"),
    ("y | trunc(1, 2, 3) ~ x", "trunc() takes at most 2 arguments"),
    ("y | trunc(lb = 0, lb = 1) ~ x", "lb is given twice"),
    ("y | rate(a, b) ~ x", "rate() takes one expression"),
])
def test_parse_errors(text, message):
    with pytest.raises(FormulaError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_formula(text)


# ---- the design: values and our errors ----------------------------------------------------------
def frame():
    return pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "x": [0.1, 0.5, 0.2, 0.9, 0.3, 0.7],
                         "c": ["none", "right", "l", "interval", "none", "r"],
                         "hi": [np.nan, np.nan, np.nan, 4.5, np.nan, np.nan], "e": [1, 2, 3, 1, 2, 3.0]})


def design_of(formula, data, family="gaussian"):
    from multilevel.bayes.fit import design_and_likelihood

    return design_and_likelihood(formula, data, family)[0]


def test_cens_codes_as_brms():
    d = design_of("y | cens(c, hi) ~ x", frame())
    assert d.nobs == 6  # brms keeps rows whose y2 is missing (only interval rows read it)
    np.testing.assert_array_equal(d.additions["cens"], [0, 1, -1, 2, 0, 1])
    np.testing.assert_array_equal(d.additions["cens_y2"], [0, 0, 0, 4.5, 0, 0])
    numbers = frame().assign(c=[0, 1, -1, 0, 0, 1])
    np.testing.assert_array_equal(design_of("y | cens(c) ~ x", numbers).additions["cens"], [0, 1, -1, 0, 0, 1])
    logicals = frame().assign(c=[False, True, False, False, True, False])
    np.testing.assert_array_equal(design_of("y | cens(c) ~ x", logicals).additions["cens"], [0, 1, 0, 0, 1, 0])


def test_unknown_cens_value_names_column_and_row():
    data = frame().assign(c=["none", "right", "sideways", "none", "none", "none"])
    with pytest.raises(DataError, match=r"cens\(c\): row 2 has the censoring value 'sideways'; accepted: 'left'"):
        design_of("y | cens(c) ~ x", data)
    with pytest.raises(DataError, match=r"row 1 has the censoring value 3"):
        design_of("y | cens(c) ~ x", frame().assign(c=[0, 3, 0, 0, 0, 0]))


def test_interval_censoring_needs_y2_above_y():
    with pytest.raises(DataError, match=r"needs the right ends: cens\(censored, y2\)"):
        design_of("y | cens(c) ~ x", frame())
    with pytest.raises(DataError, match=r"row 3 has y = 4, y2 = 3.5"):
        design_of("y | cens(c, hi) ~ x", frame().assign(hi=[np.nan, np.nan, np.nan, 3.5, np.nan, np.nan]))
    with pytest.raises(DataError, match=r"y2 must be finite on interval-censored rows; it is not on row 3"):
        design_of("y | cens(c, hi) ~ x", frame().assign(hi=np.nan))


def test_trunc_bounds_numbers_or_columns():
    d = design_of("y | trunc(lb = 0, ub = top) ~ x", frame().assign(top=10.0))
    np.testing.assert_array_equal(d.additions["trunc_lb"], 0.0)
    np.testing.assert_array_equal(d.additions["trunc_ub"], 10.0)
    assert "trunc_lb" not in design_of("y | trunc(ub = 7) ~ x", frame()).additions


def test_data_outside_trunc_bounds():
    with pytest.raises(DataError, match=r"trunc\(lb = 2\): 1 response value\(s\) lie outside the truncation "
                                        r"bounds \(first: row 0, y = 1, bounds \[2, inf\]\)"):
        design_of("y | trunc(lb = 2) ~ x", frame())
    with pytest.raises(DataError, match=r"lower bound must be below the upper bound; row 0 has lb = 5, ub = 3"):
        design_of("y | trunc(lb = 5, ub = 3) ~ x", frame())


def test_rate_must_be_positive():
    assert design_of("y | rate(e) ~ x", frame(), "poisson").additions["rate"].tolist() == [1, 2, 3, 1, 2, 3]
    with pytest.raises(DataError, match=r"rate\(e\): rate denominators must be positive and finite; row 4 has 0"):
        design_of("y | rate(e) ~ x", frame().assign(e=[1, 2, 3, 1, 0, 3.0]), "poisson")


def test_family_without_cdf_or_rate_is_our_error():
    data = frame().assign(y=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    with pytest.raises(ArgumentError, match=r"cens\(\) in the response is not available for the beta family"):
        design_of("y | cens(c, hi) ~ x", data, "beta")
    with pytest.raises(ArgumentError, match=r"trunc\(\) in the response is not available for the "
                                            r"zero_inflated_poisson family"):
        design_of("y | trunc(lb = 0) ~ x", frame(), "zero_inflated_poisson")
    with pytest.raises(ArgumentError, match=r"rate\(\) in the response is for the poisson and negbinomial "
                                            r"families \(as brms 2.18\), not gaussian"):
        design_of("y | rate(e) ~ x", frame())


def test_glmer_refuses_brm_only_additions():
    with pytest.raises(DataError, match=r"cens\(\) is read by brm only"):
        ml.glmer("y | cens(c) ~ x + (1 | c)", frame(), family="poisson")


def test_sbc_refuses_censored_models():
    with pytest.raises(ArgumentError, match="sbc does not simulate censored or truncated responses"):
        ml.sbc("y | trunc(lb = 0) ~ x", frame(), family="gaussian", nsim=2,
               priors=[ml.prior("normal(0, 1)", class_="b"), ml.prior("normal(0, 1)", class_="Intercept"),
                       ml.prior("exponential(1)", class_="sigma")])


def test_truncated_mean_gaussian_closed_form_and_our_error_otherwise():
    # brms's posterior_epred_trunc_gaussian against scipy's truncated normal mean
    mean = censoring.truncated_mean("gaussian", {"mu": np.array([0.3]), "sigma": np.array([1.5])}, 0.0, np.inf)
    np.testing.assert_allclose(mean, stats.truncnorm(-0.2, np.inf, loc=0.3, scale=1.5).mean(), rtol=1e-12)
    with pytest.raises(ArgumentError, match="posterior_epred of a truncated poisson model is not available"):
        censoring.truncated_mean("poisson", {"mu": np.array([2.0])}, 1.0, 10.0)

"""ulam's custom() likelihood lines (issue 13): Stan's density calls (``normal_lpdf(y | mu, sigma)``),
``log_mix``, ``log_sum_exp``, ``log1m``, and rethinking's conditional lines (``y|y==0 ~ custom(...)``).

Densities are checked against scipy.stats and closed forms written out here (Stan's log_mix:
log(theta exp(lp1) + (1 - theta) exp(lp2))); the zero-inflated Poisson written with custom() (as
rethinking's own tests write it, R/ulam_tests.R) against the same model with dzipois. The two fits
are in the slow run.
"""
import warnings
from types import SimpleNamespace

import jax
import numpy as np
import pytest
from scipy import special, stats

import multilevel.rethinking.fit  # noqa: F401  (JAX in float64, as ulam runs it)
from multilevel.errors import ModelError, MultilevelError
from multilevel.results.protocol import MissingCapability
from multilevel.rethinking import UlamSyntaxError, parse_model
from multilevel.rethinking.graph import build_graph
from multilevel.rethinking.logdensity import UlamDensity, evaluate, trace_log_density
from multilevel.rethinking.parse import (
    Call,
    Compare,
    Name,
    Neg,
    Num,
    parse_expression,
    parse_line,
)

MIXTURE = """y ~ custom(log_mix(p, normal_lpdf(y | mu[1], sigma), normal_lpdf(y | mu[2], sigma)))
ordered[2]:mu ~ normal(0, 5)
sigma ~ exponential(1)
p ~ beta(2, 2)"""
ZIP_CUSTOM = """y|y==0 ~ custom( log_mix( p , 0 , poisson_lpmf(0|lambda) ) )
y|y>0 ~ custom( log1m(p) + poisson_lpmf(y|lambda) )
logit(p) <- ap
log(lambda) <- al
ap ~ dnorm(0, 1)
al ~ dnorm(0, 10)"""
ZIP = """y ~ dzipois(p, lambda)
logit(p) <- ap
log(lambda) <- al
ap ~ dnorm(0, 1)
al ~ dnorm(0, 10)"""


def density(model: str, data) -> UlamDensity:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return UlamDensity(build_graph(parse_model(model), data))


def compiled(d: UlamDensity):
    """(log density, pointwise log-likelihood terms) at an unconstrained point, compiled once
    (quicker than evaluating op by op, where each new operation compiles on its own)."""
    return jax.jit(lambda raw: (d.log_density(raw), d.log_likelihood_terms(d.environment(d.unpack(raw)[0]))))


# ---- parsing ------------------------------------------------------------------------------------
def test_custom_line_parses_to_calls_with_the_outcome_first():
    stmt = parse_line("y ~ custom(log_mix(p, normal_lpdf(y | mu1, sigma), normal_lpdf(y|mu2 , sigma)))", 1)
    assert stmt.expr == Call("custom", (Call("log_mix", (
        Name("p"), Call("normal_lpdf", (Name("y"), Name("mu1"), Name("sigma"))),
        Call("normal_lpdf", (Name("y"), Name("mu2"), Name("sigma"))))),))
    assert stmt.used == {"y", "p", "mu1", "mu2", "sigma"}


@pytest.mark.parametrize("line, condition", [
    ("y|y==0 ~ custom(log_mix(p, 0, poisson_lpmf(0|lambda)))", Compare("==", Name("y"), Num(0.0))),
    ("y | y > 0 ~ custom(log1m(p) + poisson_lpmf(y | lambda))", Compare(">", Name("y"), Num(0.0))),
    ("admit|male2>-1 ~ binomial(applications, p)", Compare(">", Name("male2"), Neg(Num(1.0)))),
    ("y|x + 1 <= 2 * z ~ normal(mu, 1)", Compare("<=", parse_expression("x + 1"), parse_expression("2 * z"))),
    ("y|g != 3 ~ normal(mu, 1)", Compare("!=", Name("g"), Num(3.0))),
])
def test_conditions_on_likelihood_lines(line, condition):
    stmt = parse_line(line, 1)
    assert stmt.target.names == (line.split("|")[0].strip(),)
    assert stmt.target.condition == condition
    assert stmt.used >= {n.id for n in (condition.left, condition.right) if isinstance(n, Name)}


@pytest.mark.parametrize("line, message", [
    ("y ~ custom(normal_lpdf(y, mu, sigma))", "normal_lpdf() takes the outcome, then '|'"),
    ("y ~ custom(normal_lpdf())", "normal_lpdf() takes the outcome, then '|'"),
    ("y ~ custom(log_mix(p | a, b))", "'|' separates the outcome only in Stan's density calls"),
    ("y ~ custom(normal_lpdf(y | mu | sigma))", "expected ')'"),
    ("y|y ~ normal(mu, 1)", "a condition compares two values"),
    ("y|y=0 ~ normal(mu, 1)", "a condition compares two values"),
    ("mu|x>0 <- a + b", "a condition (y|y==0 ~ ...) selects the rows of a likelihood"),
    ("y ~ normal(mu == 0, 1)", "expected ')' but found '=='"),  # comparisons only in a condition
])
def test_grammar_errors_point_at_the_fault(line, message):
    with pytest.raises(UlamSyntaxError, match=None) as info:
        parse_line(line, 3)
    assert message in str(info.value) and "(line 3)" in str(info.value) and line in str(info.value)


# ---- values -------------------------------------------------------------------------------------
CORE_VALUES = [  # (expression, its value by scipy or written out, rtol): what mixtures use most
    ("normal_lpdf(y | 0.5, 2)", lambda y, n: stats.norm.logpdf(y, 0.5, 2), 1e-10),
    ("poisson_lpmf(k | 2.5)", lambda y, n: stats.poisson.logpmf(n[0], 2.5), 1e-10),
    ("binomial_lpmf(k | m, 0.3)", lambda y, n: stats.binom.logpmf(n[0], n[1], 0.3), 1e-10),
    # Stan's helpers written out: log_mix(theta, lp1, lp2) = log(theta e^lp1 + (1 - theta) e^lp2)
    ("log_mix(0.3, normal_lpdf(y | -1, 1), normal_lpdf(y | 2, 0.5))",
     lambda y, n: np.log(0.3 * stats.norm.pdf(y, -1, 1) + 0.7 * stats.norm.pdf(y, 2, 0.5)), 1e-10),
    ("log_sum_exp(log(0.3) + normal_lpdf(y | -1, 1), log1m(0.3) + normal_lpdf(y | 2, 0.5))",
     lambda y, n: np.log(0.3 * stats.norm.pdf(y, -1, 1) + 0.7 * stats.norm.pdf(y, 2, 0.5)), 1e-10),
    ("log_sum_exp(y, 2 * y, 0)", lambda y, n: np.log(np.exp(y) + np.exp(2 * y) + 1), 1e-10),
]
MORE_VALUES = [  # the other Stan densities, in Stan's parameterisation, against scipy.stats
    ("student_t_lpdf(y | 3, 0.5, 2)", lambda y, n: stats.t.logpdf(y, 3, 0.5, 2), 1e-10),
    ("cauchy_lpdf(y | 0.5, 2)", lambda y, n: stats.cauchy.logpdf(y, 0.5, 2), 1e-10),
    ("poisson_log_lpmf(k | 0.3)", lambda y, n: stats.poisson.logpmf(n[0], np.exp(0.3)), 1e-10),
    ("binomial_logit_lpmf(k | m, -0.4)", lambda y, n: stats.binom.logpmf(n[0], n[1], special.expit(-0.4)), 1e-10),
    ("bernoulli_logit_lpmf(b | 0.7)", lambda y, n: stats.bernoulli.logpmf(n[2], special.expit(0.7)), 1e-10),
    # NumPyro's log beta function (of these two) agrees with scipy's to about 1e-7 (relative)
    ("neg_binomial_2_lpmf(k | 2.5, 4)", lambda y, n: stats.nbinom.logpmf(n[0], 4, 4 / (4 + 2.5)), 1e-6),
    ("beta_binomial_lpmf(k | m, 2, 3)", lambda y, n: stats.betabinom.logpmf(n[0], n[1], 2, 3), 1e-6),
    ("gamma_lpdf(exp(y) | 2, 3)", lambda y, n: stats.gamma.logpdf(np.exp(y), 2, scale=1 / 3), 1e-10),
    ("lognormal_lpdf(exp(y) | 0.2, 1.5)", lambda y, n: stats.lognorm.logpdf(np.exp(y), 1.5, scale=np.exp(0.2)), 1e-10),
    ("log_sum_exp(y)", lambda y, n: np.log(np.sum(np.exp(y))), 1e-10),
    ("log1m(inv_logit(y)) - log1m_inv_logit(y) + log_inv_logit(y)", lambda y, n: np.log(special.expit(y)), 1e-10),
    ("log1m_exp(-exp(y))", lambda y, n: np.log1p(-np.exp(-np.exp(y))), 1e-10),
]


@pytest.mark.parametrize("table", [CORE_VALUES, pytest.param(MORE_VALUES, marks=pytest.mark.slow)],
                         ids=["core", "more"])  # "more": 3-6 s of first-time compilation
def test_functions_against_scipy_and_closed_forms(table):
    y = np.array([-2.0, -0.3, 0.0, 1.1, 2.4])
    k, m, b = np.array([0, 1, 3, 2, 7]), np.array([1, 4, 5, 2, 9]), np.array([0, 1, 1, 0, 1])
    env = {"y": y, "k": k, "m": m, "b": b}
    for text, expected, rtol in table:
        got = np.asarray(evaluate(parse_expression(text), env))
        np.testing.assert_allclose(got, expected(y, (k, m, b)), rtol=rtol, atol=1e-12, err_msg=text)


def test_two_component_mixture_density_is_the_closed_form():
    y = np.array([-2.5, -1.9, 0.2, 1.8, 2.6, 3.1])
    d = density(MIXTURE, {"y": y})
    assert d.graph.parameters["mu"].constraint == "ordered"
    f = compiled(d)
    for raw in np.random.default_rng(3).normal(0, 1, (3, 4)):
        mu = np.cumsum([raw[0], np.exp(raw[1])])  # ordered: first value, then positive increments
        sigma, p = np.exp(raw[2]), special.expit(raw[3])
        lik = np.log(p * stats.norm.pdf(y, mu[0], sigma) + (1 - p) * stats.norm.pdf(y, mu[1], sigma))
        prior = (stats.norm.logpdf(mu, 0, 5).sum() + stats.expon.logpdf(sigma) + stats.beta.logpdf(p, 2, 2)
                 + raw[1] + raw[2] + np.log(p * (1 - p)))  # log |Jacobian| of the three transforms
        total, (pointwise,) = f(raw)
        assert float(total) == pytest.approx(lik.sum() + prior, abs=1e-9)
        np.testing.assert_allclose(pointwise, lik, atol=1e-10)  # one term a row, for WAIC and PSIS


def test_zero_inflated_poisson_with_custom_lines_is_dzipois_row_by_row():
    y = np.array([0, 0, 3, 1, 0, 5, 2])
    custom, zip_ = density(ZIP_CUSTOM, {"y": y}), density(ZIP, {"y": y})
    both = jax.jit(lambda raw: (compiled(custom)(raw), compiled(zip_)(raw)))  # one compilation
    for raw in np.random.default_rng(4).normal(0, 1, (3, 2)):
        (total, terms), (want, want_terms) = both(raw)
        assert float(total) == pytest.approx(float(want), abs=1e-10)
        assert len(terms) == 1  # the two conditional lines on y give one term a row of y
        np.testing.assert_allclose(terms[0], want_terms[0], atol=1e-10)


def test_a_condition_on_an_ordinary_likelihood_keeps_its_rows():
    y, g = np.array([0.5, -1.0, 2.0, 0.3]), np.array([1, 2, 1, 2])
    d = density("y|g==1 ~ normal(mu, 1)\ny|g==2 ~ normal(mu, 2)\nmu ~ normal(0, 1)", {"y": y, "g": g})
    expected = np.where(g == 1, stats.norm.logpdf(y, 0.4, 1), stats.norm.logpdf(y, 0.4, 2))
    _, (pointwise,) = compiled(d)(np.array([0.4]))
    np.testing.assert_allclose(pointwise, expected, atol=1e-12)


# ---- errors naming the line -----------------------------------------------------------------------
Y = {"y": np.array([0.5, -1.0, 2.0]), "k": np.array([0, 2, 1])}


@pytest.mark.parametrize("model, error, message", [
    ("y ~ custom(foo_lpdf(y | mu, 1))\nmu ~ normal(0, 1)", UlamSyntaxError, "unknown function 'foo_lpdf'"),
    ("y ~ custom(norml_lpdf(y | mu, 1))\nmu ~ normal(0, 1)", UlamSyntaxError, "did you mean 'normal_lpdf'"),
    ("y ~ custom(lgo(mu))\nmu ~ normal(0, 1)", UlamSyntaxError, "unknown function 'lgo'"),
    ("y ~ custom(dnorm(y, mu, 1))\nmu ~ normal(0, 1)", UlamSyntaxError, "dnorm() is a distribution"),
    ("y ~ custom(log_mix(p, normal_lpdf(y | mu, 1)))\nmu ~ normal(0, 1)\np ~ beta(1, 1)", UlamSyntaxError,
     "log_mix() takes 3 arguments (theta, lp1, lp2) but got 2"),
    ("y ~ custom(normal_lpdf(y | mu, -1))\nmu ~ normal(0, 1)", ModelError, "the sigma of normal_lpdf() must be positive"),
    ("y ~ custom(binomial_lpmf(k | 3, 1.5))", ModelError, "the theta of binomial_lpmf() must be between 0 and 1"),
    ("y ~ custom(log_mix(1.2, normal_lpdf(y | 0, 1), normal_lpdf(y | 1, 1)))", ModelError,
     "the theta of log_mix() must be between 0 and 1, but 1.2"),
    ("mu ~ custom(normal_lpdf(mu | 0, 1))", UlamSyntaxError, "custom() adds a log density for each row of a data"),
    ("c(y, k) ~ custom(normal_lpdf(y | mu, 1))\nmu ~ normal(0, 1)", UlamSyntaxError, "custom() applies to one"),
    ("y ~ normal(mu, 1)\nmu|mu>0 ~ normal(0, 1)", UlamSyntaxError, "a condition (y|y==0 ~ ...) selects the rows"),
    ("y|mu>0 ~ normal(mu, 1)\nmu ~ normal(0, 1)", ModelError, "depends on 'mu', which is not data"),
    ("y|z>0 ~ normal(mu, 1)\nmu ~ normal(0, 1)", UlamSyntaxError, "undefined symbol 'z'"),
    ("y|y>k[1:2] ~ normal(mu, 1)\nmu ~ normal(0, 1)", UlamSyntaxError, "expected ']' but found ':'"),
])
def test_errors_name_the_line(model, error, message):
    with pytest.raises(error) as info:
        density(model, dict(Y, z2=np.zeros(2)))
    fault = 2 if "\nmu|" in model else 1  # the line at fault is quoted with its number
    assert message in str(info.value)
    assert f"line {fault}" in str(info.value) and model.splitlines()[fault - 1].strip() in str(info.value)


def test_custom_with_rows_that_do_not_match_names_the_line():
    d = density("y ~ custom(c(normal_lpdf(y | mu, 1), normal_lpdf(y | mu, 1)))\nmu ~ normal(0, 1)", Y)
    with pytest.raises(ModelError, match=r"custom\(\) on line 1 gives a log density shaped \(3, 2\)"):
        trace_log_density(d)


def test_a_condition_with_other_rows_names_the_line():
    with pytest.raises(ModelError, match=r"the condition z2 > 0 has shape \(2,\), but 'y' has 3 rows: .* \(line 1"):
        density("y|z2>0 ~ normal(mu, 1)\nmu ~ normal(0, 1)", dict(Y, z2=np.zeros(2)))


@pytest.mark.parametrize("model", [MIXTURE, ZIP_CUSTOM])
def test_sim_of_custom_or_conditional_lines_is_a_clear_error(model):
    from multilevel.rethinking import predict

    data = {"y": np.array([0, 1, 3])}
    fit = SimpleNamespace(graph=density(model, data).graph)  # the check comes before any draw is used
    with pytest.raises(MissingCapability, match=r"cannot simulate line 1 \(y.*custom\(\) is a log density"):
        predict.simulate(fit, {}, {}, 3, 1)
    with pytest.raises(MissingCapability, match="epred_draws needs a distribution with a mean"):
        predict.expected_value(fit.graph.likelihoods[0])
    assert issubclass(MissingCapability, MultilevelError)


# ---- fits (slow) --------------------------------------------------------------------------------
@pytest.mark.slow  # one NUTS fit of n = 300 (~10 s)
def test_two_component_normal_mixture_recovers_the_truth():
    import multilevel as ml

    rng = np.random.default_rng(13)
    truth = {"mu": np.array([-2.0, 2.0]), "sigma": 1.0, "p": 0.3}
    first = rng.random(300) < truth["p"]  # component 1 with probability p (log_mix's theta)
    y = np.where(first, rng.normal(-2.0, 1.0, 300), rng.normal(2.0, 1.0, 300))
    fit = ml.ulam(MIXTURE, {"y": y}, chains=2, iter=1000, seed=1, refresh=0)
    draws = fit.extract_samples()
    for name, value in truth.items():
        lower, upper = np.quantile(draws[name], [0.005, 0.995], axis=0)
        assert np.all((lower < value) & (value < upper)), (name, lower, upper, value)
    assert np.all(np.diff(draws["mu"], axis=1) > 0)  # ordered[2]: no label switching
    assert fit.log_likelihood().shape == (2, 500, 300)  # one term a row: WAIC and PSIS
    assert np.isfinite(ml.rethinking.waic(fit)["WAIC"]).all()
    with pytest.raises(MissingCapability, match="custom"):
        fit.sim(newdata={"x": [1.0]})  # refused before new data are read
    with pytest.raises(MissingCapability, match="custom"):
        fit.predicted_draws()
    with pytest.raises(MissingCapability, match="epred_draws needs a distribution with a mean"):
        fit.epred_draws()
    assert set(fit.to_arviz().children) >= {"posterior", "log_likelihood", "observed_data"}


@pytest.mark.slow  # two NUTS fits of n = 365 (~9 s)
def test_zero_inflated_poisson_with_custom_agrees_with_dzipois():
    import arviz_stats

    import multilevel as ml

    rng = np.random.default_rng(12)  # the book's monks (ch. 12): drinking on 20% of days, 1 manuscript a day
    drink = rng.random(365) < 0.2
    y = np.where(drink, 0, rng.poisson(1.0, 365))
    # different seeds: with one seed the two (equal) densities give the same chains to rounding
    fits = [ml.ulam(model, {"y": y}, chains=2, iter=1000, seed=seed, refresh=0)
            for model, seed in ((ZIP_CUSTOM, 2), (ZIP, 3))]
    for name in ("ap", "al"):
        values = [np.asarray(fit.samples[name]) for fit in fits]
        mcse = [float(arviz_stats.mcse(v, method="mean")) for v in values]
        assert abs(values[0].mean() - values[1].mean()) <= 4 * np.hypot(*mcse), (name, values[0].mean(),
                                                                               values[1].mean(), mcse)
    custom = fits[0]
    p = custom.link(var="p")  # the deterministic parts of a custom() model
    assert p.shape == (1000, 365)
    np.testing.assert_allclose(p[:, 0], special.expit(custom.samples["ap"].reshape(-1)), rtol=1e-10)
    assert custom.log_likelihood().shape == (2, 500, 365)
    with pytest.raises(MissingCapability, match=r"cannot simulate line 1 .*custom\(\)"):
        custom.sim()

"""ulam's dordlogit, dzipois and categorical (issue 13): log densities at random points against
closed forms (Stan's ordered_logistic and rethinking's dzipois written out here), outcome checks."""
import warnings

import numpy as np
import pytest
from scipy import special, stats

import multilevel.rethinking.fit  # noqa: F401  (JAX in float64, as ulam runs it)
from multilevel.errors import DataError, ModelError
from multilevel.rethinking import UlamSyntaxError, parse_model
from multilevel.rethinking.graph import build_graph
from multilevel.rethinking.logdensity import UlamDensity, trace_log_density


def density(model: str, data) -> UlamDensity:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return UlamDensity(build_graph(parse_model(model), data))


def test_ordered_logit_is_stans_with_cutpoints_sized_and_ordered():
    r = np.array([1, 3, 2, 4, 4, 1])
    x = np.array([0.5, -1.0, 0.2, 1.5, 0.0, -0.3])
    d = density("R ~ dordlogit(phi, cutpoints)\nphi <- b * x\nb ~ dnorm(0, 1)\ncutpoints ~ dnorm(0, 1.5)",
                {"R": r, "x": x})
    c = d.graph.parameters["cutpoints"]
    assert (c.shape, c.constraint) == ((3,), "ordered")  # K - 1 = 3 cutpoints for outcomes 1..4
    for raw in np.random.default_rng(1).normal(0, 1, (4, 4)):
        b, cuts = raw[0], np.cumsum(np.r_[raw[1], np.exp(raw[2:])])
        phi = b * x
        # Stan: P(R = k) = logit^-1(phi - c_{k-1}) - logit^-1(phi - c_k), c_0 = -inf, c_K = +inf
        upper = np.r_[np.inf, cuts][r - 1]
        lower = np.r_[cuts, np.inf][r - 1]
        p = special.expit(phi - np.where(np.isinf(upper), -np.inf, upper)) - special.expit(phi - lower)
        expected = (np.log(p).sum() + stats.norm.logpdf(b, 0, 1) + stats.norm.logpdf(cuts, 0, 1.5).sum()
                    + raw[2] + raw[3])
        assert float(d.log_density(raw)) == pytest.approx(expected, abs=1e-9)


def test_zero_inflated_poisson_is_rethinkings_dzipois():
    y = np.array([0, 0, 3, 1, 0, 5])
    d = density("y ~ dzipois(p, lambda)\nlogit(p) <- ap\nlog(lambda) <- al\nap ~ dnorm(0, 1)\nal ~ dnorm(0, 1)",
                {"y": y})
    for ap, al in np.random.default_rng(2).normal(0, 1, (4, 2)):
        p, lam = special.expit(ap), np.exp(al)
        # rethinking: P(0) = p + (1 - p) exp(-lambda); P(y > 0) = (1 - p) Poisson(y | lambda)
        lik = np.where(y == 0, np.log(p + (1 - p) * np.exp(-lam)), np.log1p(-p) + stats.poisson.logpmf(y, lam))
        expected = lik.sum() + stats.norm.logpdf(ap) + stats.norm.logpdf(al)
        assert float(d.log_density(np.array([ap, al]))) == pytest.approx(expected, abs=1e-9)


def test_categorical_on_one_based_outcomes():
    y = np.array([1, 3, 3, 2])
    d = density("y ~ categorical(p)\nsimplex[3]:p ~ dirichlet(alpha)", {"y": y, "alpha": np.ones(3)})
    values, _, _ = d.unpack(np.array([0.3, -0.4]))
    p = np.asarray(values["p"])
    _, _, jac = d.unpack(np.array([0.3, -0.4]))
    expected = np.log(p[y - 1]).sum() + stats.dirichlet.logpdf(p, np.ones(3)) + float(jac)
    assert float(d.log_density(np.array([0.3, -0.4]))) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("model, data, error, message", [
    ("R ~ dordlogit(0, c)\nc ~ dnorm(0, 1)", {"R": np.array([0, 1, 2])}, DataError, "whole numbers 1..K"),
    ("R ~ dordlogit(0, c)\nvector[2]:c ~ dnorm(0, 1)", {"R": np.array([1, 2, 4])}, UlamSyntaxError,
     "has 2 cutpoints but the outcome goes up to 4: it needs 3"),
    ("y ~ categorical(p)\nsimplex[3]:p ~ dirichlet(a)", {"y": np.array([1, 4]), "a": np.ones(3)}, ModelError,
     "whole numbers 1..3"),
])
def test_bad_outcomes_name_the_fault(model, data, error, message):
    with pytest.raises(error, match=message):
        trace_log_density(density(model, data))


def test_matrix_data_with_product_dot_and_two_indices():
    """Matrix data: R's ``X %*% b``, Stan's ``dot(X, b)`` and ``X[i, j]`` element by element are one
    model (the same log density at random points, and the closed form)."""
    rng = np.random.default_rng(4)
    n = 12
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    y = rng.normal(size=n)
    data = {"y": y, "X": x, "i": np.arange(1, n + 1)}
    tail = "\nvector[3]:b ~ dnorm(0, 1)\nsigma ~ dexp(1)"
    forms = ["mu <- X %*% b", "mu <- dot(X, b)", "mu <- b[1] * X[i, 1] + b[2] * X[i, 2] + b[3] * X[i, 3]",
             "mu <- 2 * X %*% b / 2"]  # %*% binds tighter than * and /, as in R
    densities = [density(f"y ~ dnorm(mu, sigma)\n{form}{tail}", data) for form in forms]
    for raw in rng.normal(0, 1, (3, 4)):
        b, sigma = raw[:3], np.exp(raw[3])
        expected = (stats.norm.logpdf(y, x @ b, sigma).sum() + stats.norm.logpdf(b).sum()
                    + stats.expon.logpdf(sigma) + raw[3])
        for d in densities:
            assert float(d.log_density(raw)) == pytest.approx(expected, abs=1e-9)


def test_betabinomial_is_rethinkings_dbetabinom():
    from multilevel.rethinking.logdensity import distribution
    from multilevel.rethinking.parse import parse_expression

    k, n = np.array([0, 2, 5, 3, 9]), np.array([4, 5, 5, 8, 9])
    for prob, theta in [(0.3, 4.0), (0.75, 0.8)]:
        # rethinking: dbetabinom(x, size, prob, theta) is the beta-binomial with shape1 = prob * theta,
        # shape2 = (1 - prob) * theta (scipy's betabinom(n, a, b)); NumPyro's log beta agrees to ~1e-7
        d = distribution(parse_expression(f"dbetabinom(n, {prob}, {theta})"), {"n": n})
        expected = stats.betabinom.logpmf(k, n, prob * theta, (1 - prob) * theta)
        np.testing.assert_allclose(np.asarray(d.log_prob(k)), expected, rtol=1e-6)

"""ulam's declared types and bounds (issue 13): real<lower=0>:tau, vector<lower=0>[K]:s, ordered[K]:c,
simplex[K]:w, dunif bounds, and parameters declared without a prior (flat, with a note).

The log densities are checked at random unconstrained points against formulas written out here
(Stan reference manual, "Constraint transforms": lower/upper bounds, ordered vectors, unit simplex
by stick breaking), so the Jacobians are tested, not only the constrained values."""
import warnings

import numpy as np
import pytest
from scipy import special, stats

import multilevel as ml
import multilevel.rethinking.fit  # noqa: F401  (JAX in float64, as ulam runs it)
from multilevel.rethinking import UlamSyntaxError, parse_model
from multilevel.rethinking.graph import FlatPriorWarning, build_graph
from multilevel.rethinking.logdensity import UlamDensity

Y = {"y": np.array([0.3, -1.2, 0.8, 1.9, 0.1])}


def density(model: str, data=None) -> UlamDensity:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return UlamDensity(build_graph(parse_model(model), Y if data is None else data))


def test_declared_lower_bound_makes_a_half_cauchy():
    d = density("y ~ dnorm(a, 1)\na ~ dnorm(0, tau)\nreal<lower=0>:tau ~ dcauchy(0, 5)")
    assert d.graph.parameters["tau"].constraint == "positive"
    rng = np.random.default_rng(1)
    for raw in rng.normal(0, 1.5, (5, 2)):
        a, tau = raw[0], np.exp(raw[1])
        expected = (stats.norm.logpdf(Y["y"], a, 1).sum() + stats.norm.logpdf(a, 0, tau)
                    + stats.cauchy.logpdf(tau, 0, 5) + raw[1])  # log |d tau / d raw| = raw
        assert float(d.log_density(raw)) == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("declaration, lower, upper", [
    ("real<lower=-1, upper=2>:r ~ dnorm(0, 1)", -1.0, 2.0),
    ("real<lower=3>:r ~ dnorm(0, 1)", 3.0, None),
    ("real<upper=-2>:r ~ dnorm(0, 1)", None, -2.0),
    ("r ~ dunif(-1, 2)", -1.0, 2.0),
])
def test_bounds_and_their_jacobians(declaration, lower, upper):
    d = density(f"y ~ dnorm(r, 1)\n{declaration}")
    p = d.graph.parameters["r"]
    assert (p.lower, p.upper) == (lower, upper)
    for raw in np.linspace(-3, 3, 7):
        if lower is not None and upper is not None:
            s = special.expit(raw)
            r, log_jac = lower + (upper - lower) * s, np.log(upper - lower) + np.log(s) + np.log1p(-s)
        elif lower is not None:
            r, log_jac = lower + np.exp(raw), raw
        else:
            r, log_jac = upper - np.exp(raw), raw
        prior = (np.log(1 / 3) if "dunif" in declaration else stats.norm.logpdf(r, 0, 1))
        expected = stats.norm.logpdf(Y["y"], r, 1).sum() + prior + log_jac
        assert float(d.log_density(np.array([raw]))) == pytest.approx(expected, abs=1e-9)


def test_ordered_and_simplex():
    d = density("y ~ dnorm(mu, 1)\nmu <- c[1] + c[2] + c[3] + w[1]\nordered[3]:c ~ dnorm(0, 2)\n"
                "simplex[3]:w ~ dirichlet(alpha)", Y | {"alpha": np.array([2.0, 3.0, 4.0])})
    assert d.size == 3 + 2  # a K-simplex has K - 1 free values
    rng = np.random.default_rng(2)
    for raw in rng.normal(0, 1, (4, 5)):
        c = np.cumsum(np.r_[raw[0], np.exp(raw[1:3])])
        # Stan's stick breaking: z_k = logit^-1(y_k - log(K - k)), x_k = (1 - sum_{j<k} x_j) z_k
        z = special.expit(raw[3:] - np.log([2.0, 1.0]))
        w1 = z[0]
        w2 = (1 - w1) * z[1]
        w = np.array([w1, w2, 1 - w1 - w2])
        log_jac = raw[1] + raw[2] + np.sum(np.log(z) + np.log1p(-z) + np.log([1.0, 1 - w1]))
        expected = (stats.norm.logpdf(Y["y"], c.sum() + w[0], 1).sum() + stats.norm.logpdf(c, 0, 2).sum()
                    + stats.dirichlet.logpdf(w, [2.0, 3.0, 4.0]) + log_jac)
        values, _, _ = d.unpack(raw)
        assert np.all(np.diff(np.asarray(values["c"])) > 0) and float(np.sum(values["w"])) == pytest.approx(1.0)
        assert float(d.log_density(raw)) == pytest.approx(expected, abs=1e-9)


def test_a_parameter_declared_without_prior_is_flat_with_a_note():
    with pytest.warns(FlatPriorWarning, match="'b' .*no prior: a flat, improper prior over the real line"):
        fit = ml.ulam("y ~ dnorm(mu, 1)\nmu <- b\nreal:b", Y, chains=2, iter=400, seed=1, refresh=0)
    # posterior N(mean(y), 1/n) exactly
    assert abs(float(np.mean(fit.samples["b"])) - Y["y"].mean()) < 4 * np.sqrt(1 / 5 / 200)
    with pytest.warns(FlatPriorWarning, match=r"over \(0, inf\)"):
        build_graph(parse_model("y ~ dnorm(0, s)\nreal<lower=0>:s"), Y)


@pytest.mark.parametrize("model, message", [
    ("y ~ dnorm(a, 1)\nreal<lower=1, upper=0>:a ~ dnorm(0, 1)", "not below the upper bound"),
    ("y ~ dnorm(a, 1)\nreal<lower=x>:a ~ dnorm(0, 1)", "bound must be a number"),
    ("y ~ dnorm(a, 1)\nreal<low=0>:a ~ dnorm(0, 1)", "lower=<number> or upper=<number>"),
    ("y ~ dnorm(a, 1)\nordered<lower=0>[3]:a ~ dnorm(0, 1)", "takes no bounds"),
    ("y ~ dnorm(mu, 1)\nreal<lower=0>:mu <- 2", "declare it on its prior line"),
    ("y ~ dnorm(a[1], 1)\nordered[1]:a ~ dnorm(0, 1)", "K of at least 2"),
    ("y ~ dnorm(a, 1)\nreal:a dnorm(0, 1)", "after the declaration"),
    ("y ~ dnorm(a, 1)\na ~ dnorm(0, 1)\ny2 = 3", "'=' does not define anything"),
    ("y ~ dnorm(mu, 1)\nmu <- a + bx\na ~ dnorm(0, 1)", "undefined symbol 'bx'.*'real:bx'"),
])
def test_bad_declarations_name_the_fault(model, message):
    with pytest.raises(UlamSyntaxError, match=message):
        density(model)

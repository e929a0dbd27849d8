"""Censored and truncated log-likelihoods: brms 2.18's ``cens()`` and ``trunc()`` for brm.

Per row, as brms writes them into its Stan program (``stan_log_lik_cens``, ``stan_log_lik_trunc``),
with F the family's CDF at the row's parameters:

* not censored: ``log f(y)``; right-censored: ``log(1 - F(y))``; left-censored: ``log F(y)``;
  interval-censored: ``log(F(y2) - F(y))``;
* truncated to ``[lb, ub]``: minus ``log(1 - F(lb'))`` (lower bound only), ``log F(ub)`` (upper
  only) or ``log(F(ub) - F(lb'))``, with ``lb' = lb - 1`` for the count families (so that
  ``y = lb`` stays inside) and ``lb' = lb`` otherwise;
* weights: brms multiplies ``log f(y) - truncation`` by the weight on uncensored models, but on a
  censored model only the censoring term (``weights[n] * normal_lcdf(...) - normal_lccdf(lb | ...)``
  in its Stan code); we follow it.

The CDFs are written in JAX, differentiable in every parameter: closed forms for gaussian,
lognormal, exponential and weibull; regularized incomplete gamma functions for poisson and gamma;
the regularized incomplete beta function for student and negbinomial, whose derivatives in its
first two arguments JAX does not give (``lax.betainc``): :func:`betainc` adds them by central
differences (relative error ~1e-10; leapfrog with any deterministic gradient stays reversible, so
NUTS stays exact). Truncated draws (posterior_predict) invert the CDF in SciPy.
"""
from __future__ import annotations

import numpy as np

# families with a CDF here; brms also censors and truncates its further families (beta, hurdle,
# zero-inflated...), which need CDFs we do not have
CENSORABLE = ("gaussian", "student", "lognormal", "poisson", "negbinomial", "gamma", "exponential", "weibull")
DISCRETE = ("poisson", "negbinomial")
RATE_FAMILIES = ("poisson", "negbinomial")  # brms 2.18's families with "rate" among their additions


def active(data: dict) -> bool:
    """Whether the row data carry censoring or truncation."""
    return any(k in data for k in ("cens", "trunc_lb", "trunc_ub"))


def log_likelihood(name: str, log_density, params: dict, data: dict):
    """Per-row ``(censoring part, truncation part)``: the row's log-likelihood is ``censoring -
    truncation`` (each weighted as :func:`weighted` says). ``log_density(y)`` is the family's log
    density at the row parameters ``params`` (``mu`` and the family's others, rate applied)."""
    import jax.numpy as jnp

    y = data["y"]
    if "cens" in data:
        cens = data["cens"]
        main = jnp.where(cens == 0, log_density(y), 0.0)
        main = jnp.where(cens == 1, log_ccdf(name, y, params), main)
        main = jnp.where(cens == -1, log_cdf(name, y, params), main)
        if "cens_y2" in data:
            y2 = jnp.where(cens == 2, data["cens_y2"], y + 1.0)  # a harmless interval on the other rows
            between = log_diff_exp(log_cdf(name, y2, params), log_cdf(name, y, params))
            main = jnp.where(cens == 2, between, main)
    else:
        main = log_density(y)
    return main, truncation(name, params, data)


def weighted(main, trunc, data: dict):
    """brms's weighting: ``w (main - trunc)`` without censoring, ``w main - trunc`` with it."""
    if "weights" not in data:
        return main - trunc
    if "cens" in data:
        return data["weights"] * main - trunc
    return data["weights"] * (main - trunc)


def truncation(name: str, params: dict, data: dict):
    """log P(lb' < Y <= ub) per row (0.0 without trunc()): the truncated density's normalizer."""
    lower = data.get("trunc_lb")
    if lower is not None and name in DISCRETE:
        lower = lower - 1.0
    upper = data.get("trunc_ub")
    if lower is None and upper is None:
        return 0.0
    if upper is None:
        return log_ccdf(name, lower, params)
    if lower is None:
        return log_cdf(name, upper, params)
    return log_diff_exp(log_cdf(name, upper, params), log_cdf(name, lower, params))


def log_diff_exp(a, b):
    """log(exp(a) - exp(b)) for a > b."""
    import jax.numpy as jnp

    return a + jnp.log(-jnp.expm1(b - a))


# ---- CDFs (JAX) --------------------------------------------------------------------------------
def log_cdf(name: str, y, p: dict):
    """log P(Y <= y)."""
    return _tails(name, y, p)[0]


def log_ccdf(name: str, y, p: dict):
    """log P(Y > y)."""
    return _tails(name, y, p)[1]


def _tails(name: str, y, p: dict):
    import jax.numpy as jnp
    from jax.scipy.special import gammainc, gammaincc, gammaln, log_ndtr

    y = jnp.asarray(y, dtype=float)
    if name == "gaussian":
        z = (y - p["mu"]) / p["sigma"]
        return log_ndtr(z), log_ndtr(-z)
    if name == "lognormal":
        return _positive(y, lambda safe: _normal_tails((jnp.log(safe) - p["mu"]) / p["sigma"]))
    if name == "student":
        z = (y - p["mu"]) / p["sigma"]
        nu = p["nu"]
        tail = 0.5 * betainc(nu / 2, 0.5 + 0.0 * nu, nu / (nu + z**2))  # P(T > |z|)
        return jnp.where(z < 0, jnp.log(tail), jnp.log1p(-tail)), jnp.where(z < 0, jnp.log1p(-tail), jnp.log(tail))
    if name == "exponential":
        return _positive(y, lambda safe: _exponential_tails(safe / p["mu"]))
    if name == "weibull":
        shape = p["shape"]
        log_scale = jnp.log(p["mu"]) - gammaln(1 + 1 / shape)
        return _positive(y, lambda safe: _exponential_tails(jnp.exp(shape * (jnp.log(safe) - log_scale))))
    if name == "gamma":
        shape = p["shape"]
        return _positive(y, lambda safe: (jnp.log(gammainc(shape, safe * shape / p["mu"])),
                                          jnp.log(gammaincc(shape, safe * shape / p["mu"]))))
    if name == "poisson":  # P(Y <= k) = Q(k + 1, mu)
        return _counts(y, lambda k: (jnp.log(gammaincc(k + 1, p["mu"])), jnp.log(gammainc(k + 1, p["mu"]))))
    if name == "negbinomial":  # P(Y <= k) = I_q(shape, k + 1), q = shape / (mu + shape)
        shape, mu = p["shape"], p["mu"]
        q = shape / (mu + shape)
        return _counts(y, lambda k: (jnp.log(betainc(shape, k + 1, q)), jnp.log(betainc(k + 1, shape, 1 - q))))
    raise ValueError(name)  # pragma: no cover - guarded by with_additions


def _normal_tails(z):
    from jax.scipy.special import log_ndtr

    return log_ndtr(z), log_ndtr(-z)


def _exponential_tails(t):
    """(log(1 - e^-t), -t): the tails of a standard exponential at t >= 0."""
    import jax.numpy as jnp

    return jnp.log(-jnp.expm1(-t)), -t


def _positive(y, tails):
    """A positive family's tails: F = 0 at y <= 0, evaluated away from 0 there (no nan gradients)."""
    import jax.numpy as jnp

    inside = y > 0
    low, high = tails(jnp.where(inside, y, 1.0))
    return jnp.where(inside, low, -jnp.inf), jnp.where(inside, high, 0.0)


def _counts(y, tails):
    """A count family's tails at k = floor(y): F = 0 below 0."""
    import jax.numpy as jnp

    k = jnp.floor(y)
    inside = k >= 0
    low, high = tails(jnp.where(inside, k, 0.0))
    return jnp.where(inside, low, -jnp.inf), jnp.where(inside, high, 0.0)


def betainc(a, b, x):
    """The regularized incomplete beta function I_x(a, b), differentiable in a, b and x."""
    import jax.numpy as jnp

    a, b, x = jnp.broadcast_arrays(jnp.asarray(a, float), jnp.asarray(b, float), jnp.asarray(x, float))
    return _betainc(a, b, x)


def _make_betainc():
    import jax
    import jax.numpy as jnp
    from jax.scipy.special import betainc as plain, betaln

    @jax.custom_jvp
    def function(a, b, x):
        return plain(a, b, x)

    @function.defjvp
    def _jvp(primals, tangents):
        a, b, x = primals
        da, db, dx = tangents
        value = plain(a, b, x)
        ha, hb = 1e-5 * a, 1e-5 * b
        d_a = (plain(a + ha, b, x) - plain(a - ha, b, x)) / (2 * ha)
        d_b = (plain(a, b + hb, x) - plain(a, b - hb, x)) / (2 * hb)
        inside = (x > 0) & (x < 1)
        safe = jnp.where(inside, x, 0.5)
        d_x = jnp.where(inside, jnp.exp((a - 1) * jnp.log(safe) + (b - 1) * jnp.log1p(-safe) - betaln(a, b)), 0.0)
        return value, d_a * da + d_b * db + d_x * dx

    return function


class _Lazy:
    """Builds the custom-derivative betainc on first use (JAX is imported lazily in this package)."""

    function = None

    def __call__(self, a, b, x):
        if _Lazy.function is None:
            _Lazy.function = _make_betainc()
        return _Lazy.function(a, b, x)


_betainc = _Lazy()


# ---- draws (NumPy/SciPy) -----------------------------------------------------------------------
def scipy_distribution(name: str, p: dict):
    """The SciPy distribution of family ``name`` at parameters ``p`` (NumPy arrays)."""
    from scipy import stats
    from scipy.special import gamma

    if name == "gaussian":
        return stats.norm(p["mu"], p["sigma"])
    if name == "student":
        return stats.t(p["nu"], p["mu"], p["sigma"])
    if name == "lognormal":
        return stats.lognorm(p["sigma"], scale=np.exp(p["mu"]))
    if name == "exponential":
        return stats.expon(scale=p["mu"])
    if name == "weibull":
        return stats.weibull_min(p["shape"], scale=p["mu"] / gamma(1 + 1 / p["shape"]))
    if name == "gamma":
        return stats.gamma(p["shape"], scale=p["mu"] / p["shape"])
    if name == "poisson":
        return stats.poisson(p["mu"])
    if name == "negbinomial":
        return stats.nbinom(p["shape"], p["shape"] / (p["mu"] + p["shape"]))
    raise ValueError(name)  # pragma: no cover


def truncated_draws(name: str, p: dict, lb, ub, rng: np.random.Generator) -> np.ndarray:
    """Draws inside ``[lb, ub]`` by inverting the CDF (brms's ``rcontinuous``/``rdiscrete`` draw
    from the same truncated distribution): u uniform on ``(F(lb'), F(ub))``, y = F^-1(u)."""
    shape = np.broadcast_shapes(*(np.shape(v) for v in p.values()), np.shape(lb), np.shape(ub))
    p = {k: np.broadcast_to(np.asarray(v, dtype=float), shape) for k, v in p.items()}
    distribution = scipy_distribution(name, p)
    lower = np.broadcast_to(np.asarray(lb, dtype=float), shape)
    upper = np.broadcast_to(np.asarray(ub, dtype=float), shape)
    low = distribution.cdf(lower - 1 if name in DISCRETE else lower)
    high = distribution.cdf(upper)
    u = low + rng.random(shape) * (high - low)
    draws = distribution.ppf(np.clip(u, 0.0, 1.0))
    return np.clip(draws, lower, upper)


def truncated_mean(name: str, p: dict, lb, ub) -> np.ndarray:
    """brms's ``posterior_epred`` of a truncated model: E[Y | lb <= Y <= ub]. gaussian in closed form
    (brms's ``posterior_epred_trunc_gaussian``); brms integrates the other families numerically,
    which brm does not: our ArgumentError."""
    from scipy.stats import norm

    from ..errors import ArgumentError

    if name != "gaussian":
        raise ArgumentError(f"posterior_epred of a truncated {name} model is not available in brm (only gaussian, "
                            "in closed form); posterior_predict draws inside the bounds")
    mu, sigma = np.asarray(p["mu"], dtype=float), np.asarray(p["sigma"], dtype=float)
    z_low, z_high = (np.asarray(lb, dtype=float) - mu) / sigma, (np.asarray(ub, dtype=float) - mu) / sigma
    return mu + (norm.pdf(z_low) - norm.pdf(z_high)) / (norm.cdf(z_high) - norm.cdf(z_low)) * sigma

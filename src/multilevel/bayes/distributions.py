"""brms's further response families for brm: their parameters, densities, means and draws.

Every density is the one brms 2.18 writes into its Stan program (``inst/chunks/fun_*.stan`` and
``R/stan-likelihood.R``), with ``mu`` the inverse link of the linear predictor ``eta``:

* ``zero_inflated_poisson`` (zi): ``y = 0``: ``log(zi + (1 - zi) exp(-mu))``; else
  ``log(1 - zi) + poisson_lpmf(y | mu)``. ``zero_inflated_negbinomial`` (shape, zi): the same with
  ``neg_binomial_2(mu, shape)``.
* ``hurdle_poisson`` (hu): ``y = 0``: ``log(hu)``; else ``log(1 - hu) + poisson_lpmf(y | mu) -
  log(1 - exp(-mu))`` (a zero-truncated Poisson). ``hurdle_negbinomial`` (shape, hu): the
  truncation term is ``log(1 - (shape / (mu + shape))^shape)``. ``hurdle_lognormal`` (sigma, hu):
  ``log(1 - hu) + lognormal_lpdf(y | mu, sigma)`` for ``y > 0``.
* ``beta`` (phi): ``beta(mu phi, (1 - mu) phi)``, mu through the logit link.
* ``exponential``: rate ``1 / mu``. ``weibull`` (shape): ``weibull(shape, mu / tgamma(1 + 1 / shape))``,
  so that mu is the mean.
* ``shifted_lognormal`` (sigma, ndt): ``lognormal_lpdf(y - ndt | mu, sigma)``, ``0 < ndt < min(y)``.
* ``exgaussian`` (sigma, beta): Stan's ``exp_mod_normal(y | mu - beta, sigma, 1 / beta)``: a normal
  plus an exponential of mean beta, so mu is the mean.
* ``skew_normal`` (sigma, alpha): mu the mean and sigma the sd; Stan's ``skew_normal(y | xi, omega,
  alpha)`` with ``delta = alpha / sqrt(1 + alpha^2)``, ``omega = sigma / sqrt(1 - 2 / pi delta^2)``,
  ``xi = mu - omega delta sqrt(2 / pi)`` (brms's ``R/stan-predictor.R``).
* ``bernoulli`` and ``binomial`` with the probit and cloglog links (:class:`BinomialLink`).

Means (``posterior_epred``) are brms's ``R/posterior_epred.R``. Draws (``posterior_predict``,
sbc) are exact, zero-truncated counts included (inverse survival function of the untruncated
distribution on ``(0, P(y > 0))``). Densities run in JAX (inside NUTS); draws in NumPy/SciPy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_HALF_LOG_2PI = 0.5 * np.log(2 * np.pi)


@dataclass(frozen=True)
class DistributionalParameter:
    """A family's parameter besides mu, as brms declares it (``R/priors.R``: ``def_dprior``,
    ``dpar_bounds``). ``kind`` is how it is sampled (:class:`.model.ParameterVector`): "positive"
    (exp), "unit" (logistic, in (0, 1)), "interval" (logistic scaled to (0, min(y)): ndt) or
    "real"; ``prior`` is brms's default (None: the scale prior of sigma, read from the response)."""

    name: str
    kind: str
    prior: str | None
    lb: str = ""
    ub: str = ""


DPARS = {
    "sigma": DistributionalParameter("sigma", "positive", None, "0"),
    "shape": DistributionalParameter("shape", "positive", "gamma(0.01, 0.01)", "0"),
    "nu": DistributionalParameter("nu", "positive", "gamma(2, 0.1)", "1"),
    "phi": DistributionalParameter("phi", "positive", "gamma(0.01, 0.01)", "0"),
    "beta": DistributionalParameter("beta", "positive", "gamma(1, 0.1)", "0"),
    "zi": DistributionalParameter("zi", "unit", "beta(1, 1)", "0", "1"),
    "hu": DistributionalParameter("hu", "unit", "beta(1, 1)", "0", "1"),
    "alpha": DistributionalParameter("alpha", "real", "normal(0, 4)"),
    "ndt": DistributionalParameter("ndt", "interval", "uniform(0, min_Y)", "0", "min_Y"),
}


@dataclass(frozen=True)
class FamilySpec:
    """One brm family: its links (the first is brms's default), parameters besides mu in brms's
    order, what its response must be (``count``, ``binary``, ``nonnegative``, ``positive``,
    ``unit`` (open), ``real``; ``ordinal``, ``categorical``) and whether brms reads its default priors from ``log(y)``
    (``has_logscale``: the lognormal families); ``ordinal``: categories 1..K (:mod:`.ordinal`)."""

    name: str
    links: tuple[str, ...]
    parameters: tuple[str, ...] = ()
    response: str = "real"
    log_scale: bool = False


_BINARY_LINKS = ("logit", "probit", "cloglog")
FAMILIES = {f.name: f for f in (
    FamilySpec("gaussian", ("identity",), ("sigma",)),
    FamilySpec("student", ("identity",), ("sigma", "nu")),
    FamilySpec("bernoulli", _BINARY_LINKS, (), "binary"),
    FamilySpec("binomial", _BINARY_LINKS, (), "count"),
    FamilySpec("poisson", ("log",), (), "count"),
    FamilySpec("negbinomial", ("log",), ("shape",), "count"),
    FamilySpec("gamma", ("log",), ("shape",), "positive"),
    FamilySpec("lognormal", ("identity",), ("sigma",), "positive", True),
    FamilySpec("zero_inflated_poisson", ("log",), ("zi",), "count"),
    FamilySpec("zero_inflated_negbinomial", ("log",), ("shape", "zi"), "count"),
    FamilySpec("hurdle_poisson", ("log",), ("hu",), "count"),
    FamilySpec("hurdle_negbinomial", ("log",), ("shape", "hu"), "count"),
    FamilySpec("hurdle_lognormal", ("identity",), ("sigma", "hu"), "nonnegative", True),
    FamilySpec("beta", _BINARY_LINKS, ("phi",), "unit"),
    FamilySpec("exponential", ("log",), (), "positive"),
    FamilySpec("weibull", ("log",), ("shape",), "positive"),
    FamilySpec("shifted_lognormal", ("identity",), ("sigma", "ndt"), "positive", True),
    FamilySpec("exgaussian", ("identity",), ("sigma", "beta")),
    FamilySpec("skew_normal", ("identity",), ("sigma", "alpha")),
    # ordinal: thresholds in place of an intercept, no parameter besides mu (brms drops disc): .ordinal
    FamilySpec("cumulative", ("logit", "probit"), (), "ordinal"),
    FamilySpec("sratio", ("logit",), (), "ordinal"),
    FamilySpec("acat", ("logit",), (), "ordinal"),
    # categorical: one predictor mu<k> per non-reference category, no intercept of its own: .categorical
    FamilySpec("categorical", ("logit",), (), "categorical"),
)}
# the families this module computes (the first eight live in .likelihood, binomial links aside; the
# ordinal ones in .ordinal, categorical in .categorical)
NEW_FAMILIES = tuple(name for name in list(FAMILIES)[8:] if FAMILIES[name].response not in ("ordinal", "categorical"))


def check_response(spec: FamilySpec, y: np.ndarray, name: str) -> None:
    """Our DataError where the response is outside the family's support (brms's ``ybounds``)."""
    from ..errors import DataError

    y = np.asarray(y, dtype=float)
    if spec.response == "count":
        bad = ~((y >= 0) & (y == np.round(y)))
        need = "non-negative whole numbers (counts)"
    elif spec.response == "nonnegative":
        bad, need = ~(y >= 0), "zero or positive"
    elif spec.response == "positive":
        bad, need = ~(y > 0), "positive"
    elif spec.response == "unit":
        bad, need = ~((y > 0) & (y < 1)), "strictly between 0 and 1 (proportions without exact 0 or 1)"
    else:
        bad, need = ~np.isfinite(y), "finite"
    bad |= ~np.isfinite(y)
    if bad.any():
        raise DataError(f"{spec.name} response {name!r} must be {need}; {int(bad.sum())} row(s) are not "
                        f"(first: {y[bad][0]:g})")


# ---- log densities (JAX) -----------------------------------------------------------------------
def poisson_lpmf(y, mu):
    from jax.scipy.special import gammaln, xlogy

    return xlogy(y, mu) - mu - gammaln(y + 1)


def negbinomial_lpmf(y, mu, shape):
    """Stan's ``neg_binomial_2_lpmf``: mean mu, variance ``mu + mu^2 / shape``."""
    import jax.numpy as jnp
    from jax.scipy.special import gammaln, xlogy

    log_total = jnp.log(mu + shape)
    return (gammaln(y + shape) - gammaln(y + 1) - gammaln(shape) + shape * (jnp.log(shape) - log_total)
            + xlogy(y, mu) - y * log_total)


def lognormal_lpdf(y, mu, sigma):
    import jax.numpy as jnp

    log_y = jnp.log(y)
    return -log_y - jnp.log(sigma) - _HALF_LOG_2PI - 0.5 * ((log_y - mu) / sigma) ** 2


def log_probabilities(eta, link: str):
    """``(log p, log(1 - p))`` of a probability through ``link``, accurate in both tails."""
    import jax.numpy as jnp
    from jax.nn import log_sigmoid
    from jax.scipy.special import log_ndtr

    if link == "logit":
        return log_sigmoid(eta), log_sigmoid(-eta)
    if link == "probit":
        return log_ndtr(eta), log_ndtr(-eta)
    if link == "cloglog":  # p = 1 - exp(-exp(eta))
        return jnp.log(-jnp.expm1(-jnp.exp(eta))), -jnp.exp(eta)
    raise ValueError(link)  # pragma: no cover - links are checked by make_likelihood


def _where_zero(y, zero_value, positive_value):
    import jax.numpy as jnp

    return jnp.where(y == 0, zero_value, positive_value)


class ResponseDistribution:
    """The response distribution of one family at broadcast parameters: ``log_prob(y)`` in JAX
    (differentiable, used by NUTS) and ``sample(key, sample_shape=())`` in NumPy, seeded from a
    JAX key (``posterior_predict`` and sbc)."""

    def __init__(self, name: str, **params):
        self.name, self.params = name, params

    def log_prob(self, y):
        import jax.numpy as jnp
        from jax.scipy.special import gammaln, log_ndtr

        p, name = self.params, self.name
        if name in ("zero_inflated_poisson", "zero_inflated_negbinomial"):
            zi, mu = p["zi"], p["mu"]
            counts = poisson_lpmf(y, mu) if name == "zero_inflated_poisson" else negbinomial_lpmf(y, mu, p["shape"])
            zero = poisson_lpmf(0.0, mu) if name == "zero_inflated_poisson" else negbinomial_lpmf(0.0, mu, p["shape"])
            return _where_zero(y, jnp.logaddexp(jnp.log(zi), jnp.log1p(-zi) + zero), jnp.log1p(-zi) + counts)
        if name == "hurdle_poisson":
            mu = p["mu"]
            positive = poisson_lpmf(y, mu) - jnp.log(-jnp.expm1(-mu))
            return _where_zero(y, jnp.log(p["hu"]), jnp.log1p(-p["hu"]) + positive)
        if name == "hurdle_negbinomial":
            mu, shape = p["mu"], p["shape"]
            p_zero = shape * (jnp.log(shape) - jnp.log(mu + shape))  # log((shape / (mu + shape))^shape)
            positive = negbinomial_lpmf(y, mu, shape) - jnp.log(-jnp.expm1(p_zero))
            return _where_zero(y, jnp.log(p["hu"]), jnp.log1p(-p["hu"]) + positive)
        if name == "hurdle_lognormal":
            safe = jnp.where(y > 0, y, 1.0)  # no log(0) in the branch not taken (its gradient would be nan)
            positive = lognormal_lpdf(safe, p["mu"], p["sigma"])
            return _where_zero(y, jnp.log(p["hu"]), jnp.log1p(-p["hu"]) + positive)
        if name == "beta":
            a, b = p["mu"] * p["phi"], (1 - p["mu"]) * p["phi"]
            # gammaln, not jax's betaln (whose relative error reaches 1e-7)
            return (a - 1) * jnp.log(y) + (b - 1) * jnp.log1p(-y) - gammaln(a) - gammaln(b) + gammaln(a + b)
        if name == "exponential":
            return -jnp.log(p["mu"]) - y / p["mu"]
        if name == "weibull":
            shape = p["shape"]
            log_scale = jnp.log(p["mu"]) - gammaln(1 + 1 / shape)
            log_z = jnp.log(y) - log_scale
            return jnp.log(shape) - log_scale + (shape - 1) * log_z - jnp.exp(shape * log_z)
        if name == "shifted_lognormal":
            return lognormal_lpdf(y - p["ndt"], p["mu"], p["sigma"])
        if name == "exgaussian":  # exp_mod_normal(y | mu - beta, sigma, lambda = 1 / beta)
            sigma, rate = p["sigma"], 1 / p["beta"]
            location = p["mu"] - p["beta"]
            return (jnp.log(rate) + rate * (location + 0.5 * rate * sigma**2 - y)
                    + log_ndtr((y - location - rate * sigma**2) / sigma))
        if name == "skew_normal":
            xi, omega, alpha = skew_normal_direct(p["mu"], p["sigma"], p["alpha"], jnp)
            z = (y - xi) / omega
            return np.log(2.0) - _HALF_LOG_2PI - jnp.log(omega) - 0.5 * z**2 + log_ndtr(alpha * z)
        if name == "binomial_link":
            log_p, log_q = log_probabilities(p["eta"], p["link"])
            n = p["trials"]
            coefficient = gammaln(n + 1) - gammaln(y + 1) - gammaln(n - y + 1)
            return coefficient + jnp.where(y > 0, y * log_p, 0.0) + jnp.where(n - y > 0, (n - y) * log_q, 0.0)
        raise ValueError(name)  # pragma: no cover

    def sample(self, key, sample_shape=()):
        from scipy import stats

        rng = _numpy_rng(key)
        p = {k: np.asarray(v, dtype=float) for k, v in self.params.items() if k != "link"}
        shape = tuple(sample_shape) + np.broadcast_shapes(*(v.shape for v in p.values()))
        p = {k: np.broadcast_to(v, shape) for k, v in p.items()}
        uniform, name = rng.random(shape), self.name
        if name == "zero_inflated_poisson":
            return np.where(uniform < p["zi"], 0.0, rng.poisson(p["mu"]))
        if name == "zero_inflated_negbinomial":
            return np.where(uniform < p["zi"], 0.0, rng.poisson(rng.gamma(p["shape"], p["mu"] / p["shape"])))
        if name in ("hurdle_poisson", "hurdle_negbinomial"):
            counts = stats.poisson(p["mu"]) if name == "hurdle_poisson" else \
                stats.nbinom(p["shape"], p["shape"] / (p["mu"] + p["shape"]))
            # zero-truncated: y = isf(V), V uniform on (0, P(y > 0)], so P(y > k) = sf(k) / sf(0)
            positive = counts.isf((1.0 - rng.random(shape)) * counts.sf(0))
            return np.where(uniform < p["hu"], 0.0, np.maximum(positive, 1.0))
        if name == "hurdle_lognormal":
            return np.where(uniform < p["hu"], 0.0, np.exp(p["mu"] + p["sigma"] * rng.standard_normal(shape)))
        if name == "beta":
            return rng.beta(p["mu"] * p["phi"], (1 - p["mu"]) * p["phi"])
        if name == "exponential":
            return rng.exponential(p["mu"])
        if name == "weibull":
            from scipy.special import gamma

            return p["mu"] / gamma(1 + 1 / p["shape"]) * rng.weibull(p["shape"])
        if name == "shifted_lognormal":
            return p["ndt"] + np.exp(p["mu"] + p["sigma"] * rng.standard_normal(shape))
        if name == "exgaussian":
            return rng.normal(p["mu"] - p["beta"], p["sigma"]) + rng.exponential(p["beta"])
        if name == "skew_normal":
            xi, omega, alpha = skew_normal_direct(p["mu"], p["sigma"], p["alpha"], np)
            delta = alpha / np.sqrt(1 + alpha**2)
            half = np.abs(rng.standard_normal(shape))
            return xi + omega * (delta * half + np.sqrt(1 - delta**2) * rng.standard_normal(shape))
        if name == "binomial_link":
            log_p, _ = log_probabilities(p["eta"], self.params["link"])
            return rng.binomial(p["trials"].astype(np.int64), np.exp(np.asarray(log_p))).astype(float)
        raise ValueError(name)  # pragma: no cover


def skew_normal_direct(mu, sigma, alpha, xp):
    """brms's mean/sd parameterization -> Stan's (xi, omega, alpha)."""
    delta = alpha / xp.sqrt(1 + alpha**2)
    omega = sigma / xp.sqrt(1 - 2 / np.pi * delta**2)
    return mu - omega * delta * np.sqrt(2 / np.pi), omega, alpha


def _numpy_rng(key) -> np.random.Generator:
    """A NumPy generator seeded by a JAX PRNG key (its raw words)."""
    import jax

    try:
        words = np.asarray(jax.random.key_data(key))
    except (TypeError, ValueError):
        words = np.asarray(key)
    return np.random.default_rng(words.astype(np.uint64).ravel().tolist())


def distribution(name: str, eta, mu, extra: dict, data: dict, link: str) -> ResponseDistribution:
    """The response distribution of family ``name`` (one of :data:`NEW_FAMILIES`, or
    ``binomial_link`` for bernoulli/binomial with a probit or cloglog link)."""
    if name == "binomial_link":
        return ResponseDistribution(name, eta=eta, trials=data.get("trials", 1.0), link=link)
    return ResponseDistribution(name, mu=mu, **{k: extra[k] for k in FAMILIES[name].parameters})


def mean(name: str, eta, mu, extra: dict, xp):
    """brms's ``posterior_epred`` of the new families (``R/posterior_epred.R``)."""
    if name in ("zero_inflated_poisson", "zero_inflated_negbinomial"):
        return mu * (1 - extra["zi"])
    if name == "hurdle_poisson":
        return mu / (1 - xp.exp(-mu)) * (1 - extra["hu"])
    if name == "hurdle_negbinomial":
        shape = extra["shape"]
        return mu / (1 - (shape / (mu + shape)) ** shape) * (1 - extra["hu"])
    if name == "hurdle_lognormal":
        return xp.exp(mu + extra["sigma"] ** 2 / 2) * (1 - extra["hu"])
    if name == "shifted_lognormal":
        return xp.exp(mu + extra["sigma"] ** 2 / 2) + extra["ndt"]
    return mu  # beta, exponential, weibull, exgaussian, skew_normal: mu is the mean

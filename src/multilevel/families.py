"""Response families and link functions, shared by the ML engine (numpy) and the Bayesian engine.

A :class:`Link` maps the mean to the linear predictor; a :class:`Family` gives the variance
function, the deviance residuals, the log density (``aic`` as R's ``family$aic``: -2 log density
summed with prior weights) and response checks. Binomial responses are proportions with their
trials as prior weights, as R stores them.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np
from scipy import special

from .errors import DataError, MultilevelError

EPS = np.finfo(float).eps
THRESHOLD = 30.0  # |eta| beyond which logit-type links are clamped, as R's C code does


# ---- links --------------------------------------------------------------------------------------
class Link:
    """Contract: ``link(mu)``, ``inverse(eta)``, ``mu_eta(eta)`` (d mu / d eta), ``name``."""

    name = "link"

    def link(self, mu):  # pragma: no cover - abstract
        raise NotImplementedError

    def inverse(self, eta):  # pragma: no cover - abstract
        raise NotImplementedError

    def mu_eta(self, eta):  # pragma: no cover - abstract
        raise NotImplementedError

    def valid_eta(self, eta) -> bool:
        """R's ``valideta``: whether the linear predictor lies where the inverse link is defined."""
        return True

    def __repr__(self) -> str:
        return self.name


class LogitLink(Link):
    name = "logit"

    def link(self, mu):
        return special.logit(mu)

    def inverse(self, eta):
        return np.clip(special.expit(eta), EPS, 1 - EPS)

    def mu_eta(self, eta):
        e = np.exp(-np.abs(eta))
        return np.maximum(e / (1 + e) ** 2, EPS)


class ProbitLink(Link):
    name = "probit"

    def link(self, mu):
        return special.ndtri(mu)  # the standard normal quantile (scipy.stats.norm.ppf)

    def inverse(self, eta):
        threshold = -special.ndtri(EPS)
        return special.ndtr(np.clip(eta, -threshold, threshold))

    def mu_eta(self, eta):
        return np.maximum(np.exp(-0.5 * np.square(eta)) / np.sqrt(2 * np.pi), EPS)


class CloglogLink(Link):
    name = "cloglog"

    def link(self, mu):
        return np.log(-np.log1p(-mu))

    def inverse(self, eta):
        return np.clip(-np.expm1(-np.exp(eta)), EPS, 1 - EPS)

    def mu_eta(self, eta):
        eta = np.minimum(eta, 700)
        return np.maximum(np.exp(eta) * np.exp(-np.exp(eta)), EPS)


class CauchitLink(Link):
    """The Cauchy distribution function (R's ``"cauchit"``), clamped as R's ``binomial("cauchit")``."""

    name = "cauchit"

    def link(self, mu):
        return np.tan(np.pi * (mu - 0.5))  # R: qcauchy(mu)

    def inverse(self, eta):
        threshold = -np.tan(np.pi * (EPS - 0.5))  # R: -qcauchy(.Machine$double.eps)
        return 0.5 + np.arctan(np.clip(eta, -threshold, threshold)) / np.pi

    def mu_eta(self, eta):
        return np.maximum(1.0 / (np.pi * (1.0 + np.square(eta))), EPS)  # R: pmax(dcauchy(eta), eps)


class LogLink(Link):
    name = "log"

    def link(self, mu):
        return np.log(mu)

    def inverse(self, eta):
        return np.maximum(np.exp(eta), EPS)

    def mu_eta(self, eta):
        return np.maximum(np.exp(eta), EPS)


class IdentityLink(Link):
    name = "identity"

    def link(self, mu):
        return mu

    def inverse(self, eta):
        return eta

    def mu_eta(self, eta):
        return np.ones_like(eta)


class InverseLink(Link):
    """1/mu, the Gamma family's canonical link (R's ``"inverse"``)."""

    name = "inverse"

    def link(self, mu):
        return 1.0 / mu

    def inverse(self, eta):
        return 1.0 / eta

    def mu_eta(self, eta):
        return -1.0 / eta**2

    def valid_eta(self, eta) -> bool:
        return bool(np.all(np.isfinite(eta)) and np.all(eta != 0))


class InverseSquareLink(Link):
    """1/mu^2, the inverse Gaussian family's canonical link (R's ``"1/mu^2"``)."""

    name = "1/mu^2"

    def link(self, mu):
        return 1.0 / mu**2

    def inverse(self, eta):
        return 1.0 / np.sqrt(eta)

    def mu_eta(self, eta):
        return -1.0 / (2 * eta**1.5)

    def valid_eta(self, eta) -> bool:
        return bool(np.all(np.isfinite(eta)) and np.all(eta > 0))


class SqrtLink(Link):
    name = "sqrt"

    def link(self, mu):
        return np.sqrt(mu)

    def inverse(self, eta):
        return eta**2

    def mu_eta(self, eta):
        return 2 * eta

    def valid_eta(self, eta) -> bool:
        return bool(np.all(np.isfinite(eta)) and np.all(eta > 0))


LINKS = {cls.name: cls for cls in (LogitLink, ProbitLink, CauchitLink, CloglogLink, LogLink, IdentityLink, InverseLink,
                                   InverseSquareLink, SqrtLink)}


# ---- families -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Family:
    """Contract: variance, deviance residuals, -2 log density, response checks, simulation."""

    link: Link
    name: str = "family"
    # R's summary.glm: the dispersion is 1 for binomial and Poisson, estimated (Pearson) for the rest
    fixed_dispersion = False
    # R's logLik.glm counts a scale parameter (one more degree of freedom) for these families
    scale_in_loglik = False

    @property
    def display(self) -> str:
        return self.name

    def aic(self, y, mu, weights, deviance: float) -> float:
        """R's ``family$aic``: -2 log-likelihood at the fit, plus 2 where a dispersion is estimated."""
        return self.minus_twice_loglik(y, mu, weights)

    def valid_mu(self, mu) -> bool:
        """R's ``validmu``: whether fitted means lie inside the family's range."""
        return bool(np.all(np.isfinite(mu)))

    def variance(self, mu):  # pragma: no cover - abstract
        raise NotImplementedError

    def deviance_residuals(self, y, mu, weights):  # pragma: no cover - abstract
        """Squared deviance residuals (unit deviances times prior weights)."""
        raise NotImplementedError

    def minus_twice_loglik(self, y, mu, weights) -> float:
        """-2 log density of the data, R's ``family$aic`` without its parameter term."""
        return self.minus_twice_loglik_kernel(y, mu, weights) + self.minus_twice_loglik_constant(y, weights)

    def minus_twice_loglik_kernel(self, y, mu, weights) -> float:  # pragma: no cover - abstract
        """The part of :meth:`minus_twice_loglik` that depends on mu."""
        raise NotImplementedError

    def minus_twice_loglik_constant(self, y, weights) -> float:
        """The part that does not depend on mu (binomial coefficients, factorials): cache it."""
        return 0.0

    def check_response(self, y, weights, name: str) -> None:
        """Raise :class:`DataError` for responses this family cannot describe."""

    def initial_mu(self, y, weights):
        return (y + np.mean(y)) / 2

    def simulate(self, mu, weights, rng):  # pragma: no cover - abstract
        raise NotImplementedError

    def simulate_with_dispersion(self, mu, weights, dispersion: float, rng):
        """Responses given the means and a dispersion (ignored by the families without one)."""
        return self.simulate(mu, weights, rng)


@dataclass(frozen=True)
class Binomial(Family):
    link: Link = LogitLink()
    name: str = "binomial"
    fixed_dispersion = True

    def valid_mu(self, mu) -> bool:
        return bool(np.all(np.isfinite(mu)) and np.all((mu > 0) & (mu < 1)))

    def variance(self, mu):
        return mu * (1 - mu)

    def deviance_residuals(self, y, mu, weights):
        return 2 * weights * (special.xlogy(y, y / mu) + special.xlogy(1 - y, (1 - y) / (1 - mu)))

    def minus_twice_loglik_kernel(self, y, mu, weights) -> float:
        trials = np.round(np.where(weights > 0, weights, 0.0))
        successes = np.round(trials * y)
        return float(-2 * np.sum(special.xlogy(successes, mu) + special.xlog1py(trials - successes, -mu)))

    def minus_twice_loglik_constant(self, y, weights) -> float:
        trials = np.round(np.where(weights > 0, weights, 0.0))
        successes = np.round(trials * y)
        log_choose = special.gammaln(trials + 1) - special.gammaln(successes + 1) - special.gammaln(trials - successes + 1)
        return float(-2 * np.sum(log_choose))

    def check_response(self, y, weights, name):
        if np.any((y < 0) | (y > 1)):
            raise DataError(f"binomial response {name!r} must lie in [0, 1] (a proportion or 0/1); "
                            f"found values from {np.min(y):g} to {np.max(y):g}")
        successes = y * weights
        if np.any(np.abs(successes - np.round(successes)) > 1e-7 * np.maximum(1, weights)):
            raise DataError(f"binomial response {name!r}: successes (proportion x trials) must be whole numbers")

    def initial_mu(self, y, weights):
        return (weights * y + 0.5) / (weights + 1)  # R's binomial()$initialize

    def simulate(self, mu, weights, rng):
        trials = np.round(weights).astype(int)
        return rng.binomial(np.maximum(trials, 1), mu) / np.maximum(trials, 1)


@dataclass(frozen=True)
class Poisson(Family):
    link: Link = LogLink()
    name: str = "poisson"
    fixed_dispersion = True

    def valid_mu(self, mu) -> bool:
        return bool(np.all(np.isfinite(mu)) and np.all(mu > 0))

    def variance(self, mu):
        return mu

    def deviance_residuals(self, y, mu, weights):
        with np.errstate(divide="ignore", invalid="ignore"):  # y = 0 with mu = 0 (R: the term is mu)
            ratio = np.where(y > 0, y / mu, 1.0)
        return 2 * weights * (special.xlogy(y, ratio) - (y - mu))

    def minus_twice_loglik_kernel(self, y, mu, weights) -> float:
        return float(-2 * np.sum(weights * (special.xlogy(y, mu) - mu)))

    def minus_twice_loglik_constant(self, y, weights) -> float:
        return float(2 * np.sum(weights * special.gammaln(y + 1)))

    def check_response(self, y, weights, name):
        if np.any(y < 0):
            raise DataError(f"poisson response {name!r} has negative counts (minimum {np.min(y):g})")
        if np.any(np.abs(y - np.round(y)) > 1e-7):
            raise DataError(f"poisson response {name!r} must be whole counts")

    def initial_mu(self, y, weights):
        return y + 0.1

    def simulate(self, mu, weights, rng):
        return rng.poisson(mu).astype(float)


@dataclass(frozen=True)
class NegativeBinomial(Family):
    """Negative binomial with shape ``theta``: variance mu + mu^2 / theta (R's MASS::negative.binomial)."""

    link: Link = LogLink()
    theta: float = 1.0
    name: str = "negative.binomial"

    @property
    def display(self) -> str:
        return f"Negative Binomial({self.theta:.4f})"

    def variance(self, mu):
        return mu + mu**2 / self.theta

    def deviance_residuals(self, y, mu, weights):
        th = self.theta
        return 2 * weights * (y * np.log(np.maximum(y, 1) / mu) - (y + th) * np.log((y + th) / (mu + th)))

    def minus_twice_loglik_kernel(self, y, mu, weights) -> float:
        th = self.theta
        return float(-2 * np.sum(weights * (th * np.log(th / (th + mu)) + special.xlogy(y, mu / (th + mu)))))

    def minus_twice_loglik_constant(self, y, weights) -> float:
        th = self.theta
        return float(-2 * np.sum(weights * (special.gammaln(th + y) - special.gammaln(th) - special.gammaln(y + 1))))

    check_response = Poisson.check_response
    initial_mu = Poisson.initial_mu

    def simulate(self, mu, weights, rng):
        return rng.negative_binomial(self.theta, self.theta / (self.theta + mu)).astype(float)


@dataclass(frozen=True)
class Gaussian(Family):
    link: Link = IdentityLink()
    name: str = "gaussian"
    scale_in_loglik = True

    def variance(self, mu):
        return np.ones_like(mu)

    def deviance_residuals(self, y, mu, weights):
        return weights * (y - mu) ** 2

    def simulate_with_dispersion(self, mu, weights, dispersion: float, rng):
        return rng.normal(mu, np.sqrt(dispersion / weights))

    def aic(self, y, mu, weights, deviance: float) -> float:
        n = len(y)  # R's gaussian()$aic, with the ML variance deviance / n
        return float(n * (np.log(deviance / n * 2 * np.pi) + 1) + 2 - np.sum(np.log(weights)))

    def initial_mu(self, y, weights):
        return np.asarray(y, dtype=float).copy()  # R's gaussian()$initialize


def _check_positive(y, name: str, family: str) -> None:
    if np.any(y <= 0):
        raise DataError(f"{family} response {name!r} must be positive (minimum {np.min(y):g}); "
                        f"non-positive values are not allowed for the {family!r} family")


@dataclass(frozen=True)
class _PositiveWithDispersion(Family):
    """Gamma and inverse Gaussian: positive responses, a dispersion estimated by the fit (R's glm)."""

    scale_in_loglik = True

    def minus_twice_loglik_kernel(self, y, mu, weights) -> float:
        return self.aic(y, mu, weights, float(np.sum(self.deviance_residuals(y, mu, weights)))) - 2

    def valid_mu(self, mu) -> bool:
        return bool(np.all(np.isfinite(mu)) and np.all(mu > 0))

    def check_response(self, y, weights, name):
        _check_positive(y, name, self.name)

    def initial_mu(self, y, weights):
        return np.asarray(y, dtype=float).copy()

    def simulate(self, mu, weights, rng):  # pragma: no cover - needs the dispersion
        raise MultilevelError(f"simulating from the {self.name} family needs its dispersion; not available here")


@dataclass(frozen=True)
class Gamma(_PositiveWithDispersion):
    """Gamma with variance mu^2 (times the dispersion); R's ``Gamma()``, canonical link 1/mu."""

    link: Link = InverseLink()
    name: str = "Gamma"

    def variance(self, mu):
        return mu**2

    def simulate_with_dispersion(self, mu, weights, dispersion: float, rng):
        shape = weights / dispersion  # variance dispersion * mu^2 / weight
        return rng.gamma(shape, mu / shape)

    def deviance_residuals(self, y, mu, weights):
        return -2 * weights * (np.log(np.where(y == 0, 1.0, y / mu)) - (y - mu) / mu)

    def aic(self, y, mu, weights, deviance: float) -> float:
        from scipy import stats

        disp = deviance / np.sum(weights)  # R's Gamma()$aic: the dispersion as deviance / n
        return float(-2 * np.sum(stats.gamma.logpdf(y, 1 / disp, scale=mu * disp) * weights) + 2)


@dataclass(frozen=True)
class InverseGaussian(_PositiveWithDispersion):
    """Inverse Gaussian with variance mu^3 (times the dispersion); R's ``inverse.gaussian()``."""

    link: Link = InverseSquareLink()
    name: str = "inverse.gaussian"

    def variance(self, mu):
        return mu**3

    def simulate_with_dispersion(self, mu, weights, dispersion: float, rng):
        return rng.wald(mu, weights / dispersion)  # shape lambda: variance mu^3 * dispersion / weight

    def deviance_residuals(self, y, mu, weights):
        return weights * (y - mu) ** 2 / (y * mu**2)

    def aic(self, y, mu, weights, deviance: float) -> float:
        total = np.sum(weights)
        return float(total * (1 + np.log(deviance / total * 2 * np.pi)) + 3 * np.sum(np.log(y) * weights) + 2)



FAMILIES = {"binomial": Binomial, "poisson": Poisson, "gaussian": Gaussian,
            "negative.binomial": NegativeBinomial, "Gamma": Gamma, "inverse.gaussian": InverseGaussian}
DEFAULT_LINKS = {"binomial": "logit", "poisson": "log", "gaussian": "identity", "negative.binomial": "log",
                 "Gamma": "inverse", "inverse.gaussian": "1/mu^2"}
# the links R's family functions accept (stats::binomial(), poisson(), ...)
VALID_LINKS = {"binomial": ("logit", "probit", "cauchit", "cloglog", "log"), "poisson": ("log", "identity", "sqrt"),
               "gaussian": ("identity", "log", "inverse"), "Gamma": ("inverse", "identity", "log"),
               "inverse.gaussian": ("1/mu^2", "inverse", "identity", "log"),
               "negative.binomial": ("log", "sqrt", "identity")}


def get_family(family, link: str | None = None) -> Family:
    """A Family from an instance or a name (``"binomial"``, ``"poisson"``, ...), with an optional link."""
    if isinstance(family, Family):
        return family
    family = {"gamma": "Gamma", "inverse_gaussian": "inverse.gaussian"}.get(family, family) \
        if isinstance(family, str) else family
    if not isinstance(family, str) or family not in FAMILIES:
        close = difflib.get_close_matches(str(family), list(FAMILIES), n=2)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise MultilevelError(f"unknown family {family!r}.{hint} Valid families: {', '.join(FAMILIES)}")
    link_name = link or DEFAULT_LINKS[family]
    if link_name not in LINKS:
        raise MultilevelError(f"unknown link {link_name!r}; valid links: {', '.join(LINKS)}")
    return FAMILIES[family](link=LINKS[link_name]())


def binomial(link: str = "logit") -> Binomial:
    return Binomial(link=LINKS[link]())


def poisson(link: str = "log") -> Poisson:
    return Poisson(link=LINKS[link]())


def negative_binomial(theta: float, link: str = "log") -> NegativeBinomial:
    return NegativeBinomial(link=LINKS[link](), theta=float(theta))

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
from scipy import special, stats

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
        return stats.norm.ppf(mu)

    def inverse(self, eta):
        threshold = -stats.norm.ppf(EPS)
        return stats.norm.cdf(np.clip(eta, -threshold, threshold))

    def mu_eta(self, eta):
        return np.maximum(stats.norm.pdf(eta), EPS)


class CloglogLink(Link):
    name = "cloglog"

    def link(self, mu):
        return np.log(-np.log1p(-mu))

    def inverse(self, eta):
        return np.clip(-np.expm1(-np.exp(eta)), EPS, 1 - EPS)

    def mu_eta(self, eta):
        eta = np.minimum(eta, 700)
        return np.maximum(np.exp(eta) * np.exp(-np.exp(eta)), EPS)


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


LINKS = {cls.name: cls for cls in (LogitLink, ProbitLink, CloglogLink, LogLink, IdentityLink)}


# ---- families -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Family:
    """Contract: variance, deviance residuals, -2 log density, response checks, simulation."""

    link: Link
    name: str = "family"

    @property
    def display(self) -> str:
        return self.name

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


@dataclass(frozen=True)
class Binomial(Family):
    link: Link = LogitLink()
    name: str = "binomial"

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

    def variance(self, mu):
        return mu

    def deviance_residuals(self, y, mu, weights):
        return 2 * weights * (special.xlogy(y, y / mu) - (y - mu))

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

    def variance(self, mu):
        return np.ones_like(mu)

    def deviance_residuals(self, y, mu, weights):
        return weights * (y - mu) ** 2


FAMILIES = {"binomial": Binomial, "poisson": Poisson, "gaussian": Gaussian,
            "negative.binomial": NegativeBinomial}
DEFAULT_LINKS = {"binomial": "logit", "poisson": "log", "gaussian": "identity", "negative.binomial": "log"}


def get_family(family, link: str | None = None) -> Family:
    """A Family from an instance or a name (``"binomial"``, ``"poisson"``, ...), with an optional link."""
    if isinstance(family, Family):
        return family
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

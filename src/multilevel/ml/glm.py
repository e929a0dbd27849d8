"""``glm``: formula -> design (no random terms) -> IRLS (R's ``glm.fit``) -> :class:`GlmFit`.

IRLS is R's Fisher scoring step for step: the family's starting means, working response and
weights on the rows with positive prior weight, a QR least-squares solve per iteration, step
halving when the deviance is not finite or the means leave the family's range, and convergence
when |dev - dev_old| / (|dev| + 0.1) < 1e-8 (at most 25 iterations). The final QR factor and
working weights are those of the last iteration, as R keeps them, so that ``summary`` matches
R's to the last digits.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..design import Design, build_design
from ..errors import ConvergenceWarning, DataError, ModelError
from ..families import VALID_LINKS, get_family
from ..formula import parse_formula
from ..options import whole_number
from ..results.glmfit import GlmFit
from .lm import least_squares, unscaled_covariance
from .services import LinearModelServices
from .update import remember_call

EPSILON = 1e-8  # glm.control()$epsilon
MAXIT = 25  # glm.control()$maxit


@dataclass(frozen=True)
class IrlsResult:
    """Where IRLS stopped: coefficients, the last least-squares system, means, deviance, iterations."""

    coef: np.ndarray
    r: np.ndarray  # triangular factor of sqrt(W) X at the last iteration's working weights
    working_weights: np.ndarray  # (n,) zero where the prior weight is zero
    eta: np.ndarray
    mu: np.ndarray
    deviance: float
    iterations: int
    converged: bool
    boundary: bool


def irls(x: np.ndarray, y: np.ndarray, weights: np.ndarray, offset: np.ndarray, family, *,
         mustart: np.ndarray | None = None, epsilon: float = EPSILON, maxit: int = MAXIT) -> IrlsResult:
    """R's ``glm.fit`` without a start: Fisher scoring from the family's starting means."""
    link = family.link
    mu = family.initial_mu(y, weights) if mustart is None else np.asarray(mustart, dtype=float)
    eta = link.link(mu)
    mu = link.inverse(eta)
    if not (link.valid_eta(eta) and family.valid_mu(mu)):
        raise DataError(f"cannot find valid starting values for the {family.name} family with the "
                        f"{link.name} link: the response's starting means are outside the link's range")
    dev_old = float(np.sum(family.deviance_residuals(y, mu, weights)))
    coef_old, converged, boundary = None, False, False
    coef = np.zeros(x.shape[1])
    r, w2, dev, iteration = np.zeros((x.shape[1], x.shape[1])), np.zeros_like(y), dev_old, 0
    for iteration in range(1, maxit + 1):
        mu_eta = link.mu_eta(eta)
        good = (weights > 0) & (mu_eta != 0)
        z = (eta - offset)[good] + (y - mu)[good] / mu_eta[good]
        w = np.sqrt(weights[good] * mu_eta[good] ** 2 / family.variance(mu)[good])
        if not np.all(np.isfinite(w)) or not np.all(np.isfinite(z)):
            raise DataError("non-finite working weights or response in IRLS: check the response and the link")
        solution = least_squares(x[good], z, w**2)
        coef, r = solution.coef, solution.r
        w2 = np.zeros_like(y)
        w2[good] = w**2
        eta = x @ coef + offset
        mu = link.inverse(eta)
        dev = float(np.sum(family.deviance_residuals(y, mu, weights)))
        if not np.isfinite(dev) or not (link.valid_eta(eta) and family.valid_mu(mu)):
            if coef_old is None:
                raise DataError(f"no valid set of coefficients has been found for the {family.name} family: "
                                "please supply starting values (R's glm.fit says the same)")
            for _ in range(maxit):  # R's inner loops 1 and 2: halve the step until it is valid
                coef = (coef + coef_old) / 2
                eta = x @ coef + offset
                mu = link.inverse(eta)
                dev = float(np.sum(family.deviance_residuals(y, mu, weights)))
                if np.isfinite(dev) and link.valid_eta(eta) and family.valid_mu(mu):
                    break
            else:
                raise DataError("IRLS could not correct the step size (R: 'inner loop; cannot correct step size')")
            boundary = True
        if abs(dev - dev_old) / (abs(dev) + 0.1) < epsilon:
            converged = True
            break
        dev_old, coef_old = dev, coef
    return IrlsResult(coef, r, w2, eta, mu, dev, iteration, converged, boundary)


def glm(formula: str, data: pd.DataFrame, *, family="gaussian", link: str | None = None, weights=None,
        offset=None, na_action: str = "omit", maxit: int = MAXIT, epsilon: float = EPSILON,
        data_name: str | None = None, contrasts: dict | None = None) -> GlmFit:
    """Fit a generalized linear model by iteratively reweighted least squares, as R's ``glm``.

    Parameters
    ----------
    formula : str
        A formula without random-effects terms. Binomial responses: 0/1 (or a two-level
        factor/boolean), ``cbind(successes, failures)``, or a proportion with ``weights=`` trials.
    family : str or Family
        ``"gaussian"`` (default, as R), ``"binomial"``, ``"poisson"``, ``"Gamma"``,
        ``"inverse.gaussian"`` or a :mod:`multilevel.families` object; ``link`` picks another link
        (``"probit"``, ``"cloglog"``, ``"log"``, ``"inverse"``, ``"identity"``, ``"sqrt"``, ``"1/mu^2"``).
    weights, offset : str or array, optional
        Prior weights and a known part of the linear predictor (also ``offset(x)`` in the formula).
    maxit, epsilon :
        R's ``glm.control``: at most ``maxit`` iterations; converged when
        |dev - dev_old| / (|dev| + 0.1) < ``epsilon``.
    contrasts : dict, optional
        Codings of factors of the fixed effects, as R's ``contrasts=`` (see :func:`multilevel.lmer`).

    Examples
    --------
    >>> import multilevel as ml
    >>> cbpp = ml.datasets.load("cbpp")
    >>> fit = ml.glm("cbind(incidence, size - incidence) ~ period", cbpp, family="binomial")
    >>> round(fit.deviance, 3)
    114.102
    """
    arguments = dict(locals())  # the call, for fit.update() (as given: before any checks)
    maxit = whole_number("maxit", maxit, 1)
    fam = get_family(family, link)
    allowed = VALID_LINKS.get(fam.name, ())
    if allowed and fam.link.name not in allowed:
        raise ModelError(f"link {fam.link.name!r} is not available for the {fam.name} family (as in R); "
                         f"available links: {', '.join(allowed)}")
    parsed = parse_formula(formula)
    if parsed.bars:
        raise ModelError(f"glm fits models without random-effects terms; {parsed.text!r} has "
                         f"{len(parsed.bars)}: use ml.glmer for a generalized linear mixed model")
    design = build_design(parsed, data, weights=weights, offset=offset, family=fam, na_action=na_action,
                          contrasts=contrasts)
    call = {"family": family if isinstance(family, str) else fam.name, "link": link}
    if isinstance(weights, str):
        call["weights"] = weights
    return remember_call(fit_glm_design(design, maxit=maxit, epsilon=float(epsilon), data_name=data_name or "data", call=call), "glm", arguments)


def fit_glm_design(design: Design, *, maxit: int = MAXIT, epsilon: float = EPSILON, data_name: str = "data",
                   call: dict | None = None) -> GlmFit:
    """Fit a prepared :class:`Design` (with a family, without random terms) by IRLS."""
    if design.terms:
        raise ModelError("fit_glm_design needs a design without random-effects terms")
    family, y = design.family, design.response
    weights = design.weights if design.weights is not None else np.ones_like(y)
    offset = design.offset if design.offset is not None else np.zeros_like(y)
    result = irls(design.fixed.matrix, y, weights, offset, family, epsilon=epsilon, maxit=maxit)
    messages = _check(result, family)
    has_intercept = "(Intercept)" in design.fixed.column_names
    if has_intercept and design.offset is not None:
        # R's glm: with an offset the null model is the intercept-only fit, not the weighted mean
        null = irls(np.ones((len(y), 1)), y, weights, offset, family, mustart=result.mu, epsilon=epsilon, maxit=maxit)
        if not null.converged:
            messages.append("fitting to calculate the null deviance did not converge -- increase 'maxit'?")
        null_deviance = null.deviance
    else:
        null_mu = np.full_like(y, np.sum(weights * y) / np.sum(weights)) if has_intercept else family.link.inverse(offset)
        null_deviance = float(np.sum(family.deviance_residuals(y, null_mu, weights)))
    for message in messages:
        warnings.warn(message, ConvergenceWarning, stacklevel=3)
    return GlmFit(design, result, null_deviance, has_intercept, unscaled=unscaled_covariance(result.r),
                  services=LinearModelServices, data_name=data_name, call=call or {}, messages=messages)


def _check(result: IrlsResult, family) -> list[str]:
    """R's glm.fit warnings, worded as R does."""
    messages = []
    if not result.converged:
        messages.append("glm.fit: algorithm did not converge")
    if result.boundary:
        messages.append("glm.fit: algorithm stopped at boundary value")
    eps = 10 * np.finfo(float).eps
    if family.name == "binomial" and np.any((result.mu > 1 - eps) | (result.mu < eps)):
        messages.append("glm.fit: fitted probabilities numerically 0 or 1 occurred")
    if family.name == "poisson" and np.any(result.mu < eps):
        messages.append("glm.fit: fitted rates numerically 0 occurred")
    return messages

"""Confidence intervals for GLMMs: Wald (z), likelihood profile, parametric bootstrap.

Rows follow lme4: ``.sig01, ...`` (standard deviations and correlations of the random effects,
in theta's order) then the fixed effects; a GLMM of these families has no ``.sigma``.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..errors import ModelError
from ..threads import blas_threads_for
from .inference import _labels, _minimize_others, _param_names, _profile_limit
from .inference import wald_intervals  # noqa: F401  (the same Wald intervals serve GLMMs)


def _names(fit) -> list[str]:
    return _param_names(fit)


class SdCorDeviance:
    """The GLMM deviance as a function of (sds and correlations of the random effects, beta)."""

    def __init__(self, fit):
        self.problem = fit.problem
        self.problem.set_nagq(fit.nagq)
        self.pairs = [t.covariance.theta_pairs() for t in self.problem.terms]
        self.n_psi = sum(len(p) for p in self.pairs)

    def reported(self, theta: np.ndarray, beta: np.ndarray, sigma: float, dispersion: bool) -> np.ndarray:
        """lme4's parameters (confint rows): sds and correlations, then sigma where the family has a
        dispersion (the sds then scaled by it, as in varcorr), then beta."""
        psi = self.psi_from_theta(theta)
        if dispersion:
            is_sd = np.array([i == j for pairs in self.pairs for i, j in pairs], dtype=bool)
            psi = np.append(np.where(is_sd, psi * sigma, psi), sigma)
        return np.concatenate([psi, beta])

    def psi_from_theta(self, theta: np.ndarray) -> np.ndarray:
        theta = np.asarray(theta)
        return np.concatenate([t.covariance.sdcor(theta[s]) for t, s in zip(self.problem.terms, self.problem.theta_slices)]
                              + [np.zeros(0)])

    def theta_from_psi(self, psi: np.ndarray) -> np.ndarray | None:
        theta, start = [], 0
        for term, pairs in zip(self.problem.terms, self.pairs):
            try:
                theta.append(term.covariance.theta_from_sdcor(psi[start : start + len(pairs)]))
            except np.linalg.LinAlgError:
                return None
            start += len(pairs)
        return np.concatenate(theta)

    def __call__(self, params: np.ndarray) -> float:
        theta = self.theta_from_psi(params[: self.n_psi])
        if theta is None:
            return np.inf
        return self.problem.objective(np.concatenate([theta, params[self.n_psi:]]))

    def bounds(self, p: int) -> tuple[np.ndarray, np.ndarray]:
        lower = [0.0 if i == j else -1.0 for pairs in self.pairs for i, j in pairs] + [-np.inf] * p
        upper = [np.inf if i == j else 1.0 for pairs in self.pairs for i, j in pairs] + [np.inf] * p
        return np.array(lower), np.array(upper)


def profile_intervals(fit, level: float = 0.95, parm=None) -> pd.DataFrame:
    """Likelihood-profile intervals of every parameter, re-optimizing the others (PIRLS inside)."""
    from scipy import stats

    if fit.has_residual_variance:
        raise ModelError(f"profile intervals are not available for a GLMM of the {fit.family.name} family, whose "
                         "dispersion is estimated (lme4: \"can't (yet) profile GLMMs with non-fixed scale "
                         "parameters\"): use method='wald' or method='boot'")

    z = stats.norm.ppf(1 - (1 - level) / 2)
    deviance = SdCorDeviance(fit)
    beta = fit.fixef()
    estimate = np.concatenate([deviance.psi_from_theta(fit.theta), beta.to_numpy()])
    best = -2 * fit.loglik
    lower, upper = deviance.bounds(len(beta))
    names = _names(fit) + list(beta.index)
    se = np.sqrt(np.diag(fit.vcov().to_numpy()))
    steps = np.concatenate([0.25 * np.maximum(np.abs(estimate[: deviance.n_psi]), 0.05), se])
    out = {}
    with warnings.catch_warnings(), np.errstate(all="ignore"), blas_threads_for(fit.problem.cholesky):
        warnings.simplefilter("ignore")  # (above: refits of small dense blocks run on one BLAS thread)
        for index, name in enumerate(names):
            if parm is not None and name not in parm:
                continue

            def zeta(value, index=index):
                dev, _ = _minimize_others(deviance, estimate, index, value, lower, upper)
                return np.sign(value - estimate[index]) * np.sqrt(max(dev - best, 0.0))

            out[name] = [_profile_limit(zeta, estimate[index], steps[index], -z, lower[index]),
                         _profile_limit(zeta, estimate[index], steps[index], z, upper[index])]
    fit.problem.pirls(fit.theta, fit.fixef().to_numpy())  # leave the problem at the estimates
    return pd.DataFrame.from_dict(out, orient="index", columns=_labels(fit, level))


def bootstrap_intervals(fit, level: float = 0.95, nsim: int = 200, seed=None) -> pd.DataFrame:
    """Percentile intervals from refits to responses simulated from the fitted model (the same map
    over seeds as ``fit.bootstrap``, :mod:`multilevel.ml.bootstrap`)."""
    from .inference import bootstrap_intervals as linear_bootstrap_intervals

    return linear_bootstrap_intervals(fit, level, nsim=nsim, seed=seed)

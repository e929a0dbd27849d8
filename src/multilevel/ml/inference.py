"""Confidence intervals for linear mixed models: Wald, likelihood profile and parametric bootstrap.

Parameters are on lme4's scale: ``.sig01, .sig02, ...`` are the standard deviations (diagonal of
a term's factor) and correlations (off-diagonal) of the random effects in theta's order, then
``.sigma``, then the fixed effects. Profiles are of the ML deviance, also for REML fits (as lme4
does: its profile of a REML fit reproduces only with the ML criterion), with beta profiled out
and sigma a free parameter.
"""
from __future__ import annotations

import dataclasses

import nlopt
import numpy as np
import pandas as pd

from ..threads import blas_threads_for
from .lmm import LOG_2PI, LMMProblem
from .optimize import bobyqa
from .standardize import standardize


def _labels(fit, level: float) -> list[str]:
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    return [f"{100 * lo:.3g} %", f"{100 * hi:.3g} %"]


def _param_names(fit) -> list[str]:
    """lme4's names of the variance parameters: .sig01, ... and .sigma where the family has one."""
    n = len(fit.theta)
    return [f".sig{i + 1:02d}" for i in range(n)] + ([".sigma"] if fit.has_residual_variance else [])


def wald_intervals(fit, level: float = 0.95) -> pd.DataFrame:
    """Fixed effects +- z * SE (t-free, as lme4); variance parameters are NaN, as lme4 returns them."""
    from scipy import stats

    z = stats.norm.ppf(1 - (1 - level) / 2)
    beta = fit.fixef()
    se = np.sqrt(np.diag(fit.vcov().to_numpy()))
    rows = _param_names(fit)
    values = np.full((len(rows) + len(beta), 2), np.nan)
    values[len(rows):, 0] = beta - z * se
    values[len(rows):, 1] = beta + z * se
    return pd.DataFrame(values, index=rows + list(beta.index), columns=_labels(fit, level))


class VarianceScaleDeviance:
    """The fit's criterion as a function of psi = (sds and correlations, sigma), beta profiled."""

    def __init__(self, problem: LMMProblem, reml: bool):
        self.problem, self.reml = problem, reml
        self.pairs = [t.covariance.theta_pairs() for t in problem.terms]

    def psi_from_theta(self, theta: np.ndarray, sigma: float) -> np.ndarray:
        psi = []
        for term, pairs, s in zip(self.problem.terms, self.pairs, self.problem.theta_slices):
            values = term.covariance.sdcor(np.asarray(theta)[s])
            psi += [v * sigma if i == j else v for (i, j), v in zip(pairs, values)]
        return np.array(psi + [sigma])

    def theta_from_psi(self, psi: np.ndarray) -> np.ndarray | None:
        sigma = psi[-1]
        theta, start = [], 0
        for term, pairs in zip(self.problem.terms, self.pairs):
            values = [v / sigma if i == j else v for (i, j), v in zip(pairs, psi[start : start + len(pairs)])]
            start += len(pairs)
            try:
                theta.append(term.covariance.theta_from_sdcor(np.array(values)))
            except np.linalg.LinAlgError:
                return None
        return np.concatenate(theta)

    def __call__(self, psi: np.ndarray) -> float:
        sigma = psi[-1]
        if sigma <= 0:
            return np.inf
        theta = self.theta_from_psi(psi)
        if theta is None:
            return np.inf
        prob = self.problem
        try:
            factor = prob.cholesky.factor(prob.lambdas(theta))
        except (ArithmeticError, np.linalg.LinAlgError):
            return np.inf
        from ..linalg import logdet_lower

        K, p, n = len(prob.terms), prob.p, prob.n
        logdet = 2.0 * sum(logdet_lower(factor[j, j]) for j in range(K))
        fixed = factor[K, K]
        pwrss = fixed[p, p] ** 2
        dof = n
        if self.reml:
            logdet += 2.0 * float(np.log(np.diagonal(fixed)[:p]).sum())
            dof = n - p
        return float(logdet + dof * (LOG_2PI + 2 * np.log(sigma)) + pwrss / sigma**2 - prob.log_weight_sum)

    def lower_bounds(self) -> np.ndarray:
        return np.array([0.0 if i == j else -1.0 for pairs in self.pairs for i, j in pairs] + [0.0])

    def upper_bounds(self) -> np.ndarray:
        return np.array([np.inf if i == j else 1.0 for pairs in self.pairs for i, j in pairs] + [np.inf])


def _minimize_others(fn, x0, fixed_index, value, lower, upper):
    """min over every coordinate but ``fixed_index`` (held at ``value``); returns (min, argmin)."""
    free = [i for i in range(len(x0)) if i != fixed_index]

    def full(xf):
        x = np.array(x0, dtype=float)
        x[free] = xf
        x[fixed_index] = value
        return x

    if not free:
        x = full(np.zeros(0))
        return fn(x), x
    opt = nlopt.opt(nlopt.LN_BOBYQA, len(free))
    opt.set_lower_bounds(lower[free])
    opt.set_upper_bounds(upper[free])
    opt.set_min_objective(lambda xf, grad: min(fn(full(np.asarray(xf))), 1e300))
    opt.set_ftol_abs(1e-9)
    opt.set_xtol_abs(1e-9)
    start = np.clip(np.asarray(x0, dtype=float)[free], lower[free], upper[free])
    try:
        xf = opt.optimize(start)
    except nlopt.RoundoffLimited:
        xf = start
    return fn(full(np.asarray(xf))), full(np.asarray(xf))


def _profile_limit(zeta, estimate, step, target, bound):
    """Where zeta crosses ``target`` (signed) moving away from the estimate, or the bound."""
    from scipy import optimize

    direction = np.sign(target)
    previous, x = estimate, estimate
    for _ in range(60):
        x = estimate + direction * step
        if np.isfinite(bound) and direction * (x - bound) >= 0:
            x = bound
        value = zeta(x)
        if direction * value >= abs(target):
            return optimize.brentq(lambda v: zeta(v) - target, previous, x, xtol=1e-10 * max(1, abs(x)))
        if np.isfinite(bound) and x == bound:
            return bound
        previous = x
        step *= 1.6
    return np.nan


def profile_intervals(fit, level: float = 0.95, parm=None) -> pd.DataFrame:
    """Likelihood-profile intervals for every parameter (or the names in ``parm``)."""
    from scipy import stats

    z = stats.norm.ppf(1 - (1 - level) / 2)
    ml_fit = fit.refit_ml()
    deviance = VarianceScaleDeviance(ml_fit.problem, reml=False)
    psi_hat = deviance.psi_from_theta(ml_fit.theta, ml_fit.sigma)
    best = deviance(psi_hat)
    lower, upper = deviance.lower_bounds(), deviance.upper_bounds()
    names = _param_names(fit)
    beta = fit.fixef()
    se = np.sqrt(np.diag(fit.vcov().to_numpy()))
    wanted = list(parm) if parm is not None else names + list(beta.index)
    out = {}
    with blas_threads_for(ml_fit.problem.cholesky):  # refits of small dense blocks: one BLAS thread
        for index, name in enumerate(names):
            if name not in wanted:
                continue
            start = [psi_hat.copy()]

            def zeta(value, index=index):
                dev, argmin = _minimize_others(deviance, start[0], index, value, lower, upper)
                return np.sign(value - psi_hat[index]) * np.sqrt(max(dev - best, 0.0))

            step = 0.25 * max(abs(psi_hat[index]), 0.05 if lower[index] == -1 else 1e-3 * ml_fit.sigma)
            out[name] = [_profile_limit(zeta, psi_hat[index], step, -z, lower[index]),
                         _profile_limit(zeta, psi_hat[index], step, z, upper[index])]
        for j, name in enumerate(beta.index):
            if name not in wanted:
                continue
            zeta = _fixed_effect_zeta(fit, j)
            out[name] = [_profile_limit(zeta, beta.iloc[j], se[j], -z, -np.inf),
                         _profile_limit(zeta, beta.iloc[j], se[j], z, np.inf)]
    frame = pd.DataFrame.from_dict(out, orient="index", columns=_labels(fit, level))
    return frame.loc[[n for n in names + list(beta.index) if n in out]]


def _fixed_effect_zeta(fit, j: int):
    """Signed root of the ML deviance change with beta_j held fixed (an offset), as lme4 profiles."""
    design = fit.design
    x = design.fixed.matrix
    keep = [k for k in range(x.shape[1]) if k != j]
    reduced_fixed = dataclasses.replace(
        design.fixed, matrix=x[:, keep], column_names=tuple(design.fixed.column_names[k] for k in keep)
    )
    ml_fit = fit.refit_ml() if fit.reml else fit
    best = ml_fit.deviance
    theta_start = [ml_fit.theta]
    estimate = fit.fixef().iloc[j]

    def zeta(value):
        reduced = dataclasses.replace(design, fixed=reduced_fixed, response=design.response - x[:, j] * value)
        searched, standardization = standardize(reduced)  # the ML deviance is the same in both
        problem = LMMProblem(searched, reml=False)
        record = bobyqa(problem.objective, standardization.theta_to_standard(theta_start[0]), problem.lower_bounds(),
                        ftol_abs=1e-11, xtol_abs=1e-9)
        deviance = record.final_objective + standardization.criterion_shift(reml=False)
        return np.sign(value - estimate) * np.sqrt(max(deviance - best, 0.0))

    return zeta


def bootstrap_intervals(fit, level: float = 0.95, nsim: int = 500, seed=None) -> pd.DataFrame:
    """Percentile intervals (boot.ci's "perc", as lme4) from :func:`multilevel.ml.bootstrap.bootstrap`.

    The replicates are in ``attrs["replicates"]`` (nsim x parameters), the run in ``attrs["bootstrap"]``.
    """
    result = fit.services.bootstrap(fit, nsim, seed=seed)
    frame = result.confint(level, type="perc")
    frame.columns = _labels(fit, level)
    frame.attrs["replicates"] = result.t.to_numpy()
    frame.attrs["bootstrap"] = result
    return frame

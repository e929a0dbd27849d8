"""The bounded derivative-free optimizer (nlopt's BOBYQA) and the record of how it ran.

Settings differ from lme4's (ftol_abs 1e-8): the profiled criterion is flat near its optimum,
so a stop on a small change of the criterion leaves theta 1e-5 to 1e-4 (relative) short of the
optimum, as lme4's does. We stop on the trust-region radius alone (xtol_abs 1e-7), which put
theta within 2e-6 of tightly converged lme4 on every reference model. After the run, parameters within ``boundary_tol`` of a bound are tried on the
bound, as lme4's ``check.boundary`` does, so singular fits land exactly on zero.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import nlopt
import numpy as np

NLOPT_RESULTS = {
    1: "success",
    2: "stopval reached",
    3: "ftol reached",
    4: "xtol reached",
    5: "maxeval reached",
    6: "maxtime reached",
    -1: "failure",
    -2: "invalid arguments",
    -3: "out of memory",
    -4: "roundoff limited",
    -5: "forced stop",
}


@dataclass
class OptimizerRecord:
    """How a fit was produced: optimizer, settings, start and end, evaluations, time, messages."""

    optimizer: str
    settings: dict
    initial: np.ndarray
    final: np.ndarray
    initial_objective: float
    final_objective: float
    n_evaluations: int
    elapsed_seconds: float
    return_code: int
    return_message: str
    lower_bounds: np.ndarray
    messages: list = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"{self.optimizer}: {self.n_evaluations} evaluations in {self.elapsed_seconds:.3f} s, "
            f"{self.return_message}; objective {self.initial_objective:.6f} -> {self.final_objective:.6f}"
        )


def bobyqa(
    objective,
    initial: np.ndarray,
    lower: np.ndarray,
    *,
    ftol_abs: float = 0.0,
    ftol_rel: float = 0.0,
    xtol_abs: float = 1e-7,
    maxeval: int = 100_000,
    boundary_tol: float = 1e-5,
    initial_step: np.ndarray | None = None,
) -> OptimizerRecord:
    """Minimize ``objective(theta)`` subject to ``theta >= lower`` with nlopt's BOBYQA."""
    initial = np.asarray(initial, dtype=float)
    lower = np.asarray(lower, dtype=float)
    start = time.perf_counter()
    count = [0]
    best = [initial.copy(), np.inf]

    def wrapped(x, grad):
        count[0] += 1
        value = objective(np.array(x))
        if value < best[1]:
            best[0], best[1] = np.array(x), value
        return float(value) if np.isfinite(value) else 1e300

    initial_value = objective(initial)
    count[0] += 1
    opt = nlopt.opt(nlopt.LN_BOBYQA, len(initial))
    opt.set_lower_bounds(lower)
    opt.set_upper_bounds(np.full(len(initial), np.inf))
    opt.set_min_objective(wrapped)
    opt.set_ftol_abs(ftol_abs)
    opt.set_ftol_rel(ftol_rel)
    opt.set_xtol_abs(xtol_abs)
    opt.set_maxeval(maxeval)
    if initial_step is not None:
        opt.set_initial_step(np.asarray(initial_step, dtype=float))
    messages = []
    try:
        final = np.array(opt.optimize(initial))
        code = opt.last_optimize_result()
    except nlopt.RoundoffLimited:
        final, code = best[0], -4  # nlopt raises here; keep the best point it evaluated
        messages.append("optimizer stopped early: roundoff limited")
    final_value = float(objective(final))
    count[0] += 1
    final, final_value = _check_boundary(objective, final, final_value, lower, boundary_tol, count)
    if code == 5:
        messages.append(f"optimizer reached the evaluation limit ({maxeval})")
    settings = dict(ftol_abs=ftol_abs, ftol_rel=ftol_rel, xtol_abs=xtol_abs, maxeval=maxeval,
                    boundary_tol=boundary_tol)
    return OptimizerRecord(
        "nlopt LN_BOBYQA", settings, initial, final, float(initial_value), final_value, count[0],
        time.perf_counter() - start, int(code), NLOPT_RESULTS.get(int(code), str(code)), lower, messages,
    )


def _check_boundary(objective, x, value, lower, tol, count):
    """Put parameters within ``tol`` of a finite lower bound on it when that is no worse.

    "No worse" allows rounding noise (1e-13 relative): within ``tol`` of the bound the criterion
    changes by O(tol^2), below what its last digits can tell apart.
    """
    near = np.isfinite(lower) & (np.abs(x - lower) < tol) & (x != lower)
    if not near.any():
        return x, value
    trial = x.copy()
    trial[near] = lower[near]
    trial_value = float(objective(trial))
    count[0] += 1
    if trial_value <= value + 1e-13 * max(1.0, abs(value)):
        return trial, trial_value
    return x, value


def finite_difference_gradient(objective, x: np.ndarray, lower: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """Central differences (one-sided next to a bound), for lme4's convergence check."""
    grad = np.zeros_like(x)
    for i in range(len(x)):
        h = step * max(1.0, abs(x[i]))
        up, down = x.copy(), x.copy()
        up[i] += h
        if x[i] - h >= lower[i]:
            down[i] -= h
            grad[i] = (objective(up) - objective(down)) / (2 * h)
        else:
            grad[i] = (objective(up) - objective(x)) / h
    return grad


def finite_difference_hessian(objective, x: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """Second-order central-difference Hessian in 1 + 2n + n(n-1) evaluations.

    Off-diagonal entries reuse the axis points: H_ij = [f(x+hi+hj) + f(x-hi-hj) - f(x+hi) - f(x-hi)
    - f(x+hj) - f(x-hj) + 2 f(x)] / (2 hi hj).
    """
    n = len(x)
    h = step * np.maximum(1.0, np.abs(x))
    f0 = objective(x)

    def at(delta):
        return objective(x + delta)

    plus = np.empty(n)
    minus = np.empty(n)
    for i in range(n):
        e = np.zeros(n)
        e[i] = h[i]
        plus[i], minus[i] = at(e), at(-e)
    hess = np.diag((plus - 2 * f0 + minus) / h**2)
    for i in range(n):
        for j in range(i + 1, n):
            e = np.zeros(n)
            e[i], e[j] = h[i], h[j]
            value = (at(e) + at(-e) - plus[i] - minus[i] - plus[j] - minus[j] + 2 * f0) / (2 * h[i] * h[j])
            hess[i, j] = hess[j, i] = value
    return hess

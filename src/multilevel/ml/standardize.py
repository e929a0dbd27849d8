"""Fits that do not depend on the units of the predictors: optimize in standardized coordinates.

Rescaling a numeric predictor (or shifting it, where the term has an intercept to absorb the shift)
recodes the same model: the likelihood at the optimum is unchanged and the estimates transform
exactly. The optimizer does not see it that way: BOBYQA's steps, its stopping rule and lme4's
singular-fit tolerance are all in absolute units of theta (and of beta in glmer's second stage),
so ``Days * 1e4`` in a random slope leaves the optimizer short of the optimum with a spurious
singular-fit warning (lme4 does the same and suggests rescaling). Here every fit optimizes a design
whose numeric columns are centered (where the term has an intercept) and scaled to unit standard
deviation, and maps the optimum back exactly:

    X_std = X T_x           beta = T_x beta_std
    Z_std = Z T_k           b = T_k b_std,   Lambda Lambda' = T_k Lambda_std Lambda_std' T_k'

Every affine recoding of a predictor gives the same standardized design, hence the same path of the
optimizer. Columns of zeros and ones (dummy variables) are left as they are.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy.linalg import qr, solve_triangular

from ..design import Design


def _is_intercept(column: np.ndarray) -> bool:
    return bool(np.all(column == 1.0))


def _is_indicator(column: np.ndarray) -> bool:
    return bool(np.all((column == 0.0) | (column == 1.0)))


def standardizing_transform(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, matrix @ T): T centers and scales each numeric column to unit standard deviation.

    A column is centered only when the matrix has an intercept column that absorbs the shift;
    otherwise it is scaled by its root mean square (so the model stays the same model). The
    standardized columns are computed directly, not as ``matrix @ T``, to keep their digits.
    """
    p = matrix.shape[1]
    transform = np.eye(p)
    standardized = matrix.copy()
    intercepts = [j for j in range(p) if _is_intercept(matrix[:, j])]
    intercept = intercepts[0] if intercepts else None
    for j in range(p):
        column = matrix[:, j]
        if j == intercept or _is_indicator(column):
            continue
        center = float(column.mean()) if intercept is not None else 0.0
        scale = float(np.sqrt(np.mean((column - center) ** 2)))
        if not np.isfinite(scale) or scale == 0.0:
            continue
        transform[j, j] = 1.0 / scale
        if intercept is not None:
            transform[intercept, j] = -center / scale
        standardized[:, j] = (column - center) / scale
    return transform, standardized


def lower_factor(matrix: np.ndarray) -> np.ndarray:
    """The lower-triangular L with non-negative diagonal and L L' = M M' (by QR; M may be singular)."""
    r = qr(matrix.T, mode="r")[0]
    lower = r.T[: matrix.shape[0], : matrix.shape[0]]
    signs = np.where(np.diagonal(lower) < 0, -1.0, 1.0)
    return lower * signs[None, :]


@dataclass(frozen=True)
class Standardization:
    """The column transforms of the fixed part (``fixed``) and of each random term (``terms``)."""

    fixed: np.ndarray
    terms: tuple[np.ndarray, ...]
    covariances: tuple  # each term's Covariance (theta <-> Lambda)

    @property
    def is_identity(self) -> bool:
        return all(np.array_equal(t, np.eye(len(t))) for t in (self.fixed, *self.terms))

    def beta_to_original(self, beta_std: np.ndarray) -> np.ndarray:
        return self.fixed @ np.asarray(beta_std, dtype=float)

    def beta_to_standard(self, beta: np.ndarray) -> np.ndarray:
        return solve_triangular(self.fixed, np.asarray(beta, dtype=float), lower=False)

    def theta_to_original(self, theta_std: np.ndarray) -> np.ndarray:
        return self._map_theta(theta_std, lambda t, lam: t @ lam)

    def theta_to_standard(self, theta: np.ndarray) -> np.ndarray:
        return self._map_theta(theta, lambda t, lam: solve_triangular(t, lam, lower=False))

    def _map_theta(self, theta: np.ndarray, apply) -> np.ndarray:
        theta = np.asarray(theta, dtype=float)
        out, start = [], 0
        for transform, covariance in zip(self.terms, self.covariances):
            piece = theta[start : start + covariance.n_theta]
            start += covariance.n_theta
            if np.array_equal(transform, np.eye(len(transform))):
                out.append(piece.copy())
                continue
            lam = lower_factor(apply(transform, covariance.factor(piece)))
            out.append(covariance.theta_from_factor(lam))
        return np.concatenate(out) if out else np.zeros(0)

    def hessian_to_original_beta(self, hessian: np.ndarray) -> np.ndarray:
        """A Hessian over (theta_std, beta_std) -> over (theta_std, beta): the chain rule through
        beta_std = T_x^-1 beta. (theta stays standardized; the fixed-effects covariance, the beta
        block of the inverse, is the same for any smooth recoding of theta.)"""
        p = len(self.fixed)
        if p == 0:
            return hessian
        jacobian = np.eye(len(hessian))
        jacobian[-p:, -p:] = np.linalg.inv(self.fixed)
        return jacobian.T @ hessian @ jacobian

    def log_abs_det_fixed(self) -> float:
        """log|det T_x|: the REML criterion of the original design is the standardized one minus twice this."""
        return float(np.log(np.abs(np.diagonal(self.fixed))).sum())

    def lmm_solution_to_original(self, solution, standardized, reml: bool):
        """Combine an LMM solution on the original design with the same optimum solved on the
        standardized one: beta, b, sigma and the criterion come from the standardized solve, mapped
        exactly (an original design with shifted predictors loses digits in X'X); the random-effects
        factor, which depends on Z Lambda only, stays. The fixed-effects block of the factor becomes
        T_x^-T R_X (standardized), which is the original R_X computed without the cancellation."""
        K, p = len(self.terms), len(self.fixed)
        factor = dict(solution.factor)
        fixed_block = factor[K, K].copy()
        if p:
            fixed_block[:p, :p] = solve_triangular(self.fixed, standardized.factor[K, K][:p, :p],
                                                   trans="T", lower=False)
        factor[K, K] = fixed_block
        objective = standardized.objective - (2.0 * self.log_abs_det_fixed() if reml else 0.0)
        return dataclasses.replace(
            solution,
            beta=self.beta_to_original(standardized.beta),
            b=[b_std @ transform.T for b_std, transform in zip(standardized.b, self.terms)],
            sigma=standardized.sigma, pwrss=standardized.pwrss, factor=factor, objective=objective)

    def record_in_original(self, record, objective_shift: float = 0.0, n_theta: int | None = None) -> None:
        """Express an optimizer record in the original coordinates (theta, then beta if present);
        what the optimizer saw stays in ``record.settings["standardization"]``."""
        if self.is_identity:
            return
        n_theta = len(record.final) if n_theta is None else n_theta

        def original(x):
            x = np.asarray(x, dtype=float)
            parts = [self.theta_to_original(x[:n_theta])]
            if len(x) > n_theta:
                parts.append(self.beta_to_original(x[n_theta:]))
            return np.concatenate(parts)

        record.settings["standardization"] = {
            "fixed_transform": self.fixed.tolist(), "term_transforms": [t.tolist() for t in self.terms],
            "initial": record.initial.tolist(), "final": record.final.tolist(),
            "initial_objective": record.initial_objective, "final_objective": record.final_objective}
        record.initial, record.final = original(record.initial), original(record.final)
        record.initial_objective += objective_shift
        record.final_objective += objective_shift


def standardize(design: Design) -> tuple[Design, Standardization]:
    """The same design with standardized columns, and the transforms that map estimates back."""
    fixed_transform, x = standardizing_transform(design.fixed.matrix)
    term_transforms, terms = [], []
    for term in design.terms:
        transform, z = standardizing_transform(term.z)
        term_transforms.append(transform)
        terms.append(dataclasses.replace(term, z=z))
    standardization = Standardization(fixed_transform, tuple(term_transforms),
                                      tuple(t.covariance for t in design.terms))
    if standardization.is_identity:
        return design, standardization
    fixed = dataclasses.replace(design.fixed, matrix=x)
    return dataclasses.replace(design, fixed=fixed, terms=tuple(terms)), standardization

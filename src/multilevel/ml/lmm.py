"""Profiled deviance and REML criterion of a linear mixed model, as functions of theta only.

Following lme4 and MixedModels.jl: with ``Lambda(theta)`` the relative covariance factor, the
blocked Cholesky factor ``L`` of ``[Lambda'Z'Z Lambda + I, Lambda'Z'X, Lambda'Z'y; ...; y'y]``
gives everything: ``log|L_Z|``, ``log|L_X|`` and the penalized residual sum of squares ``r**2``
(its last diagonal element squared). Fixed effects and sigma are profiled out:

    ML:   2 log|L_Z| + n (1 + log(2 pi r^2 / n))
    REML: 2 log|L_Z| + 2 log|L_X| + (n - p) (1 + log(2 pi r^2 / (n - p)))
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular

from ..design import Design
from ..errors import ModelError
from ..linalg import BlockedCholesky, NotPositiveDefinite, logdet_lower, system_blocks
from ..linalg.blocks import solve_upper_block, transpose_times_block
from ..linalg.crossprod import dense_cross

LOG_2PI = float(np.log(2 * np.pi))


@dataclass(frozen=True)
class LMMSolution:
    """Conditional estimates at one theta: beta, spherical u, b = Lambda u, sigma, factor blocks."""

    theta: np.ndarray
    beta: np.ndarray
    u: list  # per term, (levels, p)
    b: list  # per term, (levels, p)
    sigma: float
    pwrss: float
    factor: dict
    objective: float


class LMMProblem:
    """Everything about a design that does not depend on theta: cross-products and structure.

    ``objective(theta)`` is the small pure function the optimizer sees.
    """

    def __init__(self, design: Design, reml: bool = True):
        self.design = design
        self.x = design.fixed.matrix
        self.y = design.response
        self.p = self.x.shape[1]
        w = design.weights
        self.sqrt_weights = None if w is None else np.sqrt(w)
        n = len(self.y) if w is None else int(np.count_nonzero(w))  # a row of weight 0 carries no information: it is
        # not an observation of the likelihood (as R's lm), so the weights' units cannot matter
        log_weight_sum = 0.0 if w is None else float(np.log(w[w > 0]).sum())
        xy = np.column_stack([self.x, self._centered(self.y)])
        blocks = system_blocks([(t.codes, t.z, t.n_levels) for t in design.terms], xy, self.sqrt_weights)
        weighted_y = self.y if self.sqrt_weights is None else self.y * self.sqrt_weights
        self._setup(design.terms, blocks, n=n, y_shift=self.y_shift, log_weight_sum=log_weight_sum, reml=reml,
                    response_norm=float(np.linalg.norm(weighted_y)))

    @classmethod
    def from_blocks(cls, terms, blocks: dict, *, n: int, y_shift: np.ndarray, log_weight_sum: float, reml: bool,
                    response_norm: float, design: Design | None = None) -> "LMMProblem":
        """A problem from cross-products reduced elsewhere (e.g. summed over the partitions of a Dask
        DataFrame, :mod:`multilevel.ml.out_of_core`): the objective and the solution are the same code;
        only the per-row data (``x``, ``y``, weights) are absent, so :meth:`with_response` is not available.

        ``blocks`` are :func:`~multilevel.linalg.system_blocks` of ``[X y - X y_shift]`` (rows scaled by
        the square roots of the weights), ``n`` the number of observations with positive weight,
        ``log_weight_sum`` the sum of their log weights, ``response_norm`` the norm of sqrt(w) y.
        """
        self = cls.__new__(cls)
        self.design, self.x, self.y, self.sqrt_weights = design, None, None, None
        self.p = blocks[len(terms), len(terms)].shape[0] - 1
        self._setup(terms, blocks, n=n, y_shift=np.asarray(y_shift, dtype=float), log_weight_sum=log_weight_sum,
                    reml=reml, response_norm=response_norm)
        return self

    def _setup(self, terms, blocks, *, n, y_shift, log_weight_sum, reml, response_norm) -> None:
        self.reml = reml
        self.terms = tuple(terms)
        self.n = n
        self.y_shift = y_shift
        self.log_weight_sum = log_weight_sum
        self.response_norm = response_norm
        self.cholesky = BlockedCholesky(blocks, [(t.n_levels, t.dim) for t in self.terms])
        sizes = [t.covariance.n_theta for t in self.terms]
        edges = np.concatenate([[0], np.cumsum(sizes)])
        self.theta_slices = [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]
        self.n_evaluations = 0

    @property
    def residual_norm(self) -> float:
        """Norm of sqrt(w) (y - X y_shift): the response left after its least-squares fit on X."""
        K = len(self.terms)
        return float(np.sqrt(max(self.cholesky.A[K, K][self.p, self.p], 0.0)))

    def _centered(self, y: np.ndarray) -> np.ndarray:
        """y minus its least-squares fit on X (stored in ``y_shift``).

        The profiled criterion does not change when y moves within the column space of X (beta
        absorbs it), but y'y then no longer dwarfs the penalized residual sum of squares, so the
        Cholesky factor's last element loses far fewer digits to cancellation.
        """
        x, target = self.x, y
        if self.sqrt_weights is not None:
            x, target = x * self.sqrt_weights[:, None], y * self.sqrt_weights
        self.y_shift = np.linalg.lstsq(x, target, rcond=None)[0] if self.p else np.zeros(0)
        return y - self.x @ self.y_shift

    def with_response(self, y: np.ndarray) -> "LMMProblem":
        """The same problem for another response: only the blocks that involve y are recomputed."""
        clone = copy.copy(self)
        clone.y = np.asarray(y, dtype=float)
        if self.x is None:
            raise ModelError("this problem was built from reduced cross-products (data out of core): it holds "
                             "no rows to refit with another response")
        xy = np.column_stack([self.x, clone._centered(clone.y)])
        if self.sqrt_weights is not None:
            xy = xy * self.sqrt_weights[:, None]
        K = len(self.terms)
        blocks = dict(self.cholesky.A)
        for j, term in enumerate(self.terms):
            z = term.z if self.sqrt_weights is None else term.z * self.sqrt_weights[:, None]
            blocks[K, j] = dense_cross(term.codes, z, term.n_levels, xy)
        blocks[K, K] = xy.T @ xy
        clone.cholesky = copy.copy(self.cholesky)
        clone.cholesky.A = blocks
        return clone

    # ---- parameters -------------------------------------------------------------------------
    @property
    def n_theta(self) -> int:
        return int(self.theta_slices[-1].stop) if self.theta_slices else 0

    def lower_bounds(self) -> np.ndarray:
        return np.concatenate([t.covariance.lower_bounds() for t in self.terms])

    def initial_theta(self) -> np.ndarray:
        return np.concatenate([t.covariance.initial_theta() for t in self.terms])

    def lambdas(self, theta: np.ndarray) -> list[np.ndarray]:
        return [t.covariance.factor(theta[s]) for t, s in zip(self.terms, self.theta_slices)]

    # ---- objective --------------------------------------------------------------------------
    def objective(self, theta: np.ndarray, reml: bool | None = None) -> float:
        """REML criterion (``reml``) or ML deviance, profiled over beta and sigma."""
        self.n_evaluations += 1
        try:
            factor = self.cholesky.factor(self.lambdas(np.asarray(theta, dtype=float)))
        except (NotPositiveDefinite, np.linalg.LinAlgError):
            return np.inf
        return self._criterion(factor, self.reml if reml is None else reml)

    def _criterion(self, factor: dict, reml: bool) -> float:
        K, p, n = len(self.terms), self.p, self.n
        logdet_z = 2.0 * sum(logdet_lower(factor[j, j]) for j in range(K))
        fixed = factor[K, K]
        pwrss = fixed[p, p] ** 2
        if reml:
            logdet_x = 2.0 * float(np.log(np.diagonal(fixed)[:p]).sum())
            dof = n - p
            value = logdet_z + logdet_x + dof * (1.0 + LOG_2PI + np.log(pwrss / dof))
        else:
            value = logdet_z + n * (1.0 + LOG_2PI + np.log(pwrss / n))
        return float(value - self.log_weight_sum)

    # ---- solution at theta ------------------------------------------------------------------
    def solve(self, theta: np.ndarray, reml: bool | None = None) -> LMMSolution:
        """beta, random effects and sigma at ``theta`` (by back-substitution through L)."""
        reml = self.reml if reml is None else reml
        theta = np.asarray(theta, dtype=float)
        lambdas = self.lambdas(theta)
        factor = self.cholesky.factor(lambdas)
        K, p = len(self.terms), self.p
        fixed = factor[K, K]
        beta = solve_triangular(fixed[:p, :p], fixed[p, :p], lower=True, trans="T") if p else np.zeros(0)
        u = [None] * K
        for j in reversed(range(K)):
            rows = factor[K, j]
            rhs = rows[p, :] - rows[:p, :].T @ beta
            for i in range(j + 1, K):
                rhs = rhs - transpose_times_block(factor[i, j], u[i])
            u[j] = solve_upper_block(factor[j, j], rhs)
        pwrss = fixed[p, p] ** 2
        sigma = float(np.sqrt(pwrss / (self.n - p if reml else self.n)))
        u_blocks = [uj.reshape(t.n_levels, t.dim) for uj, t in zip(u, self.terms)]
        b_blocks = [ub @ lam.T for ub, lam in zip(u_blocks, lambdas)]
        beta = beta + self.y_shift
        return LMMSolution(theta, beta, u_blocks, b_blocks, sigma, pwrss, factor, self._criterion(factor, reml))

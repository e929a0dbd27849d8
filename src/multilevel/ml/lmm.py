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
import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular

from ..design import Design
from ..errors import ModelError
from ..linalg import BlockedCholesky, NotPositiveDefinite, logdet_lower
from ..linalg.blocks import solve_upper_block, transpose_times_block
from ..linalg.crossprod import (ColumnBounds, blocks_from_digits, dense_cross_digits, digits_value, exact_bincount,
                                exact_system_blocks, gram_digits, gram_scale, power_of_two_above)

LOG_2PI = float(np.log(2 * np.pi))


def exact_sum(values: np.ndarray) -> float:
    """sum(values), exactly rounded from an order-independent exact sum (linalg.crossprod's digits)."""
    scale = power_of_two_above(np.max(np.abs(values), initial=0.0))
    return float(digits_value(exact_bincount(None, values, 1, scale))[0] * scale)


def centering_shift(gram: np.ndarray) -> np.ndarray:
    """The least-squares coefficients of y on X from the cross-products ``[X y]'W[X y]`` (y last)."""
    p = gram.shape[0] - 1
    if p == 0:
        return np.zeros(0)
    try:
        return np.linalg.solve(gram[:p, :p], gram[:p, p])
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(gram[:p, :p], gram[:p, p], rcond=None)[0]


def centered_response(y: np.ndarray, x: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """y - X shift, the columns added in a fixed order (each row's value does not depend on the layout)."""
    fit = np.zeros(len(y))
    for j in range(len(shift)):
        fit = fit + x[:, j] * shift[j]
    return y - fit


def centered_bound(y_max: float, x_max, shift) -> float:
    """A power of two above max |y - X shift| from the columns' maxima (the digit grid of the centered y)."""
    total = float(y_max)
    for j in range(len(shift)):
        total = total + float(x_max[j]) * abs(float(shift[j]))
    return power_of_two_above(total)


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

    def __init__(self, design: Design, reml: bool = True, like: "LMMProblem | None" = None):
        self.design = design
        self.x = design.fixed.matrix
        self.y = design.response
        self.p = self.x.shape[1]
        w = design.weights
        self.sqrt_weights = None if w is None else np.sqrt(w)
        n = len(self.y) if w is None else int(np.count_nonzero(w))  # a row of weight 0 carries no information: it is
        # not an observation of the likelihood (as R's lm), so the weights' units cannot matter
        log_weight_sum = 0.0 if w is None else exact_sum(np.log(w[w > 0]))
        # every sum over rows is exact (linalg.crossprod): the same data give the same objective, bit for
        # bit, however the rows are ordered or split (an out-of-core fit sums partitions' blocks)
        self.x_max = np.max(np.abs(self.x), axis=0, initial=0.0)
        self.x_bounds = np.array([power_of_two_above(v) for v in self.x_max])
        self.y_max = float(np.max(np.abs(self.y), initial=0.0))
        self.bounds = ColumnBounds.of([(t.codes, t.z, t.n_levels) for t in design.terms], self.x, self.sqrt_weights)
        yc = self._centered(self.y)
        self.bounds = dataclasses.replace(self.bounds, xy=np.append(self.x_bounds, centered_bound(self.y_max, self.x_max,
                                                                                                  self.y_shift)))
        xy = np.column_stack([self.x, yc])
        blocks = exact_system_blocks([(t.codes, t.z, t.n_levels) for t in design.terms], xy, self.sqrt_weights, self.bounds)
        weighted_y = self.y if self.sqrt_weights is None else self.y * self.sqrt_weights
        self._setup(design.terms, blocks, n=n, y_shift=self.y_shift, log_weight_sum=log_weight_sum, reml=reml,
                    response_norm=float(np.linalg.norm(weighted_y)), like=like)

    @classmethod
    def from_blocks(cls, terms, blocks: dict, *, n: int, y_shift: np.ndarray, log_weight_sum: float, reml: bool,
                    response_norm: float, design: Design | None = None,
                    like: "LMMProblem | None" = None) -> "LMMProblem":
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
                    reml=reml, response_norm=response_norm, like=like)
        return self

    def _setup(self, terms, blocks, *, n, y_shift, log_weight_sum, reml, response_norm, like=None) -> None:
        """``like``: a problem on the same random-effects blocks (the standardized design of the same
        fit, say) whose symbolic factorization is shared (linalg/cholesky.py)."""
        self.reml = reml
        self.terms = tuple(terms)
        self.n = n
        self.y_shift = y_shift
        self.log_weight_sum = log_weight_sum
        self.response_norm = response_norm
        self.cholesky = BlockedCholesky(blocks, [(t.n_levels, t.dim) for t in self.terms],
                                        like=None if like is None else like.cholesky)
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
        Cholesky factor's last element loses far fewer digits to cancellation. The fit solves the normal
        equations of the exact cross-products of ``[X y]`` (:func:`centering_shift`), so that an
        out-of-core fit, which has only reduced sums, centers y identically.
        """
        bounds = np.append(self.x_bounds, power_of_two_above(self.y_max))
        columns = np.column_stack([self.x, y])
        if self.sqrt_weights is not None:
            columns = columns * self.sqrt_weights[:, None]
        gram = digits_value(gram_digits(columns, bounds, self.bounds.weight)) * gram_scale(bounds, self.bounds.weight)
        self.y_shift = centering_shift(gram)
        return centered_response(y, self.x, self.y_shift)

    def with_response(self, y: np.ndarray) -> "LMMProblem":
        """The same problem for another response: only the blocks that involve y are recomputed."""
        if self.x is None:
            raise ModelError("this problem was built from reduced cross-products (data out of core): it holds "
                             "no rows to refit with another response")
        clone = copy.copy(self)
        clone.y = np.asarray(y, dtype=float)
        clone.y_max = float(np.max(np.abs(clone.y), initial=0.0))
        yc = clone._centered(clone.y)
        clone.bounds = dataclasses.replace(self.bounds, xy=np.append(self.x_bounds, centered_bound(clone.y_max, self.x_max, clone.y_shift)))
        xy = np.column_stack([self.x, yc])
        sw = self.sqrt_weights
        if sw is not None:
            xy = xy * sw[:, None]
        K, w2 = len(self.terms), clone.bounds.weight ** 2
        digits = {}
        for j, term in enumerate(self.terms):
            z = term.z if sw is None else term.z * sw[:, None]
            digits[K, j] = dense_cross_digits(term.codes, z, term.n_levels, xy, clone.bounds.z[j], clone.bounds.xy, w2)
        digits[K, K] = ("dense", gram_digits(xy, clone.bounds.xy, clone.bounds.weight),
                        gram_scale(clone.bounds.xy, clone.bounds.weight))
        blocks = dict(self.cholesky.A)
        blocks.update(blocks_from_digits(digits, [t.n_levels for t in self.terms]))
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
            factor = self.cholesky.factor(self.lambdas(np.asarray(theta, dtype=float)), scratch=True)
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

"""PIRLS for a GLMM with one grouping factor: a block-diagonal system of its own.

With a single random-effects term (``y ~ x + (x | g)``) the random-effects block of the PIRLS
system, ``Lambda'Z'WZ Lambda + I``, is block-diagonal: one p x p block per level of g, with no
fill-in between levels. The general blocked Cholesky in :mod:`multilevel.ml.glmm` handles any
number of crossed or nested terms but pays for that generality on every iteration; here

* rows are sorted by level once, so every per-level sum of an iteration (Z'WZ, Z'WX, Z'r) is one
  sparse (levels x n) matrix-vector product;
* the p x p blocks of all levels are factored at once, column by column over a (levels, p, p)
  array, and solved the same way (with beta in the system, R_ZX and R_X as lme4's RZX and RX);
* each iteration is a full Newton step (Fisher scoring for non-canonical links), refactored at
  every point because that costs only a few vector operations, with lme4's step halving.

Most GLMMs fitted in practice have one grouping factor, and PIRLS runs once per deviance
evaluation, so this path is where glmer spends its time. It must give the same modes and deviance
as the general path (to rounding; ``tests/test_pirls_warm.py`` checks 1e-10). :class:`GLMMProblem`
builds a :class:`OneTermSystem` when its design has one term and dispatches ``pirls`` to it; the
warm-start state (``u_start``, ``lambda_start``, ``beta_start``) and the work counts stay on the
problem, shared with the general path.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.linalg import solve_triangular

from ..linalg import NotPositiveDefinite
from ..linalg.blocks import BlockDiagonal
from .glmm import PIRLS_MAX_ITER, PIRLS_STEP_TOL, PirlsFailure, PirlsState

if TYPE_CHECKING:
    from .glmm import GLMMProblem


def _chol_levels(m: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of every block of ``m`` (levels, p, p), by columns over all levels at once."""
    p = m.shape[1]
    out = np.zeros_like(m)
    for j in range(p):
        d = m[:, j, j] - np.einsum("lk,lk->l", out[:, j, :j], out[:, j, :j]) if j else m[:, j, j].copy()
        if not np.all(d > 0):
            raise NotPositiveDefinite("a random-effects block is not positive definite")
        out[:, j, j] = np.sqrt(d)
        for i in range(j + 1, p):
            s = m[:, i, j] - (np.einsum("lk,lk->l", out[:, i, :j], out[:, j, :j]) if j else 0.0)
            out[:, i, j] = s / out[:, j, j]
    return out


def _solve_levels(factor: np.ndarray, rhs: np.ndarray, upper: bool) -> np.ndarray:
    """``factor_l x_l = rhs_l`` (or ``factor_l' x_l = rhs_l``) for every level; rhs (levels, p) or (levels, p, m)."""
    p = factor.shape[1]
    x = np.array(rhs, dtype=float, copy=True)
    extra = (slice(None),) + (None,) * (x.ndim - 2)  # broadcast factor entries over rhs columns
    for j in (reversed(range(p)) if upper else range(p)):
        for k in (range(j + 1, p) if upper else range(j)):
            x[:, j] -= (factor[:, k, j] if upper else factor[:, j, k])[extra] * x[:, k]
        x[:, j] /= factor[:, j, j][extra]
    return x


@dataclass
class OneTermFactor:
    """The blocked factor for one term, at one point: per-level L (levels, p, p); with beta in the
    system also C_l = L_l^-1 Lambda' Z_l'W X_l (levels, p, px) and R_X (lower), as lme4's RZX and RX."""

    lower: np.ndarray
    cross: np.ndarray | None
    fixed: np.ndarray | None
    score: np.ndarray  # (levels, p): Lambda' Z' r, with r the working residual at this point
    fixed_score: np.ndarray | None  # X' r

    def as_blocks(self) -> dict:
        """The factor in :class:`BlockedCholesky`'s layout (``(0, 0)``; ``(1, 0)``, ``(1, 1)`` with beta)."""
        out = {(0, 0): BlockDiagonal(self.lower)}
        if self.fixed is not None:
            levels, p, px = self.cross.shape  # explicit sizes: no fixed effects gives (0, levels * p)
            out[1, 0] = self.cross.transpose(2, 0, 1).reshape(px, levels * p)
            out[1, 1] = self.fixed
        return out


class OneTermSystem:
    """PIRLS pieces for a model with one random-effects term.

    ``Lambda'Z'WZ Lambda + I`` is then block-diagonal, one p x p block per level, so no general
    blocked machinery is needed: rows are sorted by level once, every per-level sum of an
    iteration is one sparse (levels x n) product, and the blocks are factored all at once.
    Vectors over observations (``eta``, ``mu``) are kept in the sorted order here.
    """

    def __init__(self, problem: GLMMProblem):
        term = problem.terms[0]
        self.order = np.argsort(term.codes, kind="stable")
        self.unsort = np.empty_like(self.order)
        self.unsort[self.order] = np.arange(len(self.order))
        self.family, self.canonical = problem.family, problem.canonical
        self.levels, self.p = term.n_levels, term.dim
        self.codes = term.codes[self.order]
        self.z = np.ascontiguousarray(term.z[self.order], dtype=float)
        self.x = np.ascontiguousarray(problem.x[self.order], dtype=float)
        self.y = problem.y[self.order]
        self.prior = problem.prior_weights[self.order]
        self.offset = problem.offset[self.order]
        p, px = self.p, self.x.shape[1]
        self.counts = np.bincount(self.codes, minlength=self.levels)
        self.pairs = [(a, b) for a in range(p) for b in range(a, p)]
        # per-level sums of weighted per-row products as one sparse matrix-vector product each:
        # rows (pair, level) of Z'WZ, (a, c, level) of Z'WX, (a, level) of Z'r
        self.zwz_rows = self._level_sums([self.z[:, a] * self.z[:, b] for a, b in self.pairs])
        self.zwx_rows = self._level_sums([self.z[:, a] * self.x[:, c] for a in range(p) for c in range(px)])
        self.zr_rows = self._level_sums([self.z[:, a] for a in range(p)])
        self.x_t = np.ascontiguousarray(self.x.T)

    def _level_sums(self, columns: list) -> sp.csr_matrix:
        """Sparse (len(columns) * levels, n): row (k, level) holds columns[k] on that level's rows."""
        n, k = len(self.codes), len(columns)
        indptr = np.concatenate([[0], np.cumsum(np.tile(self.counts, k))])
        data = np.concatenate(columns) if k else np.zeros(0)
        return sp.csr_matrix((data, np.tile(np.arange(n), k), indptr), shape=(k * self.levels, n))

    def linear_predictor(self, beta: np.ndarray, u: np.ndarray, lam: np.ndarray) -> np.ndarray:
        return self.offset + self.x @ beta + self.random_part(u, lam)

    def random_part(self, u: np.ndarray, lam: np.ndarray) -> np.ndarray:
        rows = np.repeat(u.reshape(self.levels, self.p) @ lam.T, self.counts, axis=0)  # rows sorted by level
        total = self.z[:, 0] * rows[:, 0]
        for a in range(1, self.p):
            total += self.z[:, a] * rows[:, a]
        return total

    def working(self, eta: np.ndarray, mu: np.ndarray):
        """Weights and working residual (prior * (y - mu) * mu_eta / V) at ``eta``."""
        var = self.family.variance(mu)
        if self.canonical:  # mu_eta = V(mu)
            return self.prior * var, self.prior * (self.y - mu)
        mu_eta = self.family.link.mu_eta(eta)
        return self.prior * mu_eta**2 / var, self.prior * (self.y - mu) * mu_eta / var

    def factor(self, eta: np.ndarray, mu: np.ndarray, lam: np.ndarray, joint: bool,
               unexplained: np.ndarray | None = None) -> OneTermFactor:
        """Factor and score at ``eta``. ``unexplained``: the part of ``eta - offset`` that the current
        (beta, u) do not give (a start from the family's initial means); its weighted cross-products
        join the score so that the step lands on the weighted least-squares solution, as lme4's first
        iteration does."""
        w, r = self.working(eta, mu)
        if unexplained is not None:
            r = r + w * unexplained
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(r))):
            raise PirlsFailure("non-finite working weights")
        levels, p = self.levels, self.p
        sums = (self.zwz_rows @ w).reshape(-1, levels)
        zwz = np.empty((levels, p, p))
        for index, (a, b) in enumerate(self.pairs):
            zwz[:, a, b] = zwz[:, b, a] = sums[index]
        # Lambda' S Lambda for every level as two (levels * p, p) @ (p, p) products (S symmetric)
        half = (zwz.reshape(-1, p) @ lam).reshape(levels, p, p)
        m = (half.transpose(0, 2, 1).reshape(-1, p) @ lam).reshape(levels, p, p)
        m[:, np.arange(p), np.arange(p)] += 1.0
        lower = _chol_levels(m)
        score = (self.zr_rows @ r).reshape(p, levels).T @ lam
        if not joint:
            return OneTermFactor(lower, None, None, score, None)
        px = self.x.shape[1]
        zwx = (self.zwx_rows @ w).reshape(p, px, levels).transpose(2, 0, 1)
        cross = _solve_levels(lower, np.einsum("ca,lcx->lax", lam, zwx), upper=False)
        xwx = (self.x_t * w) @ self.x - np.einsum("lax,lay->xy", cross, cross)
        try:
            fixed = np.linalg.cholesky(xwx) if px else np.zeros((0, 0))
        except np.linalg.LinAlgError as exc:
            raise NotPositiveDefinite("the fixed-effects block is not positive definite") from exc
        return OneTermFactor(lower, cross, fixed, score, self.x_t @ r)

    def newton_step(self, factor: OneTermFactor, u: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """The Fisher-scoring step in (u, beta) from the factor's point; beta's is None when fixed."""
        y_u = _solve_levels(factor.lower, factor.score - u.reshape(self.levels, self.p), upper=False)
        if factor.fixed is None:
            return None, _solve_levels(factor.lower, y_u, upper=True).reshape(-1)
        rhs = factor.fixed_score - np.einsum("lax,la->x", factor.cross, y_u)
        d_beta = solve_triangular(factor.fixed, solve_triangular(factor.fixed, rhs, lower=True), lower=True, trans="T")
        y_u -= np.einsum("lax,x->la", factor.cross, d_beta)
        return d_beta, _solve_levels(factor.lower, y_u, upper=True).reshape(-1)

    def penalized_deviance(self, mu: np.ndarray, u: np.ndarray) -> float:
        return float(np.sum(self.family.deviance_residuals(self.y, mu, self.prior))) + float(u @ u)

    # ---- PIRLS on this system ---------------------------------------------------------------
    def pirls(self, problem: GLMMProblem, theta: np.ndarray, beta: np.ndarray | None) -> PirlsState:
        """PIRLS for one random-effects term: Fisher scoring (Newton's method for canonical links)
        in u, and beta too when ``beta is None``, from the previous evaluation's modes (kept on
        ``problem``), with lme4's step halving; each step refactors, which costs a few vector
        operations."""
        joint = beta is None
        lam = problem.lambdas(theta)[0]
        u = self.start_u(problem, lam)
        first = 1
        if joint and problem.beta_start is None:  # first joint call: one weighted least-squares step from
            eta = self.family.link.link(self.family.initial_mu(self.y, self.prior))  # glm's start
            beta, u = np.zeros(problem.p), np.zeros_like(u)
            factor = self.factor(eta, self.family.link.inverse(eta), lam, True, unexplained=eta - self.offset)
            beta, u = self.newton_step(factor, u)
            if not np.isfinite(self.penalized_deviance(self.family.link.inverse(self.linear_predictor(beta, u, lam)),
                                                       u)):
                # that step left the link's range (poisson identity: mu <= 0), where step halving
                # cannot judge steps: start from the least-squares fit of glm's start instead
                beta, u = problem.least_squares_start(), np.zeros_like(u)
            first = 2
        elif joint:
            beta = problem.beta_start.copy()
        eta = self.linear_predictor(beta, u, lam)
        mu = self.family.link.inverse(eta)
        factor = self.factor(eta, mu, lam, joint)
        old = None  # the penalized deviance at (u, beta), computed only when a step needs checking
        tol = problem.step_tol if joint else PIRLS_STEP_TOL["other"]
        previous_move = np.inf
        iterations = first - 1
        for iterations in range(first, 4 * PIRLS_MAX_ITER):
            d_beta, d_u = self.newton_step(factor, u)
            move = max(float(np.max(np.abs(d_u), initial=0.0)), float(np.max(np.abs(d_beta), initial=0.0))
                       if joint else 0.0)
            scale = 1.0 + float(np.max(np.abs(u), initial=0.0))
            d_eta = self.random_part(d_u, lam)
            if joint:
                d_eta += self.x @ d_beta
            # step halving on the penalized deviance, as lme4's stepFac; a step already tiny relative
            # to u (Newton's final steps) cannot overshoot, so it skips the check
            tiny = move < 1e-4 * scale
            if not tiny and old is None:
                old = self.penalized_deviance(mu, u)
            for halving in range(12):
                step = 0.5**halving
                cand_eta = eta + step * d_eta
                cand_mu = self.family.link.inverse(cand_eta)
                if tiny:
                    pdev = None
                    break
                pdev = self.penalized_deviance(cand_mu, u + step * d_u)
                if np.isfinite(pdev) and pdev <= old * (1 + 1e-15) + 1e-12:
                    break
            else:
                break  # no decrease possible: at the mode within rounding
            u, eta, mu, old = u + step * d_u, cand_eta, cand_mu, pdev
            if joint:
                beta = beta + step * d_beta
            factor = self.factor(eta, mu, lam, joint)
            # converged when this step is negligible, or when the steps shrink superlinearly (Newton's
            # method, canonical links) and the next one, at most move^2 / previous_move, would be
            if move < tol * scale or (step == 1 and np.isfinite(previous_move) and move < 0.01 * previous_move
                                      and move * move < tol * scale * previous_move):
                break
            previous_move = move if step == 1 else np.inf
        problem.n_pirls_iterations += iterations
        problem.u_start = [u.copy()]
        problem.lambda_start = lam
        if joint:
            problem.beta_start = beta.copy()
        return PirlsState(theta, beta, [u], eta[self.unsort], mu[self.unsort], factor.as_blocks(), iterations)

    @staticmethod
    def start_u(problem: GLMMProblem, lam: np.ndarray) -> np.ndarray:
        """The previous mode as the start, moved so that b = Lambda u stays put: where a level's data
        pin b down, its mode in b changes little with theta (a singular new Lambda keeps u)."""
        u = problem.u_start[0].copy()
        previous = problem.lambda_start
        if previous is None or not np.all(np.abs(np.diag(lam)) > 1e-8 * np.max(np.abs(lam), initial=0.0)):
            return u
        b = u.reshape(-1, lam.shape[0]) @ previous.T
        return solve_triangular(lam, b.T, lower=True).T.reshape(-1)

    def fixed_effects_factor(self, eta: np.ndarray, lam: np.ndarray) -> np.ndarray:
        """R_X (lower) at the weights of ``eta`` (in the data's row order)."""
        eta = eta[self.order]
        return self.factor(eta, self.family.link.inverse(eta), lam, True).fixed

"""Leverage and Cook's distance of lmer, glmer, lm and glm fits, as lme4 and R's stats compute them.

The hat matrix of a mixed model (lme4's ``hatvalues.merMod``; MixedModels.jl's ``leverage``) maps y to
the fitted values through the penalized least-squares system ``[Z Lambda, X]`` with the identity
penalty on ``u``: ``h_i = a_i' (L L')^{-1} a_i`` for ``a_i = sqrt(w_i) [Lambda' z_i; x_i]``, L the
blocked Cholesky factor of the fit. Each ``h_i`` is the squared norm of ``L^{-1} a_i``, found here by a
forward solve over a chunk of rows at a time (never an n x n matrix, nor dense Z). Their sum is the
effective number of parameters, between p and p + q.

For a GLMM, lme4 factors the system at the final PIRLS working weights and scales ``a_i`` by the
prior weights only (it warns that "the hat matrix may not make sense for GLMMs"); so does
:func:`mixed_leverage`, to give lme4's numbers. R's ``glm`` uses the working weights for both.

Cook's distance from these: :func:`multilevel.results.influence.cooks_distance`.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular

from ..linalg.blocks import BlockDiagonal, BlockSparse

CHUNK_ENTRIES = 4_000_000  # entries of the dense right-hand side solved at once (32 MB)


def _solve_lower_columns(factor, rhs: np.ndarray) -> np.ndarray:
    """``factor^{-1} rhs`` for a lower-triangular diagonal block and a matrix of columns."""
    if isinstance(factor, BlockDiagonal):
        levels, p, _ = factor.data.shape
        m = rhs.shape[1]
        if p == 1:
            return rhs / factor.data[:, 0, 0][:, None]
        return np.einsum("lij,ljm->lim", factor.inverse_blocks(), rhs.reshape(levels, p, m)).reshape(-1, m)
    return solve_triangular(factor, rhs, lower=True, check_finite=False)


def _times_columns(block, columns: np.ndarray) -> np.ndarray:
    if isinstance(block, BlockSparse):
        return block.matmul(columns)
    if isinstance(block, BlockDiagonal):
        levels, p, _ = block.data.shape
        return (block.data @ columns.reshape(levels, p, -1)).reshape(levels * p, -1)
    return block @ columns


def mixed_leverage(terms, x: np.ndarray, factor: dict, lambdas: list, prior_weights: np.ndarray | None) -> np.ndarray:
    """Diagonal of the hat matrix of a mixed model from its blocked factor (see the module's docstring).

    ``factor`` holds the lower blocks ``[j, k]`` of the random-effects terms and ``[K, k]``, ``[K, K]``
    whose first p rows are the fixed effects' (the response row, if any, is ignored)."""
    n, p = x.shape
    K = len(terms)
    root_w = np.ones(n) if prior_weights is None else np.sqrt(prior_weights)
    width = sum(t.n_levels * t.dim for t in terms) + p
    chunk = int(max(1, min(n, CHUNK_ENTRIES // max(width, 1))))
    fixed = factor[K, K][:p, :p]
    out = np.empty(n)
    for start in range(0, n, chunk):
        rows = slice(start, min(n, start + chunk))
        m = rows.stop - rows.start
        solved = []
        for j, (term, lam) in enumerate(zip(terms, lambdas)):
            rhs = np.zeros((m, term.n_levels, term.dim))
            rhs[np.arange(m), term.codes[rows]] = (term.z[rows] @ lam) * root_w[rows, None]  # (Lambda' z_i)'
            rhs = rhs.reshape(m, -1).T.copy()
            for k in range(j):
                rhs -= _times_columns(factor[j, k], solved[k])
            solved.append(_solve_lower_columns(factor[j, j], rhs))
        total = sum(np.einsum("qm,qm->m", s, s) for s in solved) if solved else np.zeros(m)
        if p:
            rhs = (x[rows] * root_w[rows, None]).T.copy()
            for k in range(K):
                rhs -= factor[K, k][:p] @ solved[k]
            fixed_part = solve_triangular(fixed, rhs, lower=True, check_finite=False)
            total = total + np.einsum("pm,pm->m", fixed_part, fixed_part)
        out[rows] = total
    return out


def lmer_leverage(fit) -> np.ndarray:
    problem = fit.problem
    lambdas = problem.lambdas(fit.theta)
    factor = problem.cholesky.factor(lambdas)
    return mixed_leverage(fit.design.terms, fit.design.fixed.matrix, factor, lambdas, fit.design.weights)


def glmer_leverage(fit) -> np.ndarray:
    """lme4's: the factor at the final working weights, the rows scaled by the prior weights."""
    problem = fit.problem
    lambdas = problem.lambdas(fit.theta)
    _, _, working = problem._weights(fit.predict())  # eta at the modes, offset included
    problem.cholesky.update_blocks(problem.cross.compute(working, problem.x))
    factor = problem.cholesky.factor(lambdas)
    return mixed_leverage(fit.design.terms, problem.x, factor, lambdas, problem.prior_weights)


def fixed_leverage(x: np.ndarray, weights: np.ndarray | None, unscaled: np.ndarray) -> np.ndarray:
    """R's ``hatvalues`` of lm/glm: ``w_i x_i' (X' W X)^{-1} x_i`` (``unscaled`` = (X'WX)^{-1})."""
    w = np.ones(len(x)) if weights is None else weights
    return w * np.einsum("ij,jk,ik->i", x, unscaled, x)


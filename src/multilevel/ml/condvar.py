"""Conditional covariances of the random effects given the data, from the blocked factor.

For term k the spherical effects u_k have conditional covariance sigma^2 [(L L')^-1]_kk, where L is
the random-effects part of the blocked factor (lme4 and MixedModels.jl ignore the uncertainty in
beta here too). Column block k of L^-1 is built by forward substitution:
X_kk = L_kk^-1, X_ik = -L_ii^-1 sum_{m=k}^{i-1} L_im X_mk; then each level's block is
sum_i X_ik[:, level]' X_ik[:, level], mapped to b = Lambda u.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import solve_triangular

from ..linalg import BlockDiagonal, BlockSparse


def _times(block, right) -> np.ndarray:
    """block @ right, densely; ``right`` may be a scipy sparse matrix."""
    if isinstance(block, BlockSparse):
        out = block.to_scipy() @ right
    elif sp.issparse(right):
        out = (right.T @ np.asarray(block).T).T
    else:
        out = block @ right
    return out.toarray() if sp.issparse(out) else np.asarray(out)


def _left_solve(factor, dense: np.ndarray) -> np.ndarray:
    if isinstance(factor, BlockDiagonal):
        levels, p, _ = factor.data.shape
        return np.linalg.solve(factor.data, dense.reshape(levels, p, -1)).reshape(levels * p, -1)
    return solve_triangular(factor, dense, lower=True)


def conditional_variances(factor: dict, terms, lambdas, sigma: float) -> list[np.ndarray]:
    """(levels, p, p) conditional covariance of b for every term."""
    K = len(terms)
    out = []
    for k, term in enumerate(terms):
        levels, p = term.n_levels, term.dim
        diag = factor[k, k]
        if isinstance(diag, BlockDiagonal):
            inv = np.linalg.inv(diag.data)  # (levels, p, p) = X_kk blocks
            cov = np.einsum("lji,ljk->lik", inv, inv)
            columns = {k: None}
        else:
            inv = solve_triangular(diag, np.eye(diag.shape[0]), lower=True)
            blocks = inv.reshape(levels * p, levels, p)
            cov = np.einsum("rli,rlk->lik", blocks, blocks)
            columns = {k: inv}
        for i in range(k + 1, K):
            if columns[k] is None:  # X_kk as a sparse block-diagonal matrix
                columns[k] = sp.block_diag(list(inv), format="csr") if p > 1 else sp.diags(inv[:, 0, 0]).tocsr()
            acc = sum(_times(factor[i, m], columns[m]) for m in range(k, i))
            columns[i] = -_left_solve(factor[i, i], acc)
            blocks = columns[i].reshape(columns[i].shape[0], levels, p)
            cov = cov + np.einsum("rli,rlk->lik", blocks, blocks)
        lam = lambdas[k]
        out.append(sigma**2 * lam @ cov @ lam.T)
    return out


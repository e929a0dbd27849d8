"""Blocked Cholesky factor of ``[Lambda' Z'Z Lambda + I, Lambda' Z'XY; XY'Z Lambda, XY'XY]``.

Block (i, j) with i >= j pairs random-effects term i (or the fixed rows, index K) with term j.
Terms come ordered by decreasing number of levels, so the first term's block stays block-diagonal
and fill-in gathers in the smaller blocks below it. :meth:`BlockedCholesky.setup` decides every
block's storage once, from sparsity patterns; :meth:`BlockedCholesky.factor` then only does
numeric work, with precomputed index pairs for sparse products.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack, solve_triangular

from .blocks import (
    BlockDiagonal,
    BlockSparse,
    PairProduct,
    as_dense,
    chol_block_diagonal,
    right_solve_transpose,
)

DENSE_FRACTION = 0.2  # a sparse pattern denser than this is stored dense


class NotPositiveDefinite(ArithmeticError):
    """A diagonal block lost positive definiteness (only the fixed-effects block can)."""


def scale_block(block, lam_row: np.ndarray | None, lam_col: np.ndarray | None):
    """``Lambda_row' @ block @ Lambda_col`` for one block; ``None`` stands for the identity."""
    if isinstance(block, BlockDiagonal):
        if block.data.shape[1] == 1:
            return BlockDiagonal(block.data * (lam_row[0, 0] * lam_col[0, 0]))
        return BlockDiagonal(lam_row.T @ block.data @ lam_col)
    if isinstance(block, BlockSparse):
        data = block.data
        if data.shape[1] == 1 and data.shape[2] == 1:
            return block.with_data(data * (lam_row[0, 0] * lam_col[0, 0]))
        return block.with_data(lam_row.T @ data @ lam_col)
    out = block
    if lam_col is not None:
        p = lam_col.shape[0]
        rows = out.shape[0]
        # explicit sizes, not -1: a block with no rows (a model without fixed effects) has shape (0, q)
        out = (out.reshape(rows, out.shape[1] // p, p) @ lam_col).reshape(rows, out.shape[1]) if p > 1 \
            else out * lam_col[0, 0]
    if lam_row is not None:
        p = lam_row.shape[0]
        cols = out.shape[1]
        out = (lam_row.T @ out.reshape(out.shape[0] // p, p, cols)).reshape(out.shape[0], cols) if p > 1 \
            else out * lam_row[0, 0]
    return out


class BlockedCholesky:
    """Structure and numeric factor of the blocked system for one design.

    Parameters
    ----------
    blocks : dict
        ``(i, j) -> block`` for i >= j: :class:`BlockDiagonal` on the random-effects diagonal,
        :class:`BlockSparse` between terms, dense for the fixed rows (index K = number of terms).
    dims : list of (levels, p)
        Size of each random-effects term.
    """

    def __init__(self, blocks: dict, dims: list[tuple[int, int]]):
        self.A = blocks
        self.dims = dims
        self.K = len(dims)
        self.kinds: dict = {}
        self.patterns: dict = {}
        self.embed: dict = {}
        self.pairs: dict = {}
        self.setup()

    # ---- symbolic stage -------------------------------------------------------------------
    def setup(self) -> None:
        K, A = self.K, self.A
        for j in range(K + 1):
            if j == K:
                self.kinds[j, j] = "dense"
            else:
                dense = any(
                    self.kinds[j, k] == "dense" or _off_diagonal(self.patterns[j, k]) for k in range(j)
                )
                self.kinds[j, j] = "dense" if dense else "diagonal"
            for i in range(j + 1, K + 1):
                if i == K or self.kinds[j, j] == "dense" or any(
                    self.kinds[i, k] == "dense" or self.kinds[j, k] == "dense" for k in range(j)
                ):
                    self.kinds[i, j] = "dense"
                    continue
                pattern = A[i, j].pattern()
                for k in range(j):
                    pattern = pattern + self.patterns[i, k] @ self.patterns[j, k].T
                pattern = sp.csr_matrix(pattern, dtype=bool)
                if pattern.nnz > DENSE_FRACTION * pattern.shape[0] * pattern.shape[1]:
                    self.kinds[i, j] = "dense"
                else:
                    self.kinds[i, j] = "sparse"
                    self.patterns[i, j] = pattern
                    template = BlockSparse.from_pattern(pattern, self.dims[i][1], self.dims[j][1])
                    self.embed[i, j] = _embed_positions(A[i, j], template)
                    self.patterns[i, j] = template.pattern()
        # pair products for every sparse x sparse update
        templates = {
            key: BlockSparse.from_pattern(self.patterns[key], self.dims[key[0]][1], self.dims[key[1]][1])
            for key, kind in self.kinds.items()
            if kind == "sparse"
        }
        self.templates = templates
        for j in range(K):
            for i in range(j, K):
                for k in range(j):
                    if self.kinds[i, k] == "sparse" and self.kinds[j, k] == "sparse":
                        if i == j:
                            target = "diagonal" if self.kinds[j, j] == "diagonal" else "dense"
                        else:
                            target = templates[i, j] if self.kinds[i, j] == "sparse" else "dense"
                        pair = PairProduct(templates[i, k], templates[j, k], target, lower=i == j)
                        if k == 0 and self.dims[0][1] == self.dims[i][1] == self.dims[j][1] == 1:
                            pair.prepare_scaled(A[i, 0], A[j, 0])
                        self.pairs[i, j, k] = pair

    def update_blocks(self, blocks: dict) -> None:
        """New values for the same patterns (new PIRLS weights); refresh the precomputed products."""
        self.A = blocks
        for (i, j, k), pair in self.pairs.items():
            if pair.scaled is not None:
                pair.refresh_scaled(blocks[i, 0], blocks[j, 0])

    # ---- numeric stage --------------------------------------------------------------------
    def factor(self, lambdas: list[np.ndarray], with_fixed: bool = True) -> dict:
        """Numeric factor for the relative covariance factors ``lambdas`` (one p x p per term).

        ``with_fixed=False`` factors only the random-effects part ``Lambda'Z'WZ Lambda + I``.
        """
        K, A, L = self.K, self.A, {}
        lam = list(lambdas) + [None]
        last = K + 1 if with_fixed else K
        for j in range(last):
            diag = self._start(j, j, scale_block(A[j, j], lam[j], lam[j]))
            for k in range(j):
                self._subtract(diag, L[j, k], L[j, k], (j, j, k), lam, L)
            L[j, j] = self._chol(diag, j)
            for i in range(j + 1, last):
                block = self._start(i, j, scale_block(A[i, j], lam[i], lam[j]))
                for k in range(j):
                    self._subtract(block, L[i, k], L[j, k], (i, j, k), lam, L)
                L[i, j] = right_solve_transpose(block, L[j, j])
        return L

    def _start(self, i: int, j: int, scaled):
        kind = self.kinds[i, j]
        if i == j and j < self.K:  # + I on the random-effects diagonal
            if kind == "diagonal":
                data = scaled.data.copy()
                data += np.eye(data.shape[1])
                return BlockDiagonal(data)
            if isinstance(scaled, BlockDiagonal):  # fill the diagonal blocks of a zero matrix
                levels, p, _ = scaled.data.shape
                dense = np.zeros((levels, p, levels, p))
                idx = np.arange(levels)
                dense[idx, :, idx, :] = scaled.data
                dense = dense.reshape(levels * p, levels * p)
            else:
                dense = as_dense(scaled).copy()
            dense[np.diag_indices_from(dense)] += 1.0
            return dense
        if kind == "sparse":
            template = self.templates[i, j]
            data = np.zeros_like(template.data)
            data[self.embed[i, j]] = scaled.data
            return template.with_data(data)
        return np.array(as_dense(scaled), dtype=float, copy=True)

    def _subtract(self, target, left, right, key, lam, L) -> None:
        pair = self.pairs.get(key)
        if pair is not None and pair.scaled is not None:
            # L[i, 0] = lam_i * A[i, 0] * (lam_0 / L00) by column: see PairProduct.prepare_scaled
            i, j, _ = key
            scale = lam[0][0, 0] / L[0, 0].data[:, 0, 0]
            pair.subtract_scaled(target, lam[i][0, 0] * lam[j][0, 0], scale * scale)
            return
        if pair is not None:
            pair.subtract_from(target, left, right)
            return
        if isinstance(left, BlockSparse) and isinstance(right, BlockSparse):
            target -= (left.to_scipy() @ right.to_scipy().T).toarray()
        elif isinstance(right, BlockSparse):
            target -= right.matmul(left.T).T
        elif isinstance(left, BlockSparse):
            target -= left.matmul(right.T)
        else:
            target -= left @ right.T

    def _chol(self, block, j):
        if isinstance(block, BlockDiagonal):
            return chol_block_diagonal(block)
        # block is C-ordered and filled in its lower triangle: its transpose is Fortran-ordered
        # with that triangle as its upper one, so LAPACK works in place without a copy.
        n = block.shape[0]
        if j == self.K and n > 1:
            original = block.copy()  # dpotrf works in place; keep what a vanishing last pivot needs
        upper, info = lapack.dpotrf(block.T, lower=0, clean=1, overwrite_a=1)
        if info == n and j == self.K and n > 1:
            return _with_vanishing_last_pivot(original)
        if info != 0:
            raise NotPositiveDefinite(f"block {j} is not positive definite (info {info})")
        return upper.T


def _with_vanishing_last_pivot(block: np.ndarray) -> np.ndarray:
    """Cholesky factor of the fixed block [X'X, X'y; y'X, y'y] (after the random-effects updates)
    when y lies in the span of the other columns: the last pivot, the penalized residual sum of
    squares, is zero to rounding (e.g. PIRLS's working response at a perfect fit of a constant count).
    The leading part is factored as usual and the last row solved; its diagonal is set to 0."""
    n = block.shape[0]
    lead, info = lapack.dpotrf(np.array(block[: n - 1, : n - 1]).T, lower=0, clean=1)
    if info != 0:
        raise NotPositiveDefinite(f"the fixed-effects block is not positive definite (info {info})")
    lower = np.zeros_like(block)
    lower[: n - 1, : n - 1] = lead.T
    lower[n - 1, : n - 1] = solve_triangular(lead.T, block[n - 1, : n - 1], lower=True)
    return lower


def _off_diagonal(pattern: sp.csr_matrix) -> bool:
    product = sp.csr_matrix(pattern @ pattern.T, dtype=bool).tocoo()
    return bool((product.row != product.col).any())


def _embed_positions(block: BlockSparse, template: BlockSparse) -> np.ndarray:
    """Where each stored block of ``block`` sits in ``template``'s (superset) pattern."""
    keys = template.block_rows * template.n_block_cols + template.indices
    wanted = block.block_rows * block.n_block_cols + block.indices
    return np.searchsorted(keys, wanted)


def logdet_lower(factor) -> float:
    """log |factor| for a lower-triangular factor block (sum of log diagonal)."""
    if isinstance(factor, BlockDiagonal):
        return float(np.log(np.diagonal(factor.data, axis1=1, axis2=2)).sum())
    return float(np.log(np.diagonal(factor)).sum())


def solve_blocked(factor: dict, rhs: list[np.ndarray]) -> list[np.ndarray]:
    """Solve ``(L L') x = rhs`` with the leading ``len(rhs)`` block rows of a blocked factor.

    ``len(rhs)`` is the number of random-effects terms, or one more to include the fixed rows.
    """
    from .blocks import solve_lower_block, solve_upper_block, times_block, transpose_times_block

    K = len(rhs)
    y = [None] * K
    for j in range(K):
        r = rhs[j].copy()
        for k in range(j):
            r -= times_block(factor[j, k], y[k])
        y[j] = solve_lower_block(factor[j, j], r)
    x = [None] * K
    for j in reversed(range(K)):
        r = y[j].copy()
        for i in range(j + 1, K):
            r -= transpose_times_block(factor[i, j], x[i])
        x[j] = solve_upper_block(factor[j, j], r)
    return x

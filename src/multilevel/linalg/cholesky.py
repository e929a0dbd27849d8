"""Blocked Cholesky factor of ``[Lambda' Z'Z Lambda + I, Lambda' Z'XY; XY'Z Lambda, XY'XY]``.

Block (i, j) with i >= j pairs random-effects term i (or the fixed rows, index K) with term j.
Terms come ordered by decreasing number of levels, so the first term's block stays block-diagonal
and fill-in gathers in the smaller blocks below it. :meth:`BlockedCholesky.setup` decides every
block's storage once, from sparsity patterns; :meth:`BlockedCholesky.factor` then only does
numeric work, with precomputed index pairs for sparse products.
"""
from __future__ import annotations

import threading

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
from .fill import (PAIR_BYTES_PER_ENTRY, PRODUCT_MEMORY, ScaledColumnGram, pair_count, product_memory,
                   subtract_sparse_product)

DENSE_FRACTION = 0.2  # a sparse pattern denser than this is stored dense
SCRATCH_ENTRIES = 250_000  # dense fill blocks this large are reused between objective evaluations


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
    like : BlockedCholesky, optional
        A factor of another design whose random-effects blocks are the same (the standardized and
        the original design of one fit differ in the fixed columns only): its symbolic stage - block
        kinds, patterns, fill-in products, the largest part of the set-up for crossed factors - is
        shared instead of recomputed. For fixed weights only: :meth:`update_blocks` on either factor
        would refresh the products both share.
    """

    def __init__(self, blocks: dict, dims: list[tuple[int, int]], like: "BlockedCholesky | None" = None):
        self.A = blocks
        self.dims = dims
        self.K = len(dims)
        self._scratch: dict = {}  # reused dense fill blocks for factor(..., scratch=True)
        if like is not None and like.dims == dims and _same_random_blocks(like.A, blocks, self.K):
            self.kinds, self.patterns, self.embed = like.kinds, like.patterns, like.embed
            self.pairs, self.fill_strategy, self.templates = like.pairs, like.fill_strategy, like.templates
            return
        self.kinds: dict = {}
        self.patterns: dict = {}
        self.embed: dict = {}
        self.pairs: dict = {}
        self.fill_strategy: dict = {}  # (i, j, k) -> "gram" | "pairs" | "sparse product"
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
                        self.pairs[i, j, k] = self._fill_product(i, j, k, target)

    def _fill_product(self, i: int, j: int, k: int, target):
        """How ``L_ik L_jk'`` is subtracted from block (i, j): a fixed sparse Gram matrix below a
        scalar first term, precomputed pairs elsewhere, or - where either would not fit in
        :data:`~multilevel.linalg.fill.PRODUCT_MEMORY` - a sparse product formed per evaluation
        (``None``: see :meth:`_subtract`)."""
        left, right, lower = self.templates[i, k], self.templates[j, k], i == j
        budget = product_memory(PRODUCT_MEMORY)
        scalar = k == 0 and self.dims[0][1] == self.dims[i][1] == self.dims[j][1] == 1
        # sized from the values (the templates hold zeros, which would always fit in one byte)
        if scalar and ScaledColumnGram.memory(self.A[i, 0], self.A[j, 0], lower) <= budget:
            self.fill_strategy[i, j, k] = "gram"
            return ScaledColumnGram(self.A[i, 0], self.A[j, 0], target, lower)
        if target != "dense" or PAIR_BYTES_PER_ENTRY * pair_count(left, right, lower) <= budget:
            self.fill_strategy[i, j, k] = "pairs"
            return PairProduct(left, right, target, lower=lower)
        self.fill_strategy[i, j, k] = "sparse product"
        return None

    def fill_in(self) -> dict:
        """How each fill-in product is formed, for the record: ``{"1x1 via 0": "gram", ...}`` (terms
        in fitting order: most levels first)."""
        return {f"{i}x{j} via {k}": strategy for (i, j, k), strategy in sorted(self.fill_strategy.items())}

    def update_blocks(self, blocks: dict) -> None:
        """New values for the same patterns (new PIRLS weights); refresh the precomputed products."""
        self.A = blocks
        for (i, j, k), pair in self.pairs.items():
            if isinstance(pair, ScaledColumnGram):
                pair.refresh(blocks[i, 0], blocks[j, 0])

    # ---- numeric stage --------------------------------------------------------------------
    def factor(self, lambdas: list[np.ndarray], with_fixed: bool = True, scratch: bool = False) -> dict:
        """Numeric factor for the relative covariance factors ``lambdas`` (one p x p per term).

        ``with_fixed=False`` factors only the random-effects part ``Lambda'Z'WZ Lambda + I``.
        ``scratch=True`` writes large dense fill-in blocks into buffers kept from the previous call
        (no allocation per evaluation): the factor is valid only until the next such call, as an
        objective function needs it (its log-determinants), not a solution that is kept.
        """
        K, A, L = self.K, self.A, {}
        lam = list(lambdas) + [None]
        last = K + 1 if with_fixed else K
        for j in range(last):
            diag = self._start(j, j, scale_block(A[j, j], lam[j], lam[j]), scratch)
            for k in range(j):
                self._subtract(diag, L[j, k], L[j, k], (j, j, k), lam, L)
            L[j, j] = self._chol(diag, j)
            for i in range(j + 1, last):
                block = self._start(i, j, scale_block(A[i, j], lam[i], lam[j]))
                for k in range(j):
                    self._subtract(block, L[i, k], L[j, k], (i, j, k), lam, L)
                L[i, j] = right_solve_transpose(block, L[j, j])
        return L

    def _start(self, i: int, j: int, scaled, scratch: bool = False):
        kind = self.kinds[i, j]
        if i == j and j < self.K:  # + I on the random-effects diagonal
            if kind == "diagonal":
                data = scaled.data.copy()
                data += np.eye(data.shape[1])
                return BlockDiagonal(data)
            size = self.dims[j][0] * self.dims[j][1]
            if scratch and size * size >= SCRATCH_ENTRIES:
                key = (threading.get_ident(), j)  # copies share the dict; threads (Dask's
                dense = self._scratch.get(key)    # threaded many-fit work) must not share a buffer
                if dense is None:
                    dense = self._scratch[key] = np.empty((size, size))
            else:
                dense = np.empty((size, size))
            if isinstance(scaled, BlockDiagonal):  # fill the diagonal blocks of a zero matrix
                levels, p, _ = scaled.data.shape
                dense.fill(0.0)
                idx = np.arange(levels)
                dense.reshape(levels, p, levels, p)[idx, :, idx, :] = scaled.data
            else:
                np.copyto(dense, as_dense(scaled))
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
        if isinstance(pair, ScaledColumnGram):
            # L[i, 0] = lam_i * A[i, 0] * (lam_0 / L00) by column: see linalg/fill.py
            i, j, _ = key
            scale = lam[0][0, 0] / L[0, 0].data[:, 0, 0]
            pair.subtract(target, lam[i][0, 0] * lam[j][0, 0], scale * scale)
            return
        if pair is not None:
            pair.subtract_from(target, left, right)
            return
        if isinstance(left, BlockSparse) and isinstance(right, BlockSparse):
            if isinstance(target, np.ndarray):
                subtract_sparse_product(target, left, right)
            else:
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


def _same_random_blocks(first: dict, second: dict, K: int) -> bool:
    """Whether two systems have identical random-effects blocks (values and patterns)."""
    for (i, j), block in first.items():
        if i >= K or j >= K:
            continue
        other = second.get((i, j))
        if type(other) is not type(block):
            return False
        if isinstance(block, BlockSparse):
            if not (np.array_equal(block.indptr, other.indptr) and np.array_equal(block.indices, other.indices)):
                return False
        data, other_data = (block, other) if isinstance(block, np.ndarray) else (block.data, other.data)
        if data.shape != other_data.shape or not np.array_equal(data, other_data):
            return False
    return True


def _off_diagonal(pattern: sp.csr_matrix) -> bool:
    """Whether ``pattern @ pattern.T`` has an entry off its diagonal: some column holds two rows.
    (Counted per column, without forming the product: for crossed factors it is dense.)"""
    pattern = sp.csr_matrix(pattern, dtype=bool)
    pattern.sum_duplicates()
    return bool(np.bincount(pattern.indices, minlength=pattern.shape[1]).max(initial=0) > 1)


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

"""Block types of the blocked Cholesky factor and the kernels that act on them.

Three storage types cover every block of ``Lambda' Z' Z Lambda + I`` and of its factor:

* :class:`BlockDiagonal` - ``levels`` small ``p x p`` blocks on the diagonal (a term's own block);
* :class:`BlockSparse` - a fixed block-sparsity pattern (block-CSR), ``p_row x p_col`` blocks
  (crossed or nested terms against each other);
* ``numpy.ndarray`` - dense (fill-in, the fixed-effects rows, small blocks).

Patterns are fixed when the system is set up; afterwards only ``data`` arrays change, so the
products ``S_i S_j'`` are accumulated with precomputed index pairs (:class:`PairProduct`) where the
pairs are few (nested terms); crossed fill-in has products of its own (:mod:`multilevel.linalg.fill`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass
class BlockDiagonal:
    """``data[l]`` is the p x p block of level ``l``."""

    data: np.ndarray  # (levels, p, p)

    @property
    def size(self) -> int:
        return self.data.shape[0] * self.data.shape[1]

    def to_dense(self) -> np.ndarray:
        levels, p, _ = self.data.shape
        out = np.zeros((levels, p, levels, p))
        idx = np.arange(levels)
        out[idx, :, idx, :] = self.data
        return out.reshape(levels * p, levels * p)

    def copy(self) -> "BlockDiagonal":
        return BlockDiagonal(self.data.copy())

    def inverse_blocks(self) -> np.ndarray:
        """Inverse of every block, computed once per factor (repeated solves become products)."""
        cached = self.__dict__.get("_inverse")
        if cached is None:
            cached = self.__dict__["_inverse"] = np.linalg.inv(self.data)
        return cached


@dataclass
class BlockSparse:
    """Block-CSR matrix with a fixed pattern: block row r holds ``indices[indptr[r]:indptr[r+1]]``."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray  # (nnz_blocks, p_row, p_col)
    n_block_rows: int
    n_block_cols: int

    @property
    def block_shape(self) -> tuple[int, int]:
        return self.data.shape[1], self.data.shape[2]

    @property
    def shape(self) -> tuple[int, int]:
        pr, pc = self.block_shape
        return self.n_block_rows * pr, self.n_block_cols * pc

    @property
    def block_rows(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_block_rows), np.diff(self.indptr))

    def to_scipy(self) -> sp.csr_matrix:
        pr, pc = self.block_shape
        if pr == 1 and pc == 1:
            return sp.csr_matrix((self.data[:, 0, 0], self.indices, self.indptr), shape=self.shape)
        return sp.bsr_matrix((self.data, self.indices, self.indptr), shape=self.shape).tocsr()

    def to_dense(self) -> np.ndarray:
        return self.to_scipy().toarray()

    def matmul(self, dense: np.ndarray) -> np.ndarray:
        """``self @ dense`` for a dense (columns x k) matrix, without building a scipy matrix."""
        pr, pc = self.block_shape
        k = dense.shape[1]
        if len(self.indices) * k > 20_000:  # large: scipy's compiled kernel wins over its set-up cost
            return self.to_scipy() @ dense
        cols = dense.reshape(self.n_block_cols, pc, k)[self.indices]  # (nnz, pc, k)
        contrib = self.data @ cols if pc > 1 or pr > 1 else self.data[:, :, :1] * cols
        out = np.zeros((self.n_block_rows, pr, k))
        nonempty = np.flatnonzero(np.diff(self.indptr))
        if len(nonempty):
            out[nonempty] = np.add.reduceat(contrib, self.indptr[nonempty], axis=0)
        return out.reshape(self.n_block_rows * pr, k)

    def rmatvec(self, vector: np.ndarray) -> np.ndarray:
        """``self.T @ vector`` without building a scipy matrix."""
        pr, pc = self.block_shape
        v = vector.reshape(self.n_block_rows, pr)[self.block_rows]  # (nnz, pr)
        contrib = np.einsum("nij,ni->nj", self.data, v) if pr > 1 or pc > 1 else self.data[:, 0, :] * v
        out = np.empty((self.n_block_cols, pc))
        for j in range(pc):
            out[:, j] = np.bincount(self.indices, weights=contrib[:, j], minlength=self.n_block_cols)
        return out.reshape(-1)

    def with_data(self, data: np.ndarray) -> "BlockSparse":
        return BlockSparse(self.indptr, self.indices, data, self.n_block_rows, self.n_block_cols)

    def pattern(self) -> sp.csr_matrix:
        """Block-level boolean pattern."""
        ones = np.ones(len(self.indices), dtype=bool)
        return sp.csr_matrix((ones, self.indices, self.indptr), shape=(self.n_block_rows, self.n_block_cols))

    @classmethod
    def from_pattern(cls, pattern: sp.csr_matrix, p_row: int, p_col: int) -> "BlockSparse":
        pattern = sp.csr_matrix(pattern, dtype=bool)
        pattern.sort_indices()
        data = np.zeros((pattern.nnz, p_row, p_col))
        return cls(pattern.indptr.astype(np.int64), pattern.indices.astype(np.int64), data, *pattern.shape)


def as_dense(block) -> np.ndarray:
    if isinstance(block, np.ndarray):
        return block
    return block.to_dense()


class PairProduct:
    """Precomputed ``target -= left @ right.T`` for block-sparse ``left`` and ``right``.

    ``left`` and ``right`` share their block columns; every pair of nonzero blocks in the same
    block column contributes ``left_block @ right_block.T`` to block (row_left, row_right) of the
    target. ``target`` is described by ``kind``: "dense" (a full matrix), "diagonal" (only blocks
    with row_left == row_right are kept) or a :class:`BlockSparse` pattern. ``lower`` keeps only
    row_left >= row_right, for a symmetric target filled in its lower triangle.
    """

    def __init__(self, left: BlockSparse, right: BlockSparse, target, lower: bool):
        a, b = _pairs_by_column(left, right)
        rows_l, rows_r = left.block_rows[a], right.block_rows[b]
        keep = rows_l >= rows_r if lower else np.ones(len(a), dtype=bool)
        if target == "diagonal":
            keep &= rows_l == rows_r
        a, b, rows_l, rows_r = a[keep], b[keep], rows_l[keep], rows_r[keep]
        if target == "diagonal":
            slots, n_slots = rows_l, left.n_block_rows
        elif target == "dense":
            slots, n_slots = rows_l * right.n_block_rows + rows_r, left.n_block_rows * right.n_block_rows
        else:  # a BlockSparse target pattern
            keys = target.block_rows * target.n_block_cols + target.indices
            wanted = rows_l * target.n_block_cols + rows_r
            slots = np.searchsorted(keys, wanted)
            if len(wanted) and (slots.max(initial=0) >= len(keys) or (keys[slots] != wanted).any()):
                raise AssertionError("target pattern misses a product block")
            n_slots = len(keys)
        order = np.argsort(slots, kind="stable")  # better memory locality for bincount
        self.a, self.b, self.slots = a[order], b[order], slots[order]
        self.n_slots = n_slots
        self.n_rows_left, self.n_rows_right = left.n_block_rows, right.n_block_rows
        self.target_kind = target if isinstance(target, str) else "sparse"

    def blocks(self, left: BlockSparse, right: BlockSparse) -> np.ndarray:
        """Sum of products per target slot: (n_slots, p_left, p_right)."""
        pl, pr = left.data.shape[1], right.data.shape[1]
        if pl == 1 and pr == 1 and left.data.shape[2] == 1:
            vals = left.data[self.a, 0, 0] * right.data[self.b, 0, 0]
            return np.bincount(self.slots, weights=vals, minlength=self.n_slots).reshape(-1, 1, 1)
        prods = np.einsum("nik,njk->nij", left.data[self.a], right.data[self.b])
        out = np.empty((self.n_slots, pl, pr))
        for i in range(pl):
            for j in range(pr):
                out[:, i, j] = np.bincount(self.slots, weights=prods[:, i, j], minlength=self.n_slots)
        return out

    def subtract_from(self, target, left: BlockSparse, right: BlockSparse) -> None:
        sums = self.blocks(left, right)
        if self.target_kind == "diagonal":
            target.data -= sums
        elif self.target_kind == "sparse":
            target.data -= sums
        else:
            pl, pr = sums.shape[1], sums.shape[2]
            grid = sums.reshape(self.n_rows_left, self.n_rows_right, pl, pr)
            target -= grid.transpose(0, 2, 1, 3).reshape(self.n_rows_left * pl, self.n_rows_right * pr)


def _pairs_by_column(left: BlockSparse, right: BlockSparse) -> tuple[np.ndarray, np.ndarray]:
    """All (a, b) of nonzero blocks of ``left`` and ``right`` that lie in the same block column."""
    n_cols = left.n_block_cols
    order_l = np.argsort(left.indices, kind="stable")
    order_r = np.argsort(right.indices, kind="stable")
    count_l = np.bincount(left.indices, minlength=n_cols)
    count_r = np.bincount(right.indices, minlength=n_cols)
    start_l = np.concatenate([[0], np.cumsum(count_l)[:-1]])
    start_r = np.concatenate([[0], np.cumsum(count_r)[:-1]])
    n_pairs = count_l * count_r
    col = np.repeat(np.arange(n_cols), n_pairs)
    local = np.arange(n_pairs.sum()) - np.repeat(np.cumsum(n_pairs) - n_pairs, n_pairs)
    a = order_l[start_l[col] + local // count_r[col]]
    b = order_r[start_r[col] + local % count_r[col]]
    return a, b


def chol_block_diagonal(block: BlockDiagonal) -> BlockDiagonal:
    """Cholesky factor of every diagonal block."""
    if block.data.shape[1] == 1:
        return BlockDiagonal(np.sqrt(block.data))
    return BlockDiagonal(np.linalg.cholesky(block.data))


def right_solve_transpose(block, factor):
    """``block @ inv(factor).T`` for a lower-triangular ``factor`` (BlockDiagonal or dense)."""
    if isinstance(factor, BlockDiagonal):
        p = factor.data.shape[1]
        if isinstance(block, BlockSparse):
            if p == 1:
                return block.with_data(block.data / factor.data[block.indices])
            inv_t = np.linalg.inv(factor.data).transpose(0, 2, 1)
            return block.with_data(np.einsum("nij,njk->nik", block.data, inv_t[block.indices]))
        rows = block.shape[0]
        if p == 1:
            return block / factor.data[:, 0, 0][None, :]
        levels = factor.data.shape[0]
        inv_t = np.linalg.inv(factor.data).transpose(0, 2, 1)
        return np.einsum("rlj,ljk->rlk", block.reshape(rows, levels, p), inv_t).reshape(rows, levels * p)
    from scipy.linalg import solve_triangular

    return solve_triangular(factor, as_dense(block).T, lower=True, check_finite=False).T


def times_block(block, vector: np.ndarray) -> np.ndarray:
    """``block @ vector`` for any block type."""
    if isinstance(block, BlockSparse):
        return block.matmul(vector[:, None])[:, 0]
    if isinstance(block, BlockDiagonal):
        levels, p, _ = block.data.shape
        return (block.data @ vector.reshape(levels, p, 1)).reshape(-1)
    return block @ vector


def transpose_times_block(block, vector: np.ndarray) -> np.ndarray:
    """``block.T @ vector`` for a sparse or dense off-diagonal block."""
    if isinstance(block, BlockSparse):
        return block.rmatvec(vector)
    return block.T @ vector


def solve_lower_block(factor, rhs: np.ndarray) -> np.ndarray:
    """Solve ``factor x = rhs`` for a lower-triangular diagonal block."""
    from scipy.linalg import solve_triangular

    if isinstance(factor, BlockDiagonal):
        levels, p, _ = factor.data.shape
        if p == 1:
            return rhs / factor.data[:, 0, 0]
        return np.einsum("lij,lj->li", factor.inverse_blocks(), rhs.reshape(levels, p)).reshape(-1)
    return solve_triangular(factor, rhs, lower=True, check_finite=False)


def solve_upper_block(factor, rhs: np.ndarray) -> np.ndarray:
    """Solve ``factor' x = rhs`` for a lower-triangular diagonal block."""
    from scipy.linalg import solve_triangular

    if isinstance(factor, BlockDiagonal):
        levels, p, _ = factor.data.shape
        if p == 1:
            return rhs / factor.data[:, 0, 0]
        return np.einsum("lji,lj->li", factor.inverse_blocks(), rhs.reshape(levels, p)).reshape(-1)
    return solve_triangular(factor, rhs, lower=True, trans="T", check_finite=False)

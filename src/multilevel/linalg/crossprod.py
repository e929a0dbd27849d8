"""Cross-products of the design, built once per fit: the blocks of ``[Z X y]' [Z X y]``.

Random-effects columns are never materialized: each term contributes through its group codes
and its small per-row matrix ``z``.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .blocks import BlockDiagonal, BlockSparse


def term_diagonal(codes: np.ndarray, z: np.ndarray, levels: int) -> BlockDiagonal:
    """``Z_k' Z_k``: one p x p block per level."""
    p = z.shape[1]
    data = np.empty((levels, p, p))
    for a in range(p):
        for b in range(a, p):
            data[:, a, b] = data[:, b, a] = np.bincount(codes, weights=z[:, a] * z[:, b], minlength=levels)
    return BlockDiagonal(data)


def term_cross(codes_i, z_i, levels_i, codes_j, z_j, levels_j) -> BlockSparse:
    """``Z_i' Z_j`` for two terms, block-sparse over the level pairs that occur together."""
    key = codes_i.astype(np.int64) * levels_j + codes_j
    used, inverse = np.unique(key, return_inverse=True)
    pi, pj = z_i.shape[1], z_j.shape[1]
    data = np.empty((len(used), pi, pj))
    for a in range(pi):
        for b in range(pj):
            data[:, a, b] = np.bincount(inverse, weights=z_i[:, a] * z_j[:, b], minlength=len(used))
    rows, cols = used // levels_j, used % levels_j
    pattern = sp.csr_matrix((np.arange(1, len(used) + 1), (rows, cols)), shape=(levels_i, levels_j))
    pattern.sort_indices()
    order = pattern.data - 1  # stored order of the blocks in CSR
    return BlockSparse(pattern.indptr.astype(np.int64), pattern.indices.astype(np.int64), data[order], levels_i, levels_j)


def dense_cross(codes: np.ndarray, z: np.ndarray, levels: int, dense: np.ndarray) -> np.ndarray:
    """``dense' Z_k``: (columns of dense) x (levels * p), level-major within the term."""
    p = z.shape[1]
    out = np.empty((dense.shape[1], levels, p))
    for c in range(dense.shape[1]):
        for a in range(p):
            out[c, :, a] = np.bincount(codes, weights=dense[:, c] * z[:, a], minlength=levels)
    return out.reshape(dense.shape[1], levels * p)


def system_blocks(terms, xy: np.ndarray, sqrt_weights: np.ndarray | None = None) -> dict:
    """All lower blocks ``(i, j)`` of the cross-product, for terms in their fitting order.

    ``terms`` is a sequence of (codes, z, levels); ``xy`` is ``[X y]``. Weights scale rows by
    their square root before any product.
    """
    if sqrt_weights is not None:
        xy = xy * sqrt_weights[:, None]
        terms = [(codes, z * sqrt_weights[:, None], levels) for codes, z, levels in terms]
    K = len(terms)
    blocks = {}
    for j, (codes_j, z_j, levels_j) in enumerate(terms):
        blocks[j, j] = term_diagonal(codes_j, z_j, levels_j)
        for i in range(j + 1, K):
            codes_i, z_i, levels_i = terms[i]
            blocks[i, j] = term_cross(codes_i, z_i, levels_i, codes_j, z_j, levels_j)
        blocks[K, j] = dense_cross(codes_j, z_j, levels_j, xy)
    blocks[K, K] = xy.T @ xy
    return blocks


class CrossProducts:
    """Cross-products recomputed cheaply for new observation weights (PIRLS for GLMMs).

    The block patterns are found once; afterwards each block is a handful of ``bincount`` calls
    over precomputed indices.
    """

    def __init__(self, terms):
        self.terms = [(np.asarray(codes), np.asarray(z), levels) for codes, z, levels in terms]
        self.positions = {}
        first = system_blocks(self.terms, np.zeros((len(self.terms[0][0]), 1)))
        for j, (codes_j, _, levels_j) in enumerate(self.terms):
            for i in range(j + 1, len(self.terms)):
                codes_i, _, _ = self.terms[i]
                block = first[i, j]
                keys = block.block_rows * levels_j + block.indices  # sorted: CSR order
                self.positions[i, j] = np.searchsorted(keys, codes_i.astype(np.int64) * levels_j + codes_j)
        self.template = first

    def compute(self, weights: np.ndarray, xy: np.ndarray | None) -> dict:
        """All lower blocks for observation weights ``weights`` (not square-rooted) and columns ``xy``.

        With ``xy=None`` only the random-effects blocks are formed.
        """
        K = len(self.terms)
        blocks = {}
        wxy = None if xy is None else xy * weights[:, None]
        for j, (codes_j, z_j, levels_j) in enumerate(self.terms):
            blocks[j, j] = self._weighted_diagonal(j, weights)
            for i in range(j + 1, K):
                z_i = self.terms[i][1]
                template = self.template[i, j]
                pos = self.positions[i, j]
                data = np.empty_like(template.data)
                for a in range(z_i.shape[1]):
                    for b in range(z_j.shape[1]):
                        data[:, a, b] = np.bincount(pos, weights=self._product(i, a, j, b) * weights, minlength=len(data))
                blocks[i, j] = template.with_data(data)
            if wxy is not None:
                blocks[K, j] = dense_cross(codes_j, z_j, levels_j, wxy)
        if wxy is not None:
            blocks[K, K] = wxy.T @ xy
        return blocks

    def _product(self, i: int, a: int, j: int, b: int) -> np.ndarray:
        """z_i[:, a] * z_j[:, b], cached: constant across PIRLS iterations (all ones for intercepts)."""
        key = (i, a, j, b)
        cache = self.__dict__.setdefault("_products", {})
        if key not in cache:
            cache[key] = self.terms[i][1][:, a] * self.terms[j][1][:, b]
        return cache[key]

    def _weighted_diagonal(self, j: int, weights: np.ndarray) -> BlockDiagonal:
        codes, z, levels = self.terms[j]
        p = z.shape[1]
        data = np.empty((levels, p, p))
        for a in range(p):
            for b in range(a, p):
                data[:, a, b] = data[:, b, a] = np.bincount(codes, weights=self._product(j, a, j, b) * weights,
                                                            minlength=levels)
        return BlockDiagonal(data)

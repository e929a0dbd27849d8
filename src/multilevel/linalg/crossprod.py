"""Cross-products of the design, built once per fit: the blocks of ``[Z X y]' [Z X y]``.

Random-effects columns are never materialized: each term contributes through its group codes
and its small per-row matrix ``z``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

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


# ---- exact, order-independent cross-products --------------------------------------------------------
# A sum of doubles depends on the order of its terms; an optimizer fed two such sums of the same rows
# (in memory, or per partition and then summed) ends at thetas that differ by ~1e-7, the precision to
# which rounding noise in the objective pins its minimum. Here each product is cut, on a grid fixed by a
# power-of-two bound of its columns, into integer digits of DIGIT_BITS bits, and digits are summed exactly
# (integers below 2**53 in float64): the result does not depend on how the rows are ordered or split.
DIGIT_BITS = 26
ROW_DIGITS = 3  # digits per product: 78 bits below the bound; a carry digit in front holds the growth
RADIX = float(2**DIGIT_BITS)


def power_of_two_above(value: float) -> float:
    """The smallest power of two above ``|value|`` (1.0 for 0 or a non-finite value)."""
    value = abs(float(value))
    if value == 0.0 or not np.isfinite(value):
        return 1.0
    return math.ldexp(1.0, math.frexp(value)[1])


def normalize_digits(digits: np.ndarray) -> np.ndarray:
    """Carry so that every digit but the first lies in [0, RADIX): one representation per exact sum."""
    for k in range(len(digits) - 1, 0, -1):
        carry = np.floor(digits[k] / RADIX)
        digits[k] -= carry * RADIX
        digits[k - 1] += carry
    return digits


def exact_bincount(codes: np.ndarray | None, values: np.ndarray, minlength: int, scale: float) -> np.ndarray:
    """Digits (ROW_DIGITS + 1, minlength) of ``bincount(codes, values)`` in units of ``scale`` (a power of
    two, ideally above max |values|); ``codes=None`` sums everything into one cell. Exact while a cell
    holds fewer than 2**27 rows per call (sums of calls are exact far beyond: see :func:`add_digits`)."""
    out = np.zeros((ROW_DIGITS + 1, minlength))
    rest = values / scale
    for k in range(1, ROW_DIGITS + 1):
        rest = rest * RADIX
        digit = np.trunc(rest)
        rest = rest - digit
        out[k] = digit.sum() if codes is None else np.bincount(codes, weights=digit, minlength=minlength)
    return normalize_digits(out)


def add_digits(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return normalize_digits(a + b)


def digits_value(digits: np.ndarray) -> np.ndarray:
    """The float nearest (within an ulp) the exact sum the normalized digits hold, in units of the scale."""
    value = digits[0].copy()
    for k in range(1, len(digits)):
        value = value + digits[k] / RADIX**k
    return value


@dataclass(frozen=True)
class ColumnBounds:
    """Powers of two above max |column| for each term's z, for [X y], and above max sqrt(weight).

    Every way of computing a design's blocks must use the same bounds (they fix the digit grid):
    :meth:`of` takes them from in-memory arrays; out of core they come from reduced maxima."""

    z: tuple
    xy: np.ndarray
    weight: float = 1.0

    @classmethod
    def of(cls, terms, xy: np.ndarray, sqrt_weights: np.ndarray | None, xy_bounds=None) -> "ColumnBounds":
        z = tuple(np.array([power_of_two_above(v) for v in np.max(np.abs(z), axis=0, initial=0.0)]) for _, z, _ in terms)
        if xy_bounds is None:
            xy_bounds = np.array([power_of_two_above(v) for v in np.max(np.abs(xy), axis=0, initial=0.0)])
        weight = 1.0 if sqrt_weights is None else power_of_two_above(np.max(sqrt_weights, initial=0.0))
        return cls(z, np.asarray(xy_bounds, dtype=float), weight)


def gram_digits(columns: np.ndarray, bounds: np.ndarray, weight: float = 1.0) -> np.ndarray:
    """Digits (ROW_DIGITS + 1, q, q) of ``columns' columns`` (rows already scaled by sqrt weights)."""
    q = columns.shape[1]
    out = np.zeros((ROW_DIGITS + 1, q, q))
    for a in range(q):
        for b in range(a, q):
            out[:, a, b] = out[:, b, a] = exact_bincount(None, columns[:, a] * columns[:, b], 1,
                                                         bounds[a] * bounds[b] * weight**2)[:, 0]
    return out


def gram_scale(bounds: np.ndarray, weight: float = 1.0) -> np.ndarray:
    return np.outer(bounds, bounds) * weight**2


def system_block_digits(terms, xy: np.ndarray, sqrt_weights: np.ndarray | None, bounds: ColumnBounds) -> dict:
    """:func:`system_blocks` as exact digits, to be summed over row sets (:func:`add_block_digits`) and
    turned into blocks by :func:`blocks_from_digits`. Values: ("diagonal" | "dense", digits, scale) or
    ("sparse", keys, digits, scale), keys = row level * column levels + column level."""
    if sqrt_weights is not None:
        xy = xy * sqrt_weights[:, None]
        terms = [(codes, z * sqrt_weights[:, None], levels) for codes, z, levels in terms]
    w2 = bounds.weight**2
    K, out = len(terms), {}
    for j, (codes_j, z_j, levels_j) in enumerate(terms):
        zb_j, p = bounds.z[j], z_j.shape[1]
        digits = np.zeros((ROW_DIGITS + 1, levels_j, p, p))
        for a in range(p):
            for b in range(a, p):
                digits[:, :, a, b] = digits[:, :, b, a] = exact_bincount(codes_j, z_j[:, a] * z_j[:, b], levels_j,
                                                                         zb_j[a] * zb_j[b] * w2)
        out[j, j] = ("diagonal", digits, np.outer(zb_j, zb_j) * w2)
        for i in range(j + 1, K):
            codes_i, z_i, _ = terms[i]
            used, inverse = np.unique(codes_i.astype(np.int64) * levels_j + codes_j, return_inverse=True)
            cross = np.zeros((ROW_DIGITS + 1, len(used), z_i.shape[1], p))
            for a in range(z_i.shape[1]):
                for b in range(p):
                    cross[:, :, a, b] = exact_bincount(inverse, z_i[:, a] * z_j[:, b], len(used),
                                                       bounds.z[i][a] * zb_j[b] * w2)
            out[i, j] = ("sparse", used, cross, np.outer(bounds.z[i], zb_j) * w2)
        out[K, j] = dense_cross_digits(codes_j, z_j, levels_j, xy, zb_j, bounds.xy, w2)
    out[K, K] = ("dense", gram_digits(xy, bounds.xy, bounds.weight), gram_scale(bounds.xy, bounds.weight))
    return out


def dense_cross_digits(codes, z, levels: int, xy: np.ndarray, z_bounds, xy_bounds, w2: float = 1.0):
    """:func:`dense_cross` as exact digits (rows already scaled by sqrt weights; ``w2`` = weight bound squared)."""
    p = z.shape[1]
    dense = np.zeros((ROW_DIGITS + 1, xy.shape[1], levels, p))
    for c in range(xy.shape[1]):
        for a in range(p):
            dense[:, c, :, a] = exact_bincount(codes, xy[:, c] * z[:, a], levels, xy_bounds[c] * z_bounds[a] * w2)
    return ("dense", dense, (np.outer(xy_bounds, z_bounds) * w2)[:, None, :])


def add_block_digits(a: dict, b: dict) -> dict:
    """The digits of two row sets' blocks, summed (exactly)."""
    out = {}
    for key in a:
        x, y = a[key], b[key]
        if x[0] != "sparse":
            out[key] = (x[0], add_digits(x[1], y[1]), x[2])
            continue
        keys = np.sort(np.concatenate([x[1], y[1]]), kind="stable")  # two sorted runs: a merge
        keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])] if len(keys) else keys
        # each side's keys are unique: plain indexed adds, no collisions
        digits = np.zeros((x[2].shape[0], len(keys)) + x[2].shape[2:])
        digits[:, np.searchsorted(keys, x[1])] += x[2]
        digits[:, np.searchsorted(keys, y[1])] += y[2]
        out[key] = ("sparse", keys, normalize_digits(digits), x[3])
    return out


def blocks_from_digits(digits: dict, levels: list[int]) -> dict:
    """Blocks as :func:`system_blocks` returns them, from (summed) digits."""
    blocks = {}
    for (i, j), value in digits.items():
        if value[0] == "diagonal":
            blocks[i, j] = BlockDiagonal(digits_value(value[1]) * value[2])
        elif value[0] == "dense":
            data = digits_value(value[1]) * value[2]
            blocks[i, j] = data.reshape(data.shape[0], -1) if i != j else data
        else:
            _, keys, d, scale = value
            rows, cols = keys // levels[j], keys % levels[j]
            indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=levels[i]))]).astype(np.int64)
            blocks[i, j] = BlockSparse(indptr, cols.astype(np.int64), digits_value(d) * scale, levels[i], levels[j])
    return blocks


def exact_system_blocks(terms, xy: np.ndarray, sqrt_weights: np.ndarray | None, bounds: ColumnBounds) -> dict:
    """:func:`system_blocks` with every sum exact (independent of row order and of any split of the rows)."""
    return blocks_from_digits(system_block_digits(terms, xy, sqrt_weights, bounds), [levels for _, _, levels in terms])

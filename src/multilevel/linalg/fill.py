"""Fill-in products between crossed terms, without lists of level pairs.

Factoring the blocked system subtracts ``L_ik L_jk'`` from block (i, j) for every earlier term k.
For crossed factors both ``L_ik`` and ``L_jk`` are sparse (one nonzero per pair of levels that
share an observation) while their product fills in: every two levels of term i that meet a common
level of term k. Listing those pairs costs about ``n**2 / levels_k`` entries (2.5e7 at 1e6 rows and
20,000 levels, 5e8 at 1e7 rows and 100,000 levels), so the products here hold no pair lists:

* :class:`ScaledColumnGram` - below a scalar first term (``(1|a) + (1|b)``, the common crossed
  case) ``L_i0 = lam_i A_i0 diag(lam_0 / d)`` and the product is ``sum_c s_c**2 A_i0[:, c] A_j0[:, c]'``
  with ``s = lam_0 / d``: one fixed sparse matrix G (target entries x levels of term 0) times
  ``s**2`` per evaluation. G is stored as CSR with 32-bit indices and values of the smallest exact
  type (5 bytes an entry for an unweighted model's counts, 12 with weights), built in chunks; it is kept only when it fits :data:`PRODUCT_MEMORY` (a quarter of the machine's memory
  unless MULTILEVEL_PRODUCT_MEMORY_MB says otherwise).
* otherwise - a sparse-sparse product per evaluation (:func:`subtract_sparse_product`), the
  memory of the result only (it is what CHOLMOD's supernodal update computes too).
"""
from __future__ import annotations

import os

import numpy as np
import scipy.sparse as sp

from ..errors import ArgumentError
from .blocks import BlockSparse



ENV_VAR = "MULTILEVEL_PRODUCT_MEMORY_MB"


def _machine_quarter() -> int:
    """A quarter of the machine's memory (memory traded for speed, within what the machine has: the
    Gram matrix makes an evaluation ~10x faster than a sparse product formed anew)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4
    except (ValueError, OSError, AttributeError):  # no sysconf (Windows): a fixed 2 GiB
        return 2 * 2**30


PRODUCT_MEMORY = _machine_quarter()  # the default budget of a precomputed fill-in product, in bytes


def product_memory(default: int) -> int:
    """Bytes a precomputed fill-in product may hold: MULTILEVEL_PRODUCT_MEMORY_MB (read at each fit,
    as MULTILEVEL_BLAS_THREADS) or ``default``."""
    given = os.environ.get(ENV_VAR, "").strip()
    if not given:
        return default
    try:
        megabytes = float(given)
    except ValueError:
        megabytes = -1.0
    if not np.isfinite(megabytes) or megabytes < 0:
        raise ArgumentError(f"{ENV_VAR} must be a number of megabytes of at least 0, not {given!r}")
    return int(megabytes * 2**20)
CHUNK_PAIRS = 500_000  # pairs enumerated at once while building G (bounds the temporaries: ~50 MB)
MATVEC_CHUNK = 2_000_000  # entries of G multiplied at once (compact values widened per chunk only)
PAIR_BYTES_PER_ENTRY = 56  # PairProduct: three int64 index arrays, sort order and product temporaries


def pair_count(left: BlockSparse, right: BlockSparse, lower: bool) -> int:
    """How many products of nonzero blocks a fill-in update sums (``lower``: one triangle of
    ``left left'``)."""
    count_l = np.bincount(left.indices, minlength=left.n_block_cols).astype(np.int64)
    if lower:
        return int((count_l * (count_l + 1) // 2).sum())
    count_r = np.bincount(right.indices, minlength=right.n_block_cols).astype(np.int64)
    return int(count_l @ count_r)


class ScaledColumnGram:
    """``target -= coefficient * sum_c w_c A_l[:, c] A_r[:, c]'`` for scalar blocks ``A_l``, ``A_r``.

    ``target`` is "dense" (a ``rows_l x rows_r`` matrix), "diagonal" (only ``r_l == r_r``) or a
    :class:`BlockSparse` pattern; ``lower`` keeps ``r_l >= r_r`` (``A_l`` is ``A_r``: a symmetric
    target filled in its lower triangle).

    G is kept by row (CSR: each target entry gathers from the short vector ``w``, which stays in
    cache; scattering by column into the large target was 6x slower) and built straight into its
    final arrays: the pairs are enumerated twice, by groups of columns with equal counts (2-d
    gathers, no per-pair index arithmetic), first to count the entries of each row, then to place
    them. Nothing of G's size exists twice.
    """

    def __init__(self, left: BlockSparse, right: BlockSparse, target, lower: bool):
        self.lower = lower
        self.rows_right = right.n_block_rows
        if isinstance(target, str):
            self.target_kind = target
            self.n_slots = left.n_block_rows if target == "diagonal" else left.n_block_rows * right.n_block_rows
            self.keys = None
        else:
            self.target_kind = "sparse"
            self.keys = target.block_rows * target.n_block_cols + target.indices
            self.key_cols = target.n_block_cols
            self.n_slots = len(self.keys)
        self.n_cols = left.n_block_cols
        left_csc, right_csc = _csc_pair(left, right)
        total = pair_count(left, right, lower) if target != "diagonal" else left_csc.nnz
        index_type = np.int32 if max(self.n_slots, self.n_cols, total) < 2**31 - 1 else np.int64
        indptr = np.zeros(self.n_slots + 1, dtype=index_type)
        for _, slots, _ in self._chunks(left_csc, right_csc):
            present, counts = _runs(np.sort(slots))
            indptr[1:][present] += counts.astype(index_type)
        np.cumsum(indptr, out=indptr)
        if indptr[-1] != total:
            raise AssertionError("fill-in pair count does not match the product's pattern")
        self.indptr, self.indices = indptr, np.empty(total, dtype=index_type)
        self.values = np.empty(total, dtype=value_type(left, right))
        self._place(left_csc, right_csc, indptr, self.indices, self.values)

    @staticmethod
    def memory(left: BlockSparse, right: BlockSparse, lower: bool) -> int:
        entry = 4 + np.dtype(value_type(left, right)).itemsize  # int32 column index + value
        return entry * pair_count(left, right, lower)

    def refresh(self, left: BlockSparse, right: BlockSparse) -> None:
        """New values of the same blocks (new PIRLS weights): recompute G's values in place (the
        same enumeration and placement as when it was built, so the positions line up)."""
        wanted = value_type(left, right)
        if np.dtype(wanted).itemsize > self.values.itemsize or np.dtype(wanted).kind != self.values.dtype.kind:
            self.values = np.empty(len(self.values), dtype=np.float64)  # weights: counts no longer
        self._place(*_csc_pair(left, right), self.indptr, None, self.values)

    def subtract(self, target, coefficient: float, column_weights: np.ndarray) -> None:
        """``target -= coefficient * G @ column_weights``, a few million entries of G at a time: each
        chunk of rows is multiplied by scipy's compiled CSR product (compact integer values widened
        to float64 for the chunk only) and subtracted where it belongs, so no vector of the target's
        size is allocated per evaluation (200 MB for a 5,000-level fill block)."""
        flat = target.reshape(-1) if self.target_kind == "dense" else target.data[:, 0, 0]
        if not np.may_share_memory(flat, target if self.target_kind == "dense" else target.data):
            raise AssertionError("the fill-in target must be updated in place")
        indptr, row = self.indptr, 0
        while row < self.n_slots:
            stop = int(np.searchsorted(indptr, indptr[row] + MATVEC_CHUNK, side="right")) - 1
            stop = min(max(stop, row + 1), self.n_slots)
            first, last = int(indptr[row]), int(indptr[stop])
            if last > first:
                chunk = sp.csr_matrix((self.values[first:last].astype(np.float64, copy=False),
                                       self.indices[first:last], indptr[row:stop + 1] - indptr[row]),
                                      shape=(stop - row, self.n_cols))
                part = chunk @ column_weights
                part *= coefficient
                flat[row:stop] -= part
            row = stop

    def _place(self, left_csc, right_csc, indptr, indices, values) -> None:
        """Write each pair's column (when ``indices`` is given) and value at its place in its row."""
        cursor = np.array(indptr[:-1])  # next free place in each row
        for cols, slots, products in self._chunks(left_csc, right_csc):
            order = np.argsort(slots, kind="stable")
            slots = slots[order]
            present, counts = _runs(slots)
            starts = np.repeat(np.cumsum(counts) - counts, counts)  # where each entry's run begins
            positions = cursor[slots] + (np.arange(len(slots)) - starts)
            if indices is not None:
                indices[positions] = cols[order]
            values[positions] = products[order]
            cursor[present] += counts.astype(cursor.dtype)

    def _chunks(self, left_csc, right_csc):
        """(column, target slot, product) of every kept pair, in chunks of at most about
        :data:`CHUNK_PAIRS`, columns grouped by their (left, right) counts, in a fixed order."""
        count_l, count_r = np.diff(left_csc.indptr), np.diff(right_csc.indptr)
        keys = count_l.astype(np.int64) * (int(count_r.max(initial=0)) + 1) + count_r
        order = np.argsort(keys, kind="stable")
        bounds = np.flatnonzero(np.diff(keys[order])) + 1
        for group in np.split(order, bounds):
            if not len(group):
                continue
            kl, kr = int(count_l[group[0]]), int(count_r[group[0]])
            first, second = self._pair_pattern(kl, kr)
            if not len(first):
                continue
            step = max(1, CHUNK_PAIRS // len(first))
            for start in range(0, len(group), step):
                cols = group[start:start + step]
                at_l = left_csc.indptr[cols][:, None] + first[None, :]
                at_r = right_csc.indptr[cols][:, None] + second[None, :]
                slots = self._slots(left_csc.indices[at_l].ravel(), right_csc.indices[at_r].ravel())
                products = (left_csc.data[at_l] * right_csc.data[at_r]).ravel()
                yield np.repeat(cols, len(first)), slots, products

    def _pair_pattern(self, kl: int, kr: int) -> tuple[np.ndarray, np.ndarray]:
        """Which nonzeros of a column (positions among its kl left and kr right ones) form the kept
        pairs: itself only (diagonal target), the lower triangle (rows sorted: p >= q keeps
        ``r_l >= r_r``), or all kl x kr."""
        if self.target_kind == "diagonal":
            return np.arange(kl), np.arange(kl)
        if self.lower:
            return np.tril_indices(kl)
        return np.repeat(np.arange(kl), kr), np.tile(np.arange(kr), kl)

    def _slots(self, row_l: np.ndarray, row_r: np.ndarray) -> np.ndarray:
        if self.target_kind == "diagonal":
            return row_l
        if self.target_kind == "dense":
            return row_l.astype(np.int64) * self.rows_right + row_r
        wanted = row_l.astype(np.int64) * self.key_cols + row_r
        slots = np.searchsorted(self.keys, wanted)
        if len(wanted) and (slots.max(initial=0) >= len(self.keys) or (self.keys[slots] != wanted).any()):
            raise AssertionError("target pattern misses a product block")
        return slots


def value_type(left: BlockSparse, right: BlockSparse):
    """The smallest type that holds every product of a left and a right value exactly: one byte for
    the counts of an unweighted model (each at most 15), two bytes up to 255, else float64."""
    largest = 1.0
    for data in (left.data, right.data):
        values = data.reshape(-1)
        if len(values) and not (np.all(values >= 0) and np.all(values == np.round(values))):
            return np.float64
        largest *= float(values.max(initial=0.0))
    if largest < 2**8:
        return np.uint8
    if largest < 2**16:
        return np.uint16
    return np.float64


def _runs(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of a sorted array and how often each occurs."""
    if not len(sorted_values):
        return sorted_values, sorted_values
    edges = np.flatnonzero(np.diff(sorted_values)) + 1
    starts = np.concatenate([[0], edges])
    return sorted_values[starts], np.diff(np.concatenate([starts, [len(sorted_values)]]))


def _csc_pair(left: BlockSparse, right: BlockSparse) -> tuple[sp.csc_matrix, sp.csc_matrix]:
    """Both blocks as CSC, converted once when they are the same block (a term's fill-in with itself)."""
    left_csc = _csc(left)
    return left_csc, left_csc if right is left else _csc(right)


def _csc(block: BlockSparse) -> sp.csc_matrix:
    """A scalar block-sparse matrix as CSC with sorted row indices (its column lists)."""
    matrix = block.to_scipy().tocsc()
    matrix.sort_indices()
    return matrix


def subtract_sparse_product(target, left: BlockSparse, right: BlockSparse) -> None:
    """``target -= left @ right'`` for a dense ``target``, formed as a sparse product: the memory of
    the result only, no pair lists (used where a precomputed product would not fit in memory)."""
    product = (left.to_scipy() @ right.to_scipy().T).tocoo()
    target[product.row, product.col] -= product.data

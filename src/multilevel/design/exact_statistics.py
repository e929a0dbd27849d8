"""Exact statistics over the partitions of out-of-core data, without gathering the values.

- :func:`order_statistics`: exact order statistics (the medians and MADs of the standardization, the
  summary's quantiles), found by a few passes of counting the values below data-valued pivots;
- :func:`numpy_mean`: ``np.mean`` of values spread over the partitions, bit for bit, by summing
  numpy's pairwise blocks where they fall and adding them in numpy's order.

Both run as passes of a :class:`~multilevel.design.dask_source.PartitionReducer` over values that a
function computes from each encoded partition (:meth:`PartitionPlan.encode
<multilevel.design.partition_plan.PartitionPlan.encode>`). How much a pass sends back to the client
is set by :data:`multilevel.design.dask_source.GATHER` and :data:`~multilevel.design.dask_source.SAMPLE`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import dask_source
from .dask_source import PartitionReducer
from .partition_plan import PartitionPlan


# ---- exact order statistics over partitions -------------------------------------------------------
@dataclass
class _Target:
    function: int  # index into the value functions
    rank: int  # 0-based rank of the order statistic
    lo: float = -np.inf  # the answer lies in the open interval (lo, hi)
    hi: float = np.inf
    below: int = 0  # values <= lo
    inside: int = 0  # values in (lo, hi)
    pivots: np.ndarray | None = None
    answer: float | None = None
    slot: int = -1  # this pass's request

    def request(self):
        if self.pivots is not None:
            return ("count", self.lo, self.hi, self.pivots)
        return ("gather" if self.inside <= dask_source.GATHER else "sample", self.lo, self.hi, None)


@dataclass(frozen=True)
class _SelectionRequest:
    plan: PartitionPlan
    functions: tuple  # callables Encoded -> 1-d array
    requests: tuple  # per open target: (function, kind, lo, hi, pivots)


def _select_partition(part, request: _SelectionRequest):
    encoded = request.plan.encode(part)
    if encoded is None:
        return None
    cache, out = {}, []
    for function, kind, lo, hi, pivots in request.requests:
        if function not in cache:
            cache[function] = request.functions[function](encoded)
        values = cache[function]
        inside = values[(values > lo) & (values < hi)]
        if kind == "gather":
            out.append(inside)
        elif kind == "sample":
            ordered = np.sort(inside)
            picks = np.unique(np.linspace(0, len(ordered) - 1, min(dask_source.SAMPLE, len(ordered))).astype(np.int64))
            out.append(ordered[picks] if len(ordered) else ordered)
        else:  # counts of values < and <= each pivot (sorting first: faster than a search per value)
            ordered = np.sort(inside)
            out.append((np.searchsorted(ordered, pivots, side="left"), np.searchsorted(ordered, pivots, side="right")))
    return out


def _merge_selection(a: list, b: list) -> list:
    return [(x[0] + y[0], x[1] + y[1]) if isinstance(x, tuple) else np.concatenate([x, y]) for x, y in zip(a, b)]


def order_statistics(reducer: PartitionReducer, plan: PartitionPlan, functions, targets, n: int) -> list[float]:
    """Exact order statistics: ``targets`` are (function index, 0-based rank) over the values
    ``functions[i](encoded partition)`` of all partitions (``n`` values each).

    Each pass either samples the values inside every open bracket (data values become pivots), counts
    the values below each pivot (the bracket shrinks to between two pivots, or a pivot is the answer,
    which settles ties), or, once a bracket holds at most :data:`~multilevel.design.dask_source.GATHER`
    values, gathers them and selects. All targets advance in the same pass.
    """
    states = [_Target(f, int(r), inside=n) for f, r in targets]
    while True:
        open_ = [s for s in states if s.answer is None]
        if not open_:
            return [s.answer for s in states]
        # targets of one function with the same bracket and pivots (quantiles, a median's two middle
        # values) share their partition work: one sample, one count
        requests, slots = [], {}
        for state in open_:
            kind, lo, hi, pivots = state.request()
            key = (state.function, kind, lo, hi, id(pivots) if kind == "count" else None,
                   state.rank if kind == "gather" else None)
            if key not in slots:
                slots[key] = len(requests)
                requests.append((state.function, kind, lo, hi, pivots))
            state.slot = slots[key]
        results = reducer.run(_select_partition, _SelectionRequest(plan, tuple(functions), tuple(requests)),
                              _merge_selection)
        shared_pivots = {}
        for state in open_:
            kind, result = requests[state.slot][1], results[state.slot]
            if kind == "gather":
                r = state.rank - state.below
                state.answer = float(np.partition(result, r)[r])
            elif kind == "sample":
                if state.slot not in shared_pivots:
                    shared_pivots[state.slot] = np.unique(result)
                state.pivots = shared_pivots[state.slot]
            else:
                _narrow(state, *result)


def _narrow(state: _Target, less: np.ndarray, leq: np.ndarray) -> None:
    pivots, r = state.pivots, state.rank - state.below
    state.pivots = None
    hit = np.flatnonzero((less <= r) & (r < leq))
    if len(hit):
        state.answer = float(pivots[hit[0]])
        return
    left = np.flatnonzero(leq <= r)  # pivots wholly below the answer
    right = np.flatnonzero(less > r)  # pivots wholly above it
    lo_count = 0
    if len(left):
        state.lo, lo_count = float(pivots[left[-1]]), int(leq[left[-1]])
    hi_count = state.inside
    if len(right):
        state.hi, hi_count = float(pivots[right[0]]), int(less[right[0]])
    state.below += lo_count
    state.inside = hi_count - lo_count


# ---- numpy's mean, reproduced over partitions ----------------------------------------------------
# np.mean of a float64 array is numpy's pairwise sum (blocks of at most 128 values, eight accumulators
# each, halves rounded to multiples of 8) divided by n. Its rounding depends on where each value sits in
# the whole array, so partitions sum the blocks that fall wholly inside them, send the values of the
# blocks that straddle a boundary, and the client adds the blocks in numpy's order: the same bits.
BLOCK = 128


def _leaves(start: int, n: int, lo: int, hi: int, out: list) -> None:
    """numpy's pairwise blocks of [start, start + n) that meet [lo, hi), in order."""
    if start >= hi or start + n <= lo:
        return
    if n <= BLOCK:
        out.append((start, n))
        return
    half = n // 2
    half -= half % 8
    _leaves(start, half, lo, hi, out)
    _leaves(start + half, n - half, lo, hi, out)


def block_sums(values: np.ndarray) -> np.ndarray:
    """numpy's pairwise sum of each row of ``values`` (m, size), size <= 128: elementwise, the same bits."""
    m, size = values.shape
    if size < 8:
        total = np.zeros(m)
        for i in range(size):
            total = total + values[:, i]
        return total
    r = values[:, :8].copy()
    i = 8
    while i < size - size % 8:
        r = r + values[:, i:i + 8]
        i += 8
    total = ((r[:, 0] + r[:, 1]) + (r[:, 2] + r[:, 3])) + ((r[:, 4] + r[:, 5]) + (r[:, 6] + r[:, 7]))
    for k in range(i, size):
        total = total + values[:, k]
    return total


def _tree_sum(start: int, n: int, sums: dict) -> float:
    if n <= BLOCK:
        return sums[start]
    half = n // 2
    half -= half % 8
    return _tree_sum(start, half, sums) + _tree_sum(start + half, n - half, sums)


@dataclass(frozen=True)
class _MeanRequest:
    plan: PartitionPlan
    function: object  # Encoded -> 1-d array (the values, in row order)
    offsets: tuple  # global position of each partition's first value
    n: int


def _mean_partition(part, request: _MeanRequest, index: int):
    encoded = request.plan.encode(part)
    if encoded is None:
        return None
    values = np.asarray(request.function(encoded), dtype=float)
    lo = request.offsets[index]
    hi = lo + len(values)
    leaves = []
    _leaves(0, request.n, lo, hi, leaves)
    sums, pieces = {}, []
    inside = [(a, m) for a, m in leaves if a >= lo and a + m <= hi]
    for size in {m for _, m in inside}:
        starts = np.array([a for a, m in inside if m == size]) - lo
        for a, total in zip(starts + lo, block_sums(values[starts[:, None] + np.arange(size)])):
            sums[int(a)] = float(total)
    for a, m in leaves:
        if not (a >= lo and a + m <= hi):  # straddles a boundary: send this partition's part of it
            first, last = max(a, lo), min(a + m, hi)
            pieces.append((a, first, values[first - lo:last - lo]))
    return sums, pieces


def _merge_means(a, b):
    return {**a[0], **b[0]}, a[1] + b[1]


def numpy_mean(reducer: PartitionReducer, plan: PartitionPlan, function, counts: list[int]) -> float:
    """``np.mean`` of the concatenated values ``function(encoded partition)`` (``counts[i]`` of them in
    partition i), bit for bit, without gathering them."""
    n = int(sum(counts))
    offsets = tuple(int(v) for v in np.concatenate([[0], np.cumsum(counts)[:-1]]))
    sums, pieces = reducer.run(_mean_partition, _MeanRequest(plan, function, offsets, n), _merge_means, indexed=True)
    straddling: dict = {}
    for start, first, values in pieces:
        straddling.setdefault(start, []).append((first, values))
    for start, parts in straddling.items():
        values = np.concatenate([v for _, v in sorted(parts, key=lambda item: item[0])])
        sums[start] = float(block_sums(values[None, :])[0])
    return _tree_sum(0, n, sums) / n

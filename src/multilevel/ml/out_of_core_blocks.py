"""Passes 4 and 5 of an out-of-core lmer fit: centering y, then the cross-product blocks of ``[Z X y]``.

Each of the fit's two designs (original, standardized) is a :class:`Variant`: its column
standardization, weight scale and the digit grids every in-memory sum of it would use. Pass 4
(:func:`_centering_partition`) sums the exact Gram digits of ``[X y]`` per design, from which
``centering_shift`` finds ``y_shift``; pass 5 (:func:`_blocks_partition`) sums the blocks of each
design with y centered, computing the random-effects blocks once where both designs share them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..linalg.crossprod import (ColumnBounds, add_block_digits, add_digits, dense_cross_digits, exact_bincount,
                                gram_digits, gram_scale, power_of_two_above, system_block_digits)
from .lmm import centered_bound, centered_response
from .out_of_core_columns import _standardized, _standardized_sizes


# ---- passes 4 and 5: centering y, and the blocks -----------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """One of the fit's two designs (original, standardized) as a partition computes it: its column
    standardization, weight scale, and the digit grids (bounds) every in-memory sum of it would use."""

    fixed: list  # (column, center, scale) of the standardized fixed columns
    terms: tuple  # the same per term's z
    weight_scale: float  # weights are divided by it (1: the original design)
    x_max: np.ndarray  # max |column| of X
    z_bounds: tuple
    y_max: float
    weight_bound: float  # power of two above max sqrt(weight)
    log_bound: float  # power of two above max |log weight|
    shift: np.ndarray | None = None  # y_shift, once known

    def apply(self, e):
        """(X, zs, weights) of this design for an encoded partition."""
        w = None if e.weights is None else (e.weights if self.weight_scale == 1.0 else e.weights / self.weight_scale)
        return (_standardized(e.x, self.fixed), [_standardized(z, c) for z, c in zip(e.z, self.terms)], w)

    @property
    def x_bounds(self) -> np.ndarray:
        return np.array([power_of_two_above(v) for v in self.x_max])

    def gram_bounds(self) -> np.ndarray:
        return np.append(self.x_bounds, power_of_two_above(self.y_max))

    def block_bounds(self) -> ColumnBounds:
        return ColumnBounds(self.z_bounds, np.append(self.x_bounds, centered_bound(self.y_max, self.x_max, self.shift)),
                            self.weight_bound)


def _variant(facts_x, facts_z, fixed, terms, weight_scale, y_max, w_facts) -> Variant:
    z_bounds = tuple(np.array([power_of_two_above(v) for v in _standardized_sizes(f, c)]) for f, c in zip(facts_z, terms))
    weight_bound, log_bound = 1.0, 1.0
    if w_facts is not None:
        weight_bound = power_of_two_above(np.sqrt(w_facts["size"] / weight_scale))
        logs = np.log(np.array([w_facts["min_positive"], w_facts["size"]]) / weight_scale)
        log_bound = power_of_two_above(np.max(np.abs(logs)))
    return Variant(fixed, tuple(terms), weight_scale, _standardized_sizes(facts_x, fixed), z_bounds, y_max,
                   weight_bound, log_bound)


def _centering_partition(part, request):
    plan, variants = request
    e = plan.encode(part)
    if e is None:
        return None
    out = {}
    for name, variant in variants.items():
        x, _, w = variant.apply(e)
        columns = np.column_stack([x, e.y])
        item = {"n": len(e.y)}
        if w is not None:
            columns = columns * np.sqrt(w)[:, None]
            positive = w[w > 0]
            item["n"] = len(positive)
            item["log_w"] = exact_bincount(None, np.log(positive), 1, variant.log_bound)
        item["gram"] = gram_digits(columns, variant.gram_bounds(), variant.weight_bound)
        item["y_norm2"] = float(np.sum(columns[:, -1] ** 2))
        out[name] = item
    return out


def _merge_centering(a, b):
    return {name: {key: add_digits(x[key], b[name][key]) if key in ("gram", "log_w") else x[key] + b[name][key]
                   for key in x} for name, x in a.items()}


def _blocks_partition(part, request):
    plan, variants, levels = request
    e = plan.encode(part)
    if e is None:
        return None
    out, first = {}, None
    for name, variant in variants.items():
        x, zs, w = variant.apply(e)
        xy = np.column_stack([x, centered_response(e.y, x, variant.shift)])
        terms = [(codes, z, n) for codes, z, n in zip(e.codes, zs, levels)]
        sw = None if w is None else np.sqrt(w)
        bounds = variant.block_bounds()
        if first is not None and _same_terms(first[0], variant):  # Z'Z of both designs: computed and sent once
            out[name] = _xy_digits(terms, xy, sw, bounds)
        else:
            out[name] = system_block_digits(terms, xy, sw, bounds)
            first = (variant, name)
    return out


def _same_terms(a: Variant, b: Variant) -> bool:
    """Whether two designs have the same random-effects columns and weights (hence the same Z'Z blocks)."""
    return (not any(a.terms) and not any(b.terms) and a.weight_scale == b.weight_scale
            and a.weight_bound == b.weight_bound and all(np.array_equal(x, y) for x, y in zip(a.z_bounds, b.z_bounds)))


def _xy_digits(terms, xy, sw, bounds: ColumnBounds) -> dict:
    """Only the blocks that involve [X y] (rows K): the others are another design's (see :func:`_with_terms`)."""
    if sw is not None:
        xy = xy * sw[:, None]
        terms = [(codes, z * sw[:, None], n) for codes, z, n in terms]
    K, out = len(terms), {}
    for j, (codes, z, n) in enumerate(terms):
        out[K, j] = dense_cross_digits(codes, z, n, xy, bounds.z[j], bounds.xy, bounds.weight**2)
    out[K, K] = ("dense", gram_digits(xy, bounds.xy, bounds.weight), gram_scale(bounds.xy, bounds.weight))
    return out


def _merge_blocks(a, b):
    return {name: add_block_digits(a[name], b[name]) for name in a}


def _with_terms(digits: dict, like: dict) -> dict:
    """A design's summed digits completed with the random-effects blocks of ``like`` where it has none."""
    return {**{key: value for key, value in like.items() if key not in digits}, **digits}



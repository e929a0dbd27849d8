"""Passes 2 and 3 of an out-of-core lmer fit: the facts of the design's columns and their standardization.

Pass 2 (:func:`_columns_partition`, merged by :func:`_merge_columns`) finds, per column of X and of
each term's z, whether it is an intercept or an indicator and its extremes, with the row counts, the
response's range, the weights' facts and the R factor of X; from them come the rank check
(:func:`_kept_columns`, as ``drop_rank_deficient``) and the magnitude and weight checks.

Pass 3 (:func:`_transforms`) reproduces ``standardizing_transform`` of every matrix: exact medians and
MADs of the columns to standardize (:func:`multilevel.design.exact_statistics.order_statistics`), and
numpy's mean of the absolute deviations where a MAD is zero
(:func:`multilevel.design.exact_statistics.numpy_mean`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from ..design.exact_statistics import numpy_mean, order_statistics
from ..errors import DataError
from .standardize import LARGEST, SMALLEST

RANK_TOL = 1e-7  # drop_rank_deficient's tolerance


# ---- pass 2: column facts --------------------------------------------------------------------------
def _column_facts(matrix: np.ndarray) -> dict:
    return {"one": np.all(matrix == 1.0, axis=0), "indicator": np.all((matrix == 0.0) | (matrix == 1.0), axis=0),
            "size": np.max(np.abs(matrix), axis=0, initial=0.0), "min": np.min(matrix, axis=0, initial=np.inf),
            "max": np.max(matrix, axis=0, initial=-np.inf)}


def _merge_facts(a: dict, b: dict) -> dict:
    return {"one": a["one"] & b["one"], "indicator": a["indicator"] & b["indicator"], "size": np.maximum(a["size"], b["size"]),
            "min": np.minimum(a["min"], b["min"]), "max": np.maximum(a["max"], b["max"])}


def _standardized_sizes(facts: dict, columns: list) -> np.ndarray:
    """max |column| after standardization: the map (v - center) / scale is monotone in v, also in floating
    point, so the extremes come from the raw extremes (exactly the values the in-memory columns hold)."""
    size = facts["size"].copy()
    for j, center, scale in columns:
        size[j] = max(abs((facts["max"][j] - center) / scale), abs((facts["min"][j] - center) / scale))
    return size


def _columns_partition(part, plan, index: int):
    e = plan.encode(part)
    if e is None:
        return None
    out = {"n": len(e.y), "counts": {index: len(e.y)}, "y_min": float(e.y.min()), "y_max": float(e.y.max()),
           "y_size": float(np.max(np.abs(e.y))), "x": _column_facts(e.x), "z": [_column_facts(z) for z in e.z],
           "r": scipy.linalg.qr(e.x, mode="r")[0] if e.x.shape[1] else np.zeros((0, 0))}
    if e.weights is not None:
        w = e.weights
        positive = w[w > 0]
        out["positive_counts"] = {index: len(positive)}
        out["w"] = {"min": float(w.min()), "negative": int((w < 0).sum()), "positive": len(positive),
                    "size": float(np.max(np.abs(w))),
                    "min_positive": float(positive.min()) if len(positive) else np.inf}
    return out


def _stack_r(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.shape[1] == 0:
        return a
    return scipy.linalg.qr(np.vstack([a, b]), mode="r")[0]


def _merge_columns(a: dict, b: dict) -> dict:
    out = {"n": a["n"] + b["n"], "counts": {**a["counts"], **b["counts"]}, "y_min": min(a["y_min"], b["y_min"]), "y_max": max(a["y_max"], b["y_max"]),
           "y_size": max(a["y_size"], b["y_size"]), "x": _merge_facts(a["x"], b["x"]),
           "z": [_merge_facts(x, y) for x, y in zip(a["z"], b["z"])], "r": _stack_r(a["r"], b["r"])}
    if "w" in a:
        out["positive_counts"] = {**a["positive_counts"], **b["positive_counts"]}
        wa, wb = a["w"], b["w"]
        out["w"] = {"min": min(wa["min"], wb["min"]), "negative": wa["negative"] + wb["negative"],
                    "positive": wa["positive"] + wb["positive"],
                    "size": max(wa["size"], wb["size"]), "min_positive": min(wa["min_positive"], wb["min_positive"])}
    return out


def _kept_columns(r: np.ndarray, names: tuple[str, ...]) -> tuple[list[int], tuple[str, ...]]:
    """drop_rank_deficient on the reduced R factor: |R_jj| is the norm of column j after projection
    on the columns before it, ||R[:, j]|| its own norm (Householder QR, so exact dependence shows)."""
    keep = []
    for j in range(len(names)):
        norm = np.linalg.norm(r[: j + 1, j]) if j < r.shape[0] else np.linalg.norm(r[:, j])
        resid = abs(r[j, j]) if j < r.shape[0] else 0.0
        if norm > 0.0 and resid > RANK_TOL * norm:
            keep.append(j)
    return keep, tuple(n for j, n in enumerate(names) if j not in keep)


def warn_dropped(dropped: tuple[str, ...]) -> None:
    """lme4's (and the in-memory design's) warning for columns dropped as rank deficient."""
    import warnings

    if dropped:
        warnings.warn(f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} "
                      f"column{'s' if len(dropped) > 1 else ''} / coefficient{'s' if len(dropped) > 1 else ''}: "
                      f"{', '.join(dropped)}", UserWarning, stacklevel=4)


# ---- pass 3: exact medians and MADs -------------------------------------------------------------
@dataclass(frozen=True)
class ColumnValues:
    """Values of one design column as ``robust_location_scale`` sees them: ``column / size``, or
    ``|column / size - location|``. ``matrix`` -1 is the fixed part, k >= 0 the k-th term's z."""

    matrix: int
    column: int
    size: float
    location: float | None = None

    def __call__(self, e) -> np.ndarray:
        column = e.x[:, self.column] if self.matrix < 0 else e.z[self.matrix][:, self.column]
        unit = column / self.size
        return unit if self.location is None else np.abs(unit - self.location)


def _median(reducer, plan, functions, n) -> list[float]:
    """np.median of each function's values over all partitions, exactly (its two middle values' mean)."""
    middle = [n // 2 - 1, n // 2] if n % 2 == 0 else [n // 2]
    targets = [(f, r) for f in range(len(functions)) for r in middle]
    values = order_statistics(reducer, plan, functions, targets, n) if targets else []
    k = len(middle)
    return [float(np.mean(np.array(values[i * k:(i + 1) * k]))) for i in range(len(functions))]


@dataclass(frozen=True)
class PositiveWeights:
    """The positive weights of a partition, in row order (standardize.py's weight scale is their mean)."""

    def __call__(self, e) -> np.ndarray:
        return e.weights[e.weights > 0]


def _in_order(counts: dict, n_partitions: int) -> list[int]:
    return [counts.get(i, 0) for i in range(n_partitions)]


def _transforms(reducer, plan, facts: list[dict], counts: list[int]) -> list[tuple[np.ndarray, list]]:
    """standardizing_transform of every matrix (fixed part first, then each term's z), from reduced facts."""
    n = sum(counts)
    jobs = []  # (matrix, column, size, center)
    intercepts = []
    for m, fact in enumerate(facts):
        ones = np.flatnonzero(fact["one"])
        intercept = int(ones[0]) if len(ones) else None
        intercepts.append(intercept)
        for j in range(len(fact["size"])):
            if j == intercept or fact["indicator"][j] or fact["size"][j] == 0.0:
                continue
            jobs.append((m, j, float(fact["size"][j]), intercept is not None))
    centered = [ColumnValues(m - 1, j, size) for m, j, size, center in jobs if center]
    medians = iter(_median(reducer, plan, centered, n))
    locations = [next(medians) if center else 0.0 for *_, center in jobs]
    deviations = [ColumnValues(m - 1, j, size, loc) for (m, j, size, _), loc in zip(jobs, locations)]
    mads = [1.4826 * v for v in _median(reducer, plan, deviations, n)]
    for i, mad in enumerate(mads):
        if mad == 0.0:  # more than half the values equal: the mean absolute deviation, as robust_location_scale
            mads[i] = 1.2533 * numpy_mean(reducer, plan, deviations[i], counts)
    out = [(np.eye(len(f["size"])), []) for f in facts]
    for (m, j, size, _), loc, scale in zip(jobs, locations, mads):
        center, scale = loc * size, scale * size
        if scale == 0.0:
            continue
        transform, columns = out[m]
        transform[j, j] = 1.0 / scale
        if intercepts[m] is not None:
            transform[intercepts[m], j] = -center / scale
        columns.append((j, center, scale))
    return out


def _standardized(matrix: np.ndarray, columns: list) -> np.ndarray:
    """The standardized columns computed directly, as standardizing_transform does."""
    if not columns:
        return matrix
    out = matrix.copy()
    for j, center, scale in columns:
        out[:, j] = (matrix[:, j] - center) / scale
    return out


# ---- checks on the reduced facts ------------------------------------------------------------------
def _check_weights(cols: dict) -> None:
    if "w" not in cols:
        return
    w = cols["w"]
    if w["negative"]:
        raise DataError(f"weights must be non-negative ({w['negative']} are negative, minimum {w['min']:g})")
    if not w["positive"]:
        raise DataError(f"all {cols['n']} weights are zero: no observation would count in the fit")


def _check_magnitudes(planned, cols: dict, x_facts: dict, names) -> None:
    """check_magnitudes on the reduced column sizes (the largest absolute value of each column)."""
    items = [(f"response {planned.plan.parsed.response!r}", cols["y_size"])]
    if "w" in cols:
        items.append(("weights", cols["w"]["size"]))
    items += [(f"fixed-effects column {n!r}", s) for n, s in zip(names, x_facts["size"])]
    items += [(f"column {n!r} of the term ({t.lhs} | {t.group_name})", s)
              for t, facts in zip(planned.terms, cols["z"]) for n, s in zip(t.column_names, facts["size"])]
    for label, size in items:
        if size > 0 and (size > LARGEST or size < SMALLEST):
            raise DataError(f"{label} has values of size {size:.3g}: their squares leave double precision. "
                            "Rescale it (e.g. divide by a power of ten); fits do not depend on the units "
                            f"between {SMALLEST:g} and {LARGEST:g}")

"""``lmer`` on data that stay out of core: a Dask DataFrame or a parquet path.

The profiled objective reads the data only through the cross-products of ``[Z X y]``
(:func:`multilevel.linalg.system_blocks`), which are sums over rows. Here every partition computes
its own blocks and the blocks are summed in a tree (:class:`~multilevel.design.dask_source.PartitionReducer`);
the optimizer then runs on the summed blocks through the same code as an in-memory fit
(:meth:`LMMProblem.from_blocks <multilevel.ml.lmm.LMMProblem.from_blocks>` and
:func:`multilevel.ml.lmer.fit_problems`). To reproduce the in-memory fit to rounding, the passes
rebuild each in-memory step on reduced quantities:

1. scan: rows dropped for missing values, global levels and categories (:func:`plan_partitions`);
2. columns: which columns are intercepts or indicators, their sizes, the R factor of X (its rank);
3. exact medians and MADs of the columns to standardize (:func:`order_statistics`, a few passes);
4. the cross-products of ``[X y]`` of both designs: ``y_shift``, the least-squares fit that centers y
   (as ``LMMProblem._centered``);
5. the blocks of the standardized and of the original design, with y centered;
6. exact quantiles of the scaled residuals at the optimum, for the summary.

Every sum over rows is exact (:func:`multilevel.linalg.crossprod.exact_bincount`), in memory as here, so
the optimizer sees the same objective, bit for bit, and an unweighted fit equals the in-memory fit.

The result answers everything that needs no rows (:class:`OutOfCoreLmerFit`).
"""
from __future__ import annotations

import copy
import dataclasses
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.linalg

from ..design import Design, FixedDesign
from ..design.dask_source import PartitionReducer, dask_frame, numpy_mean, order_statistics, plan_partitions
from ..errors import DataError
from ..linalg.crossprod import (ColumnBounds, add_block_digits, add_digits, blocks_from_digits, dense_cross_digits,
                                digits_value, exact_bincount, gram_digits, gram_scale, power_of_two_above, system_block_digits)
from ..options import choice, flag
from ..results.lmerfit import LmerFit
from ..results.protocol import Fit, MissingCapability
from ..results.summary import LmerSummary
from .lmm import LMMProblem, centered_bound, centered_response, centering_shift
from .services import LinearMixedServices
from .standardize import LARGEST, SMALLEST, Standardization

RANK_TOL = 1e-7  # drop_rank_deficient's tolerance


@dataclass(frozen=True)
class OutOfCoreDesign(Design):
    """A :class:`Design` without rows: the encoding state, levels and counts of data read by partition."""

    n_rows: int = 0
    n_partitions: int = 0

    @property
    def nobs(self) -> int:
        return self.n_rows


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


# ---- pass 6: scaled residual quantiles (the summary's table) -------------------------------------
@dataclass(frozen=True)
class RowValues:
    """Fitted values or residuals at the optimum, per row of an encoded partition (as LmerFit computes
    them): ``kind`` "fitted", "response" or "pearson" residuals, ``scaled`` Pearson residuals over sigma."""

    beta: np.ndarray
    b: tuple
    sigma: float
    kind: str = "response"
    scaled: bool = True

    def __call__(self, e) -> np.ndarray:
        total = np.zeros(len(e.y))
        for codes, z, b in zip(e.codes, e.z, self.b):
            total += np.einsum("np,np->n", z, b[codes])
        fitted = e.x @ self.beta + total
        if self.kind == "fitted":
            return fitted
        res = e.y - fitted
        if e.weights is not None and (self.scaled or self.kind == "pearson"):
            res = res * np.sqrt(e.weights)
        return res / self.sigma if self.scaled else res


@dataclass(frozen=True)
class _PartitionRows:
    """``values(encoded partition)`` as a Series on the partition's complete rows (a map_partitions task)."""

    plan: object
    values: RowValues

    def __call__(self, part: pd.DataFrame) -> pd.Series:
        _, rows, _, _ = self.plan.complete_rows(part)
        e = self.plan.encode(part)
        values = np.zeros(0) if e is None else self.values(e)
        return pd.Series(values, index=part.index[rows], dtype=float)


def _quantiles(reducer, plan, function, n: int) -> np.ndarray:
    """np.quantile(values, [0, .25, .5, .75, 1]) exactly: the order statistics around each position."""
    probs = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    positions = probs * (n - 1)
    low, high = np.floor(positions).astype(np.int64), np.ceil(positions).astype(np.int64)
    ranks = sorted(set(low.tolist()) | set(high.tolist()))
    values = dict(zip(ranks, order_statistics(reducer, plan, [function], [(0, r) for r in ranks], n)))
    return np.array([np.quantile([values[lo], values[hi]], p - lo) if hi > lo else values[lo]
                     for lo, hi, p in zip(low, high, positions)])


# ---- the fit ---------------------------------------------------------------------------------------
def lmer_out_of_core(parsed, data, *, reml: bool, weights, na_action: str, start, data_name, progress, client):
    """:func:`multilevel.lmer` on a Dask DataFrame or a parquet path (see the module's docstring)."""
    from .lmer import fit_problems

    frame = dask_frame(data)
    label = data_name or (str(data) if isinstance(data, (str, Path)) else "data")
    reducer = PartitionReducer(frame, client=client)
    try:
        planned = plan_partitions(parsed, frame, reducer, weights=weights, na_action=na_action)
        plan = planned.plan
        cols = reducer.run(_columns_partition, plan, _merge_columns, indexed=True)
        if cols is None:
            raise DataError("no rows are left after dropping rows with missing values")
        _check_weights(cols)
        keep, dropped = _kept_columns(cols["r"], planned.fixed_names)
        if dropped:
            warnings.warn(f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} "
                          f"column{'s' if len(dropped) > 1 else ''} / coefficient{'s' if len(dropped) > 1 else ''}: "
                          f"{', '.join(dropped)}", UserWarning, stacklevel=3)
            plan = dataclasses.replace(plan, fixed_keep=tuple(keep))
        names = tuple(planned.fixed_names[j] for j in keep)
        x_facts = {k: v[keep] for k, v in cols["x"].items()}
        _check_magnitudes(planned, cols, x_facts, names)
        n = cols["n"]
        counts = _in_order(cols["counts"], reducer.n_partitions)
        weight_scale = 1.0  # standardize.py: the mean of the positive weights, numpy's bits
        if "w" in cols:
            weight_scale = numpy_mean(reducer, plan, PositiveWeights(),
                                      _in_order(cols["positive_counts"], reducer.n_partitions))
        transforms = _transforms(reducer, plan, [x_facts] + cols["z"], counts)
        standardization = Standardization(transforms[0][0], tuple(t for t, _ in transforms[1:]),
                                          tuple(t.covariance for t in planned.terms), weight_scale)
        standardize = not standardization.is_identity
        w_facts = cols.get("w")
        variants = {"original": _variant(x_facts, cols["z"], [], [[] for _ in planned.terms], 1.0, cols["y_size"], w_facts)}
        if standardize:
            variants["standardized"] = _variant(x_facts, cols["z"], transforms[0][1], [c for _, c in transforms[1:]],
                                                weight_scale, cols["y_size"], w_facts)
        centering = reducer.run(_centering_partition, (plan, variants), _merge_centering)
        for name, variant in variants.items():
            gram = digits_value(centering[name]["gram"]) * gram_scale(variant.gram_bounds(), variant.weight_bound)
            variants[name] = dataclasses.replace(variant, shift=centering_shift(gram))
        levels = [t.n_levels for t in planned.terms]
        digits = reducer.run(_blocks_partition, (plan, variants, levels), _merge_blocks)
        p = len(names)
        design = OutOfCoreDesign(
            parsed, np.zeros(0), parsed.response,
            FixedDesign(np.zeros((0, p)), names, plan.fixed_spec, planned.fixed_text, dropped),
            planned.terms, None if weights is None else np.zeros(0), planned.n_dropped, planned.dropped_by_column,
            n_rows=n, n_partitions=reducer.n_partitions)

        def problem_of(name, terms, like=None):
            reduced = centering[name]
            log_w = 0.0 if "log_w" not in reduced else float(digits_value(reduced["log_w"])[0] * variants[name].log_bound)
            summed = _with_terms(digits[name], digits["original"])
            return LMMProblem.from_blocks(terms, blocks_from_digits(summed, levels), n=reduced["n"],
                                          y_shift=variants[name].shift, log_weight_sum=log_w, reml=reml,
                                          response_norm=float(np.sqrt(reduced["y_norm2"])),
                                          design=design if name == "original" else None, like=like)

        if standardize:  # as fit_design: the original problem shares the standardized one's symbolic stage
            search = problem_of("standardized", [dataclasses.replace(t, z=np.zeros((0, t.dim))) for t in planned.terms])
            problem = problem_of("original", planned.terms, like=search)
        else:
            search = problem = problem_of("original", planned.terms)
        passes = reducer.passes
        settings = {"out_of_core": {"partitions": reducer.n_partitions, "passes": passes, "rows": n,
                                    "scheduler": reducer.description,
                                    "note": f"cross-product blocks map-reduced over {reducer.n_partitions} partitions"}}
        fit = fit_problems(design, search, problem, standardization, reml=reml, start=start, data_name=label,
                           progress=progress, constant_response=cols["y_min"] == cols["y_max"],
                           fit_class=OutOfCoreLmerFit, services=OutOfCoreServices, settings=settings)
        fit._search = search
        fit._residual_quantiles = _quantiles(reducer, plan, RowValues(fit._beta, tuple(fit._b), fit.sigma), n)
        fit._source = (frame, plan)
        fit.optimizer.settings["out_of_core"]["passes"] = reducer.passes
        return fit
    finally:
        reducer.close()


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


class OutOfCoreServices(LinearMixedServices):
    """The engine for fits whose rows stayed in their partitions: the problem travels with the fit."""

    @staticmethod
    def problem(fit):
        raise MissingCapability("the cross-products of an out-of-core fit were not kept; refit with ml.lmer")

    @staticmethod
    def confint(fit, method: str, level: float, *, nsim: int, seed, parm):
        if method != "wald":
            raise fit._missing(f"confint(method={method!r})", "use confint('wald')")
        return LinearMixedServices.confint(fit, method, level, nsim=nsim, seed=seed, parm=parm)


class OutOfCoreLmerFit(LmerFit):
    """An lmer fit on data read partition by partition (a Dask DataFrame or parquet).

    It answers what needs no per-row data: ``summary``, ``fixef``, ``ranef``, ``coef``, ``varcorr``,
    ``vcov``, ``sigma``, ``loglik``, ``aic``/``bic``, ``confint("wald")``, ``refit_ml``/``anova``,
    ``predict(newdata)`` and the optimizer record. ``fitted()`` and ``residuals()`` are lazy dask
    Series, computed partition by partition. The other per-row answers (predictions on the training
    rows, simulation, the bootstrap, the protocol's ``fitted_mean``/``observed``...) raise
    :class:`~multilevel.results.protocol.MissingCapability`.
    """

    # protocol questions about the training rows: the protocol's defaults (they raise, and capabilities() omits them)
    observed = Fit.observed
    observation_weights = Fit.observation_weights
    fitted_mean = Fit.fitted_mean
    replicated_data = Fit.replicated_data
    fixed_columns = Fit.fixed_columns
    grouping = Fit.grouping
    varying_effects = Fit.varying_effects

    _search = None
    _residual_quantiles = None
    _source = None  # (dask DataFrame, PartitionPlan): per-row answers as lazy dask Series

    def _missing(self, question: str, hint: str = ""):
        where = (f"the data were out of core ({self.design.n_partitions} partitions) and no rows were kept; "
                 "compute it partition by partition with fit.predict(partition)")
        return MissingCapability(f"an out-of-core lmer fit cannot answer {question.rstrip('()')}(): "
                                 + (f"{hint}; " if hint else "") + where)

    def __getstate__(self):  # the cross-products cannot be rebuilt from rows: keep them
        return self.__dict__.copy()

    def fitted(self):
        """Fitted values as a lazy dask Series, computed partition by partition when asked (``.compute()``);
        rows dropped for missing values are left out, the others keep their index."""
        return self._per_row(RowValues(self._beta, tuple(self._b), self.sigma, "fitted", False))

    def residuals(self, type: str = "response", scaled: bool = False):
        """Residuals as a lazy dask Series (see :meth:`fitted`); types and scaling as :meth:`LmerFit.residuals`."""
        type = choice("type", type, ["response", "working", "deviance", "pearson"])
        kind = "pearson" if type == "pearson" else "response"
        return self._per_row(RowValues(self._beta, tuple(self._b), self.sigma, kind, flag("scaled", scaled)))

    def _per_row(self, values: RowValues):
        if self._source is None:
            raise self._missing("fitted", "the fit no longer holds its data source")
        frame, plan = self._source
        return frame.map_partitions(_PartitionRows(plan, values), meta=pd.Series(dtype=float))

    def simulate(self, nsim: int = 1, seed=None, use_u: bool = False):
        raise self._missing("simulate")

    def bootstrap(self, nsim: int, **options):
        raise self._missing("bootstrap")

    def predict(self, newdata=None, re_form=None, allow_new_levels: bool = False):
        """Predictions for ``newdata`` (e.g. one partition at a time); the training rows were not kept."""
        if newdata is None:
            raise self._missing("predict", "pass newdata")
        return super().predict(newdata, re_form=re_form, allow_new_levels=allow_new_levels)

    def refit_ml(self) -> "OutOfCoreLmerFit":
        """The same model by maximum likelihood, from the same summed cross-products (no pass over the data)."""
        if not self.reml:
            return self
        from .lmer import fit_problems

        problem = _with_reml(self.problem, False)
        search = problem if self._search is None or self._search is self.problem else _with_reml(self._search, False)
        settings = {"out_of_core": dict(self.optimizer.settings.get("out_of_core", {}))}
        fit = fit_problems(self.design, search, problem, self.standardization, reml=False, start=self._theta,
                           data_name=self.data_name, constant_response=False, fit_class=OutOfCoreLmerFit,
                           services=OutOfCoreServices, settings=settings)
        fit._search = search
        return fit

    def summary(self):
        return LmerSummary(_SummaryView(self))

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()


def _with_reml(problem: LMMProblem, reml: bool) -> LMMProblem:
    clone = copy.copy(problem)
    clone.reml = reml
    return clone


class _SummaryView:
    """The fit as lme4's summary reads it, with the scaled residuals' quantiles (computed exactly over
    the partitions at fit time) standing in for the residuals it would otherwise take quantiles of."""

    def __init__(self, fit: OutOfCoreLmerFit):
        self._fit = fit

    def __getattr__(self, name):
        return getattr(self._fit, name)

    def residuals(self, type: str = "response", scaled: bool = False) -> np.ndarray:
        quantiles = self._fit._residual_quantiles
        return np.full(5, np.nan) if quantiles is None else quantiles

"""The first pass over out-of-core data: the global facts that pin a :class:`PartitionPlan`.

:func:`plan_partitions` scans every partition once (a map-reduce through
:class:`~multilevel.design.dask_source.PartitionReducer`) for what ``build_design`` would read from
the whole frame: rows dropped for missing values (with the same checks and warning), the sorted
levels of each grouping variable and the combinations of interacted ones, and the categories of each
categorical column. The partitions' findings are merged (:class:`Scan`), checked, and turned into the
:class:`~multilevel.design.partition_plan.PartitionPlan` and the random-effects terms (without rows).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from formulaic import model_matrix

from ..covariance import Unstructured
from ..errors import ArgumentError, DataError, MissingValuesWarning, ModelError
from ..formula import ParsedFormula
from .build import (FORMULA_CONTEXT, RandomTerm, _check_columns, _check_levels, _poly_for_ordered, _r_factor_calls,
                    lme4_term_order, r_column_names)
from .dask_source import PartitionReducer
from .factors import factor_levels, interaction_codes, plain_dtypes
from .partition_plan import GroupPlan, PartitionPlan, _lookup, _radix, _values


@dataclass
class Scan:
    """What one pass over the raw partitions finds (combined by :meth:`merge`)."""

    rows: int = 0
    dropped: int = 0
    dropped_by_column: dict = field(default_factory=dict)
    present: dict = field(default_factory=dict)  # grouping variable -> non-missing count
    values: dict = field(default_factory=dict)  # grouping variable -> list of (categories or None, values)
    tuples: dict = field(default_factory=dict)  # bar index -> list of unique-combination frames
    categories: dict = field(default_factory=dict)  # (formula part, factor) -> list of category lists
    stateful: set = field(default_factory=set)
    infinite_weights: int = 0
    sample: pd.DataFrame | None = None

    def merge(self, other: "Scan") -> "Scan":
        self.rows += other.rows
        self.dropped += other.dropped
        self.infinite_weights += other.infinite_weights
        for target, source in ((self.dropped_by_column, other.dropped_by_column), (self.present, other.present)):
            for key, count in source.items():
                target[key] = target.get(key, 0) + count
        for target, source in ((self.values, other.values), (self.tuples, other.tuples), (self.categories, other.categories)):
            for key, items in source.items():
                target.setdefault(key, []).extend(items)
        self.stateful |= other.stateful
        if self.sample is None:
            self.sample = other.sample
        return self


@dataclass(frozen=True)
class ScanRequest:
    parsed: ParsedFormula
    weights: str | None
    texts: tuple[tuple[str, str], ...]  # (formula part, formulaic text) whose categories to collect


def _scan_partition(part: pd.DataFrame, request: ScanRequest) -> Scan:
    parsed = request.parsed
    scan = Scan(rows=len(part))
    group_vars = {v for bar in parsed.bars for v in bar.group_vars}
    plain = plain_dtypes(part, parsed.variables)
    mask = np.zeros(len(plain), dtype=bool)
    for name in parsed.variables:
        flags = plain[name].isna().to_numpy()
        mask |= flags
        if flags.any():
            scan.dropped_by_column[name] = int(flags.sum())
    for name in group_vars:
        scan.present[name] = int(plain[name].notna().sum())
    if request.weights is not None:
        w = plain[request.weights].to_numpy(dtype=float)
        scan.infinite_weights = int(np.isinf(w).sum())
        if np.isnan(w).any():
            scan.dropped_by_column["(weights)"] = int(np.isnan(w).sum())
            mask |= np.isnan(w)
    scan.dropped = int(mask.sum())
    used = plain.loc[~mask]
    if len(used) == 0:
        return scan
    scan.sample = used.iloc[:5]
    for bar_index, bar in enumerate(parsed.bars):
        for v in bar.group_vars:
            column = used[v]
            if isinstance(column.dtype, pd.CategoricalDtype):
                used_codes = np.unique(column.cat.codes.to_numpy())
                item = (tuple(column.cat.categories), column.cat.categories[used_codes].to_numpy())
            else:
                item = (None, pd.unique(_values(column)))
            scan.values.setdefault(v, []).append(item)
        if len(bar.group_vars) > 1:
            scan.tuples.setdefault(bar_index, []).append(used[list(bar.group_vars)].drop_duplicates())
    for part_name, text in request.texts:
        # no warnings.catch_warnings here: partitions run on threads, and its save/restore of the global
        # filters, interleaved across threads, can leave "ignore" in place for the rest of the process
        spec = model_matrix(text, used, context=FORMULA_CONTEXT, na_action="ignore").model_spec
        scan.stateful |= set(spec.transform_state)
        for factor, (kind, state) in spec.encoder_state.items():
            if kind.value == "categorical":
                scan.categories.setdefault((part_name, factor), []).append(list(state["categories"]))
    return scan


def _merge_scans(a: Scan, b: Scan) -> Scan:
    return a.merge(b)


@dataclass(frozen=True)
class PlannedDesign:
    """The global facts of an out-of-core design: the plan, its terms (without rows) and counts."""

    plan: PartitionPlan
    terms: tuple[RandomTerm, ...]
    fixed_text: str
    fixed_names: tuple[str, ...]
    n_rows: int  # rows used (complete)
    n_dropped: int
    dropped_by_column: dict


def plan_partitions(parsed: ParsedFormula, frame, reducer: PartitionReducer, *, weights=None,
                    na_action: str = "omit", family=None) -> PlannedDesign:
    """One pass over the partitions -> the :class:`PartitionPlan` that encodes each of them exactly
    as ``build_design`` encodes the whole frame (same rows, levels, columns and names). With a
    ``family`` (glmer) the response is a GLM response (``cbind``, ``trials()``, ``weights()``), read
    per row, and ``offset()`` terms are allowed (per-row expressions); observation-level terms too."""
    if na_action not in {"omit", "raise"}:
        raise ArgumentError(f"na_action must be 'omit' or 'raise', not {na_action!r}")
    if weights is not None and not isinstance(weights, str):
        raise ArgumentError("out-of-core weights= must name a column of the data (per-row values cannot "
                            f"travel with the partitions), not {type(weights).__name__}")
    if parsed.offsets and family is None:
        raise ModelError(f"offset() terms are not supported out of core (formula {parsed.text!r})")
    meta = frame._meta
    _check_columns(parsed, meta)
    if weights is not None and weights not in meta.columns:
        raise DataError(f"weights column {weights!r} is not in the data")
    if weights is not None and not pd.api.types.is_numeric_dtype(meta[weights].dtype):
        raise DataError(f"weights column {weights!r} must be numeric, not dtype {meta[weights].dtype}")
    if parsed.response_additions and family is None:
        raise DataError("response additions such as trials() need a family (glmer or brm)")
    fixed_text = _poly_for_ordered(parsed.fixed, meta)
    lhs_texts = [_poly_for_ordered(bar.lhs, meta) for bar in parsed.bars]
    texts = [("fixed", _r_factor_calls(fixed_text)[0])] + [(f"bar{i}", _r_factor_calls(t)[0]) for i, t in enumerate(lhs_texts)]
    if parsed.response and parsed.response not in meta.columns and family is None:
        texts.append(("response", f"{parsed.response} ~ 0"))
    scan = reducer.run(_scan_partition, ScanRequest(parsed, weights, tuple(texts)), _merge_scans)
    _report_missing(scan, parsed, na_action)
    if scan.infinite_weights:
        raise DataError(f"weights column {weights!r} has {scan.infinite_weights} infinite values")
    if scan.stateful:
        raise ModelError(f"the formula uses {', '.join(sorted(map(repr, scan.stateful)))}, which compute over all "
                         "rows (center, scale, poly, splines...): out of core each partition would compute its "
                         "own; add the transformed column to the data instead")
    n_used = scan.rows - scan.dropped
    sample = scan.sample

    def pinned(part_name: str, text: str):
        spec = model_matrix(text, sample, context=FORMULA_CONTEXT, na_action="ignore").model_spec
        state = dict(spec.encoder_state)
        for (name, factor), lists in scan.categories.items():
            if name == part_name and factor in state:
                state[factor] = (state[factor][0], {"categories": _union_categories(lists)})
        return spec.update(encoder_state=state, structure=None).get_model_matrix(
            sample, context=FORMULA_CONTEXT, na_action="ignore").model_spec

    fixed_r, spelled = _r_factor_calls(fixed_text)
    fixed_spec = pinned("fixed", fixed_r)
    fixed_names = tuple(r_column_names(fixed_spec.column_names, spelled))
    group_dtypes = {v: meta[v].dtype for bar in parsed.bars for v in bar.group_vars}
    terms, groups, z_specs = [], [], []
    for i, (bar, lhs) in enumerate(zip(parsed.bars, lhs_texts)):
        if bar.structure != "us":
            raise ModelError(f"{bar.text}: out-of-core fits take unstructured terms only; fit a structured "
                             "covariance on data in memory")
        lhs_r, lhs_spelled = _r_factor_calls(lhs)
        z_spec = pinned(f"bar{i}", lhs_r)
        z_names = tuple(r_column_names(z_spec.column_names, lhs_spelled))
        if not z_names:
            raise DataError(f"random-effects term ({bar.lhs} | {bar.group_name}) has no columns")
        group, levels, level_values = _group_plan(bar, i, scan, group_dtypes)
        groups.append(group)
        z_specs.append(z_spec)
        terms.append(RandomTerm(bar.group_name, bar.group_vars, np.zeros(0, dtype=np.int64), levels,
                                np.zeros((0, len(z_names))), Unstructured(z_names), z_spec, bar.lhs, level_values))
    _check_levels(terms, n_used, observation_level_ok=family is not None)
    order = lme4_term_order([t.n_levels for t in terms])
    plan = PartitionPlan(parsed, weights, fixed_spec, None, tuple(groups[i] for i in order),
                         tuple(z_specs[i] for i in order),
                         tuple(f"({terms[i].lhs} | {terms[i].group_name})" for i in order))
    return PlannedDesign(plan, tuple(terms[i] for i in order), fixed_text, fixed_names, n_used, scan.dropped,
                         dict(scan.dropped_by_column))


def _report_missing(scan: Scan, parsed: ParsedFormula, na_action: str) -> None:
    """build_design's checks and warning, on the reduced counts."""
    if scan.rows == 0:
        raise DataError("the data have no rows")
    for bar in parsed.bars:
        for name in bar.group_vars:
            if scan.present.get(name, 0) == 0:
                raise DataError(f"grouping column {name!r} is all missing")
    if scan.dropped:
        order = list(parsed.variables) + ["(weights)"]
        counts = {name: scan.dropped_by_column[name] for name in order if name in scan.dropped_by_column}
        scan.dropped_by_column = counts
        detail = ", ".join(f"{name}: {count}" for name, count in counts.items())
        if na_action == "raise":
            raise DataError(f"{scan.dropped} rows have missing values ({detail})")
        warnings.warn(f"dropped {scan.dropped} of {scan.rows} rows with missing values ({detail})",
                      MissingValuesWarning, stacklevel=5)
    if scan.rows == scan.dropped:
        raise DataError("no rows are left after dropping rows with missing values")


def _union_categories(lists: list[list]) -> list:
    """formulaic's categories over all rows: a categorical's own (when every partition agrees), else the
    sorted values (what ``Series.astype('category')`` makes of the whole column)."""
    if all(items == lists[0] for items in lists):
        return list(lists[0])
    return list(pd.Series([v for items in lists for v in items]).astype("category").cat.categories)


def _variable_levels(name: str, items: list, dtype):
    """(lookup index, as_text, levels, level values) of one grouping variable over all partitions,
    exactly as :func:`factor_levels` finds them on the whole column."""
    categories = [c for c, _ in items]
    if categories[0] is not None and all(c == categories[0] for c in categories):
        used = set().union(*(set(v.tolist()) for _, v in items))
        ordered = [c for c in categories[0] if c in used]
        column = pd.Series(pd.Categorical(ordered, categories=list(categories[0]),
                                          ordered=getattr(dtype, "ordered", False)))
        _, levels, values = factor_levels(column, name, dtype if isinstance(dtype, pd.CategoricalDtype) else None)
        return pd.Index(ordered), False, levels, values
    pooled = np.concatenate([np.asarray(v, dtype=object) if c is not None else v for c, v in items])
    try:
        uniques = np.unique(pooled)
        as_text = False
    except TypeError:
        uniques = np.unique(pooled.astype(str))
        as_text = True
    _, levels, values = factor_levels(pd.Series(uniques), name, dtype)
    return pd.Index(uniques), as_text, levels, values


def _group_plan(bar, bar_index: int, scan: Scan, group_dtypes: dict):
    per_variable = [_variable_levels(v, scan.values[v], group_dtypes.get(v)) for v in bar.group_vars]
    lookups = tuple(p[0] for p in per_variable)
    as_text = tuple(p[1] for p in per_variable)
    if len(bar.group_vars) == 1:
        return GroupPlan(bar.group_vars, lookups, as_text), per_variable[0][2], per_variable[0][3]
    if bar_index not in scan.tuples:
        raise DataError(f"grouping factor {bar.group_name!r} has no complete rows")
    combos = pd.concat(scan.tuples[bar_index]).drop_duplicates()
    codes = [_lookup(combos[v], lookup, text) for v, lookup, text in zip(bar.group_vars, lookups, as_text)]
    sizes = [len(lookup) for lookup in lookups]
    keys = np.unique(_radix(codes, sizes))
    _, levels = interaction_codes([(c, p[2]) for c, p in zip(codes, per_variable)])
    return GroupPlan(bar.group_vars, lookups, as_text, keys), levels, pd.Index(levels, dtype=object)

"""A Dask DataFrame (or a parquet path) as the source of a design, read one partition at a time.

The in-memory design (:mod:`multilevel.design.build`) needs every row at once; here the same design
is described by a :class:`PartitionPlan` that encodes any partition exactly as ``build_design``
encodes the whole frame: the same rows dropped for missing values, grouping factors coded against
their global sorted levels, fixed-effects and random-effects columns from formulaic specs whose
categories are pinned to the global ones (so every partition produces the same columns). The global
facts (levels, categories, missing-value counts) come from one map-reduce pass, :func:`plan_partitions`.

Everything runs as map-reduce passes over the partitions (:class:`PartitionReducer`), on Dask's local
scheduler or a ``dask.distributed`` cluster: no pass gathers the rows in one process. Exact order
statistics (medians for the standardization) are found by :func:`order_statistics`, a few passes of
counting below data-valued pivots.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from formulaic import model_matrix

from ..covariance import Unstructured
from ..errors import ArgumentError, DataError, MissingValuesWarning, ModelError
from ..formula import ParsedFormula
from .build import (FORMULA_CONTEXT, RandomTerm, _check_columns, _check_levels, _poly_for_ordered, _r_factor_calls,
                    _response, lme4_term_order, r_column_names)
from .checks import check_finite
from .factors import factor_levels, interaction_codes, plain_dtypes
from .newdata import plain_message

INSTALL_HINT = "pip install 'multilevel[parquet]' (pyarrow and dask's dataframe support)"


# ---- sources and the map-reduce runner -----------------------------------------------------------
def is_out_of_core(data) -> bool:
    """A parquet path (str or Path) or a Dask DataFrame: data fitted partition by partition."""
    if isinstance(data, (str, Path)):
        return True
    return type(data).__module__.startswith("dask.dataframe") and type(data).__name__ == "DataFrame"


def dask_frame(data):
    """The Dask DataFrame behind ``data`` (a parquet file or directory is read lazily)."""
    try:
        import dask.dataframe as dd
    except ImportError as exc:  # dask.dataframe itself needs pyarrow (dask >= 2025)
        raise ModelError(f"out-of-core fits need dask.dataframe and pyarrow ({plain_message(exc)}): {INSTALL_HINT}") from None
    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.exists():
            hint = (f"; a bundled data set is ml.datasets.load({str(data)!r})"
                    if isinstance(data, str) and "/" not in data and "." not in data else "")
            raise DataError(f"data must be a pandas or Dask DataFrame or a parquet path: there is no parquet "
                            f"file or directory at {str(path)!r}{hint}")
        try:
            return dd.read_parquet(str(path))
        except ImportError as exc:
            raise ModelError(f"reading parquet needs pyarrow ({plain_message(exc)}): {INSTALL_HINT}") from None
        except Exception as exc:
            raise DataError(f"could not read parquet data at {str(path)!r}: {plain_message(exc)}") from exc
    return data


class PartitionReducer:
    """Map-reduce passes over the partitions of a Dask DataFrame.

    ``run(task, params, combine)`` applies ``task(partition, params)`` to every partition and folds
    the results with ``combine(a, b)`` in a tree (fan-in 4), on Dask's local scheduler (threads) or on
    ``client`` (a ``dask.distributed.Client`` or a scheduler address, handled as
    :mod:`multilevel.parallel` does: an address opens a client that :meth:`close` closes).
    """

    FAN_IN = 4

    def __init__(self, frame, client=None, scheduler: str = "threads"):
        self.parts = frame.to_delayed()
        self.scheduler = scheduler
        self.passes = 0
        self.own_client = isinstance(client, str)
        if client is not None:
            from distributed import Client

            if self.own_client:
                client = Client(client)
            elif not isinstance(client, Client):
                raise ArgumentError(f"client must be a dask.distributed.Client or a scheduler address, "
                                    f"not {type(client).__name__}")
        self.client = client

    @property
    def n_partitions(self) -> int:
        return len(self.parts)

    def run(self, task, params, combine, indexed: bool = False):
        """``indexed``: the task is called as ``task(partition, params, index)`` (its place in the frame)."""
        import dask

        shared = dask.delayed(params, pure=False, traverse=False)
        level = [dask.delayed(task, pure=False)(part, shared, *((i,) if indexed else ()))
                 for i, part in enumerate(self.parts)]
        while len(level) > 1:
            level = [dask.delayed(_fold, pure=False)(combine, *level[i:i + self.FAN_IN])
                     for i in range(0, len(level), self.FAN_IN)]
        self.passes += 1
        if self.client is not None:
            return self.client.compute(level[0]).result()
        return dask.compute(level[0], scheduler=self.scheduler)[0]

    @property
    def description(self) -> str:
        where = "a dask.distributed cluster" if self.client is not None else f"dask's local {self.scheduler!r} scheduler"
        return where

    def close(self) -> None:
        if self.own_client and self.client is not None:
            self.client.close()


def _fold(combine, *results):
    """Fold partition results; ``None`` marks a partition without usable rows."""
    out = None
    for result in results:
        if result is not None:
            out = result if out is None else combine(out, result)
    return out


# ---- encoding one partition as build_design encodes the whole frame ------------------------------
@dataclass(frozen=True)
class GroupPlan:
    """How one bar's grouping factor is coded in any partition: per variable, the global levels."""

    variables: tuple[str, ...]
    lookups: tuple[pd.Index, ...]  # per variable: the global sorted values, as the partition holds them
    as_text: tuple[bool, ...]  # compare as text (mixed types, as factor_levels falls back to)
    keys: np.ndarray | None = None  # interactions: sorted mixed-radix keys of the combinations used

    def codes(self, frame: pd.DataFrame) -> np.ndarray:
        per_variable = [_lookup(frame[v], index, text) for v, index, text in zip(self.variables, self.lookups, self.as_text)]
        if self.keys is None:
            return per_variable[0]
        return np.searchsorted(self.keys, _radix(per_variable, [len(i) for i in self.lookups]))


def _values(column: pd.Series) -> np.ndarray:
    values = column.to_numpy()
    return values.astype(int) if pd.api.types.is_bool_dtype(column.dtype) else values


def _lookup(column: pd.Series, index: pd.Index, as_text: bool) -> np.ndarray:
    values = _values(column)
    codes = index.get_indexer(values.astype(str) if as_text else values)
    if (codes < 0).any():  # the scan saw every value: a partition changed between passes
        raise DataError(f"grouping column {column.name!r} has values not seen when the levels were read; "
                        "the data changed during the fit")
    return codes.astype(np.int64)


def _radix(codes: list[np.ndarray], sizes: list[int]) -> np.ndarray:
    key = np.zeros(len(codes[0]), dtype=np.int64)
    for c, size in zip(codes, sizes):
        key = key * size + c
    return key


@dataclass(frozen=True)
class Encoded:
    """One partition's rows as the design holds them: response, fixed columns, (codes, z) per term, weights."""

    y: np.ndarray
    x: np.ndarray
    codes: list
    z: list
    weights: np.ndarray | None


@dataclass(frozen=True)
class PartitionPlan:
    """Everything needed to encode any partition: shipped once to every worker per pass."""

    parsed: ParsedFormula
    weights: str | None
    fixed_spec: object  # formulaic ModelSpec, categories pinned to the global ones
    fixed_keep: tuple[int, ...] | None  # columns kept after the rank check (None: all)
    groups: tuple[GroupPlan, ...]  # per term, in lme4's term order
    z_specs: tuple[object, ...]
    term_labels: tuple[str, ...]

    def complete_rows(self, part: pd.DataFrame):
        """(complete rows, their positions in the partition, the partition with plain dtypes, weights)."""
        part = plain_dtypes(part, self.parsed.variables)
        mask = np.zeros(len(part), dtype=bool)
        for name in self.parsed.variables:
            mask |= part[name].isna().to_numpy()
        w = None
        if self.weights is not None:
            w = part[self.weights].to_numpy(dtype=float)
            mask |= np.isnan(w)
            w = w[~mask]
        rows = np.flatnonzero(~mask)
        return part.iloc[rows], rows, part, w

    def encode(self, part: pd.DataFrame) -> Encoded | None:
        used, rows, part, w = self.complete_rows(part)
        if len(used) == 0:
            return None

        def finite(values, names, what):
            check_finite(values, names, what, part, rows)

        y = _response(self.parsed, used)
        finite(y, self.parsed.response, "the response")
        x = _apply(self.fixed_spec, used, "fixed-effects")
        finite(x, self.fixed_names, "the fixed-effects column")
        if self.fixed_keep is not None:
            x = x[:, list(self.fixed_keep)]
        codes, zs = [], []
        for group, spec, label in zip(self.groups, self.z_specs, self.term_labels):
            z = _apply(spec, used, f"random-effects {label}")
            finite(z, _names(spec), f"random-effects term {label}, column")
            codes.append(group.codes(used))
            zs.append(z)
        return Encoded(y, x, codes, zs, w)

    @property
    def fixed_names(self) -> tuple[str, ...]:
        return _names(self.fixed_spec)


def _names(spec) -> tuple[str, ...]:
    return tuple(r_column_names(spec.column_names, {}))


def _apply(spec, frame: pd.DataFrame, what: str) -> np.ndarray:
    try:
        return np.asarray(spec.get_model_matrix(frame, context=FORMULA_CONTEXT, na_action="ignore"), dtype=float)
    except Exception as exc:
        raise DataError(f"could not build the {what} matrix: {plain_message(exc)}") from exc


# ---- the scan: missing values, levels, categories ------------------------------------------------
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
                    na_action: str = "omit") -> PlannedDesign:
    """One pass over the partitions -> the :class:`PartitionPlan` that encodes each of them exactly
    as ``build_design`` encodes the whole frame (same rows, levels, columns and names)."""
    if na_action not in {"omit", "raise"}:
        raise ArgumentError(f"na_action must be 'omit' or 'raise', not {na_action!r}")
    if weights is not None and not isinstance(weights, str):
        raise ArgumentError("out-of-core weights= must name a column of the data (per-row values cannot "
                            f"travel with the partitions), not {type(weights).__name__}")
    if parsed.offsets:
        raise ModelError(f"offset() terms are not supported out of core (formula {parsed.text!r})")
    meta = frame._meta
    _check_columns(parsed, meta)
    if weights is not None and weights not in meta.columns:
        raise DataError(f"weights column {weights!r} is not in the data")
    if weights is not None and not pd.api.types.is_numeric_dtype(meta[weights].dtype):
        raise DataError(f"weights column {weights!r} must be numeric, not dtype {meta[weights].dtype}")
    if parsed.response_additions:
        raise DataError("response additions such as trials() need a family (glmer or brm)")
    fixed_text = _poly_for_ordered(parsed.fixed, meta)
    lhs_texts = [_poly_for_ordered(bar.lhs, meta) for bar in parsed.bars]
    texts = [("fixed", _r_factor_calls(fixed_text)[0])] + [(f"bar{i}", _r_factor_calls(t)[0]) for i, t in enumerate(lhs_texts)]
    if parsed.response and parsed.response not in meta.columns:
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
    _check_levels(terms, n_used)
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


# ---- exact order statistics over partitions -------------------------------------------------------
GATHER = 1 << 16  # at most this many candidate values travel to the client for the final selection
SAMPLE = 1024  # pivots per partition in a sampling pass


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
        return ("gather" if self.inside <= GATHER else "sample", self.lo, self.hi, None)


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
            picks = np.unique(np.linspace(0, len(ordered) - 1, min(SAMPLE, len(ordered))).astype(np.int64))
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
    which settles ties), or, once a bracket holds at most :data:`GATHER` values, gathers them and
    selects. All targets advance in the same pass.
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

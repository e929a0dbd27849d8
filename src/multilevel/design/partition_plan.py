"""Encoding one partition of out-of-core data exactly as ``build_design`` encodes the whole frame.

The in-memory design (:mod:`multilevel.design.build`) needs every row at once; here the same design
is described by a :class:`PartitionPlan` that encodes any partition alone: the same rows dropped for
missing values, grouping factors coded against their global sorted levels (:class:`GroupPlan`),
fixed-effects and random-effects columns from formulaic specs whose categories are pinned to the
global ones (so every partition produces the same columns). The plan is built from one pass over the
partitions (:func:`multilevel.design.partition_scan.plan_partitions`) and shipped to every worker.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError
from ..formula import ParsedFormula
from .build import FORMULA_CONTEXT, _response, r_column_names
from .checks import check_finite
from .factors import plain_dtypes
from .newdata import plain_message


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

"""Grouping factors: data columns -> integer codes and level labels, as R's ``factor()`` makes them."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError


def plain_dtypes(data: pd.DataFrame, names) -> pd.DataFrame:
    """pandas' nullable extension columns (``string``, ``Int64``, ``boolean``) as numpy ones.

    formulaic reads a ``string`` column as numbers and fails deep inside; an ``Int64`` column
    with ``pd.NA`` cannot become a float matrix. Numbers become float64 (NA -> NaN), text and
    booleans with missing values become object columns (NA -> None). Other columns are untouched.
    """
    replaced = {}
    for name in names:
        if name not in data.columns or isinstance(data[name], pd.DataFrame):
            continue
        column = data[name]
        if getattr(column.dtype, "na_value", None) is not pd.NA:  # numpy dtypes, categoricals, pandas' str
            continue
        if pd.api.types.is_bool_dtype(column.dtype) and not column.isna().any():
            replaced[name] = column.astype(bool)
        elif pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
            replaced[name] = column.astype("float64")
        elif pd.api.types.is_string_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
            replaced[name] = column.astype(object).where(column.notna(), None)
    return data.assign(**replaced) if replaced else data


def label(value) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return np.format_float_positional(float(value), trim="-")
    return str(value)


def factor_codes(column: pd.Series, name: str) -> tuple[np.ndarray, np.ndarray]:
    """One column -> (codes, levels) with unused levels dropped.

    Categoricals keep their category order (R's level order); numbers sort numerically and
    text sorts as R's ``factor()`` does in the C locale.
    """
    codes, levels, _ = factor_levels(column, name)
    return codes, levels


def factor_levels(column: pd.Series, name: str, dtype=None) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    """:func:`factor_codes` plus the levels' original values: a ``pd.Index`` in the column's own dtype
    (or ``dtype``, the column's dtype before :func:`plain_dtypes`: an ``Int64`` id stays ``Int64``).

    The values are what the tidy-draws layer labels group effects with, so that a level can be
    compared with the data (``.query("id == 6")`` on an integer id, a categorical with the
    data's categories); ``levels`` stay the text labels the summaries and flat names use.
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
        if (codes < 0).any():
            raise DataError(f"grouping column {name!r} has missing values")
        used = np.unique(codes)
        remap = np.full(len(column.cat.categories), -1)
        remap[used] = np.arange(len(used))
        levels = np.array([label(v) for v in column.cat.categories[used]], dtype=object)
        values = pd.CategoricalIndex(column.cat.categories[used], dtype=column.dtype)
        return remap[codes].astype(np.int64), levels, values
    values = column.to_numpy()
    if column.isna().any():
        raise DataError(f"grouping column {name!r} has missing values")
    if pd.api.types.is_bool_dtype(column.dtype):
        values = values.astype(int)
    try:
        uniques, codes = np.unique(values, return_inverse=True)
        originals = _as_dtype(pd.Index(uniques), column.dtype if dtype is None else dtype)
    except TypeError:  # mixed types: compare as text
        uniques, codes = np.unique(values.astype(str), return_inverse=True)
        originals = pd.Index(uniques, dtype=object)
    levels = np.array([label(v) for v in uniques], dtype=object)
    return codes.astype(np.int64), levels, originals


def _as_dtype(values: pd.Index, dtype) -> pd.Index:
    """``values`` in ``dtype`` where they convert exactly (ints, bools, text), else as they are."""
    try:
        converted = values.astype(dtype)
    except (TypeError, ValueError):
        return values
    return converted if len(converted.unique()) == len(values) else values


def interaction_codes(
    parts: list[tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """Codes of ``a:b:...``: levels "la:lb" in R's order (first factor varies slowest), unused dropped."""
    codes, levels = parts[0]
    for next_codes, next_levels in parts[1:]:
        combined = codes * len(next_levels) + next_codes
        used, codes = np.unique(combined, return_inverse=True)
        levels = np.array(
            [f"{levels[k // len(next_levels)]}:{next_levels[k % len(next_levels)]}" for k in used],
            dtype=object,
        )
    return codes.astype(np.int64), levels


def encode_new_levels(column: pd.Series, levels: np.ndarray) -> np.ndarray:
    """Codes of new data against fit-time levels; -1 marks a level not seen when fitting."""
    lookup = {label: i for i, label in enumerate(levels)}
    labels = [None if pd.isna(v) else label(v) for v in column.to_numpy(dtype=object)]
    return np.array([lookup.get(label, -1) for label in labels], dtype=np.int64)

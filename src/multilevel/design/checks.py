"""Checks on the numbers a design is built from: finite predictors and responses, usable weights.

A missing value in a data column is dropped (and counted) before any matrix is built, so a
non-finite number that reaches a matrix is never missing data: it is an ``inf`` in the data or
the product of a transform (``log(0)``, ``sqrt(-1)``, ``x / 0``). lme4 stops there with
"NA/NaN/Inf in 'x'"; so do we, instead of letting the column look rank deficient.
"""
from __future__ import annotations

import difflib

import numpy as np
import pandas as pd

from ..errors import DataError
from .newdata import columns_in


def _kinds(values: np.ndarray) -> str:
    parts = [(int(np.sum(values == np.inf)), "inf"), (int(np.sum(values == -np.inf)), "-inf"),
             (int(np.sum(np.isnan(values))), "NaN")]
    return ", ".join(f"{count} {kind}" for count, kind in parts if count)


def check_finite(values: np.ndarray, names, what: str, data: pd.DataFrame, rows: np.ndarray) -> None:
    """DataError for the first column of ``values`` (n, k) or vector (n,) with a non-finite entry.

    ``names`` name the columns (a str for a vector); ``rows`` are the positions in ``data`` (the
    user's data) of the rows of ``values``, so that the message can name the user's row labels and
    whether a data column holds the ``inf`` or a transform made it.
    """
    matrix = values.reshape(len(values), -1)
    names = [names] if isinstance(names, str) else list(names)
    finite = np.isfinite(matrix)
    if finite.all():
        return
    j = int(np.flatnonzero(~finite.all(axis=0))[0])
    bad = ~finite[:, j]
    labels = data.index[rows[bad]]
    shown = ", ".join(map(str, labels[:5])) + (" ..." if len(labels) > 5 else "")
    message = (f"NA/NaN/Inf in {what} {names[j]!r}: {int(bad.sum())} of {len(bad)} rows are not finite "
               f"({_kinds(matrix[bad, j])}; rows {shown})")
    sources = []
    for column in columns_in(names[j], [str(c) for c in data.columns]):
        if column in data.columns and pd.api.types.is_numeric_dtype(data[column].dtype) \
                and not pd.api.types.is_bool_dtype(data[column].dtype):
            n_inf = int(np.isinf(data[column].to_numpy(dtype=float)[rows]).sum())
            if n_inf:
                sources.append(f"column {column!r} holds {n_inf} infinite value{'s' if n_inf > 1 else ''}")
    if sources:
        message += f": {'; '.join(sources)}"
    else:
        message += (": the transform makes them from values that are not missing "
                    "(e.g. log of 0, sqrt of a negative number, division by 0)")
    raise DataError(message)


def numeric_argument(value, data: pd.DataFrame, what: str) -> np.ndarray:
    """``weights=`` / ``offset=`` as a column name or per-row values -> float array, one per row."""
    if isinstance(value, str):
        if value not in data.columns:
            close = difflib.get_close_matches(value, [str(c) for c in data.columns], n=3, cutoff=0.6)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise DataError(f"{what} column {value!r} is not in the data.{hint}")
        described, value = f"{what} column {value!r}", data[value]
    else:
        described = what
    dtype = getattr(value, "dtype", None)
    if dtype is not None and (pd.api.types.is_complex_dtype(dtype)
                              or not (pd.api.types.is_numeric_dtype(dtype) or dtype == object)):
        raise DataError(f"{described} must be numeric, not dtype {dtype}")
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"{described} must be numeric; it holds values such as "
                        f"{next(iter(np.ravel(np.asarray(value, dtype=object))), None)!r}") from None
    if array.shape != (len(data),):
        raise DataError(f"{what} must have one value per row ({len(data)}), got shape {array.shape}")
    n_inf = int(np.isinf(array).sum())
    if n_inf:
        rows = ", ".join(map(str, data.index[np.isinf(array)][:5]))
        raise DataError(f"NA/NaN/Inf in the {what}: {described} has {n_inf} infinite value"
                        f"{'s' if n_inf > 1 else ''} (rows {rows})")
    return array

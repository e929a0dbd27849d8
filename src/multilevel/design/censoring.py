"""brms's response additions about what was observed: ``cens()``, ``trunc()`` and ``rate()``.

Read at the rows a design uses and checked as brms 2.18 checks them (``data_response``):

* ``cens(c)``, ``cens(c, y2)``: per row "left" (-1), "none" (0), "right" (1) or "interval" (2),
  given as text (any prefix of the words, brms's ``prepare_cens``), as those numbers, or as
  logicals (TRUE right-censored, FALSE not). Interval-censored rows need ``y < y2``; ``y2`` of
  other rows is not read (it may be missing; brms sets it to 0).
* ``trunc(lb = ..., ub = ...)``: bounds as numbers or expressions of columns; ``lb < ub`` and every
  response inside ``[lb, ub]``.
* ``rate(n)``: a positive denominator per row.

The values land in ``Design.additions`` as ``cens``, ``cens_y2``, ``trunc_lb``, ``trunc_ub``, ``rate``
(only those the formula gives). What they mean for the likelihood is the engine's business
(:mod:`multilevel.bayes.censoring`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError

BOUND_ADDITIONS = ("cens", "trunc", "rate")
CENS_CODES = {"left": -1, "none": 0, "right": 1, "interval": 2}
ACCEPTED = ("'left', 'none', 'right', 'interval' (or a prefix such as 'l'), -1, 0, 1, 2, "
            "or TRUE (right) / FALSE (none)")


def read_bound_additions(additions: dict, used: pd.DataFrame, y: np.ndarray, labels, evaluate) -> dict:
    """The ``cens``/``trunc``/``rate`` values of the rows used, checked.

    ``additions``: the parsed formula's response additions as a dict; ``labels``: the user's row
    labels of the rows used (for messages); ``evaluate(text, what)``: one numeric column from an
    expression of the data (the design layer's ``_expression`` on the rows used).
    """
    out = {}
    if "cens" in additions:
        codes = censoring_codes(_raw(additions["cens"], used, evaluate, "cens()"), additions["cens"], labels)
        out["cens"] = codes
        interval = codes == 2
        if "cens.y2" in additions:
            y2 = _raw(additions["cens.y2"], used, evaluate, "cens(..., y2)", numeric=True)
            bad = interval & ~np.isfinite(y2)
            if bad.any():
                raise DataError(f"cens(..., {additions['cens.y2']}): y2 must be finite on interval-censored rows; "
                                f"it is not on row {labels[np.flatnonzero(bad)[0]]}")
            bad = interval & ~(y < y2)
            if bad.any():
                i = np.flatnonzero(bad)[0]
                raise DataError(f"cens(..., {additions['cens.y2']}): an interval-censored row needs y < y2 "
                                f"(left end below the right end); row {labels[i]} has y = {y[i]:g}, y2 = {y2[i]:g}")
            out["cens_y2"] = np.where(interval, y2, 0.0)
        elif interval.any():
            raise DataError(f"cens({additions['cens']}) marks row {labels[np.flatnonzero(interval)[0]]} as "
                            "interval-censored, which needs the right ends: cens(censored, y2)")
    lb, ub = (_bound(additions, side, used, evaluate) for side in ("lb", "ub"))
    if lb is not None or ub is not None:
        low = lb if lb is not None else np.full(len(y), -np.inf)
        high = ub if ub is not None else np.full(len(y), np.inf)
        bad = ~(low < high)
        if bad.any():
            i = np.flatnonzero(bad)[0]
            raise DataError(f"trunc({additions['trunc']}): the lower bound must be below the upper bound; "
                            f"row {labels[i]} has lb = {low[i]:g}, ub = {high[i]:g}")
        outside = (y < low) | (y > high)
        if outside.any():
            i = np.flatnonzero(outside)[0]
            raise DataError(f"trunc({additions['trunc']}): {int(outside.sum())} response value(s) lie outside the "
                            f"truncation bounds (first: row {labels[i]}, y = {y[i]:g}, bounds [{low[i]:g}, {high[i]:g}])")
        if lb is not None:
            out["trunc_lb"] = lb
        if ub is not None:
            out["trunc_ub"] = ub
    if "rate" in additions:
        rate = _raw(additions["rate"], used, evaluate, "rate()", numeric=True)
        bad = ~(np.isfinite(rate) & (rate > 0))
        if bad.any():
            i = np.flatnonzero(bad)[0]
            raise DataError(f"rate({additions['rate']}): rate denominators must be positive and finite; "
                            f"row {labels[i]} has {rate[i]:g}")
        out["rate"] = rate
    return out


def censoring_codes(values, text: str, labels) -> np.ndarray:
    """brms's ``prepare_cens``: text (prefixes of left/none/right/interval), -1/0/1/2 or logicals -> -1/0/1/2.
    Anything else is a DataError naming the column and the first bad row."""
    values = pd.Series(np.asarray(values, dtype=object) if not isinstance(values, pd.Series) else values.to_numpy())
    codes = np.empty(len(values))
    for i, value in enumerate(values):
        codes[i] = _code(value)
    bad = np.isnan(codes)
    if bad.any():
        i = np.flatnonzero(bad)[0]
        value = values.iloc[i]
        value = value.item() if isinstance(value, np.generic) else value
        raise DataError(f"cens({text}): row {labels[i]} has the censoring value {value!r}; "
                        f"accepted: {ACCEPTED}")
    return codes


def _code(value) -> float:
    if isinstance(value, (bool, np.bool_)):
        return 1.0 if value else 0.0
    if isinstance(value, str):
        word = value.strip()
        found = [code for name, code in CENS_CODES.items() if word and name.startswith(word)]
        return float(found[0]) if len(found) == 1 else np.nan
    try:
        number = float(value)
    except (TypeError, ValueError):
        return np.nan
    return number if number in (-1.0, 0.0, 1.0, 2.0) else np.nan


def _raw(text: str, used: pd.DataFrame, evaluate, what: str, numeric: bool = False):
    """A plain column as stored (text and logicals kept for cens), else the expression's numbers."""
    if text in used.columns:
        column = used[text]
        if not numeric:
            return column
        if not pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
            raise DataError(f"{what}: column {text!r} must be numeric, not dtype {column.dtype}")
        return column.to_numpy(dtype=float)
    return evaluate(text, what)


def _bound(additions: dict, side: str, used: pd.DataFrame, evaluate):
    key = f"trunc.{side}"
    if key not in additions:
        return None
    text = additions[key]
    try:
        return np.full(len(used), float(text.replace(" ", "")))
    except ValueError:
        pass
    values = _raw(text, used, evaluate, f"trunc({side} = ...)", numeric=True)
    if np.isnan(values).any():
        raise DataError(f"trunc({side} = {text}): the bound is missing on {int(np.isnan(values).sum())} row(s)")
    return values


def read_prediction_additions(additions: dict, newdata: pd.DataFrame, evaluate) -> dict:
    """``trunc_lb``, ``trunc_ub`` and ``rate`` of new data, for predictions (brms reads them from
    newdata; censoring does not change predictions)."""
    out = {}
    for side in ("lb", "ub"):
        values = _bound(additions, side, newdata, evaluate)
        if values is not None:
            out[f"trunc_{side}"] = values
    if "rate" in additions:
        rate = _raw(additions["rate"], newdata, evaluate, "rate()", numeric=True)
        if not np.all(np.isfinite(rate) & (rate > 0)):
            raise DataError(f"rate({additions['rate']}): rate denominators in newdata must be positive and finite")
        out["rate"] = rate
    return out

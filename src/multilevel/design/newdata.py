"""New data -> the fit-time encoding: fixed-effects rows, random-effects codes and z, offsets.

Every engine predicts through these three functions, so the checks live here once: columns the
model uses must be present, numbers must still be numbers, a fixed-effect factor may not have a
level the fit never saw (R: "factor x has new levels z"), and a missing value in a predictor gives
a NaN row (R's ``NA`` prediction) instead of the reference level.
"""
from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
from formulaic.errors import DataMismatchWarning
from formulaic.parser.types import Factor

from ..errors import DataError, FormulaError
from ..formula import tokenize
from ..formula.parse import CONTRAST_NAMES
from .factors import encode_new_levels, label, plain_dtypes

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# formulaic's DataMismatchWarning about missing values only: those rows become NaN rows here
_ONLY_MISSING = re.compile(r"\{(?:(?:nan|None|NaN|<NA>|NaT)(?:, )?)+\}")


def plain_message(exc: BaseException) -> str:
    """An exception's message without the ANSI colour codes formulaic puts in some of its errors."""
    return _ANSI.sub("", str(exc))


def columns_in(text: str, variables=None) -> list[str]:
    """Data columns that formula text names, in order, calls left out.

    With ``variables`` only those names count; without, every name that is not a call, a contrast
    name or a keyword (the parser has checked that the rest are data columns).
    """
    try:
        tokens = tokenize(text)
    except FormulaError:  # formulaic renders some names its own way; such text names no column of ours
        return []
    names = []
    for tok, nxt in zip(tokens, tokens[1:] + [None]):
        if tok.kind != "name" or (nxt is not None and nxt.text in {"(", "="}) or tok.text in names:
            continue
        if (tok.text in variables) if variables is not None else tok.text not in CONTRAST_NAMES:
            names.append(tok.text)
    return names


def _require_columns(columns: list[str], newdata: pd.DataFrame, what: str) -> None:
    missing = [c for c in columns if c not in newdata.columns]
    if missing:
        raise DataError(f"newdata lacks column(s) the {what} uses: {missing}")
    names = [str(c) for c in newdata.columns]
    doubled = [c for c in columns if names.count(c) > 1]
    if doubled:
        raise DataError(f"newdata has more than one column named {doubled[0]!r}")


def _check_factor_types(spec, newdata: pd.DataFrame, variables, what: str) -> bool:
    """Numbers at fit time must be numbers now; factors must not have levels the fit never saw.

    Returns False when a factor is an expression (``C(x > 2)``) whose levels could not be checked
    here; formulaic's DataMismatchWarning then decides.
    """
    checked = True
    for key, (kind, state) in spec.encoder_state.items():
        columns = [c for c in columns_in(key, variables) if c in newdata.columns]
        if kind == Factor.Kind.NUMERICAL:
            for name in columns:
                column = newdata[name]
                if pd.api.types.is_numeric_dtype(column.dtype) or column.isna().all():
                    continue
                try:
                    pd.to_numeric(column)
                except (TypeError, ValueError):
                    raise DataError(
                        f"column {name!r} of newdata is not numeric (dtype {column.dtype}), but the model "
                        f"was fitted with numbers in {key!r} ({what})"
                    ) from None
        elif kind == Factor.Kind.CATEGORICAL and len(columns) == 1 and _is_plain_factor(key, columns[0]):
            column = newdata[columns[0]]
            categories = list(state.get("categories", []))
            unseen = column.notna() & ~column.isin(categories)
            if unseen.any():
                new = pd.unique(column[unseen].map(label))
                raise DataError(
                    f"factor {columns[0]!r} has new levels {', '.join(map(str, new[:5]))}"
                    f"{' ...' if len(new) > 5 else ''} in newdata (the fit saw "
                    f"{', '.join(map(label, categories[:10]))}{' ...' if len(categories) > 10 else ''}); "
                    f"a fixed effect cannot be predicted for a level it was never estimated for"
                )
        elif kind == Factor.Kind.CATEGORICAL:
            checked = False
    return checked


def _is_plain_factor(key: str, column: str) -> bool:
    """``f`` or ``C(f, ...)``: factors whose values are the column's values."""
    return key == column or key == f"`{column}`" or re.fullmatch(rf"C\(`?{re.escape(column)}`?(,.*)?\)", key) is not None


def _encode(spec, newdata: pd.DataFrame, formula_text: str, variables, what: str, context: dict | None = None):
    """Model matrix of new data under a fit-time ModelSpec, with the checks above; NA rows -> NaN.
    ``context`` holds the formula's coded factors (``contrasts=``)."""
    columns = columns_in(formula_text, variables)
    _require_columns(columns, newdata, what)
    checked = _check_factor_types(spec, newdata, variables, what)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataMismatchWarning)
        try:
            mm = spec.get_model_matrix(newdata, na_action="ignore", **({"context": context} if context else {}))
        except Exception as exc:  # formulaic's message, named and without colour codes
            raise DataError(f"could not encode newdata for the {what} ({formula_text!r}): "
                            f"{plain_message(exc)}") from exc
    for warning in caught:
        if issubclass(warning.category, DataMismatchWarning) and not checked \
                and not _ONLY_MISSING.search(str(warning.message)):
            raise DataError(f"newdata has factor levels the fit never saw, in the {what} ({formula_text!r}): "
                            f"{plain_message(warning.message)}")
        if not issubclass(warning.category, DataMismatchWarning):
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    matrix = np.array(mm, dtype=float)  # a copy: formulaic's frame may hand out a read-only view
    if matrix.shape[0] != len(newdata):
        raise DataError(f"newdata gave {matrix.shape[0]} rows for the {what}, expected {len(newdata)}")
    missing = np.zeros(len(newdata), dtype=bool)
    for name in columns:
        missing |= newdata[name].isna().to_numpy()
    if missing.any():
        matrix[missing] = np.nan  # R predicts NA for a row with a missing predictor
    return matrix, [str(c) for c in mm.columns]


def newdata_frame(newdata) -> pd.DataFrame:
    """New data as the encoders read them: a DataFrame (else a DataError), nullable dtypes as numpy's."""
    if not isinstance(newdata, pd.DataFrame):
        raise DataError(f"newdata must be a pandas DataFrame, not {type(newdata).__name__}")
    return plain_dtypes(newdata, [str(c) for c in newdata.columns])


def encode_fixed(design, newdata: pd.DataFrame) -> np.ndarray:
    """Fixed-effects matrix of new data, encoded as at fit time (dropped columns left out)."""
    from .build import _r_factor_calls, r_column_names

    newdata = newdata_frame(newdata)
    fixed = design.fixed
    matrix, names = _encode(fixed.spec, newdata, fixed.formula_text, design.formula.variables, "fixed effects",
                            fixed.codings.context)
    names = r_column_names(names, _r_factor_calls(fixed.formula_text)[1], fixed.codings.r_pieces)
    if "(Intercept)" not in fixed.column_names:  # brm's 0 + Intercept: the column of ones keeps brms's name
        names = ["Intercept" if n == "(Intercept)" else n for n in names]
    frame = pd.DataFrame(matrix, columns=names)
    return frame[list(fixed.column_names)].to_numpy()


def encode_offset(design, newdata: pd.DataFrame) -> np.ndarray | None:
    """The formula's ``offset(...)`` terms evaluated on new data (None when it has none)."""
    from .build import _expression

    newdata = newdata_frame(newdata)
    total = None
    for text in design.formula.offsets:
        _require_columns(columns_in(text, design.formula.variables), newdata, f"offset {text!r}")
        part = _expression(text, newdata, "offset")
        total = part if total is None else total + part
    return total


def encode_term(term, newdata: pd.DataFrame, allow_new_levels: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(codes, z) of new data for one term; code -1 marks a level not seen at fit time.

    A missing value in a grouping column is a new level too (lme4 with ``allow.new.levels``: zero
    random effect). With ``allow_new_levels=False`` it is a :class:`DataError` naming the column;
    with ``None`` the caller decides what to do with code -1.
    """
    newdata = newdata_frame(newdata)
    _require_columns(list(term.group_vars), newdata, f"grouping factor {term.group_name!r}")
    na = np.zeros(len(newdata), dtype=bool)
    for v in term.group_vars:
        flags = newdata[v].isna().to_numpy()
        if flags.any() and allow_new_levels is False:
            rows = ", ".join(map(str, newdata.index[flags][:5]))
            raise DataError(
                f"grouping column {v!r} of newdata has {int(flags.sum())} missing value(s) (rows {rows}); "
                "pass allow_new_levels=True to predict them with zero random effects"
            )
        na |= flags
    z, _ = _encode(term.spec, newdata, term.lhs, columns_in(term.lhs),
                   f"random-effects term ({term.lhs} | {term.group_name})")
    if len(term.group_vars) == 1:
        codes = encode_new_levels(newdata[term.group_vars[0]], term.levels)
    else:
        columns = [newdata[v].to_numpy(dtype=object) for v in term.group_vars]
        labels = pd.Series([":".join(label(v) for v in row) for row in zip(*columns)], dtype=object)
        codes = encode_new_levels(labels, term.levels)
    codes[na] = -1
    return codes, z

"""lme4's ``contrasts=``: how each factor of the fixed effects is coded, with R's column names.

``contrasts={"x": "sum"}`` (or R's spelling ``"contr.sum"``) codes factor ``x`` of the fixed-effects
formula with sum-to-zero contrasts; ``"treatment"`` (R's default), ``"helmert"``, ``"poly"`` (the default
of an ordered factor) and ``"sdif"`` (MASS's successive differences) are the named codings, and a
levels x (levels - 1) matrix (numpy, or a DataFrame whose index holds the levels) is a coding of one's
own, its columns named by the DataFrame's columns (R: the matrix's column names) or 1, 2, ...

As in lme4, the codings apply to the fixed-effects matrix only: a factor inside a random-effects term
keeps treatment coding (``(half | Subject)`` has the column ``halflate`` whatever ``contrasts`` says).
R names the columns ``x1, x2, ...`` for sum and Helmert codings, ``x.L, x.Q, x.C, x^4`` for polynomial
ones, ``x2-1`` (the levels) for successive differences, ``xb`` for treatment, ``xlin`` for a matrix with a
column ``lin``.

Each coded factor is written into the formula as ``C(x, _contrasts_<i>)``, with the formulaic
:class:`~formulaic.transforms.contrasts.Contrasts` object under that name in the formula's context
(kept in the design, so that new data are encoded the same way).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from formulaic.transforms.contrasts import (
    CustomContrasts,
    DiffContrasts,
    HelmertContrasts,
    PolyContrasts,
    SumContrasts,
    TreatmentContrasts,
)

from ..errors import ArgumentError, DataError
from ..formula.parse import tokenize
from .factors import label

NAMED_CODINGS = {
    "treatment": TreatmentContrasts, "sum": SumContrasts, "helmert": HelmertContrasts,
    "poly": PolyContrasts, "sdif": lambda: DiffContrasts(backward=True),
}


@dataclass(frozen=True)
class FactorCoding:
    """One factor's coding: the name in the formula's context, the levels, and R's column names."""

    variable: str
    key: str  # the context name, _contrasts_<i>
    kind: str  # treatment, sum, helmert, poly, sdif, matrix
    contrasts: object  # formulaic Contrasts
    levels: tuple
    r_suffixes: tuple  # R's column names after the variable name, one per coding column

    @property
    def call(self) -> str:
        return f"C({self.variable}, {self.key})"

    def r_pieces(self) -> dict[str, str]:
        """formulaic's column label -> R's, for the reduced coding and the full dummy coding (no intercept)."""
        pieces = {}
        reduced = self.contrasts.get_coding_column_names(list(self.levels), reduced_rank=True)
        form = self.contrasts.get_factor_format(list(self.levels), reduced_rank=True)
        for field_value, suffix in zip(reduced, self.r_suffixes):
            pieces[form.format(name=self.call, field=field_value)] = f"{self.variable}{suffix}"
        full = self.contrasts.get_coding_column_names(list(self.levels), reduced_rank=False)
        form = self.contrasts.get_factor_format(list(self.levels), reduced_rank=False)
        for field_value, level in zip(full, self.levels):
            pieces.setdefault(form.format(name=self.call, field=field_value), f"{self.variable}{label(level)}")
        pieces[self.call] = self.variable  # a term label (anova's rows)
        return pieces


@dataclass(frozen=True)
class FactorCodings:
    """The codings of one fixed-effects formula: formulaic's context entries and R's column names."""

    codings: tuple[FactorCoding, ...] = ()
    context: dict = field(default_factory=dict)

    @property
    def r_pieces(self) -> dict[str, str]:
        pieces = {}
        for coding in self.codings:
            pieces.update(coding.r_pieces())
        return pieces

    def as_argument(self) -> dict:
        """``contrasts=`` that gives these codings again (a matrix as a DataFrame indexed by level)."""
        out = {}
        for c in self.codings:
            if c.kind != "matrix":
                out[c.variable] = c.kind
            else:
                out[c.variable] = pd.DataFrame(c.contrasts.contrasts, index=[label(v) for v in c.levels],
                                               columns=list(c.r_suffixes))
        return out

    def recorded(self) -> dict:
        """What ``fit.contrasts`` shows: variable -> the coding's name (``"matrix"`` for one's own)."""
        return {c.variable: c.kind if c.kind == "matrix" else f"contr.{c.kind}" for c in self.codings}


def _coding_name(value, variable: str) -> str:
    text = value.strip()
    key = text.removeprefix("contr.")
    if key not in NAMED_CODINGS:
        known = ", ".join(repr(k) for k in NAMED_CODINGS)
        raise ArgumentError(f"contrasts for {variable!r}: unknown coding {value!r}; use one of {known} "
                            f"(or R's contr.* spelling), or a levels x (levels - 1) matrix")
    return key


def factor_levels_of(column: pd.Series) -> tuple:
    """The levels R's model frame gives a factor column (unused categories dropped, as lme4's model frame)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return tuple(column.cat.remove_unused_categories().cat.categories)
    return tuple(sorted(pd.unique(column.dropna())))


def _matrix_coding(value, variable: str, levels: tuple):
    if isinstance(value, pd.DataFrame):
        labels = [label(v) for v in levels]
        index = [label(v) for v in value.index]
        if sorted(index) == sorted(labels) and not isinstance(value.index, pd.RangeIndex):
            value = value.set_axis(index).loc[labels]
        names = tuple(str(c) for c in value.columns)
        matrix = value.to_numpy(dtype=float)
    else:
        try:
            matrix = np.asarray(value, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ArgumentError(f"contrasts for {variable!r}: a coding is a name or a numeric matrix, "
                                f"not {type(value).__name__}") from exc
        names = None
    if matrix.ndim != 2 or matrix.shape[0] != len(levels):
        raise ArgumentError(f"contrasts for {variable!r}: the matrix has shape {matrix.shape}; {variable} has "
                            f"{len(levels)} levels, so it needs {len(levels)} rows (one per level, in the order "
                            f"{', '.join(label(v) for v in levels[:6])}{', ...' if len(levels) > 6 else ''})")
    if matrix.shape[1] != len(levels) - 1:
        raise ArgumentError(f"contrasts for {variable!r}: the matrix has {matrix.shape[1]} columns; {variable} has "
                            f"{len(levels)} levels, so it needs {len(levels) - 1} (R fills fewer columns in "
                            f"with orthogonal ones: give all of them here)")
    if not np.all(np.isfinite(matrix)):
        raise ArgumentError(f"contrasts for {variable!r}: the matrix has non-finite entries")
    with_intercept = np.column_stack([np.ones(len(levels)), matrix])
    if np.linalg.matrix_rank(with_intercept) < len(levels):
        raise ArgumentError(f"contrasts for {variable!r}: the matrix's columns and the intercept do not span the "
                            f"{len(levels)} levels (rank {np.linalg.matrix_rank(with_intercept)}); the coefficients "
                            f"would not be identified")
    suffixes = names if names is not None else tuple(str(k) for k in range(1, len(levels)))
    return CustomContrasts(matrix, list(suffixes)), suffixes


def _r_suffixes(kind: str, levels: tuple) -> tuple:
    k = len(levels) - 1
    if kind == "treatment":
        return tuple(label(v) for v in levels[1:])
    if kind in ("sum", "helmert"):
        return tuple(str(j) for j in range(1, k + 1))
    if kind == "poly":
        return tuple([".L", ".Q", ".C"][:k] + [f"^{j}" for j in range(4, k + 1)])
    return tuple(f"{label(levels[j])}-{label(levels[j - 1])}" for j in range(1, k + 1))  # sdif


def top_level_names(text: str) -> set[str]:
    """Names that stand as variables in ``text`` (not inside a call, not a call's name)."""
    tokens, names, depth = tokenize(text), set(), 0
    for i, tok in enumerate(tokens):
        if tok.text == "(":
            depth += 1
        elif tok.text == ")":
            depth -= 1
        elif tok.kind == "name" and depth == 0 and not (i + 1 < len(tokens) and tokens[i + 1].text == "("):
            names.add(tok.text.strip("`"))
    return names


def factor_codings(contrasts, fixed_text: str, data: pd.DataFrame) -> FactorCodings:
    """Check ``contrasts`` against the fixed-effects formula and the data used; build the codings."""
    if contrasts is None or (isinstance(contrasts, dict) and not contrasts):
        return FactorCodings()
    if not isinstance(contrasts, dict):
        raise ArgumentError(f"contrasts must be a dict of column name -> coding (as lme4's contrasts = list(x = "
                            f"\"contr.sum\")), not {type(contrasts).__name__}")
    in_formula = top_level_names(fixed_text)
    codings = []
    for variable, value in contrasts.items():
        if not isinstance(variable, str):
            raise ArgumentError(f"contrasts: the keys are column names, not {variable!r}")
        if variable not in in_formula or variable not in data.columns:
            warnings.warn(f"contrasts for {variable!r} ignored: {variable} is not a variable of the fixed-effects "
                          f"formula (R: variable '{variable}' is absent, its contrast will be ignored)",
                          UserWarning, stacklevel=4)
            continue
        column = data[variable]
        if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
            raise DataError(f"contrasts for {variable!r}: the column is numeric ({column.dtype}), not a factor; "
                            f"make it a category (data[{variable!r}].astype('category')) to code it")
        levels = factor_levels_of(column)
        if len(levels) < 2:
            raise DataError(f"contrasts for {variable!r}: the factor has {len(levels)} level(s) among the rows used; "
                            "contrasts need two or more")
        if isinstance(value, str):
            kind = _coding_name(value, variable)
            contrast_object, suffixes = NAMED_CODINGS[kind](), _r_suffixes(kind, levels)
        else:
            kind = "matrix"
            contrast_object, suffixes = _matrix_coding(value, variable, levels)
        codings.append(FactorCoding(variable, f"_contrasts_{len(codings)}", kind, contrast_object, levels, suffixes))
    return FactorCodings(tuple(codings), {c.key: c.contrasts for c in codings})


def with_codings(text: str, data: pd.DataFrame, codings: FactorCodings) -> str:
    """``text`` with each coded factor as ``C(x, _contrasts_<i>)`` and other ordered factors as
    ``C(x, contr.poly)`` (R's default for ordered factors)."""
    coded = {c.variable: c.call for c in codings.codings}
    tokens, out, last, depth = tokenize(text), [], 0, 0
    for i, tok in enumerate(tokens):
        if tok.text == "(":
            depth += 1
        elif tok.text == ")":
            depth -= 1
        if tok.kind != "name" or depth != 0 or (i + 1 < len(tokens) and tokens[i + 1].text == "("):
            continue
        name = tok.text.strip("`")
        if name in coded:
            replacement = coded[name]
        elif name in data.columns and isinstance(data[name].dtype, pd.CategoricalDtype) and data[name].cat.ordered:
            replacement = f"C({tok.text}, contr.poly)"
        else:
            continue
        out.append(text[last: tok.pos])
        out.append(replacement)
        last = tok.pos + len(tok.text)
    out.append(text[last:])
    return "".join(out)


def with_coded_levels(data: pd.DataFrame, codings: FactorCodings) -> pd.DataFrame:
    """The coded columns as categoricals holding exactly the levels of their coding (R drops unused levels)."""
    if not codings.codings:
        return data
    return data.assign(**{c.variable: pd.Categorical(data[c.variable], categories=list(c.levels))
                          for c in codings.codings})

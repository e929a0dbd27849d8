"""Parsed formula + data -> :class:`Design`, the one design layer every engine reads.

The fixed-effects matrix and the per-term random-effects matrices come from formulaic; their
frozen ``ModelSpec`` objects are kept so that new data are encoded exactly as at fit time. A
random-effects term is stored as group codes + a small per-observation matrix + a covariance
structure (:class:`RandomTerm`); no dense Z is ever formed.
"""
from __future__ import annotations

import dataclasses
import difflib
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from formulaic import model_matrix

from ..covariance import STRUCTURES, Covariance
from ..errors import ArgumentError, DataError, DoubtWarning, MissingValuesWarning
from ..formula import ParsedFormula, parse_formula, split_call_arguments, tokenize
from .censoring import BOUND_ADDITIONS, read_bound_additions
from .checks import check_finite, numeric_argument
from .contrasts import FactorCodings, factor_codings, with_coded_levels, with_codings
from .factors import factor_codes, factor_levels, interaction_codes, plain_dtypes
from .newdata import columns_in, plain_message

# Names a formula may use for transforms, besides what formulaic provides (np, I, C, ...).
NO_CODINGS = FactorCodings()
FORMULA_CONTEXT = {"log": np.log, "log2": np.log2, "log10": np.log10, "log1p": np.log1p,
                   "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs, "np": np}


@dataclass(frozen=True)
class FixedDesign:
    """Fixed-effects model matrix with lme4's column names and the encoding state for new data."""

    matrix: np.ndarray
    column_names: tuple[str, ...]
    spec: object  # formulaic ModelSpec
    formula_text: str
    dropped_columns: tuple[str, ...] = ()  # removed for rank deficiency
    codings: FactorCodings = NO_CODINGS  # contrasts= (the formula's context for new data, R's names)


def term_covariance(bar, z_names: tuple[str, ...]) -> Covariance:
    """The term's covariance structure (lme4's unstructured unless the formula wraps the term in
    glmmTMB's ``cs()``, ``ar1()``, ``diag()`` or ``homdiag()``)."""
    if bar.structure in ("cs", "ar1") and len(z_names) < 2:
        raise DataError(f"{bar.text} has {len(z_names)} column ({', '.join(z_names)}): {bar.structure}() describes "
                        "correlations between two or more columns, e.g. ar1(0 + f | g) with f a factor of times")
    if bar.structure == "ar1" and "(Intercept)" in z_names:
        warnings.warn(f"{bar.text} has an intercept column: ar1() correlates the columns in their order as "
                      f"consecutive times ({', '.join(z_names)}); write ar1(0 + f | g) with f a factor of times",
                      DoubtWarning, stacklevel=4)
    return STRUCTURES[bar.structure](tuple(z_names))


@dataclass(frozen=True)
class RandomTerm:
    """One random-effects term: codes (n,), levels, per-row matrix z (n, p) and its covariance."""

    group_name: str
    group_vars: tuple[str, ...]
    codes: np.ndarray
    levels: np.ndarray
    z: np.ndarray
    covariance: Covariance
    spec: object  # formulaic ModelSpec of the term's left side
    lhs: str
    # the levels as values of the data's own dtype and order (a categorical keeps its categories,
    # an integer id stays int64); interactions ``a:b`` are their text labels. None: not recorded.
    level_values: pd.Index | None = None

    @property
    def text(self) -> str:
        """The term as written: ``(Days | Subject)``, ``ar1(0 + dayf | Subject)``."""
        inner = f"({self.lhs} | {self.group_name})"
        structure = self.covariance.structure
        return inner if structure == "us" else structure + inner

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def column_names(self) -> tuple[str, ...]:
        return self.covariance.column_names

    @property
    def dim(self) -> int:
        return self.z.shape[1]


@dataclass(frozen=True)
class Design:
    """Everything an engine needs: response, fixed design, random terms (lme4's order), weights."""

    formula: ParsedFormula
    response: np.ndarray
    response_name: str
    fixed: FixedDesign
    terms: tuple[RandomTerm, ...]
    weights: np.ndarray | None
    n_dropped: int
    dropped_by_column: dict = field(default_factory=dict)
    row_index: np.ndarray | None = None  # rows of the original data that were used
    offset: np.ndarray | None = None  # known part of the linear predictor
    family: object = None  # a multilevel.families.Family for GLMMs, None for LMMs
    # response additions the engine reads itself (brm: se(), weights()), name -> values at the rows used
    additions: dict = field(default_factory=dict)

    @property
    def nobs(self) -> int:
        return len(self.response)


def lme4_column_name(name: str, pieces: dict | None = None) -> str:
    """formulaic's column names -> R's: Intercept -> (Intercept), f[T.b] -> fb, o[.L] -> o.L, o[^4] -> o^4.

    ``pieces`` maps formulaic's labels of coded factors (:mod:`multilevel.design.contrasts`) to R's."""
    if name == "Intercept":
        return "(Intercept)"
    out = []
    for piece in name.split(":"):
        if pieces and piece in pieces:
            out.append(pieces[piece])
            continue
        poly = re.fullmatch(r"C\((.+?), contr\.poly\)\[(\.[A-Z]|\^\d+)\]", piece)
        if poly:
            out.append(f"{poly.group(1)}{poly.group(2)}")
            continue
        piece = re.sub(r"\[T\.(.*)\]$", r"\1", piece)
        piece = re.sub(r"\[(.*)\]$", r"\1", piece)
        out.append(piece)
    return ":".join(out)


def _check_columns(parsed: ParsedFormula, data: pd.DataFrame) -> None:
    columns = [str(c) for c in data.columns]
    for name in parsed.variables:
        if columns.count(name) > 1:
            raise DataError(f"the data have {columns.count(name)} columns named {name!r}; the formula cannot tell them apart")
        if name not in data.columns:
            close = difflib.get_close_matches(name, columns, n=3, cutoff=0.6)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            pos = next((t.pos for t in tokenize(parsed.text) if t.kind == "name" and t.text == name), -1)
            where = f"\n  {parsed.text}\n  {' ' * pos}^" if pos >= 0 else ""
            raise DataError(f"column {name!r} is not in the data.{hint}{where}")


def _complete_rows(parsed, data, weights, na_action) -> tuple[np.ndarray, dict]:
    group_vars = {v for bar in parsed.bars for v in bar.group_vars}
    for name in group_vars:
        if data[name].isna().all():
            raise DataError(f"grouping column {name!r} is all missing")
    # brms keeps rows whose cens(..., y2) is missing: y2 is read on interval-censored rows only (.censoring)
    y2_only = _y2_only_columns(parsed)
    missing = {name: data[name].isna().to_numpy() for name in parsed.variables if name not in y2_only}
    if weights is not None:
        missing["(weights)"] = np.isnan(weights)
    mask = np.zeros(len(data), dtype=bool)
    for flags in missing.values():
        mask |= flags
    counts = {name: int(flags.sum()) for name, flags in missing.items() if flags.any()}
    if mask.any():
        detail = ", ".join(f"{name}: {count}" for name, count in counts.items())
        if na_action == "raise":
            raise DataError(f"{int(mask.sum())} rows have missing values ({detail})")
        warnings.warn(
            f"dropped {int(mask.sum())} of {len(data)} rows with missing values ({detail})",
            MissingValuesWarning,
            stacklevel=4,
        )
    return ~mask, counts


def _y2_only_columns(parsed) -> set[str]:
    """Columns named in ``cens(c, y2)``'s y2 and nowhere else in the formula."""
    given = dict(parsed.response_additions)
    if "cens.y2" not in given:
        return set()
    tokens = tokenize(parsed.text)
    start = next(i for i, t in enumerate(tokens) if t.text == "cens" and i + 1 < len(tokens) and tokens[i + 1].text == "(")
    depth, end = 0, start + 1
    for end in range(start + 1, len(tokens)):
        depth += {"(": 1, ")": -1}.get(tokens[end].text, 0)
        if depth == 0:
            break
    elsewhere = {t.text for i, t in enumerate(tokens) if t.kind == "name" and not start <= i <= end}
    return set(columns_in(given["cens.y2"])) - elsewhere - set(columns_in(given["cens"]))


def _poly_for_ordered(text: str, data: pd.DataFrame) -> str:
    """Ordered factors get polynomial contrasts, as R's default contr.poly does."""
    return with_codings(text, data, NO_CODINGS)


def _r_factor_calls(text: str) -> tuple[str, dict[str, str]]:
    """R's ``factor(x)`` / ``as.factor(x)`` -> formulaic's ``C(x)``; returns the text and, per ``C(x)``,
    the spelling to give its columns back (R names them ``factor(x)7``)."""
    tokens, out, last, spelled = tokenize(text), [], 0, {}
    for i, tok in enumerate(tokens):
        if tok.kind == "name" and tok.text in ("factor", "as.factor") and i + 1 < len(tokens) \
                and tokens[i + 1].text == "(":
            close = next((j for j in range(i + 2, len(tokens)) if tokens[j].text == ")"), None)
            inner = text[tokens[i + 2].pos: tokens[close].pos].strip() if close is not None else ""
            spelled[f"C({inner})"] = f"{tok.text}({inner})"
            out.append(text[last: tok.pos])
            out.append("C")
            last = tok.pos + len(tok.text)
    out.append(text[last:])
    return "".join(out), spelled


def _matrix(formula_text: str, data: pd.DataFrame, what: str, codings: FactorCodings = NO_CODINGS):
    formula_text, spelled = _r_factor_calls(formula_text)
    try:
        mm = model_matrix(formula_text, data, context={**FORMULA_CONTEXT, **codings.context}, na_action="ignore")
    except Exception as exc:  # formulaic's own message, with the term that failed
        raise DataError(f"could not build the {what} matrix from {formula_text!r}: {plain_message(exc)}") from exc
    return (np.asarray(mm, dtype=float), tuple(r_column_names(mm.columns, spelled, codings.r_pieces)),
            mm.model_spec)


def r_names(design, formulaic_names) -> list[str]:
    """formulaic's column or term names of ``design``'s fixed part, as R writes them."""
    return r_column_names(formulaic_names, _r_factor_calls(design.fixed.formula_text)[1],
                          design.fixed.codings.r_pieces)


def r_column_names(formulaic_names, spelled: dict[str, str], pieces: dict | None = None) -> list[str]:
    """Column names as R writes them, ``factor(x)`` calls spelled as the formula spelled them and coded
    factors (``contrasts=``) named as R names them."""
    names = [lme4_column_name(str(c), pieces) for c in formulaic_names]
    for formulaic_name, r_name in spelled.items():
        names = [n.replace(formulaic_name, r_name) for n in names]
    return names


def _response(parsed: ParsedFormula, data: pd.DataFrame) -> np.ndarray:
    if not parsed.response:
        raise DataError("the formula has no response: write it as 'y ~ ...'")
    if parsed.response in data.columns:
        column = data[parsed.response]
        if not (pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype)):
            raise DataError(
                f"response {parsed.response!r} is not numeric (dtype {column.dtype}); "
                "a linear model (mixed or not) needs a numeric response"
            )
        return column.to_numpy(dtype=float)
    try:
        mm = model_matrix(f"{parsed.response} ~ 0", data, context=FORMULA_CONTEXT, na_action="ignore")
    except Exception as exc:
        raise DataError(f"could not compute the response {parsed.response!r}: {plain_message(exc)}") from exc
    if not hasattr(mm, "lhs") or mm.lhs.shape[1] != 1:  # formulaic drops a left side with no terms
        raise DataError(f"response {parsed.response!r} must be one numeric column")
    return np.asarray(mm.lhs, dtype=float).ravel()


def _expression(text: str, data: pd.DataFrame, what: str) -> np.ndarray:
    """One numeric column from an arithmetic expression of data columns (already validated).

    Text columns are refused before formulaic sees them: it would encode them as a factor and
    hand back a column of ones for a one-level text column.
    """
    for name in columns_in(text):
        if name in data.columns and not pd.api.types.is_numeric_dtype(data[name].dtype):
            raise DataError(f"{what} {text!r} uses column {name!r}, which is not numeric (dtype {data[name].dtype})")
    values, names, spec = _matrix(f"0 + I({text})", data, what)
    categorical = any(kind.value == "categorical" for kind, _ in spec.encoder_state.values())
    if values.shape[1] != 1 or categorical:
        raise DataError(f"{what} {text!r} must be one numeric column")
    return values[:, 0]


def _glm_response(parsed: ParsedFormula, data: pd.DataFrame, family, weights, finite):
    """Response and prior weights as R's glm families store them (binomial: proportion, trials).

    ``finite(values, name, what)`` raises a DataError for non-finite values (see ``check_finite``).
    """
    name = parsed.response
    additions = dict(parsed.response_additions)
    if "weights" in additions:
        extra = _expression(additions["weights"], data, "weights")
        finite(extra, additions["weights"], "the weights")
        if np.any(extra < 0):
            raise DataError(f"weights({additions['weights']}) must be non-negative (minimum {np.min(extra):g})")
        weights = extra if weights is None else weights * extra
    call = split_call_arguments(name) if name else None
    if call is not None and call[0] == "cbind":
        if len(call[1]) != 2:
            raise DataError(f"cbind() in the response needs two columns (successes, failures), got {len(call[1])}")
        successes = _expression(call[1][0], data, "response")
        failures = _expression(call[1][1], data, "response")
        finite(successes, call[1][0], f"the response {name}, successes")
        finite(failures, call[1][1], f"the response {name}, failures")
        for label, values in (("successes", successes), ("failures", failures)):
            if np.any(values < 0):
                raise DataError(f"{name}: negative {label} count in {call[1][0 if label == 'successes' else 1]!r} "
                                f"(minimum {np.min(values):g})")
        trials = successes + failures
        y = np.divide(successes, trials, out=np.zeros_like(trials), where=trials > 0)
        weights = trials if weights is None else trials * weights
    elif name in data.columns and not pd.api.types.is_numeric_dtype(data[name].dtype) or (
        name in data.columns and pd.api.types.is_bool_dtype(data[name].dtype)
    ):
        column = data[name]
        if family.name != "binomial":
            raise DataError(f"response {name!r} is not numeric (dtype {column.dtype}); the {family.name} family needs numbers")
        codes, levels = factor_codes(column.astype("category") if not isinstance(column.dtype, pd.CategoricalDtype) else column, name)
        if len(levels) > 2:
            raise DataError(f"binomial response {name!r} has {len(levels)} levels; it needs two (the first is failure)")
        y = (codes > 0).astype(float)
    else:
        y = _response(parsed, data)
        finite(y, name, "the response")
    if "trials" in additions:
        if family.name != "binomial":
            raise DataError(f"trials() in the response needs the binomial family, not {family.name}")
        trials = _expression(additions["trials"], data, "trials")
        finite(trials, additions["trials"], "the trials")
        if np.any(trials < 0) or np.any(y < 0) or np.any(y > trials):
            raise DataError(f"{name} | trials({additions['trials']}): successes must lie between 0 and the trials")
        y = np.divide(y, trials, out=np.zeros_like(y), where=trials > 0)
        weights = trials if weights is None else trials * weights
    if weights is None:
        weights = np.ones_like(y)
    family.check_response(y, weights, name)
    return y, weights


def drop_rank_deficient(x: np.ndarray, names: tuple[str, ...], tol: float = 1e-7):
    """Drop columns that are (numerically) combinations of earlier ones, as R's pivoted QR does.

    Columns are taken in order; a column whose residual norm after projection on the kept
    columns is below ``tol`` times its own norm is dropped. Returns (x, names, dropped names).
    """
    keep, basis = [], np.zeros((x.shape[0], 0))
    for j in range(x.shape[1]):
        size = np.max(np.abs(x[:, j]), initial=0.0)
        col = x[:, j] / size if size > 0 else x[:, j]  # unit size: the rank test must not over/underflow
        norm = np.linalg.norm(col)
        if norm == 0.0:
            continue
        resid = col - basis @ (basis.T @ col)
        resid = resid - basis @ (basis.T @ resid)  # re-orthogonalize for stability
        rnorm = np.linalg.norm(resid)
        if rnorm > tol * norm:
            keep.append(j)
            basis = np.column_stack([basis, resid / rnorm])
    dropped = tuple(n for j, n in enumerate(names) if j not in keep)
    return x[:, keep], tuple(names[j] for j in keep), dropped


def lme4_term_order(n_levels: list[int]) -> list[int]:
    """lme4 sorts terms by decreasing number of levels (``rev(order(nl))``) when any increase."""
    if not any(b > a for a, b in zip(n_levels, n_levels[1:])):
        return list(range(len(n_levels)))
    ascending = sorted(range(len(n_levels)), key=lambda i: n_levels[i])  # stable, like R's order()
    return ascending[::-1]


def _grouping(data: pd.DataFrame, group_vars: tuple[str, ...], dtypes: dict):
    """(codes, text levels, level values); ``dtypes`` are the columns' dtypes before :func:`plain_dtypes`."""
    if len(group_vars) > 1:
        codes, levels = interaction_codes([factor_codes(data[v], v) for v in group_vars])
        return codes, levels, pd.Index(levels, dtype=object)
    return factor_levels(data[group_vars[0]], group_vars[0], dtypes.get(group_vars[0]))


def build_design(
    formula: str | ParsedFormula,
    data: pd.DataFrame,
    *,
    weights=None,
    offset=None,
    family=None,
    na_action: str = "omit",
    additions: tuple[str, ...] = (),
    observation_level_ok: bool | None = None,
    contrasts: dict | None = None,
) -> Design:
    """Build the shared design from formula text (or a parsed formula) and a DataFrame.

    Rows with a missing value in any variable the formula names are dropped and counted
    (``na_action="omit"``), or raise (``na_action="raise"``). With a ``family`` the response is
    read as a GLM response (``cbind(successes, failures)``, a two-level factor, or numbers) and
    observation-level random effects are allowed (``observation_level_ok`` overrides: brm allows
    them for every family). ``additions`` names the response additions (``y | se(s)``) the engine
    reads itself: their values at the rows used land in ``design.additions``, checked finite and
    not negative; the others (``trials()``, glmer's ``weights()``) shape the GLM response.
    ``contrasts`` codes factors of the fixed effects as lme4's ``contrasts=`` does
    (:mod:`multilevel.design.contrasts`).
    """
    parsed = formula if isinstance(formula, ParsedFormula) else parse_formula(formula)
    if na_action not in {"omit", "raise"}:
        raise ArgumentError(f"na_action must be 'omit' or 'raise', not {na_action!r}")
    if not isinstance(data, pd.DataFrame):
        package = type(data).__module__.split(".")[0]
        kind = type(data).__name__ if package == "builtins" else f"{package}.{type(data).__name__}"
        hint = (": out-of-core data (a Dask DataFrame or a parquet path) are fitted by ml.lmer and ml.glmer only; "
                "compute() a sample into pandas for this engine") if kind.startswith("dask.") else ""
        raise DataError(f"data must be a pandas DataFrame, not {kind}{hint}")
    if len(data) == 0:
        raise DataError("the data have no rows")
    _check_columns(parsed, data)
    group_dtypes = {v: data[v].dtype for bar in parsed.bars for v in bar.group_vars}
    data = plain_dtypes(data, parsed.variables)
    if weights is not None:
        weights = numeric_argument(weights, data, "weights")
    if offset is not None:
        offset = numeric_argument(offset, data, "offset")
    keep, dropped_counts = _complete_rows(parsed, data, weights, na_action)
    used = data.loc[keep].reset_index(drop=True)
    if len(used) == 0:
        raise DataError("no rows are left after dropping rows with missing values")
    rows = np.flatnonzero(keep)

    def finite(values, names, what):
        check_finite(values, names, what, data, rows)

    if weights is not None:
        weights = weights[keep]
        if (weights < 0).any():
            raise DataError(f"weights must be non-negative ({int((weights < 0).sum())} are negative, "
                            f"minimum {np.min(weights):g})")

    engine_additions, response_parsed = _engine_additions(parsed, used, additions, finite)
    if family is None:
        if response_parsed.response_additions:
            raise DataError("response additions such as trials() need a family (glmer or brm)")
        y = _response(parsed, used)
        finite(y, parsed.response, "the response")
    else:
        y, weights = _glm_response(response_parsed, used, family, weights, finite)
    given = dict(parsed.response_additions)
    if any(name in given for name in BOUND_ADDITIONS):
        engine_additions.update(read_bound_additions(
            given, used, y, data.index[rows], lambda text, what: _expression(text, used, what)))
    if weights is not None and not np.any(weights > 0):
        raise DataError(f"all {len(weights)} weights are zero: no observation would count in the fit")
    offset_total = None if offset is None else offset[keep]
    if offset_total is not None and np.isnan(offset_total).any():
        raise DataError(f"the offset has {int(np.isnan(offset_total).sum())} NaN values among the rows used")
    for text in parsed.offsets:
        part = _expression(text, used, "offset")
        finite(part, f"offset({text})", "the offset")
        offset_total = part if offset_total is None else offset_total + part
    codings = factor_codings(contrasts, parsed.fixed, used)
    fixed_text = with_codings(parsed.fixed, used, codings)
    x, x_names, x_spec = _matrix(fixed_text, with_coded_levels(used, codings), "fixed-effects", codings)
    finite(x, x_names, "the fixed-effects column")
    x, x_names, dropped_cols = drop_rank_deficient(x, x_names)
    if dropped_cols:
        warnings.warn(
            f"fixed-effect model matrix is rank deficient so dropping {len(dropped_cols)} "
            f"column{'s' if len(dropped_cols) > 1 else ''} / coefficient"
            f"{'s' if len(dropped_cols) > 1 else ''}: {', '.join(dropped_cols)}",
            UserWarning,
            stacklevel=3,
        )
    fixed = FixedDesign(x, x_names, x_spec, fixed_text, dropped_cols, codings)

    terms = []
    for bar in parsed.bars:
        codes, levels, level_values = _grouping(used, bar.group_vars, group_dtypes)
        z, z_names, z_spec = _matrix(_poly_for_ordered(bar.lhs, used), used, f"random-effects ({bar.lhs} | {bar.group_name})")
        finite(z, z_names, f"random-effects term ({bar.lhs} | {bar.group_name}), column")
        if z.shape[1] == 0:
            raise DataError(f"random-effects term ({bar.lhs} | {bar.group_name}) has no columns")
        terms.append(RandomTerm(bar.group_name, bar.group_vars, codes, levels, z,
                                term_covariance(bar, z_names), z_spec, bar.lhs, level_values))
    _check_levels(terms, len(y), observation_level_ok=family is not None if observation_level_ok is None
                  else observation_level_ok)
    order = lme4_term_order([t.n_levels for t in terms])
    terms = [terms[i] for i in order]
    return Design(parsed, y, parsed.response, fixed, tuple(terms), weights,
                  int((~keep).sum()), dropped_counts, np.flatnonzero(keep), offset_total, family,
                  engine_additions)


def _engine_additions(parsed: ParsedFormula, used: pd.DataFrame, names: tuple[str, ...], finite):
    """The response additions in ``names`` evaluated at the rows used (finite, not negative), and the
    parsed formula without them (and without their options, ``se.sigma``) for the GLM response."""
    values, rest = {}, []
    for name, text in parsed.response_additions:
        if name.split(".")[0] in BOUND_ADDITIONS:  # read once the response is known (.censoring)
            if name.split(".")[0] not in names:
                raise DataError(f"the response addition {name.split('.')[0]}() is read by brm only; "
                                "this model cannot use it")
            continue
        if name.split(".")[0] not in names:
            rest.append((name, text))
        elif "." not in name:
            column = _expression(text, used, f"{name}()")
            finite(column, text, f"{name}({text})")
            if np.any(column < 0):
                raise DataError(f"{name}({text}) must not be negative (minimum {np.min(column):g})")
            values[name] = column
    return values, dataclasses.replace(parsed, response_additions=tuple(rest))


def _check_levels(terms: list[RandomTerm], nobs: int, observation_level_ok: bool = False) -> None:
    """lme4's checks: > 1 level; fewer levels than observations (GLMMs: not more than them)."""
    for term in terms:
        if term.n_levels < 2:
            raise DataError(f"grouping factor {term.group_name!r} must have more than one level")
        too_many = term.n_levels > nobs if observation_level_ok else term.n_levels >= nobs
        if too_many:
            raise DataError(
                f"number of levels of grouping factor {term.group_name!r} ({term.n_levels}) must be "
                f"less than the number of observations ({nobs}); the term "
                f"({term.lhs} | {term.group_name}) would be confounded with the residual"
            )


def terms_in_re_form(design: Design, re_form) -> set[int]:
    """Indices of the random terms a prediction uses: all (None), none ("~0", "NA", False), or those
    whose grouping factor a formula such as ``"~(1 | Subject)"`` names."""
    if re_form is None:
        return set(range(len(design.terms)))
    if not (re_form is False or isinstance(re_form, str)):
        raise ArgumentError(f"re_form must be None, a formula such as '~0' or '~(1 | g)', or False; "
                            f"not {type(re_form).__name__} {re_form!r}")
    if re_form is False or (isinstance(re_form, str) and re_form.replace(" ", "") in {"~0", "NA", "~1", "0"}):
        return set()
    parsed = parse_formula("y " + re_form if re_form.strip().startswith("~") else re_form)
    wanted = {bar.group_name for bar in parsed.bars}
    unknown = wanted - {t.group_name for t in design.terms}
    if unknown:
        raise DataError(f"re_form names grouping factors not in the model: {sorted(unknown)}")
    return {k for k, t in enumerate(design.terms) if t.group_name in wanted}

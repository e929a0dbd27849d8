"""Statements + data -> a model graph: data, parameters (sizes, constraints), definitions, likelihoods.

Semantics follow rethinking's ``ulam``: a name on the left of ``~`` that is a data column is
observed, anything else is a parameter; ``a[g] ~ ...`` makes ``a`` a vector with one element per
level of ``g`` (its largest value); constraints come from the prior (``dexp`` -> positive,
``beta`` -> (0, 1), ``lkj_corr`` -> correlation matrix); ``<-`` lines are definitions, evaluated in
dependency order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError
from .parse import Call, Name, Statement, UlamSyntaxError

POSITIVE_PRIORS = {"dexp", "exponential", "half_normal", "dhalfnorm", "half_cauchy", "dhalfcauchy",
                   "dgamma", "gamma", "dlnorm", "lognormal"}
UNIT_PRIORS = {"dbeta", "beta"}
DISTRIBUTIONS = {
    "normal", "dnorm", "binomial", "dbinom", "bernoulli", "poisson", "dpois", "exponential", "dexp",
    "cauchy", "dcauchy", "half_normal", "dhalfnorm", "half_cauchy", "dhalfcauchy", "student_t", "dstudent",
    "gamma", "dgamma", "beta", "dbeta", "lognormal", "dlnorm", "gamma_poisson", "dgampois", "beta_binomial",
    "dbetabinom", "multi_normal", "dmvnorm", "dmvnorm2", "lkj_corr", "dlkjcorr",
}


@dataclass
class Parameter:
    name: str
    shape: tuple
    constraint: str  # "real", "positive", "unit", "corr"
    statement: Statement


@dataclass
class ModelGraph:
    data: dict  # name -> numpy array
    parameters: dict = field(default_factory=dict)  # name -> Parameter (in order)
    definitions: list = field(default_factory=list)  # Statements "<-" in evaluation order
    priors: list = field(default_factory=list)  # Statements "~" on parameters
    likelihoods: list = field(default_factory=list)  # Statements "~" on data
    saved: list = field(default_factory=list)  # names of "save>" definitions
    nobs: int = 0


def _as_data(data) -> dict:
    if isinstance(data, pd.DataFrame):
        out = {}
        for column in data.columns:
            series = data[column]
            if isinstance(series.dtype, pd.CategoricalDtype) or series.dtype == object or \
                    pd.api.types.is_string_dtype(series.dtype):
                continue  # text columns cannot enter arithmetic; index columns must be integers
            out[str(column)] = series.to_numpy()
        return out
    if isinstance(data, dict):
        return {k: np.asarray(v) for k, v in data.items()}
    raise DataError(f"data must be a DataFrame or a dict of arrays, not {type(data).__name__}")


def _index_size(stmt: Statement, data: dict) -> int:
    index = stmt.target.index
    if not isinstance(index, Name):
        raise UlamSyntaxError("an index on the left must be a data column, e.g. a[tank]", stmt.line, stmt.line_no)
    if index.id not in data:
        raise UlamSyntaxError(f"index {index.id!r} is not a data column", stmt.line, stmt.line_no)
    return int(np.max(check_index(data[index.id], index.id)))


def check_index(values: np.ndarray, name: str) -> np.ndarray:
    """Index columns hold whole numbers 1..K (rethinking's coerce_index)."""
    values = np.asarray(values)
    if values.dtype.kind == "f":
        if np.isnan(values).any():
            raise DataError(f"index column {name!r} has missing values")
        if not np.all(values == np.round(values)):
            raise DataError(f"index column {name!r} must hold whole numbers 1..K")
    if values.dtype.kind not in "iuf" or np.min(values) < 1:
        raise DataError(f"index column {name!r} must hold whole numbers 1..K (found minimum {np.min(values)})")
    return values.astype(int)


def build_graph(statements: list[Statement], data) -> ModelGraph:
    data = _as_data(data)
    defined = {s.target.names[0]: s for s in statements if s.kind == "<-"}
    graph = ModelGraph(data)
    for stmt in statements:
        if stmt.kind != "~":
            continue
        call = stmt.expr
        if call.func not in DISTRIBUTIONS:
            raise UlamSyntaxError(f"unknown distribution {call.func!r}; known: {', '.join(sorted(DISTRIBUTIONS))}",
                                  stmt.line, stmt.line_no)
        names = stmt.target.names
        if all(n in data for n in names) and not any(n in defined for n in names):
            graph.likelihoods.append(stmt)
            continue
        graph.priors.append(stmt)
        size = stmt.target.size
        if stmt.target.index is not None:
            size = _index_size(stmt, data)
        constraint = "positive" if call.func in POSITIVE_PRIORS else "unit" if call.func in UNIT_PRIORS else "real"
        for name in names:
            shape = (size,) if size else ()
            if call.func in ("lkj_corr", "dlkjcorr"):
                constraint, shape = "corr", (_corr_dimension(name, statements, stmt),) * 2
            if name not in graph.parameters:
                graph.parameters[name] = Parameter(name, shape, constraint, stmt)
    _size_scale_vectors(graph, statements)
    graph.definitions = _ordered_definitions(list(defined.values()), graph)
    graph.saved = [s.target.names[0] for s in statements if s.kind == "<-" and s.save]
    _check_symbols(statements, graph, set(defined))
    for stmt in graph.likelihoods:
        for name in stmt.target.names:
            values = np.asarray(data[name], dtype=float)
            if np.isnan(values).any():
                raise DataError(f"data column {name!r} has missing values (line {stmt.line_no}): drop or impute them")
            graph.nobs = max(graph.nobs, len(values))
    for name, values in data.items():
        if np.asarray(values).dtype.kind == "f" and np.isnan(values).any() and any(
                name in s.used for s in statements):
            raise DataError(f"data column {name!r} has missing values; drop those rows first")
    return graph


def _corr_dimension(name: str, statements, stmt) -> int:
    for other in statements:
        call = other.expr
        if other.kind == "~" and isinstance(call, Call) and call.func in ("multi_normal", "dmvnorm", "dmvnorm2"):
            if any(isinstance(a, Name) and a.id == name for a in call.args):
                return len(other.target.names)
    raise UlamSyntaxError(f"cannot infer the size of correlation matrix {name!r}: use it in a multi_normal",
                          stmt.line, stmt.line_no)


def _size_scale_vectors(graph: ModelGraph, statements) -> None:
    """In c(a, b)[g] ~ multi_normal(M, Rho, sigma), sigma has one element per name on the left."""
    for stmt in statements:
        call = stmt.expr
        if stmt.kind == "~" and isinstance(call, Call) and call.func in ("multi_normal", "dmvnorm", "dmvnorm2"):
            if len(call.args) == 3 and isinstance(call.args[2], Name) and call.args[2].id in graph.parameters:
                graph.parameters[call.args[2].id].shape = (len(stmt.target.names),)


def _ordered_definitions(definitions: list[Statement], graph: ModelGraph) -> list[Statement]:
    names = {s.target.names[0]: s for s in definitions}
    ordered, done, visiting = [], set(), set()

    def visit(name):
        if name in done:
            return
        if name in visiting:
            raise UlamSyntaxError(f"definition of {name!r} depends on itself", names[name].line, names[name].line_no)
        visiting.add(name)
        for dep in names[name].used:
            if dep in names and dep != name:
                visit(dep)
        visiting.discard(name)
        done.add(name)
        ordered.append(names[name])

    for name in names:
        visit(name)
    return ordered


FUNCTIONS = {"exp", "log", "inv_logit", "logit", "sqrt", "c", "abs", "log1p", "expm1", "pow", "sum", "mean",
             "softmax", "rep_vector", "inv", "square", "log_sum_exp", "cumulative_sum"}


def _check_symbols(statements, graph: ModelGraph, defined: set) -> None:
    known = set(graph.data) | set(graph.parameters) | defined
    for stmt in statements:
        for name in sorted(stmt.used):
            if name not in known:
                raise UlamSyntaxError(f"undefined symbol {name!r}: not a data column, a parameter with a prior, "
                                      "or a definition", stmt.line, stmt.line_no)

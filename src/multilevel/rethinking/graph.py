"""Statements + data -> a model graph: data, parameters (sizes, constraints), definitions, likelihoods.

Semantics follow rethinking's ``ulam``: a name on the left of ``~`` that is a data column is
observed, anything else is a parameter; ``a[g] ~ ...`` makes ``a`` a vector with one element per
level of ``g`` (its largest value); constraints come from the prior (``dexp`` -> positive,
``beta`` -> (0, 1), ``lkj_corr`` -> correlation matrix); ``<-`` lines are definitions, evaluated in
dependency order.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError, ModelError
from .parse import FLAT, BinOp, Call, Compare, Index, Name, Neg, Num, Statement, UlamSyntaxError


CUSTOM = ("custom", "dcustom")  # y ~ custom(normal_lpdf(y | mu, sigma)): rethinking's Stan name and R name


@dataclass(frozen=True)
class DistributionSpec:
    """One distribution of the language: its arguments (in order), which must be positive, which in (0, 1)."""

    args: tuple
    positive: tuple = ()
    unit: tuple = ()


_SPECS = {
    ("normal", "dnorm"): DistributionSpec(("mean", "sd"), positive=(1,)),
    ("half_normal", "dhalfnorm"): DistributionSpec(("mean", "sd"), positive=(1,)),
    ("cauchy", "dcauchy"): DistributionSpec(("location", "scale"), positive=(1,)),
    ("half_cauchy", "dhalfcauchy"): DistributionSpec(("location", "scale"), positive=(1,)),
    ("student_t", "dstudent"): DistributionSpec(("nu", "mean", "sd"), positive=(0, 2)),
    ("exponential", "dexp"): DistributionSpec(("rate",), positive=(0,)),
    ("gamma", "dgamma"): DistributionSpec(("shape", "rate"), positive=(0, 1)),
    ("beta", "dbeta"): DistributionSpec(("shape1", "shape2"), positive=(0, 1)),
    ("lognormal", "dlnorm"): DistributionSpec(("meanlog", "sdlog"), positive=(1,)),
    ("binomial", "dbinom"): DistributionSpec(("size", "prob"), unit=(1,)),
    ("bernoulli",): DistributionSpec(("prob",), unit=(0,)),
    ("poisson", "dpois"): DistributionSpec(("lambda",), positive=(0,)),
    ("gamma_poisson", "dgampois"): DistributionSpec(("mu", "scale"), positive=(0, 1)),
    ("beta_binomial", "dbetabinom"): DistributionSpec(("size", "prob", "theta"), positive=(2,), unit=(1,)),
    ("multi_normal", "dmvnorm", "dmvnorm2"): DistributionSpec(("Mu", "Rho", "sigma"), positive=(2,)),
    ("lkj_corr", "dlkjcorr"): DistributionSpec(("eta",), positive=(0,)),
    ("uniform", "dunif"): DistributionSpec(("lower", "upper")),
    ("dirichlet", "ddirichlet"): DistributionSpec(("alpha",), positive=(0,)),
    (FLAT,): DistributionSpec(()),  # a parameter declared without a prior (parse._declaration)
    # outcomes 1..K as in R: ordered logit (cutpoints ordered, K - 1 of them) and categorical (a simplex)
    ("ordered_logistic", "dordlogit"): DistributionSpec(("phi", "cutpoints")),
    ("categorical", "dcategorical"): DistributionSpec(("prob",)),
    ("zero_inflated_poisson", "dzipois"): DistributionSpec(("p", "lambda"), positive=(1,), unit=(0,)),
    # rethinking's custom(): a log density written out, added for each row of the data column on the left
    CUSTOM: DistributionSpec(("log_density",)),
}
ONE_BASED = ("ordered_logistic", "dordlogit", "categorical", "dcategorical")  # outcomes coded 1..K
DISTRIBUTIONS = {alias: spec for aliases, spec in _SPECS.items() for alias in aliases}
POSITIVE_PRIORS = {"dexp", "exponential", "half_normal", "dhalfnorm", "half_cauchy", "dhalfcauchy",
                   "dgamma", "gamma", "dlnorm", "lognormal"}
UNIT_PRIORS = {"dbeta", "beta"}
MAX_ELEMENTS = 10_000_000  # of one parameter vector sized from an index column


@dataclass
class Parameter:
    """A sampled quantity. ``constraint``: "real", "positive" (> 0), "unit" (0..1), "lower"/"upper"/
    "interval" (other bounds, ``lower``/``upper``), "ordered", "simplex" or "corr"; ``statement`` its
    prior line, None for a parameter without one (flat, improper: see :func:`_flat_parameters`)."""

    name: str
    shape: tuple
    constraint: str
    statement: Statement | None
    lower: float | None = None
    upper: float | None = None


def _constraint(stmt: Statement) -> tuple[str, float | None, float | None]:
    """The support of a parameter: declared (``real<lower=0>:``, ``ordered[K]:``, ``simplex[K]:``),
    else from its prior (dexp/dhalfnorm/dgamma/dlnorm -> positive, dbeta -> unit, dunif(a, b) with
    numbers -> (a, b)), else the real line. Declared bounds win over the prior's (a Cauchy prior
    on ``real<lower=0>:tau`` is a half-Cauchy, as in Stan)."""
    target, call = stmt.target, stmt.expr  # call.func is FLAT for a declaration alone: bounds as declared
    if target.declared in ("ordered", "simplex"):
        return target.declared, None, None
    lower, upper = target.lower, target.upper
    if lower is None and upper is None:
        if call.func in POSITIVE_PRIORS:
            lower = 0.0
        elif call.func in UNIT_PRIORS:
            lower, upper = 0.0, 1.0
        elif call.func in ("uniform", "dunif") and all(_number(a) is not None for a in call.args):
            lower, upper = (_number(a) for a in call.args)
            if not lower < upper:
                raise UlamSyntaxError(f"{call.func}({lower:g}, {upper:g}) needs its lower bound below its upper",
                                      stmt.line, stmt.line_no)
    if lower is None and upper is None:
        return "real", None, None
    if lower == 0.0 and upper is None:
        return "positive", 0.0, None
    if lower == 0.0 and upper == 1.0:
        return "unit", 0.0, 1.0
    return ("interval" if lower is not None and upper is not None else "lower" if lower is not None
            else "upper"), lower, upper


def _number(node) -> float | None:
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Neg) and isinstance(node.operand, Num):
        return -node.operand.value
    return None


@dataclass
class ModelGraph:
    data: dict  # name -> numpy array
    parameters: dict = field(default_factory=dict)  # name -> Parameter (in order)
    definitions: list = field(default_factory=list)  # Statements "<-" in evaluation order
    priors: list = field(default_factory=list)  # Statements "~" on parameters
    likelihoods: list = field(default_factory=list)  # Statements "~" on data
    saved: list = field(default_factory=list)  # names of "save>" definitions
    nobs: int = 0
    # text or categorical columns used only as an index, coded 1..K: name -> their levels (pd.Index
    # in the data's dtype; code k is levels[k - 1])
    index_levels: dict = field(default_factory=dict)


def _as_data(data) -> dict:
    """Numeric columns by name; text, categorical and other non-numeric columns are left out."""
    return {name: values for name, values in _columns(data).items() if values.dtype.kind in "biuf"}


def _columns(data) -> dict:
    """A DataFrame or a dict of arrays (rethinking's ``data=list(...)``: lengths may differ) -> arrays
    by name; categorical columns stay ``pd.Categorical`` so that an index keeps their order."""
    if isinstance(data, pd.DataFrame):
        items = [(column, data[column]) for column in data.columns]
    elif isinstance(data, Mapping):
        items = list(data.items())
    else:
        raise DataError(f"data must be a DataFrame or a dict of arrays (rethinking's data=list(...)), "
                        f"not {type(data).__name__}")
    out = {}
    for name, values in items:
        if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
            out[str(name)] = pd.Categorical(values)
            continue
        if isinstance(values, pd.Series) and not pd.api.types.is_numeric_dtype(values.dtype):
            out[str(name)] = values.to_numpy(dtype=object)  # kept, only to name it if the model uses it
            continue
        try:
            out[str(name)] = np.asarray(values)
        except (ValueError, TypeError) as exc:
            raise DataError(f"data column {str(name)!r} cannot be read as an array ({exc})") from None
    return out


def index_uses(statements: list[Statement]) -> tuple[list[str], set[str]]:
    """Names used as a whole index (``a[country]``, ``a[country] ~``), in order of first use, and
    names used any other way (as a number, or inside an index expression such as ``a[g + 1]``)."""
    as_index, as_value = {}, set()

    def walk(node):
        if isinstance(node, Index):
            walk(node.target)
            for index in node.indices:
                if isinstance(index, Name):
                    as_index.setdefault(index.id, None)
                else:
                    walk(index)
        elif isinstance(node, Name):
            as_value.add(node.id)
        elif isinstance(node, Call):
            for arg in node.args:
                walk(arg)
        elif isinstance(node, (BinOp, Compare)):
            walk(node.left)
            walk(node.right)
        elif isinstance(node, Neg):
            walk(node.operand)

    for stmt in statements:
        as_value.update(stmt.target.names)
        if isinstance(stmt.target.index, Name):
            as_index.setdefault(stmt.target.index.id, None)
        elif stmt.target.index is not None:
            walk(stmt.target.index)
        if stmt.target.condition is not None:
            walk(stmt.target.condition)
        walk(stmt.expr)
    return list(as_index), as_value


def indexed_by(statements: list[Statement], graph: ModelGraph, vectors: set[str]) -> dict:
    """``vectors`` (parameters, saved definitions) -> the data column that indexes them, in order of
    first use: ``a[tank] ~ ...`` or ``a[tank]`` in an expression (what labels their draws)."""
    out = {}
    for stmt in statements:
        if stmt.kind == "~" and isinstance(stmt.target.index, Name) and stmt not in graph.likelihoods:
            for name in stmt.target.names:
                out.setdefault(name, stmt.target.index.id)
    for stmt in statements:
        for node in _index_nodes(stmt.expr):
            if isinstance(node.target, Name) and node.target.id in vectors and len(node.indices) == 1 \
                    and isinstance(node.indices[0], Name) and node.indices[0].id in graph.data:
                out.setdefault(node.target.id, node.indices[0].id)
    return {name: column for name, column in out.items() if name in vectors}


def _index_nodes(node):
    """Every ``x[...]`` in an expression, outermost first."""
    if isinstance(node, Index):
        yield node
        yield from _index_nodes(node.target)
        for index in node.indices:
            yield from _index_nodes(index)
    elif isinstance(node, Call):
        for arg in node.args:
            yield from _index_nodes(arg)
    elif isinstance(node, BinOp):
        yield from _index_nodes(node.left)
        yield from _index_nodes(node.right)
    elif isinstance(node, Neg):
        yield from _index_nodes(node.operand)


def code_index_columns(statements: list[Statement], columns: dict) -> dict:
    """Text or categorical columns used only as an index -> codes 1..K (in place); returns their levels.

    Levels sort as R's ``factor()`` sorts text; a categorical keeps its category order (unused
    categories dropped, as lme4 and brms drop them). A text column also used as a number is left
    alone, for :func:`_check_columns` to name.
    """
    from ..design.factors import factor_levels

    as_index, as_value = index_uses(statements)
    levels = {}
    for name in as_index:
        values = columns.get(name)
        if values is None or name in as_value or values.dtype.kind in "biuf":
            continue
        series = pd.Series(values)
        if series.isna().any():
            raise DataError(f"index column {name!r} has missing values: drop those rows or give them a level")
        codes, _, originals = factor_levels(series, name)
        columns[name] = codes + 1
        levels[name] = originals
    return levels


def encode_index(values, levels: pd.Index, name: str) -> np.ndarray:
    """New data's text or categorical index column -> the fit's codes 1..K (an unseen level is an error);
    numbers are taken as codes already."""
    values = pd.Series(values.astype(object) if isinstance(values, pd.Categorical) else values)
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy()
    if values.isna().any():
        raise DataError(f"newdata column {name!r} has missing values")
    plain = pd.Index(levels.astype(object) if isinstance(levels, pd.CategoricalIndex) else levels)
    positions = plain.get_indexer(values.to_numpy(dtype=object))
    if (positions < 0).any():
        unseen = values[positions < 0].iloc[0]
        shown = ", ".join(map(str, list(plain[:10]))) + (" ..." if len(plain) > 10 else "")
        raise DataError(f"newdata column {name!r} has the level {unseen!r}, which the fit did not see; "
                        f"its levels: {shown}")
    return positions.astype(np.int64) + 1


def _check_columns(statements: list[Statement], columns: dict) -> None:
    """A text or categorical column the model uses, or data that are not finite numbers: an error."""
    for stmt in statements:
        for name in sorted(set(stmt.used) | set(stmt.target.names)):
            if name not in columns:
                continue
            values = columns[name]
            if values.dtype.kind not in "biuf":
                raise DataError(f"data column {name!r} holds text, categories or other values that are not numbers "
                                f"({values.dtype}), which the model cannot use as a number (line {stmt.line_no}: "
                                f"{stmt.line.strip()}); such a column can be an index, a[{name}], or convert it "
                                f"first, e.g. data[{name!r}] = pd.factorize(data[{name!r}], sort=True)[0] + 1")
            if values.dtype.kind == "f" and np.isnan(values).any():
                raise DataError(f"data column {name!r} has missing values (line {stmt.line_no}: "
                                f"{stmt.line.strip()}): drop or impute them")
            if values.dtype.kind == "f" and not np.isfinite(values).all():
                raise DataError(f"data column {name!r} has infinite values (line {stmt.line_no}: "
                                f"{stmt.line.strip()})")


def _index_size(stmt: Statement, data: dict) -> int:
    index = stmt.target.index
    if not isinstance(index, Name):
        raise UlamSyntaxError("an index on the left must be a data column, e.g. a[tank]", stmt.line, stmt.line_no)
    if index.id not in data:
        raise UlamSyntaxError(f"index {index.id!r} is not a data column", stmt.line, stmt.line_no)
    size = int(np.max(check_index(data[index.id], index.id, stmt)))
    if size > MAX_ELEMENTS:
        raise DataError(f"index column {index.id!r} has the value {size}, which would make "
                        f"{stmt.target.names[0]!r} a vector of {size} parameters (line {stmt.line_no}: "
                        f"{stmt.line.strip()}); use codes 1..K, e.g. pd.factorize(column)[0] + 1")
    return size


def check_index(values: np.ndarray, name: str, stmt: Statement | None = None) -> np.ndarray:
    """Index columns hold whole numbers 1..K (rethinking's coerce_index)."""
    values = np.asarray(values)
    where = f" (line {stmt.line_no}: {stmt.line.strip()})" if stmt is not None else ""
    if values.size == 0:
        raise DataError(f"index column {name!r} is empty{where}")
    if values.dtype.kind not in "biuf":
        raise DataError(f"index column {name!r} must hold whole numbers 1..K, not {values.dtype}{where}; "
                        f"convert it with pd.factorize(column)[0] + 1")
    if values.dtype.kind == "f":
        if np.isnan(values).any():
            raise DataError(f"index column {name!r} has missing values{where}")
        if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
            raise DataError(f"index column {name!r} must hold whole numbers 1..K{where}")
    if np.min(values) < 1:
        raise DataError(f"index column {name!r} must hold whole numbers 1..K (found minimum {np.min(values)}){where}")
    return values.astype(np.int64)


def build_graph(statements: list[Statement], data) -> ModelGraph:
    columns = _columns(data)
    index_levels = code_index_columns(statements, columns)
    _check_columns(statements, columns)
    data = {name: values for name, values in columns.items() if values.dtype.kind in "biuf"}
    defined = {s.target.names[0]: s for s in statements if s.kind == "<-"}
    graph = ModelGraph(data, index_levels=index_levels)
    for stmt in statements:
        if stmt.kind == "<-" and stmt.target.index is not None:
            raise UlamSyntaxError(f"an index on the left of '<-' is not supported: a definition is computed for "
                                  f"every row at once, write {stmt.target.names[0]} <- ...", stmt.line, stmt.line_no)
        if stmt.kind != "~":
            continue
        call = stmt.expr
        if call.func not in DISTRIBUTIONS:
            raise UlamSyntaxError(f"unknown distribution {call.func!r}; known: {', '.join(sorted(DISTRIBUTIONS))}",
                                  stmt.line, stmt.line_no)
        check_arity(call, DISTRIBUTIONS[call.func].args, stmt, "distribution")
        names = stmt.target.names
        if all(n in data for n in names) and not any(n in defined for n in names):
            if stmt.target.index is not None:
                raise UlamSyntaxError("an index on the left of a likelihood is not supported: the whole data "
                                      f"column is observed, write {', '.join(names)} ~ ...", stmt.line, stmt.line_no)
            if len(names) > 1 and (call.func in CUSTOM or stmt.target.condition is not None):
                raise UlamSyntaxError(f"{'custom()' if call.func in CUSTOM else 'a condition (y|...)'} applies to "
                                      f"one data column: write one line for each of {', '.join(names)}",
                                      stmt.line, stmt.line_no)
            graph.likelihoods.append(stmt)
            continue
        if call.func in CUSTOM or stmt.target.condition is not None:
            what = "custom() adds a log density for each row of" if call.func in CUSTOM else \
                "a condition (y|y==0 ~ ...) selects the rows of"
            raise UlamSyntaxError(f"{what} a data column, but {', '.join(repr(n) for n in names if n not in data)} on "
                                  "the left is not one", stmt.line, stmt.line_no)
        both = [n for n in names if n in defined]
        if both:
            raise UlamSyntaxError(f"{both[0]!r} is defined with '<-' (line {defined[both[0]].line_no}) and also "
                                  "given a distribution with '~': a name is either a parameter (with a prior) "
                                  "or a definition", stmt.line, stmt.line_no)
        observed = [n for n in names if n in data]
        if observed:
            raise ModelError(f"{', '.join(map(repr, observed))} on the left of line {stmt.line_no} "
                             f"({stmt.line.strip()}) is a data column, but the other names there are not: "
                             "write the likelihood of the data and the priors of parameters on separate lines")
        graph.priors.append(stmt)
        size = stmt.target.size
        if stmt.target.index is not None:
            size = _index_size(stmt, data)
            if stmt.target.size is not None and stmt.target.size != size:
                raise UlamSyntaxError(f"vector[{stmt.target.size}] does not match the index, whose largest value "
                                      f"is {size}", stmt.line, stmt.line_no)
        constraint, lower, upper = _constraint(stmt)
        if constraint in ("ordered", "simplex") and (size or 0) < 2:
            raise UlamSyntaxError(f"{constraint}[K] needs K of at least 2", stmt.line, stmt.line_no)
        for name in names:
            shape = (size,) if size else ()
            if call.func in ("lkj_corr", "dlkjcorr"):
                constraint, shape = "corr", (_corr_dimension(name, statements, stmt),) * 2
            if name not in graph.parameters:
                graph.parameters[name] = Parameter(name, shape, constraint, stmt, lower, upper)
    _note_flat_priors(graph)
    _size_scale_vectors(graph, statements)
    _ordinal_cutpoints(graph)
    graph.definitions = _ordered_definitions(list(defined.values()), graph)
    graph.saved = [s.target.names[0] for s in statements if s.kind == "<-" and s.save]
    _check_symbols(statements, graph, set(defined))
    for stmt in graph.likelihoods:
        for name in stmt.target.names:
            graph.nobs = max(graph.nobs, int(np.size(data[name])))
    from .checks import check_model

    check_model(statements, graph)
    return graph


def check_arity(call: Call, expected: tuple, stmt: Statement, what: str) -> None:
    """``dnorm(0, 1, 99)`` or ``dexp()``: an error naming the call, what it takes and the line."""
    if len(call.args) != len(expected):
        raise UlamSyntaxError(f"{what} {call.func}() takes {len(expected)} argument"
                              f"{'' if len(expected) == 1 else 's'} ({', '.join(expected)}) but got {len(call.args)}",
                              stmt.line, stmt.line_no)


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


def _ordinal_cutpoints(graph: ModelGraph) -> None:
    """In ``R ~ dordlogit(phi, cutpoints)`` the cutpoints are an ordered vector of K - 1 values, K the
    largest outcome (as rethinking's template declares them): sized and constrained here unless declared."""
    for stmt in graph.likelihoods:
        call = stmt.expr
        if call.func not in ("ordered_logistic", "dordlogit") or not isinstance(call.args[1], Name):
            continue
        p = graph.parameters.get(call.args[1].id)
        if p is None:
            continue
        outcome = np.asarray(graph.data[stmt.target.names[0]], dtype=float)
        k = int(np.max(outcome)) if outcome.size else 0
        if outcome.size and (np.any(outcome < 1) or np.any(outcome != np.round(outcome)) or k < 2):
            raise DataError(f"{stmt.target.names[0]!r} in {call.func}() must hold whole numbers 1..K with K >= 2 "
                            f"(line {stmt.line_no}: {stmt.line.strip()})")
        if p.shape and p.shape != (k - 1,):
            raise UlamSyntaxError(f"{p.name!r} has {p.shape[0]} cutpoints but the outcome goes up to {k}: "
                                  f"it needs {k - 1}", stmt.line, stmt.line_no)
        if p.constraint not in ("real", "ordered"):
            raise UlamSyntaxError(f"the cutpoints {p.name!r} are an ordered vector: declare them 'ordered[{k - 1}]:"
                                  f"{p.name}' or leave them undeclared", stmt.line, stmt.line_no)
        p.shape, p.constraint = (k - 1,), "ordered"


def _ordered_definitions(definitions: list[Statement], graph: ModelGraph) -> list[Statement]:
    names = {s.target.names[0]: s for s in definitions}
    ordered, done, visiting = [], set(), set()

    def visit(name, path):
        if name in done:
            return
        if name in visiting:
            cycle = path[path.index(name):] + [name]
            stmt = names[name]
            what = f"{name!r} is defined in terms of itself" if len(cycle) == 2 else \
                f"definitions form a cycle: {' -> '.join(cycle)}"
            raise UlamSyntaxError(f"{what}; each '<-' may use only data, parameters and earlier definitions",
                                  stmt.line, stmt.line_no)
        visiting.add(name)
        for dep in sorted(names[name].used):
            if dep in names and not (dep == name and (dep in graph.parameters or dep in graph.data)):
                visit(dep, path + [name])
        visiting.discard(name)
        done.add(name)
        ordered.append(names[name])

    for name in names:
        visit(name, [])
    return ordered


# Stan's density functions as custom() lines call them, name(outcome | parameters...), in Stan's own
# parameterisation (beta_binomial_lpmf(n | N, alpha, beta), neg_binomial_2_lpmf(n | mu, phi)); each
# gives one log density per element (rethinking writes custom() inside a loop over the rows).
# Positions count the outcome as 0.
STAN_DENSITIES = {
    "normal_lpdf": DistributionSpec(("y", "mu", "sigma"), positive=(2,)),
    "cauchy_lpdf": DistributionSpec(("y", "mu", "sigma"), positive=(2,)),
    "student_t_lpdf": DistributionSpec(("y", "nu", "mu", "sigma"), positive=(1, 3)),
    "lognormal_lpdf": DistributionSpec(("y", "mu", "sigma"), positive=(2,)),
    "exponential_lpdf": DistributionSpec(("y", "beta"), positive=(1,)),
    "gamma_lpdf": DistributionSpec(("y", "alpha", "beta"), positive=(1, 2)),
    "beta_lpdf": DistributionSpec(("y", "alpha", "beta"), positive=(1, 2)),
    "uniform_lpdf": DistributionSpec(("y", "alpha", "beta")),
    "binomial_lpmf": DistributionSpec(("n", "N", "theta"), unit=(2,)),
    "binomial_logit_lpmf": DistributionSpec(("n", "N", "alpha")),
    "bernoulli_lpmf": DistributionSpec(("y", "theta"), unit=(1,)),
    "bernoulli_logit_lpmf": DistributionSpec(("y", "alpha")),
    "poisson_lpmf": DistributionSpec(("n", "lambda"), positive=(1,)),
    "poisson_log_lpmf": DistributionSpec(("n", "alpha")),
    "neg_binomial_2_lpmf": DistributionSpec(("n", "mu", "phi"), positive=(1, 2)),
    "neg_binomial_2_log_lpmf": DistributionSpec(("n", "eta", "phi"), positive=(2,)),
    "beta_binomial_lpmf": DistributionSpec(("n", "N", "alpha", "beta"), positive=(2, 3)),
}

# function -> its arguments (None: any number, at least one)
FUNCTIONS = {"exp": ("x",), "log": ("x",), "inv_logit": ("x",), "logit": ("x",), "sqrt": ("x",), "c": None,
             "abs": ("x",), "log1p": ("x",), "expm1": ("x",), "pow": ("x", "y"), "sum": ("x",), "mean": ("x",),
             "softmax": ("x",), "rep_vector": ("x", "n"), "inv": ("x",), "square": ("x",),
             "log_sum_exp": None, "cumulative_sum": ("x",), "dot": ("x", "y"), "dot_product": ("x", "y"),
             # Stan's log-scale helpers, as custom() lines use them
             "log1m": ("x",), "log_mix": ("theta", "lp1", "lp2"), "log_inv_logit": ("x",),
             "log1m_inv_logit": ("x",), "log1m_exp": ("x",),
             **{name: spec.args for name, spec in STAN_DENSITIES.items()}}


def _check_symbols(statements, graph: ModelGraph, defined: set) -> None:
    """Every name is data, a parameter or a definition; an unknown name is an error (a missing data
    column must not become a parameter), naming close names in case of a typo."""
    import difflib

    known = set(graph.data) | set(graph.parameters) | defined
    for stmt in statements:
        for name in sorted(stmt.used):
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=2)
                hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
                raise UlamSyntaxError(f"undefined symbol {name!r}: not a data column, a parameter with a prior, "
                                      f"or a definition{hint} (a parameter with a flat prior is declared on a line "
                                      f"of its own: 'real:{name}')", stmt.line, stmt.line_no)


def _note_flat_priors(graph: ModelGraph) -> None:
    """A FlatPriorWarning for each parameter declared without a prior (``real:b``)."""
    import warnings

    from .checks import _caller_level

    for stmt in graph.priors:
        if stmt.expr.func == FLAT:
            support = {"real": "the real line", "positive": "(0, inf)", "unit": "(0, 1)", "ordered": "ordered vectors",
                       "simplex": "the simplex"}
            p = graph.parameters[stmt.target.names[0]]
            where = support.get(p.constraint, f"({'-inf' if p.lower is None else f'{p.lower:g}'}, "
                                              f"{'inf' if p.upper is None else f'{p.upper:g}'})")
            warnings.warn(f"{p.name!r} (line {stmt.line_no}: {stmt.line.strip()}) has no prior: a flat, improper prior "
                          f"over {where}, as Stan gives; the posterior is proper only if the data pin it down",
                          FlatPriorWarning, stacklevel=_caller_level())


class FlatPriorWarning(UserWarning):
    """A parameter declared without a prior (``real:b``) has a flat, improper prior over its support."""

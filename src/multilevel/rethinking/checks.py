"""Checks of a model graph before anything is compiled: indices, function calls, constants, scales.

Every problem is reported with the model line at fault. What is known before sampling is checked
here, on the data: the values of every index (``a[t2]`` with ``t2`` up to 60 when ``a`` has 48
elements is an error, not a silent gather), the arguments of every function, constant expressions
that are not finite numbers (``0/0``), constant or data scales that are not positive, and scale
parameters whose prior allows negative values (a :class:`~multilevel.errors.DoubtWarning`).
"""
from __future__ import annotations

import os
import sys
import warnings

import numpy as np

from ..errors import DataError, DoubtWarning, ModelError
from .graph import DISTRIBUTIONS, FUNCTIONS, STAN_DENSITIES, DistributionSpec, ModelGraph, check_arity
from .parse import BinOp, Call, Compare, Index, Name, Neg, Num, Statement, UlamSyntaxError, names_in

_NUMPY_FUNCTIONS = {
    "exp": np.exp, "log": np.log, "inv_logit": lambda x: 1 / (1 + np.exp(-x)), "logit": lambda x: np.log(x / (1 - x)),
    "sqrt": np.sqrt, "abs": np.abs, "log1p": np.log1p, "expm1": np.expm1, "inv": lambda x: 1.0 / x,
    "square": np.square, "pow": np.power, "log1m": lambda x: np.log1p(-np.asarray(x, dtype=float)),
}
# functions whose arguments have a range, checked where known before sampling as distributions' are
_FUNCTION_RANGES = {"log_mix": DistributionSpec(("theta", "lp1", "lp2"), unit=(0,)), **STAN_DENSITIES}
_COMPARE = {"==": np.equal, "!=": np.not_equal, ">": np.greater, "<": np.less, ">=": np.greater_equal,
            "<=": np.less_equal}
_LINKS = {"logit": lambda x: 1 / (1 + np.exp(-x)), "log": np.exp}


def check_model(statements: list[Statement], graph: ModelGraph) -> None:
    """Raise on the first problem found (quoting its line); warn about doubtful scale priors."""
    static = _static_environment(graph)
    for stmt in statements:
        walker = _Walker(stmt, graph, static)
        if stmt.kind == "~":
            values = [walker.value(arg) for arg in stmt.expr.args]
            _check_arguments(stmt, stmt.expr, DISTRIBUTIONS[stmt.expr.func], values)
            if stmt.target.condition is not None:
                _check_condition(stmt, graph, walker)
            if stmt.target.index is not None and stmt not in graph.likelihoods:
                for name in stmt.target.names:
                    walker.value(Index(Name(name), (stmt.target.index,)))
        else:
            walker.value(stmt.expr)
            if stmt.target.index is not None:
                walker.value(stmt.target.index)
    _doubtful_scales(statements, graph)


def _static_environment(graph: ModelGraph) -> dict:
    """Data, and the definitions computed from data alone, as numpy arrays (what indices may use)."""
    env = {name: np.asarray(values) for name, values in graph.data.items()}
    for stmt in graph.definitions:
        name = stmt.target.names[0]
        if name in graph.parameters or not stmt.used <= set(env):
            env.pop(name, None)
            continue
        try:
            with np.errstate(all="ignore"):
                value = _Walker(stmt, graph, env, checks=False).value(stmt.expr)
                if value is not None and stmt.target.link:
                    value = _LINKS[stmt.target.link](np.asarray(value, dtype=float))
        except (ValueError, TypeError, IndexError):
            value = None  # e.g. shapes that do not broadcast: reported when the density is evaluated
        if value is None:
            env.pop(name, None)
            continue
        env[name] = value
    return env


class _Walker:
    """Evaluates an expression on data alone (None where it depends on parameters), checking as it goes."""

    def __init__(self, stmt: Statement, graph: ModelGraph, static: dict, checks: bool = True):
        self.stmt, self.graph, self.static, self.checks = stmt, graph, static, checks
        self.sized = {s.target.names[0]: (s.target.size,) for s in graph.definitions if s.target.size}

    def fail(self, error, message: str):
        raise error(f"{message} (line {self.stmt.line_no}: {self.stmt.line.strip()})")

    def value(self, node):
        if isinstance(node, Num):
            return np.float64(node.value)
        if isinstance(node, Name):
            return self.static.get(node.id)
        if isinstance(node, Neg):
            return self._constant(node, self._apply(np.negative, [self.value(node.operand)]))
        if isinstance(node, BinOp):
            op = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "^": np.power,
                  "%*%": lambda a, b: np.matmul(np.asarray(a, dtype=float), np.asarray(b, dtype=float))}[node.op]
            left, right = self.value(node.left), self.value(node.right)
            if node.op == "^" and left is not None and right is not None:
                left = np.asarray(left, dtype=float)  # (-8)^(1/3) is nan, as in JAX, never complex
            return self._constant(node, self._apply(op, [left, right]))
        if isinstance(node, Call):
            return self._constant(node, self._call(node))
        if isinstance(node, Index):
            return self._index(node)
        if isinstance(node, Compare):
            return self._apply(_COMPARE[node.op], [self.value(node.left), self.value(node.right)])
        raise UlamSyntaxError(f"cannot evaluate {node!r}", self.stmt.line, self.stmt.line_no)  # pragma: no cover

    @staticmethod
    def _apply(function, args):
        if any(a is None for a in args):
            return None
        with np.errstate(all="ignore"):
            return function(*[np.asarray(a) if np.ndim(a) else a for a in args])

    def _constant(self, node, value):
        """A constant expression (no names) must be a finite number: ``0/0`` or ``10^1000`` is an error."""
        if self.checks and value is not None and not names_in(node) and not np.all(np.isfinite(value)):
            self.fail(ModelError, f"the constant expression {_text(node)} is {np.asarray(value).ravel()[0]}, "
                                  "not a finite number")
        return value

    def _call(self, node: Call):
        if node.func in DISTRIBUTIONS and node.func not in FUNCTIONS:
            self.fail(UlamSyntaxError, f"{node.func}() is a distribution: use it on the right of '~', "
                                       "not inside an expression (in custom(), a log density is written with "
                                       "Stan's functions, e.g. normal_lpdf(y | mu, sigma))")
        if node.func not in FUNCTIONS:
            import difflib

            close = difflib.get_close_matches(node.func, sorted(FUNCTIONS), n=2)
            hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
            self.fail(UlamSyntaxError, f"unknown function {node.func!r}; {hint}known: {', '.join(sorted(FUNCTIONS))}")
        expected = FUNCTIONS[node.func]
        if expected is None:
            if not node.args:
                self.fail(UlamSyntaxError, f"{node.func}() needs at least one argument")
        else:
            check_arity(node, expected, self.stmt, "function")
        args = [self.value(a) for a in node.args]
        if node.func in _FUNCTION_RANGES and self.checks:
            _check_arguments(self.stmt, node, _FUNCTION_RANGES[node.func], args)
        if node.func in _NUMPY_FUNCTIONS:
            return self._apply(_NUMPY_FUNCTIONS[node.func], args)
        if node.func == "rep_vector":
            n = node.args[1]
            if not isinstance(n, Num) or not n.value.is_integer() or not 1 <= n.value <= 10_000_000:
                self.fail(ModelError, f"rep_vector(x, n) needs n written as a whole number >= 1, "
                                      f"not {_text(node.args[1])}")
        return None  # c(), sum(), softmax()...: evaluated with the parameters

    def _index(self, node: Index):
        if not isinstance(node.target, Name):
            self.value(node.target)
            for index in node.indices:
                self._index_values(index, None, None)
            return None
        name = node.target.id
        shape = self._shape(name)
        if shape is not None and len(node.indices) > len(shape):
            what = "a single number" if not shape else f"{len(shape)}-dimensional"
            self.fail(ModelError, f"{name!r} is {what} but is indexed with {len(node.indices)} "
                                  f"ind{'ex' if len(node.indices) == 1 else 'ices'} in {_text(node)}")
        positions = []
        for axis, index in enumerate(node.indices):
            size = shape[axis] if shape is not None else None
            positions.append(self._index_values(index, name, size))
        target = self.static.get(name)
        if target is None or any(p is None for p in positions):
            return None
        try:
            return np.asarray(target)[tuple(p - 1 for p in positions)]
        except IndexError:
            return None

    def _shape(self, name: str):
        if name in self.graph.parameters:
            return tuple(self.graph.parameters[name].shape)
        if name in self.sized:
            return self.sized[name]
        if name in self.graph.data:
            return np.shape(self.graph.data[name])
        return None

    def _index_values(self, index, name, size):
        """The whole numbers 1..size an index holds (None where only known while sampling)."""
        values = self.value(index)
        if not self.checks:
            return None if values is None else np.asarray(values).astype(np.int64)
        label = _text(index)
        if values is None:
            moving = sorted(n for n in names_in(index) if n not in self.static)
            self.fail(ModelError, f"the index {label} of {name or _text(index)!r} depends on "
                                  f"{', '.join(map(repr, moving))}, which is not data: indices must be data "
                                  "columns of whole numbers 1..K (or whole numbers)")
        values = np.asarray(values)
        kind = "index column" if isinstance(index, Name) else "index"
        label = repr(label) if isinstance(index, Name) else label
        if values.dtype.kind not in "biuf":
            self.fail(DataError, f"{kind} {label} must hold whole numbers 1..K, not {values.dtype}")
        if values.size == 0:
            self.fail(DataError, f"{kind} {label} is empty")
        with np.errstate(all="ignore"):
            whole = np.isfinite(values) & (values == np.round(values))
        if not np.all(whole):
            bad = values[~whole].ravel()[0]
            self.fail(DataError if names_in(index) else UlamSyntaxError,
                      f"{kind} {label} must hold whole numbers 1..K, but holds {float(bad):g}")
        if np.min(values) < 1:
            self.fail(DataError if names_in(index) else ModelError,
                      f"{kind} {label} must hold whole numbers 1..K (indices start at 1), "
                      f"but holds {float(np.min(values)):g}")
        if size is not None and np.max(values) > size:
            self.fail(DataError if names_in(index) else ModelError,
                      f"{kind} {label} goes up to {float(np.max(values)):g}, but {name!r} has only {size} "
                      f"element{'' if size == 1 else 's'}{self._sized_by(name)}")
        return values.astype(np.int64)

    def _sized_by(self, name):
        if name in self.graph.parameters:
            stmt = self.graph.parameters[name].statement
            if stmt is not None:
                return f" (its size comes from line {stmt.line_no}: {stmt.line.strip()})"
        return " (its length in the data)" if name in self.graph.data else ""


def _check_condition(stmt: Statement, graph: ModelGraph, walker: _Walker) -> None:
    """``y|y==0 ~ ...``: the condition is computed from data alone, one value per row of ``y`` (or one for all)."""
    condition = stmt.target.condition
    mask = walker.value(condition)
    if mask is None:
        moving = sorted(n for n in names_in(condition) if n not in walker.static)
        walker.fail(ModelError, f"the condition {_text(condition)} depends on {', '.join(map(repr, moving))}, which "
                                "is not data: a condition selects rows of the data before sampling")
    rows = np.shape(graph.data[stmt.target.names[0]])[:1]
    if np.ndim(mask) > 1 or np.shape(mask) not in ((), rows):
        walker.fail(ModelError, f"the condition {_text(condition)} has shape {np.shape(mask)}, but "
                                f"{stmt.target.names[0]!r} has {rows[0] if rows else 1} rows: it needs one value a row")


def _check_arguments(stmt: Statement, call: Call, spec, values: list) -> None:
    """Scales, rates and probabilities known before sampling (constants or data) must be in range:
    the arguments of ``call`` (a distribution, or a Stan density call inside custom()) by ``spec``."""
    for position, value in enumerate(values):
        if value is None:
            continue
        value = np.asarray(value, dtype=float) if np.asarray(value).dtype.kind in "biuf" else None
        if value is None:
            continue
        bad = None
        if position in spec.positive and not np.all(value > 0):
            bad = "positive"
        elif position in spec.unit and not np.all((value >= 0) & (value <= 1)):
            bad = "between 0 and 1"
        if bad:
            shown = value.ravel()[~((value > 0) if bad == "positive" else ((value >= 0) & (value <= 1))).ravel()][0]
            source = "" if isinstance(call.args[position], (Num, Neg)) else f"{_text(call.args[position])} is "
            raise ModelError(f"the {spec.args[position]} of {call.func}() must be {bad}, but {source}{shown:g} "
                             f"(line {stmt.line_no}: {stmt.line.strip()})")


def _doubtful_scales(statements: list[Statement], graph: ModelGraph) -> None:
    """A parameter used as a scale (or probability) whose prior allows values outside that range."""
    defined = {s.target.names[0] for s in statements if s.kind == "<-"}
    warned = set()
    for stmt in statements:
        if stmt.kind != "~":
            continue
        spec = DISTRIBUTIONS[stmt.expr.func]
        for position, arg in enumerate(stmt.expr.args):
            target = arg.target if isinstance(arg, Index) else arg
            if not isinstance(target, Name) or target.id in defined or target.id in warned:
                continue
            parameter = graph.parameters.get(target.id)
            if parameter is None:
                continue
            prior = parameter.statement
            if prior is None:  # a flat-prior parameter: FlatPriorWarning has said so already
                continue
            if position in spec.positive and parameter.constraint == "real":
                fix = _positive_prior(prior)
                message = (f"{target.id!r} is the {spec.args[position]} of {stmt.expr.func}() on line {stmt.line_no} "
                           f"({stmt.line.strip()}), but its prior on line {prior.line_no} ({prior.line.strip()}) "
                           f"allows negative values, which the sampler will draw: use {fix}")
            elif position in spec.unit and parameter.constraint not in ("unit",):
                message = (f"{target.id!r} is the {spec.args[position]} of {stmt.expr.func}() on line {stmt.line_no} "
                           f"({stmt.line.strip()}), but its prior on line {prior.line_no} ({prior.line.strip()}) "
                           f"allows values outside 0..1: use a prior on (0, 1) such as '{target.id} ~ dbeta(1, 1)', "
                           f"or a link: 'logit({target.id}) <- ...'")
            else:
                continue
            warned.add(target.id)
            warnings.warn(message, DoubtWarning, stacklevel=_caller_level())


def _caller_level() -> int:
    """The stacklevel of the first frame outside this package (the user's call to ulam or build_graph)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def _positive_prior(prior: Statement) -> str:
    call, name = prior.expr, prior.target.names[0]
    half = {"normal": "dhalfnorm", "dnorm": "dhalfnorm", "cauchy": "dhalfcauchy", "dcauchy": "dhalfcauchy"}
    if call.func in half and len(prior.target.names) == 1:
        args = ", ".join(_text(a) for a in call.args)
        return f"'{name} ~ {half[call.func]}({args})' or '{name} ~ dexp(1)'"
    return f"a prior on positive values, e.g. '{name} ~ dexp(1)' or '{name} ~ dhalfnorm(0, 1)'"


def _text(node) -> str:
    """An expression written back as model text (for messages)."""
    if isinstance(node, Num):
        return f"{node.value:g}"
    if isinstance(node, Name):
        return node.id
    if isinstance(node, Neg):
        return f"-{_text(node.operand)}"
    if isinstance(node, BinOp):
        return f"({_text(node.left)} {node.op} {_text(node.right)})"
    if isinstance(node, Compare):
        return f"{_text(node.left)} {node.op} {_text(node.right)}"
    if isinstance(node, Call):
        return f"{node.func}({', '.join(_text(a) for a in node.args)})"
    if isinstance(node, Index):
        return f"{_text(node.target)}[{', '.join(_text(i) for i in node.indices)}]"
    return repr(node)  # pragma: no cover

"""rethinking's model language, line by line: text -> tokens -> statements (an AST). Nothing is eval'd.

A statement is ``target ~ distribution(args)`` or ``target <- expression``. Targets: ``a``,
``a[g]``, ``vector[61]:a``, ``c(a, b)``, ``c(a, b)[g]``, ``logit(p)`` / ``log(lambda)`` (on ``<-``),
a condition on a likelihood's rows (``y|y==0 ~ custom(...)``), and a ``save>`` prefix that keeps a
deterministic quantity in the draws. Stan's density calls separate the outcome with a bar:
``normal_lpdf(y | mu, sigma)`` (read as the call ``normal_lpdf(y, mu, sigma)``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import ArgumentError, MultilevelError

MAX_DEPTH = 100  # nesting of brackets and operators in one expression; model lines use a handful
MAX_VECTOR = 10_000_000  # elements of one vector[K] declaration

_TOKEN = re.compile(r"\s*(?:(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+)|([A-Za-z_.][A-Za-z0-9_.]*)|(<-|\*\*|%\*%|==|!=|>=|<=|[~+\-*/^()\[\],:><=|]))")
COMPARISONS = ("==", "!=", ">", "<", ">=", "<=")  # in a likelihood's condition only: y|y==0 ~ ...
DENSITY_CALL = re.compile(r"[A-Za-z0-9_.]+_(lpdf|lpmf)$")  # Stan's normal_lpdf(y | mu, sigma)


class UlamSyntaxError(MultilevelError):
    """A model line that cannot be parsed; the message quotes the line and points at the fault."""

    def __init__(self, message: str, line: str = "", line_no: int = 0, pos: int | None = None):
        where = f" (line {line_no})" if line_no else ""
        text = f"{message}{where}"
        if line:
            text += f"\n  {line}"
            if pos is not None:
                text += f"\n  {' ' * pos}^"
        super().__init__(text)
        self.line, self.line_no = line, line_no


# ---- expressions ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Name:
    id: str


@dataclass(frozen=True)
class Index:
    target: object
    indices: tuple


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple


@dataclass(frozen=True)
class BinOp:
    op: str
    left: object
    right: object


@dataclass(frozen=True)
class Neg:
    operand: object


@dataclass(frozen=True)
class Compare:
    """``left op right`` with op in :data:`COMPARISONS`: only in a likelihood's condition (``y|y>0``)."""

    op: str
    left: object
    right: object


def names_in(node) -> set[str]:
    """Every symbol an expression refers to (function names excluded)."""
    if isinstance(node, Name):
        return {node.id}
    if isinstance(node, Num):
        return set()
    if isinstance(node, Index):
        return names_in(node.target).union(*[names_in(i) for i in node.indices])
    if isinstance(node, Call):
        return set().union(*[names_in(a) for a in node.args]) if node.args else set()
    if isinstance(node, (BinOp, Compare)):
        return names_in(node.left) | names_in(node.right)
    if isinstance(node, Neg):
        return names_in(node.operand)
    return set()


# ---- statements -------------------------------------------------------------------------------
@dataclass
class Target:
    names: tuple[str, ...]
    index: object = None  # expression of the grouping index, e.g. Name("tank")
    size: int | None = None  # vector[61]:a
    link: str | None = None  # logit(p) <- ...
    grouped: bool = False  # written as c(...)
    declared: str | None = None  # the declared type: real, vector, ordered or simplex
    lower: float | None = None  # real<lower=0>:tau, vector<lower=0, upper=1>[K]:p
    upper: float | None = None
    condition: object = None  # y|y==0 ~ ...: a Compare selecting the rows the line applies to


DECLARED_TYPES = ("real", "vector", "ordered", "simplex")  # Stan's types as ulam declares them


@dataclass
class Statement:
    kind: str  # "~" or "<-"
    target: Target
    expr: object  # Call for "~", any expression for "<-"
    line: str
    line_no: int
    save: bool = False
    used: set = field(default_factory=set)


class _Tokens:
    def __init__(self, text: str, line_no: int):
        self.text, self.line_no = text, line_no
        self.items: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            if text[pos].isspace():
                pos += 1
                continue
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise UlamSyntaxError(f"unexpected character {text[pos]!r}", text, line_no, pos)
            kind = "num" if m.group(1) else "name" if m.group(2) else "op"
            value = m.group(1) or m.group(2) or m.group(3)
            if kind == "num" and float(value) == float("inf"):
                raise UlamSyntaxError(f"the number {value} is too large for a 64-bit float", text, line_no,
                                      m.start(m.lastindex))
            self.items.append((kind, value, m.start(m.lastindex)))
            pos = m.end()
        self.i = 0
        self.depth = 0

    def peek(self, k: int = 0):
        j = self.i + k
        return self.items[j] if j < len(self.items) else (None, None, len(self.text))

    def next(self):
        item = self.peek()
        self.i += 1
        return item

    def expect(self, value: str):
        kind, got, pos = self.next()
        if got != value:
            raise UlamSyntaxError(f"expected {value!r} but found {got or 'the end of the line'!r}",
                                  self.text, self.line_no, pos)

    def error(self, message: str):
        raise UlamSyntaxError(message, self.text, self.line_no, self.peek()[2])


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "%*%": 3, "^": 4, "**": 4}  # R: %*% binds tighter than * and /


def _expression(toks: _Tokens, min_prec: int = 1):
    left = _unary(toks)
    while True:
        kind, op, _ = toks.peek()
        if kind != "op" or op not in _PRECEDENCE or _PRECEDENCE[op] < min_prec:
            return left
        toks.next()
        right_assoc = op in ("^", "**")
        right = _expression(toks, _PRECEDENCE[op] + (0 if right_assoc else 1))
        left = BinOp("^" if op == "**" else op, left, right)


def parse_expression(text: str):
    """One expression (numbers, names, ``+ - * / ^``, calls, ``name[i, j]``) -> its tree; used by
    brm's ``hypothesis()`` too. Anything after the expression is an UlamSyntaxError."""
    toks = _Tokens(text, 0)
    node = _expression(toks)
    if toks.peek()[1] is not None:
        toks.error(f"unexpected {toks.peek()[1]!r} after the expression")
    return node


def _unary(toks: _Tokens):
    toks.depth += 1
    if toks.depth > MAX_DEPTH:
        toks.error(f"the expression is nested more than {MAX_DEPTH} levels deep (brackets, signs or '^')")
    try:
        kind, value, _ = toks.peek()
        if value == "-":
            toks.next()
            return Neg(_unary(toks))
        if value == "+":
            toks.next()
            return _unary(toks)
        return _postfix(toks, _primary(toks))
    finally:
        toks.depth -= 1


def _primary(toks: _Tokens):
    kind, value, pos = toks.next()
    if kind == "num":
        return Num(float(value))
    if kind == "name":
        if toks.peek()[1] == "(":
            toks.next()
            args = []
            density = DENSITY_CALL.match(value) is not None
            if toks.peek()[1] != ")":
                args.append(_expression(toks))
                if toks.peek()[1] == "|" and not density:
                    toks.error(f"'|' separates the outcome only in Stan's density calls, e.g. normal_lpdf(y | mu, "
                               f"sigma); {value}() takes its arguments separated by ','")
                if density and toks.peek()[1] != "|":
                    toks.error(f"{value}() takes the outcome, then '|', then the parameters: {value}(y | ...)")
                if density:
                    toks.next()
                    args.append(_expression(toks))
                while toks.peek()[1] == ",":
                    toks.next()
                    args.append(_expression(toks))
            elif density:
                toks.error(f"{value}() takes the outcome, then '|', then the parameters: {value}(y | ...)")
            toks.expect(")")
            return Call(value, tuple(args))
        return Name(value)
    if value == "(":
        inner = _expression(toks)
        toks.expect(")")
        return inner
    toks.i -= 1
    toks.error(f"expected a number, a name or '(' but found {value or 'the end of the line'!r}")


def _postfix(toks: _Tokens, node):
    while toks.peek()[1] == "[":
        toks.next()
        indices = [_expression(toks)]
        while toks.peek()[1] == ",":
            toks.next()
            indices.append(_expression(toks))
        toks.expect("]")
        node = Index(node, tuple(indices))
    return node


def _target(toks: _Tokens, kind: str) -> Target:
    size = declared = None
    bounds: dict = {}
    if toks.peek()[1] in DECLARED_TYPES and toks.peek(1)[1] in ("[", ":", "<"):
        declared = toks.next()[1]
        if toks.peek()[1] == "<":
            if declared in ("ordered", "simplex"):
                toks.error(f"{declared}[K] takes no bounds: its values are constrained by the type itself")
            bounds = _bounds(toks)
        if declared != "real":
            toks.expect("[")
            k, value, pos = toks.next()
            if k != "num" or not float(value).is_integer() or not 1 <= float(value) <= MAX_VECTOR:
                raise UlamSyntaxError(f"{declared}[...] needs a whole number of elements, 1 to {MAX_VECTOR}",
                                      toks.text, toks.line_no, pos)
            size = int(float(value))
            toks.expect("]")
        toks.expect(":")
        if kind != "~" and (bounds or declared in ("ordered", "simplex")):
            toks.error(f"a {declared} with constraints is a parameter: declare it on its prior line, "
                       f"e.g. '{declared}<lower=0>:tau ~ dexp(1)'" if bounds else
                       f"a {declared} is a parameter: declare it on its prior line")
    kind_tok, value, pos = toks.next()
    if kind_tok != "name":
        raise UlamSyntaxError("a statement starts with the name it defines", toks.text, toks.line_no, pos)
    if value == "c" and toks.peek()[1] == "(":
        toks.next()
        names = [_target_name(toks)]
        while toks.peek()[1] == ",":
            toks.next()
            names.append(_target_name(toks))
        toks.expect(")")
        if len(set(names)) < len(names):
            raise UlamSyntaxError("a name appears twice in c(...)", toks.text, toks.line_no, pos)
        target = Target(tuple(names), size=size, grouped=True)
    elif value in ("logit", "log") and toks.peek()[1] == "(" and kind == "<-":
        toks.next()
        inner = _target_name(toks)
        toks.expect(")")
        target = Target((inner,), size=size, link=value)
    else:
        target = Target((value,), size=size)
    if toks.peek()[1] == "[":
        toks.next()
        target.index = _expression(toks)
        toks.expect("]")
    if toks.peek()[1] == "|":
        if kind != "~":
            toks.error("a condition (y|y==0 ~ ...) selects the rows of a likelihood: it goes on a '~' line")
        toks.next()
        target.condition = _condition(toks)
    target.declared, target.lower, target.upper = declared, bounds.get("lower"), bounds.get("upper")
    return target


def _condition(toks: _Tokens) -> Compare:
    """rethinking's ``y|y==0``, ``y|y>0``, ``admit|male2>-1``: one comparison of two expressions."""
    left = _expression(toks)
    op = toks.peek()[1]
    if op not in COMPARISONS:
        toks.error(f"a condition compares two values with one of {' '.join(COMPARISONS)}, e.g. y|y==0 ~ ...")
    toks.next()
    return Compare(op, left, _expression(toks))


def _bounds(toks: _Tokens) -> dict:
    """``<lower=0>``, ``<upper=1>``, ``<lower=-1, upper=1>``: numbers (a sign allowed), lower < upper."""
    toks.expect("<")
    bounds = {}
    while True:
        kind, name, pos = toks.next()
        if name not in ("lower", "upper") or name in bounds:
            raise UlamSyntaxError("a bound is written lower=<number> or upper=<number>, each once",
                                  toks.text, toks.line_no, pos)
        toks.expect("=")
        sign = -1.0 if toks.peek()[1] == "-" else 1.0
        if toks.peek()[1] in ("-", "+"):
            toks.next()
        kind, value, pos = toks.next()
        if kind != "num":
            raise UlamSyntaxError(f"the {name} bound must be a number", toks.text, toks.line_no, pos)
        bounds[name] = sign * float(value)
        if toks.peek()[1] != ",":
            break
        toks.next()
    toks.expect(">")
    if "lower" in bounds and "upper" in bounds and not bounds["lower"] < bounds["upper"]:
        toks.error(f"the lower bound {bounds['lower']:g} is not below the upper bound {bounds['upper']:g}")
    return bounds


def _target_name(toks: _Tokens) -> str:
    kind, value, pos = toks.next()
    if kind != "name":
        raise UlamSyntaxError(f"expected a name but found {value or 'the end of the line'!r}",
                              toks.text, toks.line_no, pos)
    return value


def depth(node) -> int:
    """How deeply an expression nests (counted without recursion: ``1+1+...+1`` is a deep tree)."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        children = (node.left, node.right) if isinstance(node, (BinOp, Compare)) else (node.operand,) if isinstance(node, Neg) \
            else node.args if isinstance(node, Call) else (node.target, *node.indices) if isinstance(node, Index) \
            else ()
        stack.extend((child, level + 1) for child in children)
    return deepest


def parse_line(line: str, line_no: int) -> Statement | None:
    """One line -> Statement (None for blank or comment-only lines)."""
    text = line.split("#", 1)[0].rstrip()
    if not text.strip():
        return None
    save = False
    stripped = text.lstrip()
    if stripped.startswith("save>"):
        save = True
        text = stripped[len("save>"):]
    toks = _Tokens(text, line_no)
    arrow = [v for k, v, _ in toks.items if v in ("~", "<-")]
    if not arrow and toks.peek()[1] in DECLARED_TYPES and toks.peek(1)[1] in ("[", ":", "<"):
        return _declaration(toks, line, line_no, save)
    equals = [pos for k, v, pos in toks.items if v == "="]
    if not arrow and equals:
        raise UlamSyntaxError("'=' does not define anything here: write '<-' for a definition or '~' for a "
                              "distribution", text, line_no, equals[0])
    if len(arrow) != 1:
        raise UlamSyntaxError("each line needs exactly one '~' (distribution) or '<-' (definition)",
                              line.rstrip(), line_no, 0)
    kind = arrow[0]
    target = _target(toks, kind)
    toks.expect(kind)
    expr = _expression(toks)
    if toks.peek()[1] is not None:
        toks.error(f"unexpected {toks.peek()[1]!r} after the end of the statement")
    if depth(expr) > MAX_DEPTH or any(part is not None and depth(part) > MAX_DEPTH
                                      for part in (target.index, target.condition)):
        raise UlamSyntaxError(f"the expression is nested more than {MAX_DEPTH} levels deep", line.rstrip(), line_no)
    if kind == "~" and not isinstance(expr, Call):
        raise UlamSyntaxError("the right side of '~' must be a distribution, e.g. normal(0, 1)",
                              line.rstrip(), line_no, 0)
    statement = Statement(kind, target, expr, line.rstrip(), line_no, save)
    statement.used = names_in(expr) | names_in(target.index) | names_in(target.condition)
    return statement


def _declaration(toks: _Tokens, line: str, line_no: int, save: bool) -> Statement:
    """``real:b`` or ``vector<lower=0>[3]:s`` alone on a line: a parameter without a prior statement,
    so with a flat (improper) prior over its support, as Stan gives one: read as ``b ~ flat()``."""
    target = _target(toks, "~")
    if save or target.index is not None or target.grouped or target.link or target.condition is not None:
        toks.error("a declaration alone names one parameter, e.g. 'real<lower=0>:tau' or 'vector[3]:b'")
    if toks.peek()[1] is not None:
        toks.error(f"unexpected {toks.peek()[1]!r} after the declaration: give the prior with '~' on this line, "
                   "or leave the parameter flat")
    return Statement("~", target, Call(FLAT, ()), line.rstrip(), line_no, False)


FLAT = "flat"  # the prior of a parameter declared alone on a line: constant over its support


def parse_model(model) -> list[Statement]:
    """A multi-line string or a list of lines -> statements, in order."""
    if isinstance(model, str):
        lines = model.splitlines()
    elif isinstance(model, (list, tuple)) and all(isinstance(line, str) for line in model):
        lines = [part for line in model for part in (line.splitlines() or [""])]
    else:
        raise ArgumentError(f"model must be a string or a list of lines (strings), not {type(model).__name__}")
    statements = [parse_line(line, i + 1) for i, line in enumerate(lines)]
    statements = [s for s in statements if s is not None]
    if not statements:
        raise UlamSyntaxError("the model has no statements")
    return statements

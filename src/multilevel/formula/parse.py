"""lme4 formula text -> :class:`ParsedFormula`, in named phases: tokens -> terms -> bars.

The text is tokenized and checked here, never evaluated: every name is either a data column, a
whitelisted transform (``np.log``, ``I``, ``C``, ...) or a contrast name inside ``C(...)``. The fixed
part is handed to formulaic (as validated text) by :mod:`multilevel.design`; the random-effects bars
``(lhs | group)`` and ``(lhs || group)`` with ``a/b`` and ``a:b`` grouping are ours.
"""
from __future__ import annotations

import contextlib
import difflib
import math
import re
from dataclasses import dataclass, field

from ..errors import FormulaError

# Functions a formula may call. Anything else followed by "(" is rejected before formulaic sees it.
ALLOWED_FUNCTIONS = frozenset(
    {
        "I", "C", "factor", "as.factor", "log", "log2", "log10", "log1p", "exp", "sqrt", "abs", "scale", "center",
        "poly", "offset", "cbind",
        "np.log", "np.log2", "np.log10", "np.log1p", "np.exp", "np.sqrt", "np.abs",
        "np.square", "np.sin", "np.cos", "np.tanh",
    }
)
# Names allowed as later arguments of C(...): contrast codings.
CONTRAST_NAMES = frozenset(
    {"contr.treatment", "contr.sum", "contr.poly", "contr.helmert", "Treatment", "Sum", "Poly",
     "Helmert", "levels", "contr", "True", "False"}
)

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_.]*|\.[A-Za-z_][A-Za-z0-9_.]*|`[^`]+`)
  | (?P<string>'[^']*'|"[^"]*")
  | (?P<op>\|\||\*\*|>=|<=|==|!=|[~+\-*/:|^(),=%<>])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # "name", "number", "string", "op"
    text: str
    pos: int  # character offset in the formula text


def tokenize(text: str) -> list[Token]:
    """Split formula text into tokens; an unknown character is a :class:`FormulaError` at its place."""
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise FormulaError(f"unexpected character {text[pos]!r}", text, pos)
        if match.lastgroup != "ws":
            value = match.group()
            if match.lastgroup == "name" and value.startswith("`"):
                value = value[1:-1]
            tokens.append(Token(match.lastgroup, value, pos))
        pos = match.end()
    return tokens


@dataclass(frozen=True)
class Bar:
    """One random-effects term as written: ``(lhs | group)``, after ``a/b`` and ``||`` expansion.

    ``lhs`` is formula text for the per-observation model matrix (formulaic adds the intercept
    unless it says ``0 +`` or ``- 1``); ``group_vars`` are the data columns whose interaction is
    the grouping factor; ``group_name`` is the name lme4 prints (``"cask:batch"``).
    """

    lhs: str
    group_vars: tuple[str, ...]
    correlated: bool = True
    pos: int = 0
    # covariance structure as glmmTMB writes it around the term: "us" (unstructured, lme4's), "cs",
    # "ar1", "diag" or "homdiag" (``ar1(0 + f | g)``)
    structure: str = "us"

    @property
    def text(self) -> str:
        """The term as written back: ``(Days | Subject)``, ``ar1(0 + dayf | Subject)``."""
        inner = f"({self.lhs} | {self.group_name})"
        return inner if self.structure == "us" else self.structure + inner

    @property
    def group_name(self) -> str:
        return ":".join(self.group_vars)


@dataclass(frozen=True)
class ParsedFormula:
    """The parsed pieces of an lme4 formula."""

    text: str
    response: str  # response text, "" when absent
    fixed: str  # fixed-effects right-hand side text, e.g. "1 + Days"
    bars: tuple[Bar, ...]
    variables: tuple[str, ...] = field(default=())  # data columns named anywhere, in order
    offsets: tuple[str, ...] = field(default=())  # expressions inside offset(...) terms
    response_additions: tuple[tuple[str, str], ...] = field(default=())  # brms: y | trials(n) -> ("trials", "n")

    @property
    def display(self) -> str:
        """The formula spaced as R deparses it: ``Reaction ~ Days + (Days | Subject)``."""
        return _join(tokenize(self.text))


# Deeper nesting than this is a FormulaError: formulaic evaluates terms recursively, and no model
# needs it (R's own parser stops near 50 levels with "contextstack overflow").
MAX_NESTING = 100


def _check_parens(tokens: list[Token], text: str) -> None:
    depth_stack = []
    for tok in tokens:
        if tok.text == "(":
            depth_stack.append(tok)
            if len(depth_stack) > MAX_NESTING:
                raise FormulaError(f"parentheses are nested more than {MAX_NESTING} deep", text, tok.pos)
        elif tok.text == ")":
            if not depth_stack:
                raise FormulaError("unmatched ')'", text, tok.pos)
            depth_stack.pop()
    if depth_stack:
        opened = depth_stack[-1]
        before = tokens[tokens.index(opened) - 1] if tokens.index(opened) > 0 else None
        call = f" of {before.text}(...)" if before is not None and before.kind == "name" else ""
        raise FormulaError(f"unmatched '('{call}: it is never closed", text, opened.pos)


# More model terms than this is a FormulaError: formulaic's expansion of (a + ... + l)^12 or a 12-way
# a*b*...*l takes minutes (it grows faster than the 2^k terms), and no mixed model needs thousands.
MAX_TERMS = 1000
_TERM_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, ":": 3, "%": 3, "^": 4, "**": 4}


def _count_terms(tokens: list[Token]) -> int:
    """An upper bound on the number of terms R's formula algebra makes of ``tokens``.

    Precedence climbing over ``+ - * / : ^``: a*b has a + b + ab terms, (a + b + c)^2 has
    C(3,1) + C(3,2), a call or a parenthesized sum is one factor. The nesting limit keeps the
    recursion shallow.
    """
    pos = 0

    def primary() -> int:
        nonlocal pos
        while pos < len(tokens) and tokens[pos].text in {"+", "-"}:  # unary: "- 1", "+ x", "- - x"
            pos += 1
        if pos >= len(tokens):
            return 1
        tok = tokens[pos]
        if tok.text == "(":
            close = _closing_paren(tokens, pos)
            close = len(tokens) - 1 if close < 0 else close
            inner, pos = tokens[pos + 1 : close], close + 1
            return _count_terms(inner)
        if tok.kind == "name" and pos + 1 < len(tokens) and tokens[pos + 1].text == "(":
            close = _closing_paren(tokens, pos + 1)
            pos = len(tokens) if close < 0 else close + 1
            return 1
        pos += 1
        return 1

    def expression(min_precedence: int) -> int:
        nonlocal pos
        left = primary()
        while (pos < len(tokens) and tokens[pos].kind == "op" and tokens[pos].text in _TERM_PRECEDENCE
               and _TERM_PRECEDENCE[tokens[pos].text] >= min_precedence):
            op = tokens[pos].text
            pos += 1
            if op in {"^", "**"}:
                order = left
                if pos < len(tokens) and tokens[pos].text == "(":  # x^(2): skip the group, assume the worst
                    close = _closing_paren(tokens, pos)
                    pos = len(tokens) if close < 0 else close + 1
                elif pos < len(tokens):
                    with contextlib.suppress(ValueError, OverflowError):  # a name, or 1e999
                        order = min(left, int(float(tokens[pos].text)))
                    pos += 1
                left = sum(math.comb(left, i) for i in range(1, max(order, 1) + 1)) if left <= 64 else 2**64
                continue
            right = expression(_TERM_PRECEDENCE[op] + 1)
            if op in {"+", "-"}:
                left = left + right
            elif op == "*":
                left = left + right + left * right
            elif op == "/":
                left = left + left * right
            else:
                left = left * right
            left = min(left, 2**64)
        return left

    total = 0
    while pos < len(tokens):
        start = pos
        total += expression(0)
        if pos == start:  # a token no rule consumes (cannot happen after the checks): step over it
            pos += 1
    return total


def _check_term_count(tokens: list[Token], text: str, where: int) -> None:
    count = _count_terms(tokens)
    if count > MAX_TERMS:
        shown = f"{count}" if count < 10**9 else "more than a billion"
        raise FormulaError(f"this part of the formula expands to up to {shown} terms (more than {MAX_TERMS}); "
                           "write the interactions you need, e.g. (a + b + c)^2 instead of a*b*c*...", text, where)


def _split_top(tokens: list[Token], separators: set[str]) -> list[tuple[Token | None, list[Token]]]:
    """Split at separators outside parentheses; each piece keeps the separator before it."""
    pieces: list[tuple[Token | None, list[Token]]] = [(None, [])]
    depth = 0
    for tok in tokens:
        if tok.text == "(":
            depth += 1
        elif tok.text == ")":
            depth -= 1
        if depth == 0 and tok.kind == "op" and tok.text in separators:
            pieces.append((tok, []))
        else:
            pieces[-1][1].append(tok)
    return pieces


def _join(tokens: list[Token]) -> str:
    out = []
    for tok in tokens:
        text = f"`{tok.text}`" if tok.kind == "name" and not _plain_name(tok.text) else tok.text
        if tok.kind == "op" and tok.text in {"+", "-", "*", "/", "~", "|", "||", "**", "^", "=", ">", "<",
                                             ">=", "<=", "==", "!="}:
            out.append(f" {text} ")
        elif tok.text == ",":
            out.append(", ")
        else:
            out.append(text)
    return re.sub(r"\s+", " ", "".join(out)).strip()


def _plain_name(name: str) -> bool:
    return re.fullmatch(r"[A-Za-z_.][A-Za-z0-9_.]*", name) is not None


def _unknown_function(tok: Token, text: str) -> FormulaError:
    close = difflib.get_close_matches(tok.text, sorted(ALLOWED_FUNCTIONS), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}(...)?" if close else ""
    return FormulaError(
        f"function {tok.text!r} is not supported in formulas{hint} "
        f"(allowed: {', '.join(sorted(ALLOWED_FUNCTIONS))})",
        text,
        tok.pos,
    )


def _check_expression(tokens: list[Token], text: str, variables: list[str], *, response: bool = False) -> None:
    """Reject anything but columns, numbers, operators and whitelisted calls; collect columns.

    ``offset(...)`` is handled by the caller when it is a whole term; anywhere else it is an error,
    and ``cbind(...)`` belongs to the response only.
    """
    depth_of_c = []  # paren depths at which a C( call is open
    depth = 0
    after_comma_in_c = False
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok.text == "(":
            depth += 1
        elif tok.text == ")":
            if depth_of_c and depth_of_c[-1] == depth:
                depth_of_c.pop()
                after_comma_in_c = False
            depth -= 1
        elif tok.text == "," and depth_of_c and depth_of_c[-1] == depth:
            after_comma_in_c = True
        if tok.kind == "string":
            if not after_comma_in_c:
                raise FormulaError("text literals are only allowed inside C(...)", text, tok.pos)
        if tok.kind != "name":
            if tok.kind == "op" and tok.text in {"|", "||"}:
                raise FormulaError(
                    "a random-effects term must stand alone in parentheses, e.g. (1 | g)", text, tok.pos
                )
            continue
        is_call = nxt is not None and nxt.text == "("
        if is_call:
            if tok.text not in ALLOWED_FUNCTIONS:
                raise _unknown_function(tok, text)
            if tok.text == "offset":
                raise FormulaError("offset(...) must be a term of its own in the fixed part, "
                                   "e.g. y ~ x + offset(log(n)) + (1 | g)", text, tok.pos)
            if tok.text == "cbind" and not response:
                raise FormulaError("cbind(...) is only allowed as the response, "
                                   "e.g. cbind(successes, failures) ~ x", text, tok.pos)
            if tok.text in ("C", "factor", "as.factor"):
                depth_of_c.append(depth + 1)
            continue
        if after_comma_in_c and (tok.text in CONTRAST_NAMES or (nxt is not None and nxt.text == "=")):
            continue
        if tok.text not in variables:
            variables.append(tok.text)


def _parse_group(tokens: list[Token], text: str, pos: int) -> list[tuple[str, ...]]:
    """Grouping text -> list of grouping-variable tuples: a/b -> [(a,), (b, a)]; a:b -> [(a, b)]."""
    if not tokens:
        raise FormulaError("a random-effects term needs a grouping factor after '|'", text, pos)
    nested: list[tuple[str, ...]] = []
    for sep, piece in _split_top(tokens, {"/"}):
        names = []
        for j, (colon, part) in enumerate(_split_top(piece, {":"})):
            if len(part) != 1 or part[0].kind != "name":
                where = part[0].pos if part else (colon.pos if colon else pos)
                raise FormulaError(
                    "a grouping factor must be a column name, or names joined by ':' or '/'", text, where
                )
            names.append(part[0].text)
        nested.append(tuple(names))
    # a/b/c -> a, b:a, c:b:a (lme4 names the inner factor first)
    groups, outer = [], ()
    for names in nested:
        outer = tuple(names) + outer
        groups.append(outer)
    return groups


def _unwrap_gr(tokens: list[Token], text: str, correlated: bool) -> tuple[list[Token], bool]:
    """brms's ``(1 + x | gr(g, cor = FALSE))``: the grouping inside ``gr()``, and ``cor = FALSE`` as
    ``||`` (no correlations). ``by``, ``cov`` and a non-gaussian ``dist`` are not available: our error."""
    if not (len(tokens) >= 3 and tokens[0].kind == "name" and tokens[0].text == "gr" and tokens[1].text == "("
            and _closing_paren(tokens, 1) == len(tokens) - 1):
        return tokens, correlated
    args = _split_top(tokens[2:-1], {","})
    grouping = args[0][1]
    if not grouping or (len(grouping) >= 2 and grouping[1].text == "="):
        raise FormulaError("gr() takes the grouping factor first, e.g. gr(g, cor = FALSE)", text, tokens[0].pos)
    for comma, option in args[1:]:
        name = option[0].text if option else ""
        if len(option) < 3 or option[1].text != "=":
            raise FormulaError("gr() options are written name = value, e.g. cor = FALSE", text,
                               option[0].pos if option else comma.pos)
        value = _join(option[2:])
        if name == "cor" and value in ("TRUE", "T", "FALSE", "F"):
            correlated = correlated and value in ("TRUE", "T")
        elif name == "dist" and value.strip("'\"") == "gaussian":
            continue
        elif name in ("by", "cov", "dist", "id"):
            raise FormulaError(f"gr(..., {name} = {value}) is not available yet: brm fits gaussian group-level "
                               "effects with one covariance per term (write separate terms per level instead)",
                               text, option[0].pos)
        else:
            raise FormulaError(f"unknown gr() option {name!r}; gr() takes cor = TRUE/FALSE", text, option[0].pos)
    return grouping, correlated


def _split_uncorrelated(lhs_tokens: list[Token], text: str) -> list[str]:
    """(1 + x + z || g) -> ["1", "0 + x", "0 + z"]: one term per formula term, as lme4 does."""
    pieces = _split_top(lhs_tokens, {"+", "-"})
    intercept = True
    terms = []
    for sep, part in pieces:
        body = _join(part)
        if body in {"0", ""} and sep is None and not part:
            continue
        if body == "0" or (sep is not None and sep.text == "-" and body == "1"):
            intercept = False
            continue
        if sep is not None and sep.text == "-":
            raise FormulaError("'-' is only supported as '- 1' inside (... || g)", text, sep.pos)
        if body == "1":
            continue
        terms.append(f"0 + {body}")
    return (["1"] if intercept else []) + terms


# glmmTMB's covariance structures written around a random-effects term, e.g. ar1(0 + f | g)
STRUCTURES = ("us", "cs", "ar1", "diag", "homdiag")


def _structured_bar(piece: list[Token]) -> bool:
    """``name((...) | g)``-shaped: a function call whose one argument is a random-effects term."""
    return (len(piece) >= 3 and piece[0].kind == "name" and piece[1].text == "("
            and _closing_paren(piece, 1) == len(piece) - 1
            and any(t.text in {"|", "||"} for t in _top_level(piece[2:-1])))


def _unwrap_structure(piece: list[Token], text: str) -> tuple[list[Token], str]:
    """``ar1(0 + f | g)`` -> the tokens ``(0 + f | g)`` and "ar1"; an unknown wrapper is our error."""
    if not _structured_bar(piece):
        return piece, "us"
    name = piece[0].text
    if name not in STRUCTURES:
        raise FormulaError(f"unknown covariance structure {name}() around the random-effects term "
                           f"{_join(piece)}; available: {', '.join(s + '()' for s in STRUCTURES)}", text, piece[0].pos)
    return piece[1:], name


def parse_formula(text: str) -> ParsedFormula:
    """Parse lme4 formula text into response, fixed part and random-effects bars.

    Examples
    --------
    >>> f = parse_formula("Reaction ~ Days + (Days | Subject)")
    >>> f.fixed, f.bars[0].lhs, f.bars[0].group_vars
    ('Days', 'Days', ('Subject',))
    """
    if not isinstance(text, str) or not text.strip():
        raise FormulaError("the formula is empty", str(text), 0)
    tokens = tokenize(text)
    _check_parens(tokens, text)
    tildes = [t for t in tokens if t.text == "~"]
    if len(tildes) != 1:
        where = tildes[1].pos if len(tildes) > 1 else 0
        raise FormulaError("a formula needs exactly one '~' (response ~ predictors)", text, where)
    split = tokens.index(tildes[0])
    lhs, rhs = tokens[:split], tokens[split + 1 :]
    if not rhs:
        raise FormulaError("nothing after '~'", text, tildes[0].pos)
    variables: list[str] = []
    lhs, additions = _response_additions(lhs, text, variables)
    _check_expression(lhs, text, variables, response=True)
    if lhs and not any(t.kind == "name" and not (i + 1 < len(lhs) and lhs[i + 1].text == "(")
                       for i, t in enumerate(lhs)):
        raise FormulaError("the response must name a data column, e.g. y ~ x", text, lhs[0].pos)

    fixed_pieces: list[str] = []
    offsets: list[str] = []
    bars: list[Bar] = []
    for sep, piece in _split_top(rhs, {"+", "-"}):
        if not piece:
            if sep is None:  # a leading "-" or "+"
                continue
            raise FormulaError(f"'{sep.text}' is missing a term after it", text, sep.pos)
        term_pos = piece[0].pos if piece else 0  # where the term starts, a structure's name included
        piece, structure = _unwrap_structure(piece, text)
        is_bar = _is_bar_piece(piece)
        if not is_bar:
            if _is_offset_term(piece):
                if sep is not None and sep.text == "-":
                    raise FormulaError("an offset cannot be subtracted", text, sep.pos)
                offsets.append(_offset_argument(piece, text, variables))
                continue
            _check_expression(piece, text, variables)
            sign = sep.text if sep is not None else "+"
            fixed_pieces.append(("- " if sign == "-" else "+ ") + _join(piece))
            continue
        if sep is not None and sep.text == "-":
            raise FormulaError("a random-effects term cannot be subtracted", text, sep.pos)
        inner = piece[1:-1]
        bar_tok = next(t for t in _top_level(inner) if t.text in {"|", "||"})
        k = inner.index(bar_tok)
        lhs_tokens, group_tokens = inner[:k], inner[k + 1 :]
        if not lhs_tokens:
            raise FormulaError("a random-effects term needs a left side, e.g. (1 | g)", text, bar_tok.pos)
        _check_expression(lhs_tokens, text, variables)
        _check_term_count(lhs_tokens, text, lhs_tokens[0].pos)
        group_tokens, correlated = _unwrap_gr(group_tokens, text, bar_tok.text == "|")
        if structure != "us" and not correlated:
            raise FormulaError(f"{structure}() takes a term written with one '|', e.g. {structure}(0 + f | g): "
                               "the structure already says how its effects are correlated", text, bar_tok.pos)
        groups = _parse_group(group_tokens, text, bar_tok.pos)
        for group in groups:
            for name in group:
                if name not in variables:
                    variables.append(name)
        lhs_terms = [_join(lhs_tokens)] if correlated else _split_uncorrelated(lhs_tokens, text)
        for group in groups:
            for lhs_text in lhs_terms:
                bars.append(Bar(lhs_text, group, correlated, term_pos, structure))

    fixed_tokens = [t for sep, piece in _split_top(rhs, {"+", "-"}) for t in ([sep] if sep else []) + piece
                    if not _is_bar_piece(piece) and not _structured_bar(piece)]
    if fixed_tokens:
        _check_term_count(fixed_tokens, text, fixed_tokens[0].pos)
    fixed = " ".join(fixed_pieces).strip()
    fixed = fixed[2:] if fixed.startswith("+ ") else fixed
    if not fixed:
        fixed = "1"
    elif fixed.startswith("- "):
        fixed = "1 " + fixed
    return ParsedFormula(text, _join(lhs), fixed, tuple(bars), tuple(variables), tuple(offsets), tuple(additions))


def _is_bar_piece(piece: list[Token]) -> bool:
    return (len(piece) >= 2 and piece[0].text == "(" and piece[-1].text == ")"
            and any(t.text in {"|", "||"} for t in _top_level(piece[1:-1])))


def _is_offset_term(piece: list[Token]) -> bool:
    return (len(piece) >= 3 and piece[0].kind == "name" and piece[0].text == "offset" and piece[1].text == "("
            and _closing_paren(piece, 1) == len(piece) - 1)


def _offset_argument(piece: list[Token], text: str, variables: list[str]) -> str:
    """The one expression inside a whole-term ``offset(...)``, checked like any other expression."""
    inner = piece[2:-1]
    if not inner:
        raise FormulaError("offset() needs an expression, e.g. offset(log(n))", text, piece[0].pos)
    args = _split_top(inner, {","})
    if len(args) > 1:
        raise FormulaError(f"offset(...) takes one expression, not {len(args)}; "
                           "add offsets as separate terms: offset(a) + offset(b)", text, args[1][0].pos)
    _check_expression(inner, text, variables)
    return _join(inner)


RESPONSE_ADDITIONS = ("trials", "weights", "se", "cens", "trunc", "rate")
# additions with named options after the expression: se(sei, sigma = TRUE) -> ("se", "sei"), ("se.sigma", "TRUE")
ADDITION_OPTIONS = {"se": {"sigma": ("TRUE", "FALSE", "T", "F")}}
# additions with further expressions, positional in this order or named (brms's resp_cens, resp_trunc):
# cens(c, y2) -> ("cens", "c"), ("cens.y2", "y2"); trunc(lb = 0, ub = u) -> ("trunc", "lb = 0, ub = u"),
# ("trunc.lb", "0"), ("trunc.ub", "u"): trunc has no main expression, its entry keeps the text as written
ADDITION_ARGUMENTS = {"cens": ("", "y2"), "trunc": ("lb", "ub")}
INFINITE_BOUNDS = ("Inf", "- Inf", "-Inf")  # trunc(lb = -Inf): R's infinity, no bound


def _response_additions(lhs: list[Token], text: str, variables: list[str]):
    """brms's ``y | trials(n)``, ``y | weights(w)``, ``y | se(sei, sigma = TRUE)``, ``y | cens(c, y2)``,
    ``y | trunc(lb = 0, ub = 10)``, ``y | rate(n)``: split the response from its addition terms, each
    ``(name, expression text)``; options and further arguments as ``(name.argument, text)``."""
    bars = [t for t in _top_level(lhs) if t.text == "|"]
    if not bars:
        return lhs, []
    k = lhs.index(bars[0])
    response, rest = lhs[:k], lhs[k + 1 :]
    if not response:
        raise FormulaError("a response is needed before '|'", text, bars[0].pos)
    additions = []
    for sep, part in _split_top(rest, {"+"}):
        if len(part) < 3 or part[0].kind != "name" or part[1].text != "(" or part[-1].text != ")":
            where = part[0].pos if part else bars[0].pos
            raise FormulaError("after '|' the response takes addition terms such as trials(n)", text, where)
        if part[0].text not in RESPONSE_ADDITIONS:
            raise FormulaError(f"unknown response addition {part[0].text!r}; supported: "
                               f"{', '.join(RESPONSE_ADDITIONS)}", text, part[0].pos)
        name, inner = part[0].text, part[2:-1]
        if any(n == name for n, _ in additions):
            raise FormulaError(f"the response addition {name}() is given twice", text, part[0].pos)
        args = _split_top(inner, {","})
        if name in ADDITION_ARGUMENTS:
            additions += _addition_arguments(name, inner, args, text, part[0], variables)
            continue
        allowed = ADDITION_OPTIONS.get(name, {})
        if not inner or (len(args) > 1 and not allowed):
            raise FormulaError(f"{name}() takes one expression, e.g. {name}(n)", text, part[0].pos)
        expression = args[0][1]
        if not expression:
            raise FormulaError(f"{name}() needs an expression before its options", text, part[0].pos)
        _check_expression(expression, text, variables)
        additions.append((name, _join(expression)))
        for comma, option in args[1:]:
            additions.append(_addition_option(name, option, allowed, text, comma))
    return response, additions


def _addition_arguments(name: str, inner: list[Token], args, text: str, call: Token, variables: list[str]):
    """``cens(c, y2)`` / ``trunc(lb = 0, ub = 10)``: each argument positional (in the order of
    :data:`ADDITION_ARGUMENTS`) or named, checked as an expression; R's ``Inf``/``-Inf`` bounds drop out."""
    slots = ADDITION_ARGUMENTS[name]
    example = {"cens": "cens(censored) or cens(censored, y2)", "trunc": "trunc(lb = 0, ub = 10)"}[name]
    if not inner:
        raise FormulaError(f"{name}() needs an expression, e.g. {example}", text, call.pos)
    given: dict[str, list[Token]] = {}
    free = list(slots)
    for comma, arg in args:
        where = arg[0].pos if arg else (comma.pos if comma is not None else call.pos)
        if not arg:
            raise FormulaError(f"{name}() has an empty argument", text, where)
        if len(arg) >= 3 and arg[0].kind == "name" and arg[1].text == "=":
            slot, arg = arg[0].text, arg[2:]
            if slot not in slots or not slot:
                named = ", ".join(s for s in slots if s)
                raise FormulaError(f"{name}() has no argument {slot!r}; its arguments: {named}", text, where)
            if slot in given:
                raise FormulaError(f"{name}(): {slot} is given twice", text, where)
        else:
            open_slots = [s for s in free if s not in given]
            if not open_slots:
                raise FormulaError(f"{name}() takes at most {len(slots)} arguments, e.g. {example}", text, where)
            slot = open_slots[0]
        given[slot] = arg
    if name == "cens" and "" not in given:
        raise FormulaError(f"cens() needs the censoring column first, e.g. {example}", text, call.pos)
    out = [] if "" in given else [(name, _join(inner))]
    for slot in slots:
        if slot not in given:
            continue
        expression = _join(given[slot])
        if name == "trunc" and expression.replace(" ", "") in ("Inf", "-Inf"):
            continue  # no bound on that side, as brms's default
        _check_expression(given[slot], text, variables)
        out.append((f"{name}.{slot}" if slot else name, expression))
    return out


def _addition_option(name: str, option: list[Token], allowed: dict, text: str, comma: Token):
    """``sigma = TRUE`` inside ``se(...)`` -> ``("se.sigma", "TRUE")``; anything else a FormulaError."""
    where = option[0].pos if option else comma.pos
    choices = ", ".join(f"{k} = {'/'.join(v[:2])}" for k, v in allowed.items())
    if len(option) != 3 or option[0].kind != "name" or option[1].text != "=" or option[0].text not in allowed:
        raise FormulaError(f"{name}() takes an expression and then only {choices}", text, where)
    if option[2].text not in allowed[option[0].text]:
        raise FormulaError(f"{name}(..., {option[0].text} = ...) must be TRUE or FALSE, not {option[2].text!r}",
                           text, option[2].pos)
    return f"{name}.{option[0].text}", "TRUE" if option[2].text in ("TRUE", "T") else "FALSE"


def _closing_paren(tokens: list[Token], open_index: int) -> int:
    depth = 0
    for i in range(open_index, len(tokens)):
        if tokens[i].text == "(":
            depth += 1
        elif tokens[i].text == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def split_call_arguments(text: str) -> tuple[str, list[str]] | None:
    """``"cbind(a, b - a)"`` -> ``("cbind", ["a", "b - a"])``; None when text is not one call."""
    tokens = tokenize(text)
    if len(tokens) < 3 or tokens[0].kind != "name" or tokens[1].text != "(":
        return None
    if _closing_paren(tokens, 1) != len(tokens) - 1:
        return None
    args = [_join(part) for _, part in _split_top(tokens[2:-1], {","})]
    return tokens[0].text, args


def _top_level(tokens: list[Token]) -> list[Token]:
    out, depth = [], 0
    for tok in tokens:
        if tok.text == "(":
            depth += 1
        elif tok.text == ")":
            depth -= 1
        elif depth == 0:
            out.append(tok)
    return out

"""tidybayes's variable specs, parsed: ``"b_Intercept"``, ``"r_Subject[Subject, term]"``,
``"r_Subject[Subject, ]"`` (a blank dimension is dropped), ``"r_Subject[Subject, ..]"`` (that dimension
spread wide as ``r_Subject.Intercept``, ``r_Subject.Days``), ``"r_Subject[Subject, term] | term"``
(wide, columns named by the labels), ``"c(b_Intercept, b_Days)"`` (several variables, one spec).

With ``regex=True`` the names are regular expressions; a trailing ``[...]`` is still read as the
dimension names when it holds only names, blanks and ``..`` (``"^r_.*[g, term]"``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import MultilevelError


class SpecError(MultilevelError):
    """A variable spec that cannot be read or does not fit the variable's dimensions."""


class VariableNotFound(SpecError, KeyError):
    """A spec names a variable the fit does not have."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


_DIM = r"\s*(?:\.\.|[A-Za-z_.][\w.:]*)?\s*"
_DIMS = re.compile(rf"^(?P<names>.*?)\[(?P<dims>{_DIM}(?:,{_DIM})*)\]$", re.DOTALL)
_WIDE = re.compile(r"^(?P<body>.*\])\s*\|\s*(?P<wide>[A-Za-z_.][\w.:]*)\s*$", re.DOTALL)
_NAMES = re.compile(r"^c\((?P<inner>.*)\)$", re.DOTALL)


@dataclass(frozen=True)
class Spec:
    """``names[dims] | wide``: ``dims`` is None for a bare name; ``""`` marks a blank dimension."""

    text: str
    names: tuple[str, ...]
    dims: tuple[str, ...] | None
    wide: str | None = None

    @property
    def dot_dot(self) -> int | None:
        """Position of the ``..`` dimension, if any."""
        return self.dims.index("..") if self.dims and ".." in self.dims else None


def parse_spec(text: str) -> Spec:
    if not isinstance(text, str) or not text.strip():
        raise SpecError(f"a variable spec must be a non-empty string such as 'b_Intercept' or "
                        f"'r_Subject[Subject, term]', not {text!r}")
    body, wide = text.strip(), None
    match = _WIDE.match(body)
    if match:
        body, wide = match.group("body").strip(), match.group("wide")
    dims = None
    match = _DIMS.match(body)
    if match:
        body = match.group("names").strip()
        dims = tuple(d.strip() for d in match.group("dims").split(","))
    group = _NAMES.match(body)
    names = tuple(n.strip() for n in group.group("inner").split(",")) if group else (body,)
    if not all(names):
        raise SpecError(f"spec {text!r} has an empty variable name")
    if dims is not None:
        named = [d for d in dims if d and d != ".."]
        repeated = sorted({d for d in named if named.count(d) > 1})
        if repeated:
            raise SpecError(f"spec {text!r} names dimension(s) {', '.join(repeated)} twice")
        if dims.count("..") > 1:
            raise SpecError(f"spec {text!r} has more than one '..' (only one dimension can be spread wide)")
    if wide is not None:
        if dims is None or wide not in dims:
            raise SpecError(f"spec {text!r}: '| {wide}' must name one of the dimensions in [...]")
        if ".." in dims:
            raise SpecError(f"spec {text!r}: use either '..' or '| {wide}' to spread wide, not both")
    if (wide is not None or (dims and ".." in dims)) and len(names) > 1:
        raise SpecError(f"spec {text!r}: only one variable at a time can be spread wide (as in tidybayes)")
    return Spec(text, names, dims, wide)

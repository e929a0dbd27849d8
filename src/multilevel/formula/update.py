"""R's ``update.formula(old, new)``: a formula with some parts changed, for every engine's ``update()``.

``.`` on the left stands for the old response (with its additions), on the right for the old right-hand
side; ``- term`` removes a fixed (population-level) term, ``- (1 | g)`` a random-effects (group-level)
term written as in the old formula.
"""
from __future__ import annotations

import re

from ..errors import ArgumentError, FormulaError
from .parse import _join, _split_top, parse_formula, tokenize


_DOT = re.compile(r"(?<![\w.])\.(?![\w.])")  # R's '.' standing alone (not in id.f or 1.5)
_PLACEHOLDER = "old__formula__"


def update_formula(old: str, new: str) -> str:
    """R's ``update.formula(old, new)`` (see the module)."""
    if not isinstance(new, str) or "~" not in new:
        raise ArgumentError(f"formula must be a formula text with '~' such as '~ . + x', not {new!r}")
    old_lhs, old_rhs = (part.strip() for part in old.split("~", 1))
    new_lhs, new_rhs = (part.strip() for part in new.split("~", 1))
    lhs = old_lhs if new_lhs in ("", ".") else new_lhs
    removed, parts = [], []
    for sep, tokens in _split_top(tokenize(_DOT.sub(_PLACEHOLDER, new_rhs)), {"+", "-"}):
        text = _join(tokens)
        if sep is not None and sep.text == "-" and tokens and tokens[0].text == "(":
            removed.append(text.replace(" ", ""))  # - (1 | g): a group-level term of the old formula
            continue
        parts.append(text if sep is None or not parts else f"{sep.text} {text}")
    have = {b.replace(" ", "") for b in _bar_pieces(old_rhs)}
    missing = [r for r in removed if r not in have]
    if missing:
        raise FormulaError(f"cannot remove {missing[0]}: the old formula has no such group-level term "
                           f"(it has {', '.join(_bar_pieces(old_rhs)) or 'none'})", new, 0)
    rhs = " ".join(parts).replace(_PLACEHOLDER, _without_bars(old_rhs, removed)).strip()
    updated = f"{lhs} ~ {rhs or '1'}"
    parse_formula(updated)  # a FormulaError of ours, naming the result, if the pieces do not fit
    return updated


def _bar_pieces(rhs: str) -> list[str]:
    return [_join(tokens) for _, tokens in _split_top(tokenize(rhs), {"+"})
            if tokens and tokens[0].text == "(" and any(t.text in ("|", "||") for t in tokens)]


def _without_bars(rhs: str, removed: list[str]) -> str:
    kept = []
    for sep, tokens in _split_top(tokenize(rhs), {"+", "-"}):
        text = _join(tokens)
        if text.replace(" ", "") in removed:
            continue
        kept.append(text if sep is None or not kept else f"{sep.text} {text}")
    return " ".join(kept) or "1"

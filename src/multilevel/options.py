"""Checks of user options (counts, probabilities, choices, flags), one place for every engine.

Each raises :class:`~multilevel.errors.ArgumentError` naming the option, the allowed values and the
value given, before any work is done: ``nagq=-1``, ``chains=0`` or ``level=2`` never reach numpy.
"""
from __future__ import annotations

import difflib
import numbers

from .errors import ArgumentError


def whole_number(name: str, value, minimum: int, maximum: int | None = None, *, allow_none: bool = False):
    """An integer (not a bool) in ``[minimum, maximum]``; returns it as a Python int."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentError(f"{name} must be a whole number, not {value!r} ({type(value).__name__})")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
        raise ArgumentError(f"{name} must be {bound}, not {value}")
    return int(value)


def open_probability(name: str, value) -> float:
    """A number strictly between 0 and 1 (a confidence level, a target acceptance rate)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise ArgumentError(f"{name} must be a number strictly between 0 and 1, not {value!r}")
    return float(value)


def choice(name: str, value, choices) -> str:
    """One of ``choices`` (strings); the message lists them and suggests the closest."""
    choices = list(choices)
    if isinstance(value, str) and value in choices:
        return value
    close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.6) if isinstance(value, str) else []
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ArgumentError(f"{name} must be one of {', '.join(map(repr, choices))}, not {value!r}.{hint}")


def flag(name: str, value, *, allow_none: bool = False) -> bool | None:
    """True or False (numpy booleans too); None where ``allow_none``."""
    if value is None and allow_none:
        return None
    if not isinstance(value, bool) and type(value).__name__ != "bool_":
        allowed = "True, False or None" if allow_none else "True or False"
        raise ArgumentError(f"{name} must be {allowed}, not {value!r}")
    return bool(value)

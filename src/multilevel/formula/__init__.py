"""Formula stage: lme4 formula text -> :class:`ParsedFormula` (no data needed)."""
from .parse import Bar, ParsedFormula, parse_formula, tokenize

__all__ = ["Bar", "ParsedFormula", "parse_formula", "tokenize"]

"""Formula stage: lme4 formula text -> :class:`ParsedFormula` (no data needed)."""
from .parse import Bar, ParsedFormula, parse_formula, split_call_arguments, tokenize

__all__ = ["Bar", "ParsedFormula", "parse_formula", "split_call_arguments", "tokenize"]

"""Fit objects and their text/HTML display."""
from .lmerfit import LmerFit
from .summary import LmerSummary

__all__ = ["LmerFit", "LmerSummary"]

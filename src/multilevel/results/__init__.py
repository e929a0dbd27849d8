"""Fit objects and their text/HTML display."""
from .glmerfit import GlmerFit
from .lmerfit import LmerFit
from .summary import LmerSummary

__all__ = ["GlmerFit", "LmerFit", "LmerSummary"]

"""Fit objects and their text/HTML display."""
from .glmerfit import GlmerFit
from .lmerfit import LmerFit
from .glmfit import GlmFit
from .lmfit import LmFit
from .summary import LmerSummary

__all__ = ["GlmFit", "LmFit", "GlmerFit", "LmerFit", "LmerSummary"]

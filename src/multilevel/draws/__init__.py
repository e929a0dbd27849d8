"""Tidy draws: tidybayes's verbs on the posterior of any Bayesian fit (brm or ulam)."""
from .variables import SAMPLER_COLUMNS, Variable

__all__ = ["Variable", "SAMPLER_COLUMNS"]

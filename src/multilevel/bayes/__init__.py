"""Bayesian engine: brms-style models from the shared design, sampled with NumPyro's NUTS.

``prior`` is light; ``brm``, ``BrmFit`` and ``loo_compare`` load JAX, NumPyro and ArviZ on first
access (as ``library(brms)`` loads Stan), so ``import multilevel`` stays quick for lmer and glmer.
"""
from importlib import import_module

from .priors import Prior, PriorError, prior

_ENGINE = {"brm": "fit", "BrmFit": "posterior", "loo_compare": "posterior", "SamplingWarning": "sampler"}

__all__ = ["brm", "BrmFit", "loo_compare", "Prior", "PriorError", "prior", "SamplingWarning"]


def __getattr__(name):
    if name in _ENGINE:
        return getattr(import_module(f"{__name__}.{_ENGINE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""rethinking's model language: ``ulam`` parses model text into a graph and a JAX log density.

The parser (``parse``) and graph (``graph``) are light; ``ulam``, ``precis``, ``compare``,
``waic`` and ``psis`` load JAX on first use.
"""
from importlib import import_module

from .parse import UlamSyntaxError, parse_model

_ENGINE = {"ulam": "fit", "precis": "fit", "compare": "fit", "waic": "fit", "psis": "fit", "UlamFit": "fit"}

__all__ = ["ulam", "precis", "compare", "waic", "psis", "UlamFit", "UlamSyntaxError", "parse_model"]


def __getattr__(name):
    if name in _ENGINE:
        return getattr(import_module(f"{__name__}.{_ENGINE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

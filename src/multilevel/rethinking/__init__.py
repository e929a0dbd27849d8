"""rethinking's model language: ``ulam`` parses model text into a graph and a JAX log density.

The parser (``parse``) and graph (``graph``) are light; ``ulam``, ``compare``, ``waic`` and ``psis``
load JAX on first use. rethinking's helpers (``precis``, ``PI``, ``HPDI``, ``link``, ``sim``,
``extract_samples``, ``rlkjcorr``, ``rmvnorm``, ``traceplot``, ``trankplot``) are in ``helpers``.
"""
from importlib import import_module

from .parse import UlamSyntaxError, parse_model

_HELPERS = ("precis", "PI", "HPDI", "link", "sim", "extract_samples", "rlkjcorr", "rmvnorm", "traceplot",
            "trankplot")
_ENGINE = {"ulam": "fit", "compare": "fit", "waic": "fit", "psis": "fit", "UlamFit": "fit",
           **{name: "helpers" for name in _HELPERS}}

__all__ = ["ulam", "compare", "waic", "psis", "UlamFit", "UlamSyntaxError", "parse_model", "precis", "PI", "HPDI",
           "link", "sim", "extract_samples", "rlkjcorr", "rmvnorm", "traceplot", "trankplot"]


def __getattr__(name):
    if name in _ENGINE:
        return getattr(import_module(f"{__name__}.{_ENGINE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

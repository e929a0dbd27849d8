"""multilevel: multilevel (mixed-effects) models for Python.

>>> import multilevel as ml
>>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
>>> print(fit.summary())  # doctest: +SKIP
"""
from . import datasets, families
from .design import build_design
from .errors import (
    ConvergenceWarning,
    DataError,
    FormulaError,
    MissingValuesWarning,
    MultilevelError,
    SingularFitWarning,
)
from .formula import parse_formula
from .ml import SeparationWarning, anova, glmer, glmer_nb, lmer
from .results import GlmerFit, LmerFit

__version__ = "0.1.0"

__all__ = ["lmer", "glmer", "glmer_nb", "anova", "datasets", "families", "GlmerFit", "SeparationWarning", "parse_formula", "build_design", "LmerFit", "FormulaError",
           "DataError", "MultilevelError", "ConvergenceWarning", "SingularFitWarning",
           "MissingValuesWarning", "__version__"]

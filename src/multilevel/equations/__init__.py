"""Models as mathematics: LaTeX equations of lmer, glmer and brm fits in three dialects
(:mod:`.styles`), read off the shared design (:mod:`.structure`)."""
from __future__ import annotations

from ..errors import ArgumentError
from ..results.protocol import MissingCapability
from .latex import Equations
from .structure import structure_of
from .styles import levels, matrix_form, rethinking

STYLES = {"rethinking": rethinking, "levels": levels, "matrix": matrix_form}


def formula_equations(fit, style: str = "levels", numbers: bool = False) -> Equations:
    """The equations of a formula model's fit (see :mod:`multilevel.equations.styles`)."""
    if style not in STYLES:
        raise ArgumentError(f"style must be one of {', '.join(map(repr, STYLES))}, not {style!r}")
    structure = structure_of(fit, numbers=bool(numbers))
    if structure.categorical:
        raise MissingCapability("math() does not write categorical models yet (one linear predictor per category); "
                                "fit.model_code() shows the log density the sampler runs")
    lines, notes = STYLES[style](structure, numbers=bool(numbers)), []
    if structure.expression and style == "levels":
        notes.append("A nonlinear model is written line by line in every dialect: the levels form has no place "
                     "for its expression.")
    if numbers and (structure.submodels or structure.thresholds):
        notes.append("numbers=True fills in the main formula's estimates; the thresholds and the further "
                     "formulas' coefficients stay symbols.")
    if getattr(fit, "bayesian", False) and style != "matrix":
        from .priors import prior_lines

        priors, notes = prior_lines(fit, structure, style)
        lines += priors
    return Equations(lines, style, notes)


__all__ = ["Equations", "formula_equations", "structure_of"]

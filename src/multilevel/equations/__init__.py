"""Models as mathematics: LaTeX equations of lmer, glmer and brm fits in three dialects
(:mod:`.styles`), read off the shared design (:mod:`.structure`)."""
from __future__ import annotations

from ..errors import ArgumentError
from .latex import Equations
from .structure import structure_of
from .styles import levels, matrix_form, rethinking

STYLES = {"rethinking": rethinking, "levels": levels, "matrix": matrix_form}


def formula_equations(fit, style: str = "levels", numbers: bool = False) -> Equations:
    """The equations of a formula model's fit (see :mod:`multilevel.equations.styles`)."""
    if style not in STYLES:
        raise ArgumentError(f"style must be one of {', '.join(map(repr, STYLES))}, not {style!r}")
    structure = structure_of(fit, numbers=bool(numbers))
    lines, notes = STYLES[style](structure, numbers=bool(numbers)), []
    if getattr(fit, "bayesian", False) and style != "matrix":
        from .priors import prior_lines

        priors, notes = prior_lines(fit, structure, style)
        lines += priors
    return Equations(lines, style, notes)


__all__ = ["Equations", "formula_equations", "structure_of"]

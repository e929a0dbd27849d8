"""brms's ``bf()`` / ``brmsformula()``: a model formula with formulas for nonlinear and distributional parameters.

``bf("y ~ x", "sigma ~ g")`` gives sigma its own linear predictor (on brms's link for it, log for
sigma); ``bf("con ~ 0 + a", "a ~ 0 + id.f", nl=True)`` makes the main right side an arithmetic
expression of nonlinear parameters (each with its own formula) and data columns. The text is parsed
(``multilevel.rethinking.parse.parse_expression`` for the expression), never evaluated.
The parts are read into extra linear predictors by :mod:`.predictors`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import FormulaError

# brms's links of the distributional parameters (R/families.R, ``links_dpars``'s defaults):
# link name -> inverse link applied to the parameter's linear predictor
DPAR_LINKS = {"sigma": "log", "shape": "log", "nu": "logm1", "phi": "log", "zi": "logit", "hu": "logit",
              "beta": "log", "alpha": "identity", "ndt": "log"}
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class BrmsFormula:
    """A parsed ``bf()``: the main formula, the other formulas by their left side, and ``nl``."""

    formula: str
    parts: dict = field(default_factory=dict)  # left side -> right side (text)
    nl: bool = False

    @property
    def response(self) -> str:
        return self.formula.split("~", 1)[0].strip()

    @property
    def rhs(self) -> str:
        return self.formula.split("~", 1)[1].strip()

    @property
    def display(self) -> str:
        """As brms prints it: the main formula, then each other formula on its own line."""
        lines = [self.formula] + [f"{name} ~ {rhs}" for name, rhs in self.parts.items()]
        return "\n         ".join(lines)

    def __str__(self) -> str:
        return self.display

    def __repr__(self) -> str:
        extra = ", nl=True" if self.nl else ""
        parts = "".join(f", {name + ' ~ ' + rhs!r}" for name, rhs in self.parts.items())
        return f"bf({self.formula!r}{parts}{extra})"


def _split(text, where: str) -> tuple[str, str]:
    if not isinstance(text, str):
        raise FormulaError(f"bf(): {where} must be a formula string such as 'y ~ x', not {type(text).__name__}")
    if text.count("~") != 1:
        raise FormulaError(f"bf(): {where} {text!r} must have one '~' with a left and a right side")
    left, right = (s.strip() for s in text.split("~"))
    if not left or not right:
        raise FormulaError(f"bf(): {where} {text!r} needs a left and a right side")
    return left, right


def bf(formula: str, *more_formulas: str, nl: bool = False) -> BrmsFormula:
    """brms's ``bf()`` (alias ``brmsformula``): a formula for ``ml.brm`` with further formulas.

    Parameters
    ----------
    formula : str
        The response's formula. With ``nl=True`` its right side is an arithmetic expression of
        nonlinear parameters and data columns (``+ - * / ^``, ``exp``, ``log``, ``inv_logit``...).
    *more_formulas : str
        ``"sigma ~ g"`` (a distributional parameter of the family: sigma, shape, nu, phi, zi, hu,
        beta, alpha, ndt) or, with ``nl=True``, ``"a ~ 0 + id.f"`` (a nonlinear parameter's
        population-level effects).
    nl : bool
        Whether the main formula is nonlinear.

    Examples
    --------
    >>> import multilevel as ml
    >>> print(ml.bf("con ~ 0 + a", "a ~ 0 + id.f", nl=True).display)
    con ~ 0 + a
             a ~ 0 + id.f
    """
    if not isinstance(nl, bool):
        raise FormulaError(f"bf(): nl must be True or False, not {nl!r}")
    response, rhs = _split(formula, "the formula")
    parts: dict[str, str] = {}
    for text in more_formulas:
        name, right = _split(text, "a further formula")
        if not _NAME_RE.match(name):
            raise FormulaError(f"bf(): the left side of {text!r} must be the name of a parameter "
                               "(a distributional parameter such as sigma, or with nl=True a nonlinear one)")
        if name in parts:
            raise FormulaError(f"bf(): two formulas for {name!r}")
        if not nl and name not in DPAR_LINKS:
            raise FormulaError(f"bf(): {name!r} is not a distributional parameter ({', '.join(DPAR_LINKS)}); "
                               "formulas for nonlinear parameters need nl=True")
        parts[name] = right
    if nl:
        from ..rethinking.parse import UlamSyntaxError, parse_expression

        try:
            parse_expression(rhs)
        except (UlamSyntaxError, RecursionError) as error:
            raise FormulaError(f"bf(): the nonlinear formula {formula!r} is not an arithmetic expression: {error}") \
                from None
    return BrmsFormula(f"{response} ~ {rhs}", parts, nl)


brmsformula = bf

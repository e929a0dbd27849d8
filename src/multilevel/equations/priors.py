"""brm's priors as equation lines: every row of ``prior_summary()`` that applies to one parameter,
defaults included, written as the literature writes them (``\\sigma \\sim \\operatorname{Half-StudentT}(3, 0, 59.3)``)."""
from __future__ import annotations

import re

from .latex import escape, name
from .structure import ModelStructure

DENSITIES = {"normal": "Normal", "student_t": "StudentT", "cauchy": "Cauchy", "exponential": "Exponential",
             "gamma": "Gamma", "inv_gamma": "InvGamma", "lkj": "LKJcorr", "lkj_corr_cholesky": "LKJcorr",
             "uniform": "Uniform", "beta": "Beta", "logistic": "Logistic", "lognormal": "LogNormal",
             "weibull": "Weibull", "dirichlet": "Dirichlet", "von_mises": "VonMises"}
SYMMETRIC = {"normal", "student_t", "cauchy", "logistic"}
CENTERED_NOTE = "brms puts the Intercept's prior on the intercept of the centered predictors."
_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*$")


def density(text: str, lower_bound: str) -> str:
    """A prior's text as LaTeX; a symmetric density bounded below at 0 is its half version."""
    if text in ("", "(flat)"):
        return r"\text{flat}"
    match = _CALL.match(text)
    if match is None:
        return name(text)
    family, args = match.groups()
    label = DENSITIES.get(family, escape(family))
    if lower_bound == "0" and family in SYMMETRIC:
        label = f"Half{label}"
    return rf"\operatorname{{{label}}}({escape(args)})"


def prior_lines(fit, structure: ModelStructure, style: str = "rethinking") -> tuple[list[tuple[str, str]], list[str]]:
    """(lines, notes) for the priors of a brm fit, in the symbols of ``style`` (the levels dialect's
    gammas and taus where the model has one grouping factor)."""
    from .styles import level_symbols, level_symbols_many

    rows = fit.prior_summary()
    single = len(structure.terms) == 1
    varying = set(structure.terms[0].columns) if single else set()
    levels = None
    if style == "levels" and structure.terms and not structure.expression:
        levels = level_symbols(structure) if single else level_symbols_many(structure)
    lines, notes = [], []
    for row in rows.itertuples(index=False):
        cls, coef, group, dpar, nlpar = row[1], row[2], row[3], row[5], row[6]
        if dpar or nlpar:
            symbol = _submodel_symbol(row, rows, structure)
        elif cls == "Intercept" and structure.thresholds:  # an ordinal model's thresholds
            symbol = None if coef and row[9] == "(vectorized)" else rf"\kappa_{{{coef}}}" if coef else r"\kappa_{k}"
        else:
            symbol = _level_symbol(cls, coef, group, levels) if levels is not None else None
            symbol = symbol or _symbol(cls, coef, group, single, varying, rows)
            if cls == "L" and symbol is not None and levels is not None:
                symbol = r"\operatorname{corr}(\mathbf{U}_j)" if single else levels.get(("L", group), symbol)
        if symbol is None:
            continue
        lines.append((symbol, rf"\sim {density(row[0], row[7])}"))
        if cls == "Intercept" and not structure.thresholds and not nlpar and CENTERED_NOTE not in notes:
            notes.append(CENTERED_NOTE)
    return lines, notes


def _submodel_symbol(row, rows, structure: ModelStructure) -> str | None:
    """The symbol a prior row of a bf() sub-model (dpar or nlpar) is on, as the sub-model's lines write it."""
    from .styles import parameter_symbol

    cls, coef, group, dpar, nlpar = row[1], row[2], row[3], row[5], row[6]
    owner = dpar or nlpar
    model = next((m for m in structure.submodels if m.name == owner), None)
    if model is None:
        return None
    symbol = parameter_symbol(owner) if dpar else name(owner)
    if cls == "Intercept" and not coef:
        return rf"\beta^{{{symbol}}}_{{0}}"
    if cls == "b":
        peers = [r for r in rows.itertuples(index=False) if r[1] == "b" and (r[5] or r[6]) == owner and r[2]]
        if not coef:  # the class-wide row: stands for all its coefficients when none has its own prior
            if peers and all(r[9] == "(vectorized)" for r in peers):
                names = [rf"\beta^{{{symbol}}}_{{{name(r[2])}}}" for r in peers]
                return ", ".join(names) if len(names) <= 2 else rf"{names[0]}, \ldots, {names[-1]}"
            return None
        if row[9] == "(vectorized)":
            return None
        return rf"\beta^{{{symbol}}}_{{{name(coef)}}}"
    label = symbol if len(model.terms) == 1 else f"{symbol}, {name(group)}"
    if cls == "sd" and coef and group:
        return rf"\sigma^{{{label}}}_{{{name(group)}{'' if coef == 'Intercept' else ', ' + name(coef)}}}"
    if cls in ("cor", "L") and group:
        return rf"\mathbf{{R}}^{{{label}}}_{{{name(group)}}}"
    return None


def _level_symbol(cls: str, coef: str, group: str, symbols: dict) -> str | None:
    column = "(Intercept)" if coef in ("", "Intercept") and cls in ("Intercept", "sd") else coef
    if cls == "Intercept" and not coef:
        return symbols.get(("b", "(Intercept)"))
    if cls == "sd" and coef and group and ("sd", group, column) in symbols:  # several grouping factors
        return symbols[("sd", group, column)]
    if cls in ("b", "sd") and coef:
        return symbols.get((cls, column))
    return None


def _symbol(cls: str, coef: str, group: str, single: bool, varying: set, rows) -> str | None:
    if cls == "Intercept" and not coef:
        return r"\bar{\alpha}" if "(Intercept)" in varying else r"\alpha"
    if cls == "b":
        if not coef:
            return None  # the class-wide row: its coefficients have rows of their own
        return rf"\bar{{\beta}}_{{{name(coef)}}}" if coef in varying else rf"\beta_{{{name(coef)}}}"
    if cls == "sd":
        if not coef:
            return None
        if single:
            return r"\sigma_{\alpha}" if coef == "Intercept" else rf"\sigma_{{{name(coef)}}}"
        return rf"\sigma_{{{name(group)}}}" if coef == "Intercept" else rf"\sigma_{{{name(group)}, {name(coef)}}}"
    if cls == "L":
        has_group_rows = any(r[1] == "L" and r[3] for r in rows.itertuples(index=False))
        if not group and has_group_rows:
            return None
        return r"\mathbf{R}" if single or not group else rf"\mathbf{{R}}_{{{name(group)}}}"
    if cls == "sigma" and not coef:
        return r"\sigma"
    if not coef and not group:  # the family's other parameters: shape, zi, nu...
        from .styles import parameter_symbol

        return parameter_symbol(cls)
    return None

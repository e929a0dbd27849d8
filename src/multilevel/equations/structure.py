"""What a formula model says, read off its design: the pieces the equations are written from.

:func:`structure_of` takes an lmer, glmer or brm fit (anything with a ``design``) and returns a
:class:`ModelStructure`: the response and its distribution, the link, the fixed-effects columns (each
marked as a level-1 or level-2 predictor when there is one grouping factor), the random-effects terms
(grouping factor, columns, correlated or not, nesting) and, where asked, the estimates.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..formula import split_call_arguments

INDEX_LETTERS = "jklmnopqrstuvw"


@dataclass(frozen=True)
class GroupTerm:
    group: str
    index: str  # the subscript letter of its levels
    columns: tuple[str, ...]
    correlated: bool
    n_levels: int
    nested_in: str | None = None  # the grouping factor whose levels contain this one's
    structure: str = "us"  # the covariance: us, diag, homdiag, ar1, cs (glmmTMB's names)


@dataclass
class ModelStructure:
    response: str
    family: str  # gaussian, binomial, bernoulli, poisson, ...
    link: str
    trials: str | None  # binomial: the number of trials as text (a column or an expression)
    fixed: tuple[str, ...]
    terms: tuple[GroupTerm, ...]
    offsets: tuple[str, ...] = ()
    level2: dict = field(default_factory=dict)  # fixed column -> True when constant within the one grouping factor
    estimates: dict | None = None  # beta: {column: value}; sd: {(group, column): v}; cor: {(group, a, b): v}; sigma
    variables: tuple[str, ...] = ()  # the data variables behind the fixed columns (period, not period2 period3)
    # brm's further parts: the family's other parameters (sigma, shape, zi...), an ordinal model's number
    # of thresholds, the distributional and nonlinear sub-models of a bf() formula, a categorical response
    family_params: tuple[str, ...] = ()
    thresholds: int = 0
    submodels: tuple = ()  # SubModel per dpar (sigma ~ x) and nlpar (a ~ 0 + id)
    expression: str | None = None  # nl=True: the main formula's right side (the nonlinear expression)
    categorical: bool = False


@dataclass(frozen=True)
class SubModel:
    """One further formula of a bf() model: ``sigma ~ x + (1 | g)`` (kind "dpar", with its link) or
    ``a ~ 0 + id`` (kind "nlpar")."""

    name: str
    kind: str
    link: str
    fixed: tuple[str, ...]  # brms's coefficient names; "Intercept" first where there is one
    variables: tuple[str, ...]  # data variables of its fixed part
    terms: tuple[GroupTerm, ...]


def _family_of(fit) -> tuple[str, str]:
    likelihood = getattr(fit, "likelihood", None)  # brm
    if likelihood is not None:
        return likelihood.name, likelihood.link_name
    family = getattr(fit, "family", None)
    if family is None:
        return "gaussian", "identity"
    if isinstance(family, str):
        return family, getattr(fit, "link", None) or "identity"
    return family.name, family.link.name


def _binomial_trials(response: str, additions: dict) -> tuple[str, str | None]:
    """(successes, trials) of a binomial response: ``cbind(s, f)`` -> (s, s + f, or T for f = T - s)."""
    if "trials" in additions:
        return response, additions["trials"]
    call = split_call_arguments(response)
    if call is not None and call[0] == "cbind" and len(call[1]) == 2:
        successes, failures = (part.strip() for part in call[1])
        total, minus, rest = failures.partition("-")
        if minus and rest.strip() == successes:
            return successes, total.strip()
        return successes, f"{successes} + {failures}"
    return response, None


def _is_level2(column: np.ndarray, codes: np.ndarray, levels: int) -> bool:
    low = np.full(levels, np.inf)
    high = np.full(levels, -np.inf)
    np.minimum.at(low, codes, column)
    np.maximum.at(high, codes, column)
    return bool(np.all(high - low <= 1e-12 * max(1.0, float(np.max(np.abs(column))))))


def structure_of(fit, numbers: bool = False) -> ModelStructure:
    design = fit.design
    family, link = _family_of(fit)
    response = design.response_name
    trials = None
    if family == "binomial":
        response, trials = _binomial_trials(response, dict(design.formula.response_additions))
        if trials is None and np.all(np.isin(design.response, (0.0, 1.0))) and (
                design.weights is None or np.all(design.weights == 1)):
            family = "bernoulli"
    fixed = tuple(design.fixed.column_names)
    order = {t.group_name: i for i, t in enumerate(sorted(design.terms, key=lambda t: design.formula.text.find(
        t.group_name.split(":")[0])))}
    by_group: dict = {}  # lme4's (x || g) is several terms of one grouping factor: one uncorrelated term here
    for term in sorted(design.terms, key=lambda t: order[t.group_name]):
        by_group.setdefault(term.group_name, []).append(term)
    nested_inner = {g for g, parts in by_group.items()
                    if any(set(o[0].group_vars) < set(parts[0].group_vars) for h, o in by_group.items() if h != g)}
    groups = sorted(by_group, key=lambda g: (g not in nested_inner, list(by_group).index(g)))  # inner levels first
    terms = []
    for number, group in enumerate(groups):
        parts = by_group[group]
        columns = tuple(c for part in parts for c in part.column_names)
        structure = getattr(parts[0].covariance, "structure", "us") if len(parts) == 1 else "diag"
        correlated = len(columns) > 1 and structure in ("us", "ar1", "cs")
        outer = [g for g in by_group if g != group and set(by_group[g][0].group_vars) < set(parts[0].group_vars)]
        terms.append(GroupTerm(group, INDEX_LETTERS[number % len(INDEX_LETTERS)], columns, correlated,
                               parts[0].n_levels, outer[0] if outer else None, structure))
    level2 = {}
    if len(by_group) == 1 and design.fixed.matrix.shape[0]:
        term = design.terms[0]
        for j, column in enumerate(fixed):
            if column != "(Intercept)" and ":" not in column:
                level2[column] = _is_level2(design.fixed.matrix[:, j], term.codes, term.n_levels)
    structure = ModelStructure(response, family, link, trials, fixed, tuple(terms), tuple(design.formula.offsets),
                               level2, variables=_variables(design.fixed))
    layout = getattr(fit, "layout", None)
    if layout is not None:  # brm
        _brm_parts(structure, fit, layout)
    if numbers:
        structure.estimates = estimates_of(fit)
    return structure


def _brm_parts(structure: ModelStructure, fit, layout) -> None:
    """The family's parameters, thresholds (the intercept's place) and bf()'s sub-models of a brm fit."""
    likelihood = fit.likelihood
    structure.family_params = tuple(likelihood.parameters)
    structure.categorical = bool(getattr(likelihood, "categorical", False))
    structure.thresholds = int(getattr(layout, "thresholds", 0) or 0)
    if structure.thresholds:  # the thresholds take the intercept's place; a varying intercept varies around 0
        structure.fixed = tuple(c for c in structure.fixed if c != "(Intercept)")
        structure.variables = tuple(v for v in structure.variables if v != "(Intercept)")
    predictors = getattr(layout, "predictors", None)
    if predictors is None:
        return
    items = []
    letter_of = {t.group: t.index for t in structure.terms}  # a factor keeps its letter across sub-models
    for item in predictors.items:
        for t in item.terms:
            letter_of.setdefault(t.group_name, INDEX_LETTERS[len(letter_of) % len(INDEX_LETTERS)])
        terms = tuple(GroupTerm(t.group_name, letter_of[t.group_name], tuple(t.column_names), len(t.column_names) > 1,
                                t.n_levels) for t in item.terms)
        fixed = (("Intercept",) if item.intercept else ()) + tuple(item.coef_names)
        items.append(SubModel(item.name, item.kind, item.link, fixed, _variables(item.design.fixed), terms))
    structure.submodels = tuple(items)
    if predictors.nonlinear:
        structure.expression = predictors.formula.rhs


def _variables(fixed) -> tuple[str, ...]:
    """The data variables of the fixed part, in formula order, from formulaic's model spec (a factor's
    name once for all its dummy columns; an interaction's pieces); the column names where there is none."""
    out: list[str] = []
    spec = getattr(fixed, "spec", None)
    try:
        for encoded in spec.structure:
            for factor in getattr(encoded.term, "factors", ()):
                text = str(getattr(factor, "expr", factor))
                if text not in ("1", "0") and text not in out:
                    out.append(text)
    except AttributeError:
        out = [piece for c in fixed.column_names for piece in c.split(":") if piece != "(Intercept)"]
    return tuple(dict.fromkeys(out))


def estimates_of(fit) -> dict:
    """Point estimates by role: maximum likelihood (lmer/glmer) or posterior means (brm)."""
    if getattr(fit, "bayesian", False):
        return _posterior_means(fit)
    beta = dict(fit.fixef().items())
    sd, cor = {}, {}
    sigma = float(fit.sigma) if _family_of(fit)[0] == "gaussian" else None
    scale = float(fit.sigma) if sigma is not None else 1.0
    lambdas = fit.problem.lambdas(fit.theta)
    for term, lam in zip(fit.design.terms, lambdas):
        cov = scale ** 2 * lam @ lam.T
        sds = np.sqrt(np.diag(cov))
        for a, column in enumerate(term.column_names):
            sd[(term.group_name, column)] = float(sds[a])
            for b in range(a):
                denominator = sds[a] * sds[b]
                cor[(term.group_name, term.column_names[b], column)] = float(cov[a, b] / denominator) \
                    if denominator > 0 else 0.0
    return {"beta": beta, "sd": sd, "cor": cor, "sigma": sigma}


def _posterior_means(fit) -> dict:
    means = fit.draws(include_group_effects=False).mean(numeric_only=True)
    beta = {c: float(means.get(f"b_{'Intercept' if c == '(Intercept)' else c}", np.nan))
            for c in fit.design.fixed.column_names}
    sd, cor = {}, {}
    for term in fit.design.terms:
        for column in term.column_names:
            label = "Intercept" if column == "(Intercept)" else column
            sd[(term.group_name, column)] = float(means.get(f"sd_{term.group_name}__{label}", np.nan))
        for a, first in enumerate(term.column_names):
            for second in term.column_names[a + 1:]:
                la = "Intercept" if first == "(Intercept)" else first
                lb = "Intercept" if second == "(Intercept)" else second
                cor[(term.group_name, first, second)] = float(means.get(f"cor_{term.group_name}__{la}__{lb}", np.nan))
    sigma = float(means["sigma"]) if "sigma" in means else None
    family = {q: float(means[q]) for q in getattr(fit.likelihood, "parameters", ()) if q in means}
    return {"beta": beta, "sd": sd, "cor": cor, "sigma": sigma, "family": family}

"""What the plots read from a fit, through each fit's public methods, for every engine.

lmer/glmer fits (LmerFit, GlmerFit), brm fits (BrmFit) and ulam fits (UlamFit) answer the same
questions here: the observed response, fitted means per observation, group codes, group effects
with intervals, fixed effects with intervals, and (Bayesian fits) draws by chain.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import MultilevelError


def is_bayesian(fit) -> bool:
    """Declared by every fit class: ``bayesian`` is True for brm and ulam fits."""
    return bool(fit.bayesian)


def _term(fit, group: str | None):
    if not hasattr(fit, "design"):
        raise MultilevelError("this plot reads the grouping factors of a formula model (lmer, glmer, brm); "
                              "for ulam fits use trace, rank, posterior or pp_check")
    terms = fit.design.terms
    if group is None:
        return terms[0]
    for term in terms:
        if term.group_name == group:
            return term
    raise MultilevelError(f"no grouping factor {group!r} in the model; it has: "
                          f"{', '.join(sorted({t.group_name for t in terms}))}")


def group_codes(fit, group: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    term = _term(fit, group)
    return term.codes, term.levels, term.group_name


def observed(fit) -> np.ndarray:
    """The response on its natural scale (binomial: the proportion of successes; ulam: the data)."""
    if hasattr(fit, "graph"):
        name = fit.graph.likelihoods[0].target.names[0]
        return np.asarray(fit.graph.data[name], dtype=float)
    return np.asarray(fit.design.response, dtype=float)


def fitted_mean(fit) -> np.ndarray:
    """Fitted mean per observation on the response's scale (posterior mean for Bayesian fits)."""
    if is_bayesian(fit):
        epred = fit.posterior_epred().mean(axis=0)
        if fit.likelihood.name == "binomial":
            trials = fit.design.weights if fit.design.weights is not None else np.ones_like(epred)
            epred = epred / trials
        return epred
    return np.asarray(fit.fitted(), dtype=float)


def group_effects(fit, group: str | None, term_name: str = "(Intercept)") -> pd.DataFrame:
    """Estimate, lower, upper (95%) of one group-level effect per level."""
    _, levels, name = group_codes(fit, group)
    if is_bayesian(fit):
        table = fit.ranef()[name]
        key = "Intercept" if term_name == "(Intercept)" else term_name
        if key not in table.columns.get_level_values(0):
            raise MultilevelError(f"no group-level term {term_name!r} for {name!r}")
        part = table[key]
        return pd.DataFrame({"estimate": part["Estimate"], "lower": part["Q2.5"], "upper": part["Q97.5"]})
    frame = fit.ranef(condvar=True)[name]
    if term_name not in frame.columns:
        raise MultilevelError(f"no group-level term {term_name!r} for {name!r}; terms: {', '.join(frame.columns)}")
    j = list(frame.columns).index(term_name)
    sd = frame.attrs["condsd"][:, j]
    est = frame[term_name].to_numpy()
    return pd.DataFrame({"estimate": est, "lower": est - 1.96 * sd, "upper": est + 1.96 * sd}, index=frame.index)


def fixed_effects(fit) -> pd.DataFrame:
    """Estimate and 95% interval of each fixed effect, with lme4's / brms's names."""
    if is_bayesian(fit):
        table = fit.fixef()
        return pd.DataFrame({"estimate": table["Estimate"], "lower": table["l-95% CI"],
                             "upper": table["u-95% CI"]})
    ci = fit.confint("wald")
    beta = fit.fixef()
    return pd.DataFrame({"estimate": beta, "lower": ci.loc[beta.index].iloc[:, 0],
                         "upper": ci.loc[beta.index].iloc[:, 1]})


def chains_of(fit, names=None, max_parameters: int = 8) -> list[tuple[str, np.ndarray]]:
    """(label, (chains, draws)) for a Bayesian fit's parameters (brm: brms names; ulam: its names)."""
    if not is_bayesian(fit):
        raise MultilevelError("trace and rank plots need a Bayesian fit (ml.brm or ml.ulam)")
    source = fit.draws_by_chain()
    out = []
    for name, values in source.items():
        if names is not None and name not in names:
            continue
        for position in np.ndindex(*values.shape[2:]):
            series = values[(slice(None), slice(None)) + position]
            if np.std(series) < 1e-12:
                continue
            out.append((name + (f"[{','.join(str(i + 1) for i in position)}]" if position else ""), series))
    if names is not None:
        missing = set(names) - {label.split("[")[0] for label, _ in out}
        if missing:
            raise MultilevelError(f"no draws named {', '.join(sorted(missing))}")
    return out[:max_parameters]

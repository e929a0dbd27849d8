"""What the plots read from a fit: the questions of the fit protocol, and nothing else.

Every fit (lm, glm, lmer, glmer, brm, ulam) answers the questions its engine can
(:mod:`multilevel.results.protocol`); a plot that needs one the fit cannot answer raises
:class:`~multilevel.results.protocol.MissingCapability` naming the plot and the question.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import MultilevelError
from ..results.protocol import require


def _ask(fit, question: str, plot: str):
    require(fit, question, f"ml.plots.{plot}")
    return getattr(fit, question)


def is_bayesian(fit) -> bool:
    """Declared by every fit class: ``bayesian`` is True for brm and ulam fits."""
    return bool(fit.bayesian)


def group_codes(fit, group: str | None, plot: str = "this plot") -> tuple[np.ndarray, np.ndarray, str]:
    codes, levels, name = _ask(fit, "grouping", plot)(group)
    return np.asarray(codes), np.asarray(levels), name


def observed(fit, plot: str = "this plot") -> np.ndarray:
    """The response on its natural scale (binomial: the proportion of successes)."""
    return np.asarray(_ask(fit, "observed", plot)(), dtype=float)


def weights(fit, n: int) -> np.ndarray:
    w = fit.observation_weights()
    return np.ones(n) if w is None else np.asarray(w, dtype=float)


def fitted_mean(fit, plot: str = "this plot") -> np.ndarray:
    """Fitted mean per observation on the response's scale (posterior mean for Bayesian fits)."""
    return np.asarray(_ask(fit, "fitted_mean", plot)(), dtype=float)


def group_effects(fit, group: str | None, term_name: str | None = "(Intercept)", plot: str = "this plot") -> pd.DataFrame:
    """Estimate, lower, upper (95%) of one group-level effect per level."""
    return _ask(fit, "group_effect_table", plot)(group, term_name)


def fixed_effects(fit, plot: str = "this plot") -> pd.DataFrame:
    """Estimate and 95% interval of each fixed effect, with lme4's / brms's names."""
    return _ask(fit, "fixed_effect_table", plot)()


def fixed_columns(fit, plot: str = "this plot") -> pd.DataFrame:
    return _ask(fit, "fixed_columns", plot)()


def replicated(fit, ndraws: int, seed, plot: str = "pp_check") -> np.ndarray:
    return np.asarray(_ask(fit, "replicated_data", plot)(ndraws, seed))


def chains_of(fit, names=None, max_parameters: int = 8, plot: str = "trace") -> list[tuple[str, np.ndarray]]:
    """(label, (chains, draws)) for a Bayesian fit's parameters (brm: brms names; ulam: its names)."""
    source = _ask(fit, "draws_by_chain", plot)()
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

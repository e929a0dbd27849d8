"""Tidy draws: tidybayes's verbs on the posterior of any Bayesian fit (brm or ulam)."""
from .add_draws import add_epred_draws, add_linpred_draws, add_predicted_draws
from .point_interval import (
    mean_hdi,
    mean_qi,
    median_hdi,
    median_qi,
    mode_hdi,
    mode_qi,
    point_interval,
)
from .spec import SpecError, VariableNotFound
from .tidy import gather_draws, get_variables, pick_draws, spread_draws
from .variables import SAMPLER_COLUMNS, Variable

__all__ = [
    "SAMPLER_COLUMNS",
    "SpecError",
    "Variable",
    "VariableNotFound",
    "add_epred_draws",
    "add_linpred_draws",
    "add_predicted_draws",
    "gather_draws",
    "get_variables",
    "mean_hdi",
    "mean_qi",
    "median_hdi",
    "median_qi",
    "mode_hdi",
    "mode_qi",
    "pick_draws",
    "point_interval",
    "spread_draws",
]

"""Varying intercepts and slopes of one grouping factor: what the two-dimensional shrinkage plot reads.

A fit answers ``varying_effects(group, slope)`` with per-level intercepts and slopes of the model
(population plus group effect), the population's mean and covariance of the pair, and the data a
separate fit per group would use (the predictor and the response per row). Formula fits (lmer,
glmer, brm) build it from their fixed and group-level effects; ulam fits from their indexed
parameters and the distribution that pools them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ArgumentError


@dataclass(frozen=True)
class VaryingEffects:
    group: str
    levels: pd.Index
    codes: np.ndarray          # per row, 0-based level
    x: np.ndarray              # per row, the predictor the slope multiplies
    y: np.ndarray              # per row, the observed response (observed()'s scale)
    model: np.ndarray          # (levels, 2): the model's intercept and slope per level
    mean: np.ndarray           # (2,): the population mean of (intercept, slope)
    covariance: np.ndarray     # (2, 2): the population covariance of (intercept, slope)
    names: tuple[str, str]     # what the intercept and the slope are called in the model
    predictor: str


def formula_varying_effects(fit, group, slope, covariance) -> VaryingEffects:
    """lmer, glmer and brm fits: fixed effects + group effects; ``covariance(name, slope)`` is the engine's."""
    codes, levels, name = fit.grouping(group)
    columns = fit.fixed_columns()
    candidates = [c for c in columns.columns if c != "(Intercept)"]
    if slope is None:
        if not candidates:
            raise ArgumentError("the model has no slope: varying_effects needs a numeric fixed-effect column")
        slope = candidates[0]
    if slope not in candidates:
        raise ArgumentError(f"{slope!r} is not a fixed-effect column; columns: {', '.join(candidates)}")
    fixed = fit.fixed_effect_table()["estimate"]
    intercept = float(fixed.get("(Intercept)", 0.0))
    model = np.column_stack([intercept + fit.group_effect_table(name, "(Intercept)")["estimate"].to_numpy(),
                             fixed[slope] + fit.group_effect_table(name, slope)["estimate"].to_numpy()])
    return VaryingEffects(name, pd.Index(levels), np.asarray(codes), columns[slope].to_numpy(), fit.observed(), model,
                          np.array([intercept, fixed[slope]]), covariance(name, slope),
                          ("(Intercept)", slope), slope)


def two_by_two(sd_intercept: float, sd_slope: float, correlation: float) -> np.ndarray:
    off = correlation * sd_intercept * sd_slope
    return np.array([[sd_intercept**2, off], [off, sd_slope**2]])

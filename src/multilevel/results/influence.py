"""Cook's distance, as R's ``cooks.distance`` for lm, glm and lme4's merMod (the leverages come from
the engine: :mod:`multilevel.ml.influence`)."""
from __future__ import annotations

import numpy as np


def cooks_distance(pearson: np.ndarray, hat: np.ndarray, dispersion: float, rank: int) -> np.ndarray:
    """``(r / (1 - h))^2 h / (dispersion * rank)`` with Pearson residuals ``r``, dispersion sigma^2
    (1 for binomial and Poisson) and the rank of X; infinite values (h = 1) -> NaN, as R."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (np.asarray(pearson, dtype=float) / (1.0 - hat)) ** 2 * hat / (dispersion * rank)
    out[np.isinf(out)] = np.nan
    return out

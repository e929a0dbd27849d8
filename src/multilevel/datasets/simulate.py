"""Simulated data sets that textbooks build in code rather than ship, made the same way here.

``cafes`` follows Statistical Rethinking (2nd ed., R code 14.1-14.4): 20 cafés, 10 visits each
alternating morning and afternoon; café intercepts and afternoon slopes drawn from a bivariate
normal (mean 3.5 and -1 minutes, sds 1 and 0.5, correlation -0.7), waits normal with sd 0.5.
NumPy's generator replaces R's ``set.seed``/``MASS::mvrnorm``, so the numbers differ from the
book's while the model that made them is the same. ``datasets/data/cafes.csv`` is
``simulate_cafes(seed=5)``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def simulate_cafes(n_cafes: int = 20, n_visits: int = 10, seed: int = 5, *, a: float = 3.5, b: float = -1.0,
                   sigma_a: float = 1.0, sigma_b: float = 0.5, rho: float = -0.7, sigma: float = 0.5) -> pd.DataFrame:
    """Waiting times at cafés, morning (afternoon=0) and afternoon (1): columns cafe, afternoon, wait."""
    rng = np.random.default_rng(seed)
    cov = np.array([[sigma_a**2, rho * sigma_a * sigma_b], [rho * sigma_a * sigma_b, sigma_b**2]])
    effects = rng.multivariate_normal([a, b], cov, size=n_cafes)
    cafe = np.repeat(np.arange(1, n_cafes + 1), n_visits)
    afternoon = np.tile([0, 1], n_cafes * n_visits // 2)
    mu = effects[cafe - 1, 0] + effects[cafe - 1, 1] * afternoon
    wait = rng.normal(mu, sigma)
    return pd.DataFrame({"cafe": cafe, "afternoon": afternoon, "wait": np.round(wait, 6)})

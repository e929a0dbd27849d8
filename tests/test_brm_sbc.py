"""Simulation-based calibration (Talts et al. 2018) of brm on small varying-intercepts models.

For each of N simulations: draw (Intercept, sd[, sigma]) and the effects from the priors, simulate
data, fit with the same priors, and record the rank of each true value among thinned posterior
draws. Calibrated inference makes the ranks uniform; a chi-square test over 10 bins checks that at
level 0.001 per parameter (the hyperparameters and the first group's effect). Three models, one per
way brm samples effects: gaussian (effects integrated out per level, drawn afterwards), gaussian with
a second, crossed factor (integrated out through the blocked factor) and binomial (effects partially
centered from a pilot glmer fit). Slow: run with ``pytest -m slow``.
"""
import warnings

import jax
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import multilevel as ml

N_SIMULATIONS = 80
N_GROUPS, PER_GROUP = 8, 5
KEEP = 99  # thinned draws per fit -> ranks 0..99
TRIALS = 10


@pytest.mark.slow
@pytest.mark.parametrize("family", ["gaussian", "gaussian_crossed", "binomial"])
def test_simulation_based_calibration(family):
    rng = np.random.default_rng(20261126)
    priors = [ml.prior("normal(0, 1)", class_="Intercept"), ml.prior("exponential(1)", class_="sd")]
    names = ["b_Intercept", "sd_g__Intercept", "r_g[0,Intercept]"]
    if family.startswith("gaussian"):
        priors.append(ml.prior("exponential(1)", class_="sigma"))
        names.append("sigma")
    if family == "gaussian_crossed":
        names.append("sd_h__Intercept")
    ranks = {name: [] for name in names}
    group = np.repeat(np.arange(N_GROUPS), PER_GROUP)
    crossed = np.tile(np.arange(PER_GROUP), N_GROUPS)  # every level of h meets every level of g
    for _ in range(N_SIMULATIONS):
        truth = {"b_Intercept": rng.normal(0, 1), "sd_g__Intercept": rng.exponential(1), "sigma": rng.exponential(1)}
        effects = rng.normal(0, truth["sd_g__Intercept"], N_GROUPS)
        truth["r_g[0,Intercept]"] = effects[0]
        eta = truth["b_Intercept"] + effects[group]
        truth["sd_h__Intercept"] = rng.exponential(1)
        if family == "gaussian_crossed":
            eta = eta + rng.normal(0, truth["sd_h__Intercept"], PER_GROUP)[crossed]
        if family.startswith("gaussian"):
            data = pd.DataFrame({"y": eta + rng.normal(0, truth["sigma"], len(group)), "g": group, "h": crossed})
            formula = "y ~ 1 + (1 | g)" if family == "gaussian" else "y ~ 1 + (1 | g) + (1 | h)"
        else:
            data = pd.DataFrame({"y": rng.binomial(TRIALS, 1 / (1 + np.exp(-eta))), "n": TRIALS, "g": group})
            formula = "y | trials(n) ~ 1 + (1 | g)"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = ml.brm(formula, data, family=family.split("_")[0], priors=priors, chains=1, draws=990, warmup=500,
                         seed=int(rng.integers(1 << 30)), target_accept=0.95)
        draws = fit.draws()
        jax.clear_caches()  # each fit compiles a new model: keep 240 of them from piling up in JAX's caches
        for name in ranks:
            thinned = draws[name].to_numpy()[::10][:KEEP]
            ranks[name].append(int(np.sum(thinned < truth[name])))
    for name, values in ranks.items():
        counts = np.bincount(np.asarray(values) * 10 // (KEEP + 1), minlength=10)
        p_value = stats.chisquare(counts).pvalue
        assert p_value > 0.001, (name, counts, p_value)

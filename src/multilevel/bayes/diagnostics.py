"""R-hat and effective sample sizes of Vehtari et al. (2021), as brms (posterior) and ArviZ report them.

* ``rhat``: rank-normalized split R-hat, the larger of the bulk one and the one on folded draws;
* ``ess_bulk``: ESS of the rank-normalized split chains;
* ``ess_tail``: the smaller of the ESSs of the 5% and 95% quantile indicators;

each ESS with Geyer's initial monotone sequence over FFT autocovariances, as Stan. Written here in
numpy step by step as arviz-stats writes them (``arviz_stats.base.diagnostics``), so that a fit's
summary needs no ArviZ, whose import (xarray, matplotlib) is about a second and a half of the first
brm in a fresh process; tests pin these against arviz-stats.

>>> import numpy as np
>>> draws = np.random.default_rng(1).normal(size=(4, 1000))
>>> bool(rhat(draws) < 1.01), bool(ess_bulk(draws) > 3000)
(True, True)
"""
from __future__ import annotations

import numpy as np


def rhat(values: np.ndarray) -> float:
    """Rank-normalized split R-hat of (chains, draws); nan below 2 chains or 4 draws, or with nan draws."""
    values = np.asarray(values, dtype=float)
    if not _valid(values, min_chains=2):
        return np.nan
    split = _split_chains(values)
    folded = np.abs(split - np.median(split))
    return max(_rhat(_z_scale(split)), _rhat(_z_scale(folded)))


def ess_bulk(values: np.ndarray) -> float:
    """Bulk effective sample size of (chains, draws)."""
    values = np.asarray(values, dtype=float)
    if not _valid(values):
        return np.nan
    return _ess(_z_scale(_split_chains(values)))


def ess_tail(values: np.ndarray, prob: float = 0.05) -> float:
    """Tail effective sample size: the smaller of the ESSs of the ``prob`` and ``1 - prob`` quantiles."""
    values = np.asarray(values, dtype=float)
    if not _valid(values):
        return np.nan
    return min(_ess_quantile(values, p) for p in sorted((prob, 1 - prob)))


def _valid(values: np.ndarray, min_chains: int = 1) -> bool:
    chains, draws = values.shape
    return not np.isnan(values).any() and chains >= min_chains and draws >= 4


def _split_chains(values: np.ndarray) -> np.ndarray:
    half = values.shape[1] // 2
    return np.vstack((values[:, :half], values[:, -half:]))


def _z_scale(values: np.ndarray) -> np.ndarray:
    """Normal scores of the ranks (average ranks for ties; Blom's offset 3/8)."""
    from scipy.special import ndtri
    from scipy.stats import rankdata

    rank = rankdata(values, method="average")
    return ndtri((rank - 3 / 8) / (rank.size - 2 * 3 / 8 + 1)).reshape(values.shape)


def _rhat(values: np.ndarray) -> float:
    draws = values.shape[1]
    between = draws * np.var(values.mean(axis=1), ddof=1)
    within = np.mean(np.var(values, axis=1, ddof=1))
    return float(np.sqrt((between / within + draws - 1) / draws))


def _ess_quantile(values: np.ndarray, prob: float) -> float:
    return _ess(_split_chains((values <= np.quantile(values, prob)).astype(float)))


def _autocov(values: np.ndarray) -> np.ndarray:
    """Autocovariance of each chain (rows) at every lag, by FFT."""
    from scipy.fft import next_fast_len

    n = values.shape[1]
    m = next_fast_len(2 * n)
    centered = values - values.mean(axis=1, keepdims=True)
    transform = np.fft.rfft(centered, n=m, axis=1)
    transform *= np.conjugate(transform)
    return np.fft.irfft(transform, n=m, axis=1)[:, :n] / n


def _ess(values: np.ndarray) -> float:
    """ESS of (chains, draws) with Geyer's initial positive, then monotone, sequence (Stan's rule)."""
    if np.max(values) - np.min(values) < np.finfo(float).resolution:
        return float(values.size)
    chains, draws = values.shape
    acov = _autocov(values)
    mean_var = np.mean(acov[:, 0]) * draws / (draws - 1.0)
    var_plus = mean_var * (draws - 1.0) / draws
    if chains > 1:
        var_plus += np.var(values.mean(axis=1), ddof=1)
    rho = np.zeros(draws)
    rho_even, rho_odd = 1.0, 1.0 - (mean_var - np.mean(acov[:, 1])) / var_plus
    rho[0], rho[1] = rho_even, rho_odd
    t = 1
    while t < draws - 3 and rho_even + rho_odd > 0.0:  # initial positive sequence
        rho_even = 1.0 - (mean_var - np.mean(acov[:, t + 1])) / var_plus
        rho_odd = 1.0 - (mean_var - np.mean(acov[:, t + 2])) / var_plus
        if rho_even + rho_odd >= 0:
            rho[t + 1], rho[t + 2] = rho_even, rho_odd
        t += 2
    max_t = t - 2
    if rho_even > 0:
        rho[max_t + 1] = rho_even
    t = 1
    while t <= max_t - 2:  # initial monotone sequence
        if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]:
            rho[t + 1] = rho[t + 2] = (rho[t - 1] + rho[t]) / 2.0
        t += 2
    total = chains * draws
    tau = -1.0 + 2.0 * np.sum(rho[: max_t + 1]) + np.sum(rho[max_t + 1 : max_t + 2])
    tau = max(tau, 1 / np.log10(total))
    return np.nan if np.isnan(rho).any() else float(total / tau)

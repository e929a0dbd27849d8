"""Pictures of posterior draws: trace, rank, densities, posterior predictive check, comparisons."""
from __future__ import annotations

import numpy as np

from ._access import chains_of, observed, replicated


def trace(fit, names=None, max_parameters: int = 8):
    """One panel per parameter, one line per chain (brm or ulam fits)."""
    import matplotlib.pyplot as plt

    params = chains_of(fit, names, max_parameters, plot="trace")
    fig, axes = plt.subplots(len(params), 1, figsize=(8, 1.7 * len(params)), squeeze=False, sharex=True)
    for ax, (label, series) in zip(axes[:, 0], params):
        for chain, values in enumerate(series):
            ax.plot(values, lw=0.5, alpha=0.8, color=f"C{chain}")
        ax.set_ylabel(label, fontsize="small")
    axes[-1, 0].set_xlabel("iteration (after warm-up)")
    fig.tight_layout()
    return fig


def rank(fit, names=None, max_parameters: int = 8, bins: int = 20):
    """Rank histograms per chain (flat when the chains agree)."""
    import matplotlib.pyplot as plt
    from scipy.stats import rankdata

    params = chains_of(fit, names, max_parameters, plot="rank")
    fig, axes = plt.subplots(len(params), 1, figsize=(8, 1.7 * len(params)), squeeze=False, sharex=True)
    for ax, (label, series) in zip(axes[:, 0], params):
        ranks = rankdata(series.reshape(-1)).reshape(series.shape)
        edges = np.linspace(0, ranks.size, bins + 1)
        for chain, values in enumerate(ranks):
            counts, _ = np.histogram(values, bins=edges)
            ax.step(edges[:-1], counts, where="post", color=f"C{chain}")
        ax.set_ylabel(label, fontsize="small")
    axes[-1, 0].set_xlabel("rank among all draws")
    fig.tight_layout()
    return fig


def posterior(fit, names, ax=None):
    """Posterior densities of the named parameters on one axis (e.g. sigma against sd)."""
    import matplotlib.pyplot as plt
    from scipy.stats import gaussian_kde

    params = chains_of(fit, names, max_parameters=len(names) * 50, plot="posterior")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for k, (label, series) in enumerate(params):
        values = series.reshape(-1)
        grid = np.linspace(values.min(), values.max(), 200)
        ax.plot(grid, gaussian_kde(values)(grid), color=f"C{k}", label=label)
    ax.set_xlabel("value")
    ax.set_ylabel("density")
    ax.legend(fontsize="small")
    return ax


def pp_check(fit, ndraws: int = 50, seed: int | None = 1, ax=None):
    """Density of the observed response (thick) against ``ndraws`` replicated data sets (thin)."""
    import matplotlib.pyplot as plt
    from scipy.stats import gaussian_kde

    data = replicated(fit, ndraws, seed, "pp_check")
    y = observed(fit, "pp_check")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    grid = np.linspace(min(y.min(), data.min()), max(y.max(), data.max()), 200)
    for values in data:
        if np.std(values) > 0:
            ax.plot(grid, gaussian_kde(values)(grid), color="C0", alpha=0.15, lw=0.8)
    ax.plot(grid, gaussian_kde(y)(grid), color="black", lw=2, label="observed")
    ax.set_xlabel(fit.response_name)
    ax.set_ylabel("density")
    ax.legend(fontsize="small")
    return ax


def compare(table, ax=None):
    """A model-comparison table (ml.compare / ml.loo_compare) as points with +-SE bars, best on top."""
    import matplotlib.pyplot as plt

    column = next(c for c in table.columns if c in ("WAIC", "PSIS", "elpd_loo", "looic"))
    se = table["SE"] if "SE" in table.columns else table.get("se_elpd_loo", 0 * table[column])
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.6 * len(table) + 1.5))
    position = np.arange(len(table))[::-1]
    ax.errorbar(table[column], position, xerr=se, fmt="o", color="C0", capsize=3)
    ax.set_yticks(position)
    ax.set_yticklabels(table.index)
    ax.set_xlabel(column)
    return ax


def prior_posterior(fit, name: str, prior_draws: dict | None = None, ax=None):
    """A parameter's prior (dashed) against its posterior (solid), e.g. LKJ(2) prior vs rho.

    ulam fits draw the prior with ``fit.extract_prior()``; brm fits need ``sample_prior="yes"``.
    """
    import matplotlib.pyplot as plt
    from scipy.stats import gaussian_kde

    series = chains_of(fit, [name.split("[")[0]], max_parameters=1000, plot="prior_posterior")
    label, posterior_series = series[0] if "[" not in name else next((lab, s) for lab, s in series if lab == name)
    if prior_draws is None:
        prior_draws = fit.prior_samples(2000, seed=1)
    base = name.split("[")[0]
    prior = np.asarray(prior_draws[base])
    if "[" in name:
        index = tuple(int(i) - 1 for i in name[name.index("[") + 1 : -1].split(","))
        prior = prior[(slice(None),) + index]
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    values = posterior_series.reshape(-1)
    lo, hi = min(prior.min(), values.min()), max(prior.max(), values.max())
    grid = np.linspace(lo, hi, 200)
    ax.plot(grid, gaussian_kde(prior)(grid), "--", color="grey", label="prior")
    ax.plot(grid, gaussian_kde(values)(grid), color="C0", label="posterior")
    ax.set_xlabel(label)
    ax.set_ylabel("density")
    ax.legend(fontsize="small")
    return ax

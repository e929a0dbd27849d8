"""Pictures of groups: shrinkage, caterpillar, per-group lines, fixed-effect forest plots."""
from __future__ import annotations

import numpy as np

from ..results.protocol import require
from ._access import fitted_mean, fixed_columns, fixed_effects, group_codes, group_effects, observed, weights


def _axes(ax, figsize=(7, 4.5)):
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


def shrinkage(fit, group: str | None = None, ax=None):
    """Observed group means (no pooling) against the model's group means (partial pooling).

    Points are sized by group size; the dashed line is the mean of the observed response. Returns
    the Axes; ``ax.collections[0]`` holds the observed means, ``[1]`` the pooled estimates.
    """
    codes, levels, name = group_codes(fit, group, "shrinkage")
    y, mu = observed(fit, "shrinkage"), fitted_mean(fit, "shrinkage")
    w = weights(fit, len(y))  # binomial: trials
    n = np.bincount(codes, weights=w, minlength=len(levels))
    raw = np.bincount(codes, weights=w * y, minlength=len(levels)) / n
    pooled = np.bincount(codes, weights=w * mu, minlength=len(levels)) / n
    order = np.argsort(n, kind="stable")
    position = np.arange(len(levels))
    fig, ax = _axes(ax, (8, 4.5))
    sizes = 15 + 60 * n[order] / n.max()
    ax.scatter(position, raw[order], s=sizes, facecolors="none", edgecolors="C0", label="observed (no pooling)")
    ax.scatter(position, pooled[order], s=sizes, color="C1", label="model (partial pooling)")
    ax.axhline(np.sum(w * y) / np.sum(w), ls="--", color="grey", lw=1, label="mean of all observations")
    ax.set_xlabel(f"{name} (ordered by size)")
    ax.set_ylabel(f"mean of {fit.response_name}")
    ax.legend(fontsize="small")
    return ax


def caterpillar(fit, group: str | None = None, term: str | None = None, ax=None):
    """Group effects with 95% intervals, sorted (one horizontal bar per level).

    ``term`` is the varying effect ("(Intercept)" by default; an ulam fit's parameter name, e.g. "a").
    """
    table = group_effects(fit, group, term, "caterpillar").sort_values("estimate")
    _, _, name = group_codes(fit, group, "caterpillar")
    term = table.attrs.get("term", "(Intercept)") if term is None else term
    fig, ax = _axes(ax, (6, max(3, 0.18 * len(table) + 1)))
    position = np.arange(len(table))
    ax.hlines(position, table["lower"], table["upper"], color="C0", lw=1)
    ax.plot(table["estimate"], position, "o", color="C0", ms=3)
    ax.axvline(0, color="grey", ls="--", lw=1)
    ax.set_yticks(position)
    ax.set_yticklabels(table.index.astype(str), fontsize="x-small")
    ax.set_xlabel(f"{term} effect of {name}")
    ax.set_ylabel(name)
    return ax


def coefficients(*fits, names=None, ax=None):
    """Forest plot of fixed effects with 95% intervals, fits side by side (offset vertically)."""
    tables = [fixed_effects(f, "coefficients") for f in fits]
    names = list(names) if names is not None else [f"model {i + 1}" for i in range(len(fits))]
    terms = []
    for table in tables:
        terms += [t for t in table.index if t not in terms]
    fig, ax = _axes(ax, (6.5, 0.5 * len(terms) * len(fits) + 1.5))
    offsets = np.linspace(-0.25, 0.25, len(fits)) if len(fits) > 1 else [0.0]
    for k, (table, label) in enumerate(zip(tables, names)):
        rows = [terms.index(t) for t in table.index]
        y = np.asarray(rows) + offsets[k]
        ax.hlines(y, table["lower"], table["upper"], color=f"C{k}", lw=1.5)
        ax.plot(table["estimate"], y, "o", color=f"C{k}", label=label)
    ax.set_yticks(np.arange(len(terms)))
    ax.set_yticklabels(terms)
    ax.axvline(0, color="grey", ls="--", lw=1)
    ax.set_xlabel("estimate (95% interval)")
    if len(fits) > 1:
        ax.legend(fontsize="small")
    return ax


def group_lines(fit, x: str, group: str | None = None, n_groups: int | None = 12):
    """Data and fitted line for each group in panels (the sleepstudy picture), population line dashed.

    Works for models where ``x`` is a numeric fixed-effect column; returns the Figure.
    """
    import matplotlib.pyplot as plt

    codes, levels, name = group_codes(fit, group, "group_lines")
    columns = fixed_columns(fit, "group_lines")
    if x not in columns.columns:
        from ..errors import MultilevelError

        raise MultilevelError(f"{x!r} is not a numeric fixed-effect column; columns: {', '.join(columns.columns)}")
    xs = columns[x].to_numpy()
    y, mu = observed(fit, "group_lines"), fitted_mean(fit, "group_lines")
    shown = range(len(levels)) if n_groups is None else range(min(n_groups, len(levels)))
    cols = min(6, len(shown))
    rows = int(np.ceil(len(shown) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.0 * rows), sharex=True, sharey=True, squeeze=False)
    grid = np.linspace(xs.min(), xs.max(), 20)
    population = _population_line(fit, x, grid)
    for ax, level in zip(axes.ravel(), shown):
        mask = codes == level
        order = np.argsort(xs[mask])
        ax.plot(xs[mask], y[mask], "o", ms=3, color="C0")
        ax.plot(xs[mask][order], mu[mask][order], "-", color="C1", lw=1.5)
        ax.plot(grid, population, "--", color="grey", lw=1)
        ax.set_title(f"{name} {levels[level]}", fontsize="small")
    for ax in axes.ravel()[len(shown):]:
        ax.set_visible(False)
    fig.supxlabel(x)
    fig.supylabel(fit.response_name)
    fig.tight_layout()
    return fig


def _population_line(fit, x: str, grid: np.ndarray) -> np.ndarray:
    """Intercept + slope * grid from the fixed effects (other predictors at 0)."""
    fixed = fixed_effects(fit)["estimate"]
    intercept = fixed.get("(Intercept)", fixed.get("Intercept", 0.0))
    return intercept + fixed[x] * grid


def shrinkage_2d(fit, group: str | None = None, slope: str = None, ax=None):
    """Intercept against slope per group: separate fits (open) vs the model (filled), arrows between,
    and the population distribution's 50/80/95% covariance ellipses (the cafe picture).

    Separate fits are least squares per group on the same predictor (lmer, glmer, brm and ulam
    fits with a varying intercept and slope; for ulam, ``slope`` names the data column).
    """
    from matplotlib.patches import Ellipse
    from scipy.stats import chi2

    require(fit, "varying_effects", "ml.plots.shrinkage_2d")
    effects = fit.varying_effects(group, slope)
    separate = np.full((len(effects.levels), 2), np.nan)
    for level in range(len(effects.levels)):
        mask = effects.codes == level
        x, y = effects.x[mask], effects.y[mask]
        if mask.sum() >= 2 and np.ptp(x) > 0:
            separate[level] = np.polyfit(x, y, 1)[::-1]
    pooled = effects.model
    fig, ax = _axes(ax, (6, 5))
    ax.scatter(separate[:, 0], separate[:, 1], facecolors="none", edgecolors="C0", label="separate fits")
    ax.scatter(pooled[:, 0], pooled[:, 1], color="C1", label="model (partial pooling)")
    for a, b in zip(separate, pooled):
        if np.all(np.isfinite(a)):
            ax.annotate("", xy=b, xytext=a, arrowprops=dict(arrowstyle="->", color="grey", lw=0.6))
    values, vectors = np.linalg.eigh(effects.covariance)
    angle = np.degrees(np.arctan2(vectors[1, -1], vectors[0, -1]))
    for level in (0.5, 0.8, 0.95):
        radius = np.sqrt(chi2.ppf(level, 2))
        ax.add_patch(Ellipse(tuple(effects.mean), 2 * radius * np.sqrt(values[-1]),
                             2 * radius * np.sqrt(max(values[0], 0.0)), angle=angle, fill=False, color="grey", lw=0.8))
    intercept, slope_name = effects.names
    ax.set_xlabel("intercept" if intercept == "(Intercept)" else f"intercept ({intercept})")
    ax.set_ylabel(f"slope of {effects.predictor}" + ("" if slope_name == effects.predictor else f" ({slope_name})"))
    ax.set_title(effects.group)
    ax.legend(fontsize="small")
    return ax


def conditional_effects(fit, x: str, ax=None, points: int = 50, group: str | None = None, n_groups: int = 8):
    """Population-level prediction over ``x`` with a 95% band, drawn on one Axes.

    ``x`` is an effect of :func:`multilevel.conditional_effects` (a predictor such as ``"Days"``, a
    factor, or an interaction ``"x:f"``; the other predictors at their mean or first level:
    posterior draws for brm fits, a Wald band for lmer/glmer fits), or a numeric fixed-effect column
    such as ``"tempwarm"`` (the other columns at their means). With ``group``, thin lines add each of
    the first ``n_groups`` levels' own intercept (and slope of ``x`` where the model has one) on the
    linear-predictor scale, mapped back to the response. Returns the Axes.
    """
    from ..errors import MultilevelError
    from ..results.conditional_effects import conditional_effects as compute
    from ..results.conditional_effects import model_variables
    from .conditional import draw_effect

    require(fit, "fixed_columns", "ml.plots.conditional_effects")
    require(fit, "inverse_link", "ml.plots.conditional_effects")
    names = list(fixed_columns(fit, "conditional_effects").columns)
    variables = model_variables(fit)
    parts = [part.strip() for part in x.split(":")]
    fig, ax = _axes(ax, (6, 4))
    if x in names and not all(p in variables for p in parts):  # a design column: the other columns at their means
        grid, center, low, high, base = _column_effect(fit, x, names, points)
        ax.fill_between(grid, low, high, color="C0", alpha=0.25, label="95% band")
        ax.plot(grid, center, color="C0", label="population prediction")
    else:
        result = compute(fit, x, resolution=points)
        name = next(iter(result))
        effects, types = result.effects(name)
        draw_effect(ax, result[name], effects, types, fit.response_name, result.prob)
        if group is not None:
            if types != ("numeric",):
                raise MultilevelError(f"group lines need one numeric predictor as x, not {x!r}")
            grid = result[name][effects[0]].to_numpy(dtype=float)
            base = compute(fit, x, resolution=points, method="posterior_linpred")[name]["estimate__"].to_numpy()
    if group is not None:
        inverse = fit.inverse_link
        intercepts = group_effects(fit, group, "(Intercept)", "conditional_effects")["estimate"].to_numpy()
        try:
            slopes = group_effects(fit, group, x, "conditional_effects")["estimate"].to_numpy()
        except MultilevelError:  # no random slope of x: parallel lines
            slopes = np.zeros_like(intercepts)
        _, levels, _ = group_codes(fit, group, "conditional_effects")
        for k in range(min(n_groups, len(levels))):
            ax.plot(grid, np.asarray(inverse(base + intercepts[k] + slopes[k] * grid)), lw=0.8, alpha=0.7,
                    label=f"{group} {levels[k]}" if k < 3 else None)
    ax.set_xlabel(x)
    ax.set_ylabel(fit.response_name)
    if ax.get_legend() is None and ax.get_legend_handles_labels()[0]:  # an interaction has its own, titled
        ax.legend(fontsize="small")
    return ax


def _column_effect(fit, x: str, names: list[str], points: int):
    """Grid over one fixed-effect column, the others at their means: grid, estimate, lower, upper and
    the linear predictor (posterior means of the coefficients for Bayesian fits)."""
    from ._access import is_bayesian

    matrix = fixed_columns(fit, "conditional_effects").to_numpy()
    grid = np.linspace(matrix[:, names.index(x)].min(), matrix[:, names.index(x)].max(), points)
    rows = np.tile(matrix.mean(axis=0), (points, 1))
    rows[:, names.index(x)] = grid
    inverse = fit.inverse_link
    if is_bayesian(fit):
        require(fit, "fixed_effect_draws", "ml.plots.conditional_effects")
        beta = fit.fixed_effect_draws()[names].to_numpy()
        mean = inverse(beta @ rows.T)
        center, low, high = np.mean(mean, 0), np.quantile(mean, 0.025, 0), np.quantile(mean, 0.975, 0)
        return grid, center, low, high, rows @ np.mean(beta, axis=0)
    require(fit, "vcov", "ml.plots.conditional_effects")
    beta = fit.fixed_effect_table()["estimate"][names].to_numpy()
    cov = np.asarray(fit.vcov().loc[names, names])
    eta = rows @ beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", rows, cov, rows))
    return grid, inverse(eta), inverse(eta - 1.96 * se), inverse(eta + 1.96 * se), eta

"""Pictures of :func:`multilevel.conditional_effects` tables, as brms's plot method draws them.

A numeric effect is a line with its interval band; a factor, points with error bars; an interaction
with a numeric first variable, one line and band per level of the second; with a factor first,
points per level of the second set side by side. Several conditions make one panel each.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def draw_effect(ax, table: pd.DataFrame, effects: tuple, types: tuple, response: str, prob: float):
    """Draw one condition's rows of an effect table on ``ax``; returns ``ax``."""
    band = f"{prob:.0%} interval"
    if len(effects) == 1:
        if types[0] == "numeric":
            x = table[effects[0]].to_numpy(dtype=float)
            ax.fill_between(x, table["lower__"], table["upper__"], color="C0", alpha=0.25, label=band)
            ax.plot(x, table["estimate__"], color="C0", label="estimate")
        else:
            _points(ax, table, [slice(None)], ["C0"], [None], effects[0])
    else:
        levels = [level for level in _levels(table["effect2__"]) if (table["effect2__"] == level).any()]
        masks = [(table["effect2__"] == level).to_numpy() for level in levels]
        colors = [f"C{k % 10}" for k in range(len(levels))]
        labels = [str(level) for level in levels]
        if types[0] == "numeric":
            for mask, color, label in zip(masks, colors, labels):
                rows = table[mask]
                x = rows[effects[0]].to_numpy(dtype=float)
                ax.fill_between(x, rows["lower__"], rows["upper__"], color=color, alpha=0.2)
                ax.plot(x, rows["estimate__"], color=color, label=label)
        else:
            _points(ax, table, masks, colors, labels, effects[0])
        ax.legend(title=effects[1], fontsize="small")
    ax.set_xlabel(effects[0])
    ax.set_ylabel(response)
    return ax


def _levels(column: pd.Series) -> list:
    return list(column.cat.categories) if isinstance(column.dtype, pd.CategoricalDtype) else list(pd.unique(column))


def _points(ax, table, masks, colors, labels, name):
    """Points with error bars at each level of a factor, groups dodged side by side."""
    levels = [level for level in _levels(table[name]) if (table[name] == level).any()]
    offsets = np.linspace(-0.2, 0.2, len(masks)) if len(masks) > 1 else [0.0]
    for mask, offset, color, label in zip(masks, offsets, colors, labels):
        rows = table[mask]
        position = np.array([levels.index(v) for v in rows[name]]) + offset
        estimate = rows["estimate__"].to_numpy(dtype=float)
        spread = [estimate - rows["lower__"].to_numpy(dtype=float), rows["upper__"].to_numpy(dtype=float) - estimate]
        ax.errorbar(position, estimate, yerr=spread, fmt="o", color=color, capsize=3, label=label)
    ax.set_xticks(np.arange(len(levels)))
    ax.set_xticklabels([str(level) for level in levels])


def plot_effects(result, ax=None) -> dict:
    """One Figure per effect of a ConditionalEffects (a panel per condition); {name: Figure}."""
    import matplotlib.pyplot as plt

    from ..errors import ArgumentError

    if ax is not None and (len(result) != 1 or result[next(iter(result))]["cond__"].nunique() != 1):
        raise ArgumentError("ax= draws a result with one effect and one condition; this one has "
                            f"{len(result)} effect(s): {', '.join(result)}")
    figures = {}
    for name in result:
        table = result[name]
        effects, types = result.effects(name)
        conditions = [c for c in table["cond__"].cat.categories if (table["cond__"] == c).any()]
        if ax is not None:
            axes = [ax]
        else:
            cols = min(3, len(conditions))
            rows = int(np.ceil(len(conditions) / cols))
            _, grid = plt.subplots(rows, cols, figsize=(5.5 * cols, 4 * rows), squeeze=False, sharey=True)
            axes = list(grid.ravel())
            for extra in axes[len(conditions):]:
                extra.set_visible(False)
        for panel, condition in zip(axes, conditions):
            draw_effect(panel, table[(table["cond__"] == condition).to_numpy()], effects, types, result.response,
                        result.prob)
            if len(conditions) > 1:
                panel.set_title(str(condition), fontsize="small")
        figures[name] = axes[0].figure
    return figures

"""ggdist's interval pictures from tidy draws: ``halfeye``, ``gradient_interval``, ``pointinterval``.

Each reads only a long frame of draws (``ml.spread_draws``, ``ml.gather_draws``,
``ml.add_epred_draws``): ``value`` names the column of draws, ``by`` the column whose groups get one
row each (values on the x axis, groups on the y axis, first group at the top, as ggdist's
``stat_halfeye(aes(x = value, y = group))``). Points and intervals are those of
:func:`multilevel.point_interval` (median and quantile intervals by default); the widest interval
is drawn thinnest. Every artist carries a ``gid`` (``"interval:<group>:<width>"``,
``"point:<group>"``, ``"slab:<group>"``) so that its data can be found again.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..draws.point_interval import INTERVALS, POINTS, _widths, kernel_density
from ..errors import ArgumentError

_SLAB = "#9ecae1"
_INK = "#08306b"


def pointinterval(frame, value=None, by=None, widths=(0.66, 0.95), point="median", interval="qi", ax=None):
    """Point and intervals per group (ggdist's ``stat_pointinterval``); returns the Axes.

    Examples
    --------
    >>> draws = ml.spread_draws(fit, "r_Subject[Subject, term]").query("term == 'Intercept'")  # doctest: +SKIP
    >>> ml.plots.pointinterval(draws, "r_Subject", by="Subject")  # doctest: +SKIP
    """
    ax, groups, value = _setup(frame, value, by, ax)
    for y, (label, draws) in zip(_positions(groups), groups):
        _point_and_intervals(ax, draws, y, label, widths, point, interval)
    return _finish(ax, groups, value)


def halfeye(frame, value=None, by=None, widths=(0.66, 0.95), point="median", interval="qi", ax=None,
            scale: float = 0.9):
    """Density above each group's point and intervals (ggdist's ``stat_halfeye``); returns the Axes.

    The density is a Gaussian kernel estimate (R's ``bw.nrd0`` bandwidth) between the smallest
    and largest draw, scaled so that the tallest density of the plot is ``scale`` of a row.
    """
    ax, groups, value = _setup(frame, value, by, ax)
    curves = [_density(draws) for _, draws in groups]
    tallest = max(float(d.max()) for _, d in curves) or 1.0
    for y, (label, draws), (grid, density) in zip(_positions(groups), groups, curves):
        ax.fill_between(grid, y, y + scale * density / tallest, color=_SLAB, lw=0, gid=f"slab:{label}")
        _point_and_intervals(ax, draws, y, label, widths, point, interval)
    return _finish(ax, groups, value)


def gradient_interval(frame, value=None, by=None, widths=(0.66, 0.95), point="median", interval="qi", ax=None,
                      height: float = 0.8, resolution: int = 256):
    """A band shaded by the CDF, darkest at the median (ggdist's ``stat_gradientinterval``), with point
    and intervals; returns the Axes.

    The band's opacity at ``x`` is ``1 - |1 - 2 F(x)|`` with ``F`` the empirical CDF of the draws
    (ggdist's ``fill_type = "gradient"`` with ``alpha = 1 - abs(1 - 2 * cdf)``).
    """
    from matplotlib.colors import to_rgb

    ax, groups, value = _setup(frame, value, by, ax)
    rgb = np.array(to_rgb(_SLAB))
    for y, (label, draws) in zip(_positions(groups), groups):
        x = np.sort(draws)
        grid = np.linspace(x[0], x[-1], resolution)
        alpha = gradient_alpha(x, grid)
        image = np.concatenate([np.broadcast_to(rgb, (1, resolution, 3)), alpha[None, :, None]], axis=2)
        ax.imshow(image, extent=(grid[0], grid[-1], y - height / 2, y + height / 2), aspect="auto",
                  interpolation="bilinear", origin="lower", gid=f"slab:{label}", zorder=1)
        _point_and_intervals(ax, draws, y, label, widths, point, interval)
    low, high = min(d.min() for _, d in groups), max(d.max() for _, d in groups)
    pad = 0.04 * (high - low) if high > low else 1.0
    ax.set_xlim(low - pad, high + pad)  # imshow sets the limits to the last image
    return _finish(ax, groups, value)


def gradient_alpha(draws: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """``1 - |1 - 2 F(x)|`` at ``grid`` for the empirical CDF ``F`` of ``draws``."""
    cdf = np.searchsorted(np.sort(draws), grid, side="right") / len(draws)
    return 1 - np.abs(1 - 2 * cdf)


# ---- shared -------------------------------------------------------------------------------------
def _setup(frame, value, by, ax):
    import matplotlib.pyplot as plt

    if not isinstance(frame, pd.DataFrame):
        raise ArgumentError(f"interval plots read a DataFrame of draws (ml.spread_draws ...), not {type(frame).__name__}")
    if value is None:
        recorded = frame.attrs.get("multilevel_values") or [c for c in (".value", ".epred", ".prediction", ".linpred")
                                                              if c in frame.columns]
        if len(recorded) != 1:
            raise ArgumentError("name the column of draws to draw: value='b_Intercept'")
        value = recorded[0]
    missing = [c for c in [value] + ([by] if by is not None else []) if c not in frame.columns]
    if missing:
        raise ArgumentError(f"no column(s) {', '.join(map(repr, missing))} in the draws; they have: "
                            f"{', '.join(map(str, frame.columns))}")
    if by is None:
        groups = [(value, frame[value].to_numpy(dtype=float))]
    else:
        grouped = frame.groupby(by, sort=False, observed=True)
        groups = [(str(key), part[value].to_numpy(dtype=float)) for key, part in grouped]
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.5 * len(groups) + 1.5))
    return ax, groups, value


def _positions(groups) -> np.ndarray:
    """First group at the top."""
    return np.arange(len(groups))[::-1].astype(float)


def _point_and_intervals(ax, draws, y, label, widths, point, interval):
    if point not in POINTS or interval not in INTERVALS:
        raise ArgumentError(f"point must be one of {', '.join(POINTS)} and interval one of {', '.join(INTERVALS)}")
    widths = sorted(_widths(widths), reverse=True)
    for k, w in enumerate(widths):  # widest first and thinnest
        lower, upper = INTERVALS[interval](draws, w)
        ax.plot([lower, upper], [y, y], color=_INK, lw=1.2 + 2.4 * k, solid_capstyle="butt",
                gid=f"interval:{label}:{w:g}", zorder=3)
    ax.plot([POINTS[point](draws)], [y], "o", color=_INK, ms=6, gid=f"point:{label}", zorder=4)


def _density(draws):
    return kernel_density(draws, 256)


def _finish(ax, groups, value):
    ax.set_yticks(_positions(groups))
    ax.set_yticklabels([label for label, _ in groups])
    ax.set_ylim(-0.6, len(groups) - 0.1)
    ax.set_xlabel(value)
    return ax

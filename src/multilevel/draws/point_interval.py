"""Point and interval summaries of draws, as ggdist's ``point_interval`` family (``mean_qi``,
``median_qi``, ``mode_hdi`` ...).

- ``qi``: the equal-tailed (quantile) interval, numpy's default quantile (R's type 7);
- ``hdi``: the single narrowest interval holding ``floor(width * n) + 1`` of the ``n`` sorted draws
  (HDInterval's ``hdi`` and ggdist's ``hdci``). ggdist's ``hdi`` may split a multimodal
  distribution into several intervals; here it is always one;
- ``mode``: the maximum of a Gaussian kernel density estimate (scipy's ``gaussian_kde`` with R's
  ``bw.nrd0`` bandwidth, evaluated on 512 points between the smallest and largest draw), or the most
  frequent value when every draw is a whole number, as ggdist's ``Mode``.

Output: the grouping columns, then ``<var> .lower .upper`` (one variable) or ``<var> <var>.lower
<var>.upper ...`` (several), then ``.width .point .interval``; one row per group and width, widths
stacked one after the other (ggdist's order). Groups keep the order in which they first appear.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ArgumentError

EXCLUDE = (".chain", ".iteration", ".draw", ".row")  # never summarized
DRAW_INDEX = (".chain", ".iteration", ".draw")  # never grouped by
VALUE_NAMES = (".value", ".epred", ".prediction", ".linpred")  # what gather_draws and add_*_draws name draws


def qi(x: np.ndarray, width: float) -> tuple[float, float]:
    lower, upper = np.quantile(x, [(1 - width) / 2, (1 + width) / 2])
    return float(lower), float(upper)


def hdi(x: np.ndarray, width: float) -> tuple[float, float]:
    """Narrowest interval of the sorted draws holding ``floor(width * n) + 1`` of them (HDInterval)."""
    x = np.sort(np.asarray(x, dtype=float))
    n = len(x)
    exclude = n - int(np.floor(n * width))
    if exclude <= 0 or n < 2:
        return float(x[0]), float(x[-1])
    spans = x[n - exclude:] - x[:exclude]
    best = int(np.argmin(spans))
    return float(x[best]), float(x[best + n - exclude])


def mode(x: np.ndarray) -> float:
    """ggdist's ``Mode``: most frequent value of whole numbers, else the maximum of a kernel density."""
    x = np.asarray(x, dtype=float)
    if np.all(np.isfinite(x)) and np.all(x == np.round(x)):
        values, counts = np.unique(x, return_counts=True)
        return float(values[np.argmax(counts)])
    if len(x) < 2 or np.ptp(x) == 0:
        return float(x[0])
    grid, density = kernel_density(x, 512)
    return float(grid[np.argmax(density)])


def kernel_density(x: np.ndarray, points: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian kernel density with R's ``bw.nrd0`` bandwidth on ``points`` points from min(x) to max(x)."""
    from scipy.stats import gaussian_kde

    x = np.asarray(x, dtype=float)
    grid = np.linspace(x.min(), x.max(), points)
    sd = np.std(x, ddof=1) if len(x) > 1 else 0.0
    if not sd > 0:
        return grid, np.ones_like(grid)
    iqr = np.subtract(*np.quantile(x, [0.75, 0.25]))
    bandwidth = 0.9 * min(sd, iqr / 1.34 if iqr > 0 else sd) * len(x) ** -0.2  # R's bw.nrd0
    return grid, gaussian_kde(x, bw_method=bandwidth / sd)(grid)


POINTS = {"mean": lambda x: float(np.mean(x)), "median": lambda x: float(np.median(x)), "mode": mode}
INTERVALS = {"qi": qi, "hdi": hdi}


def point_interval(data, *columns: str, point: str = "median", interval: str = "qi", width=0.95, by=None):
    """Point summary and interval(s) of draws per group (ggdist's ``point_interval``).

    Parameters
    ----------
    data : DataFrame of draws (``spread_draws``, ``gather_draws``, ``add_epred_draws``...), or a 1-d array
        An array gives one row with columns ``y ymin ymax`` as ggdist gives for a vector.
    *columns : str
        The columns to summarize. By default: ``.value`` if present, else the value columns the
        tidy verbs recorded, else every float column.
    width : float or sequence of float
        Interval probability mass; several give one row per group and width.
    by : str or list of str, optional
        Grouping columns. By default every column that is not summarized and is not a draw index
        (``.chain .iteration .draw .row``), i.e. the index columns, as tidybayes's grouped frames.

    Examples
    --------
    >>> ml.mean_qi(ml.spread_draws(fit, "r_Subject[Subject, term]"), width=[0.66, 0.95])  # doctest: +SKIP
    """
    if point not in POINTS:
        raise ArgumentError(f"point must be one of {', '.join(POINTS)}, not {point!r}")
    if interval not in INTERVALS:
        raise ArgumentError(f"interval must be one of {', '.join(INTERVALS)}, not {interval!r}")
    widths = _widths(width)
    if len(data) == 0:
        raise ArgumentError("no draws to summarize: the draws are empty")
    if not isinstance(data, pd.DataFrame):
        values = np.asarray(data, dtype=float).reshape(-1)
        if columns or by is not None:
            raise ArgumentError("columns and by= need a DataFrame; an array is summarized as one variable")
        rows = [{"y": POINTS[point](values), **dict(zip(("ymin", "ymax"), INTERVALS[interval](values, w))),
                 ".width": w, ".point": point, ".interval": interval} for w in widths]
        return pd.DataFrame(rows)
    value_columns = _value_columns(data, columns)
    groups = _group_columns(data, value_columns, by)
    single = len(value_columns) == 1
    pieces = []
    for w in widths:
        if groups:
            grouped = data.groupby(groups, sort=False, observed=True, dropna=False)
            keys = grouped.size().index.to_frame(index=False)
            summaries = [grouped[c].apply(_summarize, point=point, interval=interval, width=w) for c in value_columns]
        else:
            keys = pd.DataFrame(index=[0])
            summaries = [pd.Series([_summarize(data[c].to_numpy(), point, interval, w)]) for c in value_columns]
        piece = keys.reset_index(drop=True)
        for c, summary in zip(value_columns, summaries):
            triples = np.array(list(summary.to_numpy()), dtype=float).reshape(-1, 3)
            piece[c] = triples[:, 0]
            piece[".lower" if single else f"{c}.lower"] = triples[:, 1]
            piece[".upper" if single else f"{c}.upper"] = triples[:, 2]
        piece[".width"], piece[".point"], piece[".interval"] = w, point, interval
        pieces.append(piece)
    out = pd.concat(pieces, ignore_index=True)
    for g in groups:  # keep the grouping columns' dtypes (categories, integers)
        if g in data.columns:
            out[g] = out[g].astype(data[g].dtype)
    return out


def _summarize(x, point: str, interval: str, width: float) -> tuple[float, float, float]:
    x = np.asarray(x, dtype=float)
    if np.isnan(x).any():
        return (np.nan, np.nan, np.nan)
    return (POINTS[point](x), *INTERVALS[interval](x, width))


def _widths(width) -> list[float]:
    widths = [width] if np.ndim(width) == 0 else list(width)
    for w in widths:
        if isinstance(w, bool) or not isinstance(w, (int, float, np.number)) or not 0 < float(w) <= 1:
            raise ArgumentError(f"width must lie in (0, 1], not {w!r}")
    if not widths:
        raise ArgumentError("width needs at least one value")
    return [float(w) for w in widths]


def _value_columns(data: pd.DataFrame, columns) -> list[str]:
    if columns:
        missing = [c for c in columns if c not in data.columns]
        if missing:
            raise ArgumentError(f"no column(s) {', '.join(map(repr, missing))} in the draws; they have: "
                                f"{', '.join(map(str, data.columns))}")
        return list(columns)
    recorded = data.attrs.get("multilevel_values")
    if recorded and all(c in data.columns for c in recorded):
        return list(recorded)
    named = [c for c in VALUE_NAMES if c in data.columns]
    if named:
        return named
    found = [c for c in data.columns if c not in EXCLUDE and pd.api.types.is_float_dtype(data[c].dtype)]
    if not found:
        raise ArgumentError("no column of draws to summarize: name one, e.g. mean_qi(draws, 'b_Intercept')")
    return found


def _group_columns(data: pd.DataFrame, value_columns: list[str], by) -> list[str]:
    if by is not None:
        by = [by] if isinstance(by, str) else list(by)
        missing = [c for c in by if c not in data.columns]
        if missing:
            raise ArgumentError(f"by= names column(s) not in the draws: {', '.join(map(repr, missing))}")
        return by
    # ``.row`` (add_epred_draws) groups: two equal rows of newdata are still two rows. Other variables
    # of the same spread (b_Days next to r_Subject) are draws, not groups, as in tidybayes's grouped frames.
    draws = set(value_columns) | set(data.attrs.get("multilevel_values") or [])
    return [c for c in data.columns if c not in DRAW_INDEX and c not in draws]


def _maker(point: str, interval: str):
    def summary(data, *columns: str, width=0.95, by=None):
        return point_interval(data, *columns, point=point, interval=interval, width=width, by=by)

    summary.__name__ = f"{point}_{interval}"
    summary.__doc__ = (f"{point} and {'quantile' if interval == 'qi' else 'highest-density'} interval(s) of draws "
                       f"per group: :func:`point_interval` with point={point!r}, interval={interval!r}.")
    return summary


mean_qi = _maker("mean", "qi")
median_qi = _maker("median", "qi")
mode_qi = _maker("mode", "qi")
mean_hdi = _maker("mean", "hdi")
median_hdi = _maker("median", "hdi")
mode_hdi = _maker("mode", "hdi")

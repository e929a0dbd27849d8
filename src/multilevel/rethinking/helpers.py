"""rethinking's helpers for any Bayesian fit: precis, PI, HPDI, extract_samples, link, sim, rlkjcorr,
rmvnorm, traceplot and trankplot.

They read fits only through the fit protocol (:mod:`multilevel.results.protocol`): ``precis`` and
``extract_samples`` need ``draws_by_chain()``, so they work for ``ml.brm`` and ``ml.ulam`` fits alike.

Examples
--------
>>> import numpy as np
>>> PI(np.arange(101.0))
5%      5.5
94%    94.5
dtype: float64
"""
from __future__ import annotations

import re
from typing import ClassVar

import numpy as np
import pandas as pd

from ..errors import ArgumentError
from ..options import open_probability, whole_number
from ..results.protocol import Fit, MissingCapability, answers, require


# ---- intervals -----------------------------------------------------------------------------------
def _percent(p: float) -> str:
    """5.5 -> "5.5", 5.0 -> "5" (as R pastes numbers)."""
    return np.format_float_positional(round(100 * p, 6), trim="-")


def PI(samples, prob: float = 0.89):
    """Percentile interval: the central ``prob`` of the draws (rethinking's ``PI``; R's quantile type 7).

    A vector of draws gives a Series labelled as rethinking's (``"5%"``, ``"94%"`` at 0.89: the
    percentages rounded as R's ``round``); draws x k columns give an array (2, k) (a DataFrame
    gives a 2-row DataFrame with its columns), so ``lower, upper = PI(mu)`` works for both.

    Examples
    --------
    >>> PI(np.arange(101.0), prob=0.5).tolist()
    [25.0, 75.0]
    """
    prob = open_probability("prob", prob)
    values, frame = _draws_array(samples, "PI")
    lower = (1 - prob) / 2
    bounds = np.quantile(values, [lower, 1 - lower], axis=0)
    labels = [f"{round(100 * lower):d}%", f"{round(100 * (1 - lower)):d}%"]  # R: round half to even
    return _labelled(bounds, labels, values, frame)


def HPDI(samples, prob: float = 0.89):
    """Highest posterior density interval: the narrowest interval holding ``prob`` of the draws.

    As rethinking's ``HPDI`` (``coda::HPDinterval``): sort the n draws and take the narrowest
    window between draws ``i`` and ``i + round(n * prob)``. Labels ``"|0.89"``, ``"0.89|"``; draws
    x k columns give an array (2, k).

    Examples
    --------
    >>> HPDI(np.array([0.0, 0.1, 0.2, 0.3, 5.0]), prob=0.6).tolist()
    [0.0, 0.3]
    """
    prob = open_probability("prob", prob)
    values, frame = _draws_array(samples, "HPDI")
    n = values.shape[0]
    ordered = np.sort(values, axis=0)
    gap = max(1, min(n - 1, round(n * prob)))
    widths = ordered[gap:] - ordered[: n - gap]
    start = np.argmin(widths, axis=0)  # the first of equally narrow windows, as R's which.min
    lower = np.take_along_axis(ordered, start[None], axis=0)[0]
    upper = np.take_along_axis(ordered, (start + gap)[None], axis=0)[0]
    return _labelled(np.stack([lower, upper]), [f"|{prob:g}", f"{prob:g}|"], values, frame)


def _draws_array(samples, what: str):
    frame = samples if isinstance(samples, pd.DataFrame) else None
    values = np.asarray(samples, dtype=float) if frame is None else frame.to_numpy(dtype=float)
    if values.ndim == 0 or values.shape[0] < 2:
        raise ArgumentError(f"{what} needs at least 2 draws, not an array shaped {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ArgumentError(f"{what} needs finite draws (found NaN or infinite values)")
    return values, frame


class Interval(pd.Series):
    """An interval labelled as rethinking's (``"5%"``, ``"94%"``); ``x[0]`` and ``x[1]`` are its lower
    and upper bounds, as in R (the labels are text, so a position never clashes with a label)."""

    @property
    def _constructor(self):
        return pd.Series

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            return self.iloc[key]
        return super().__getitem__(key)


def _labelled(bounds: np.ndarray, labels: list[str], values: np.ndarray, frame):
    if values.ndim == 1:
        return Interval(bounds, index=labels)
    if frame is not None:
        return pd.DataFrame(bounds, index=labels, columns=frame.columns)
    return bounds


# ---- random draws --------------------------------------------------------------------------------
def rlkjcorr(n: int, K: int, eta: float = 1.0, seed=None) -> np.ndarray:
    """``n`` random K x K correlation matrices from LKJ(eta), shaped (n, K, K) (rethinking's ``rlkjcorr``).

    The onion method (Lewandowski, Kurowicka and Joe 2009, section 3.2): grow the Cholesky factor
    one row at a time, each new row a uniform direction scaled by the square root of a Beta draw.
    Each off-diagonal correlation r then has (r + 1) / 2 ~ Beta(eta - 1 + K/2, eta - 1 + K/2).

    Examples
    --------
    >>> R = rlkjcorr(1000, 3, eta=2, seed=1)
    >>> R.shape, bool(np.allclose(R[:, 0, 0], 1))
    ((1000, 3, 3), True)
    """
    n = whole_number("n", n, 1)
    K = whole_number("K", K, 2)
    if isinstance(eta, bool) or not isinstance(eta, (int, float, np.floating, np.integer)) or not eta > 0:
        raise ArgumentError(f"eta must be a positive number, not {eta!r}")
    rng = np.random.default_rng(seed)
    chol = np.zeros((n, K, K))  # lower triangular, rows of unit length
    chol[:, 0, 0] = 1.0
    beta = eta + (K - 2) / 2
    r12 = 2 * rng.beta(beta, beta, size=n) - 1
    chol[:, 1, 0] = r12
    chol[:, 1, 1] = np.sqrt(1 - r12**2)
    for m in range(2, K):
        beta -= 0.5
        y = rng.beta(m / 2, beta, size=n)
        direction = rng.standard_normal((n, m))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        chol[:, m, :m] = np.sqrt(y)[:, None] * direction
        chol[:, m, m] = np.sqrt(1 - y)
    corr = chol @ np.swapaxes(chol, 1, 2)
    index = np.arange(K)
    corr[:, index, index] = 1.0  # exactly, not 1 - 1e-16
    return corr


def rmvnorm(n: int, mean, sigma, seed=None) -> np.ndarray:
    """``n`` draws (n, k) from a multivariate normal with ``mean`` (k) and covariance ``sigma`` (k x k).

    ``sigma`` must be symmetric and positive semi-definite (checked: numpy would only warn).

    Examples
    --------
    >>> rmvnorm(5, [0, 0], [[1, 0.5], [0.5, 1]], seed=1).shape
    (5, 2)
    """
    n = whole_number("n", n, 1)
    mean = np.atleast_1d(np.asarray(mean, dtype=float))
    sigma = np.atleast_2d(np.asarray(sigma, dtype=float))
    k = mean.shape[0]
    if mean.ndim != 1 or sigma.shape != (k, k):
        raise ArgumentError(f"rmvnorm needs a mean of k values and a k x k sigma, not shapes {mean.shape} "
                            f"and {sigma.shape}")
    if not (np.all(np.isfinite(sigma)) and np.all(np.isfinite(mean))):
        raise ArgumentError("rmvnorm needs finite mean and sigma")
    if not np.allclose(sigma, sigma.T, rtol=1e-10, atol=1e-12 * np.abs(sigma).max()):
        raise ArgumentError("sigma must be symmetric")
    values, vectors = np.linalg.eigh(sigma)
    if values.min() < -1e-10 * max(values.max(), 1e-300):
        raise ArgumentError(f"sigma must be positive semi-definite (its smallest eigenvalue is {values.min():g})")
    factor = vectors * np.sqrt(np.clip(values, 0, None))
    return mean + np.random.default_rng(seed).standard_normal((n, k)) @ factor.T


# ---- draws of a fit ------------------------------------------------------------------------------
def pick_draws(total: int, n) -> np.ndarray:
    """Positions of ``n`` of ``total`` draws, evenly spaced over all chains (all when ``n`` is None)."""
    if n is None:
        return np.arange(total)
    n = whole_number("n", n, 1, total)
    return np.unique(np.linspace(0, total - 1, n).round().astype(np.int64))


def extract_samples(fit, n: int | None = None) -> dict:
    """Draws of every variable, chains stacked: name -> (draws, ...) (rethinking's ``extract.samples``).

    ``n`` keeps that many draws, evenly spaced over the chains.
    """
    if isinstance(fit, Fit) and not fit.bayesian:
        raise _not_bayesian(fit, "ml.extract_samples")
    require(fit, "draws_by_chain", "ml.extract_samples")
    draws = {k: np.asarray(v).reshape(-1, *np.shape(v)[2:]) for k, v in fit.draws_by_chain().items()}
    keep = pick_draws(next(iter(draws.values())).shape[0], n)
    return {k: v[keep] for k, v in draws.items()}


def _not_bayesian(fit, purpose: str) -> MissingCapability:
    return MissingCapability(f"{purpose} summarizes posterior draws, and {fit.engine} fits have none: use "
                             f"fit.summary() (or fit with ml.brm or ml.ulam for draws)")


# ---- precis --------------------------------------------------------------------------------------
class Precis(pd.DataFrame):
    """rethinking's precis table: prints with ``digits`` decimals (2 by default), n_eff as whole numbers."""

    _metadata: ClassVar[list[str]] = ["digits"]  # pandas keeps these attributes through copies

    @property
    def _constructor(self):
        return Precis

    def _shown(self) -> pd.DataFrame:
        digits = getattr(self, "digits", 2)
        shown = pd.DataFrame(self).copy()
        for col in shown.columns:
            if col == "n_eff":
                shown[col] = shown[col].map(lambda v: f"{v:.0f}")
            elif pd.api.types.is_float_dtype(shown[col].dtype):
                shown[col] = shown[col].map(lambda v: f"{v:.{digits}f}")
        return shown

    def __str__(self) -> str:
        return self._shown().to_string()

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return self._shown().to_html(classes="multilevel")


def precis(fit, depth: int = 1, pars=None, prob: float = 0.89, digits: int = 2, regex: bool = False) -> Precis:
    """rethinking's ``precis``: mean, sd, the central ``prob`` interval, n_eff (bulk ESS) and Rhat.

    Works for any Bayesian fit (``ml.ulam``: its parameter names; ``ml.brm``: brms's names
    ``b_*``, ``sd_*``, ``cor_*``, ``sigma``...), and for a dict of draws (name -> (draws, ...)) or a
    DataFrame of draws (mean, sd and the interval only).

    Parameters
    ----------
    depth : int
        1 shows single numbers, 2 adds vectors (``a[1]``...), 3 adds matrices (``Rho[1,2]``).
    pars : str or list of str, optional
        Variables to show, by exact name (``"a_bar"`` is not ``a``); a name also picks all the
        elements of a vector or matrix (``"a"`` -> ``a[1]``, ``a[2]``...) whatever ``depth`` (you asked
        for it by name), as does an element's own label (``"a[3]"``).
    regex : bool
        Match ``pars`` as regular expressions (``re.search``) against the row labels instead.
    prob : float
        Width of the interval; its columns are labelled by their percentiles (5.5%, 94.5% at 0.89).
    digits : int
        Decimals when printed (the numbers themselves are not rounded).

    Rows of a parameter indexed by a text or categorical column (``a[country]``) keep rethinking's
    labels ``a[1]``, ``a[2]``... and show their level in an extra ``level`` column.

    Examples
    --------
    >>> ml.precis(fit, depth=2, pars=["a_bar", "a"])  # doctest: +SKIP
    """
    whole_number("depth", depth, 1, 3)
    prob = open_probability("prob", prob)
    whole_number("digits", digits, 0, 15)
    patterns = _patterns(pars, regex)
    draws, levels, with_diagnostics = _precis_source(fit)
    lo, hi = (1 - prob) / 2, 1 - (1 - prob) / 2
    rows, index, shown_levels = [], [], []
    for name, values in draws.items():
        dims = values.ndim - 2
        for position in np.ndindex(*values.shape[2:]):
            label = name + (f"[{','.join(str(i + 1) for i in position)}]" if position else "")
            if patterns is not None:
                if not _selected(patterns, regex, name, label):
                    continue
            elif (dims == 1 and depth < 2) or (dims >= 2 and depth < 3):
                continue
            series = values[(slice(None), slice(None)) + position]
            if np.std(series) < 1e-12:  # e.g. the unit diagonal of a correlation matrix
                continue
            flat = series.reshape(-1)
            row = [float(flat.mean()), float(flat.std(ddof=1)), float(np.quantile(flat, lo)),
                   float(np.quantile(flat, hi))]
            if with_diagnostics:
                from ..bayes.posterior import summarize_draws

                _, _, _, _, rhat, bulk, _ = summarize_draws(series)
                row += [bulk, rhat]
            rows.append(row)
            index.append(label)
            shown_levels.append(",".join(str(labels[i]) for labels, i in zip(levels[name], position))
                                if name in levels else "")
    if patterns is not None and not index:
        raise ArgumentError(f"no parameters match pars={pars!r}; names: {', '.join(draws)}")
    columns = ["mean", "sd", f"{_percent(lo)}%", f"{_percent(hi)}%"] + (["n_eff", "Rhat"] if with_diagnostics else [])
    table = Precis(rows, index=index, columns=columns)
    if any(shown_levels):
        table["level"] = shown_levels
    table.digits = digits
    return table


def _patterns(pars, regex: bool):
    if pars is None:
        return None
    names = [pars] if isinstance(pars, str) else list(pars) if isinstance(pars, (list, tuple)) else None
    if not names or not all(isinstance(p, str) for p in names):
        raise ArgumentError(f"pars must be a name or a list of names, not {pars!r}")
    if regex:
        try:
            return [re.compile(p) for p in names]
        except re.error as exc:
            raise ArgumentError(f"pars has an invalid regular expression ({exc})") from None
    return set(names)


def _selected(patterns, regex: bool, name: str, label: str) -> bool:
    if regex:
        return any(p.search(label) for p in patterns)
    return name in patterns or label in patterns


def _precis_source(fit):
    """(draws name -> (chains, iterations, ...), level labels of mapped indices, whether n_eff/Rhat apply)."""
    if isinstance(fit, pd.DataFrame):
        return {str(c): fit[c].to_numpy(dtype=float)[None, :] for c in fit.columns}, {}, False
    if isinstance(fit, dict):
        return {str(k): np.asarray(v, dtype=float)[None] for k, v in fit.items()}, {}, False
    if isinstance(fit, Fit) and not fit.bayesian:
        raise _not_bayesian(fit, "ml.precis")
    require(fit, "draws_by_chain", "ml.precis")
    draws = {k: np.asarray(v) for k, v in fit.draws_by_chain().items()}
    levels = {}
    if any(v.ndim > 2 for v in draws.values()) and answers(fit, "posterior_variables"):
        for name, variable in fit.posterior_variables().items():
            mapped = [not _plain_positions(labels) for labels in variable.coords]
            if name in draws and any(mapped):
                levels[name] = [labels if is_mapped else pd.Index(np.arange(1, len(labels) + 1))
                                for labels, is_mapped in zip(variable.coords, mapped)]
    return draws, levels, True


def _plain_positions(labels: pd.Index) -> bool:
    """Labels that are just the positions 1..K (an integer index column): nothing to add to a[k]."""
    return pd.api.types.is_integer_dtype(labels.dtype) and list(labels) == list(range(1, len(labels) + 1))


# ---- link and sim, plots -------------------------------------------------------------------------
def link(fit, data=None, n: int | None = None, post: dict | None = None, var=None):
    """rethinking's ``link``: draws (draws, rows) of each definition (``p``, ``mu``...) for the
    fit's data or new ``data``; see :meth:`multilevel.rethinking.fit.UlamFit.link`."""
    _require_ulam(fit, "ml.link")
    return fit.link(data, n=n, post=post, var=var)


def sim(fit, data=None, n: int | None = None, post: dict | None = None, var=None, seed=None):
    """rethinking's ``sim``: posterior predictive draws (draws, rows) of each observed variable;
    see :meth:`multilevel.rethinking.fit.UlamFit.sim`."""
    _require_ulam(fit, "ml.sim")
    return fit.sim(data, n=n, post=post, var=var, seed=seed)


def _require_ulam(fit, purpose: str) -> None:
    from .fit import UlamFit

    if not isinstance(fit, UlamFit):
        engine = fit.engine if isinstance(fit, Fit) else type(fit).__name__
        hint = " (a brm fit: fit.posterior_epred(newdata) and fit.posterior_predict(newdata))" \
            if engine == "brm" else ""
        raise MissingCapability(f"{purpose} evaluates the definitions of an ml.ulam model, not a {engine} fit{hint}")


def traceplot(fit, pars=None, max_parameters: int = 8):
    """rethinking's ``traceplot``: one panel per parameter, one line per chain (:func:`multilevel.plots.trace`)."""
    from ..plots import trace

    return trace(fit, [pars] if isinstance(pars, str) else pars, max_parameters)


def trankplot(fit, pars=None, max_parameters: int = 8):
    """rethinking's ``trankplot``: rank histograms per chain (:func:`multilevel.plots.rank`)."""
    from ..plots import rank

    return rank(fit, [pars] if isinstance(pars, str) else pars, max_parameters)

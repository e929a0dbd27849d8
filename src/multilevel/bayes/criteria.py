"""Information criteria for any fit with pointwise log-likelihood draws (brm, ulam, or a new engine).

A fit is read only through the fit protocol: ``fit.log_likelihood()`` -> (chains, draws, observations)
and ``fit.engine``. So ``ml.loo_compare(ulam_fit, brm_fit)`` and ``ml.compare(brm_fit, ulam_fit)``
work whenever both fits score the same rows.

A fit that also offers ``fit.log_likelihood_distinct()`` -> ``(values, inverse)``, its distinct
columns (chains, draws, K) and the column of each of the n observations (brm: rows with the same
linear predictor, response and trials), is scored on the K columns: PSIS smooths each column on its
own and WAIC is per column, so every pointwise value (elpd, p, Pareto k, ESS) is computed once per
column and copied out to its rows; totals and standard errors are then over the n rows, exactly as
from the full (chains, draws, n) array (1e5 bernoulli rows on 240 columns: seconds, not minutes and
gigabytes).

- :func:`loo`, :func:`waic`, :func:`loo_compare` follow R's loo package (what brms prints): the
  standard errors are ``sqrt(n * var(pointwise))`` with R's ``var`` (n - 1 in the denominator).
- :func:`rethinking_waic`, :func:`rethinking_psis`, :func:`rethinking_compare` are rethinking's
  ``WAIC``, ``PSIS`` and ``compare`` on the deviance scale (-2 elpd).

Pareto smoothed importance sampling is ArviZ's (``arviz_stats.loo``: Vehtari et al. 2024, the
algorithm of R's loo >= 2.7). WAIC is the two-line formula of Watanabe (2010) / Vehtari et al.
(2017), computed here because ArviZ 1.x no longer provides it.
"""
from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from ..errors import MultilevelError
from ..results.protocol import Fit, answers

__all__ = ["LooResult", "WaicResult", "LooCompare", "loo", "waic", "loo_compare",
           "rethinking_waic", "rethinking_psis", "rethinking_compare", "pointwise_log_likelihood",
           "log_likelihood_columns"]


# ---- reading a fit ----------------------------------------------------------------------------
def _engine(fit) -> str:
    # an object outside the protocol that still has log_likelihood() is named by its class
    return fit.engine if isinstance(fit, Fit) else type(fit).__name__


def pointwise_log_likelihood(fit, purpose: str = "loo", label: str = "the fit") -> np.ndarray:
    """``fit.log_likelihood()`` as a float array (chains, draws, observations), or a MultilevelError
    that says why ``purpose`` cannot use this fit."""
    _check_scorable(fit, purpose, label)
    try:
        values = np.asarray(fit.log_likelihood(), dtype=float)
    except MultilevelError as err:  # MissingCapability: e.g. ulam(..., log_lik=False)
        raise MultilevelError(f"{purpose} needs pointwise log-likelihood draws, and {label} "
                              f"({_engine(fit)} fit) has none: {err}") from err
    _check_shape(values, purpose, label)
    return values


def log_likelihood_columns(fit, purpose: str = "loo", label: str = "the fit") -> tuple[np.ndarray, np.ndarray | None]:
    """``(values, inverse)``: the fit's distinct log-likelihood columns (chains, draws, K) and the
    column of each observation, from ``fit.log_likelihood_distinct()`` where the fit offers it;
    otherwise ``fit.log_likelihood()`` and None (one column per observation)."""
    if not callable(getattr(fit, "log_likelihood_distinct", None)):
        return pointwise_log_likelihood(fit, purpose, label), None
    _check_scorable(fit, purpose, label)
    try:
        values, inverse = fit.log_likelihood_distinct()
    except MultilevelError as err:
        raise MultilevelError(f"{purpose} needs pointwise log-likelihood draws, and {label} "
                              f"({_engine(fit)} fit) has none: {err}") from err
    values, inverse = np.asarray(values, dtype=float), np.asarray(inverse)
    _check_shape(values, purpose, label)
    if inverse.ndim != 1 or inverse.size == 0 or not np.issubdtype(inverse.dtype, np.integer) \
            or inverse.min() < 0 or inverse.max() >= values.shape[-1]:
        raise MultilevelError(f"{purpose}: {label} gave {values.shape[-1]} distinct log-likelihood columns and "
                              f"an index of shape {inverse.shape} ({inverse.dtype}) into them; expected one "
                              "column number per observation")
    if len(inverse) == values.shape[-1] and np.array_equal(inverse, np.arange(len(inverse))):
        return values, None
    return values, inverse


def _check_scorable(fit, purpose: str, label: str) -> None:
    if not answers(fit, "log_likelihood") or isinstance(fit, Fit) and not fit.bayesian:
        what = f"{_article(fit.engine)} {fit.engine} fit, which has none" if isinstance(fit, Fit) else \
            f"{_article(type(fit).__name__)} {type(fit).__name__}, not a fit"
        hint = "use ml.anova for likelihood-ratio tests" if isinstance(fit, Fit) and not fit.bayesian else \
            "fit the model with ml.brm or ml.ulam"
        raise MultilevelError(f"{purpose} needs pointwise log-likelihood draws; {label} is {what} - {hint}")


def _check_shape(values: np.ndarray, purpose: str, label: str) -> None:
    if values.ndim != 3 or values.shape[-1] == 0:
        raise MultilevelError(f"{purpose}: {label} gave a log-likelihood of shape {values.shape}; "
                              "expected (chains, draws, observations)")


def _nobs(columns) -> int:
    values, inverse = columns
    return values.shape[-1] if inverse is None else len(inverse)


def _expand(values: np.ndarray, inverse: np.ndarray | None) -> np.ndarray:
    """Per-column values (K,) copied out to the observations (n,)."""
    return values if inverse is None else values[inverse]


def _article(word: str) -> str:
    # as the name is read aloud: "an lmer", "an lm", "a glmer", "a brm"
    return "an" if word[:1].lower() in "aeioul" else "a"


def _log_likelihoods(fits, names, purpose: str) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Log-likelihood columns of several fits (:func:`log_likelihood_columns`), checked to score the
    same number of observations."""
    if not fits:
        raise MultilevelError(f"{purpose} needs at least one fit")
    if len(names) != len(fits):
        raise MultilevelError(f"{purpose}: {len(names)} names for {len(fits)} fits")
    values = [log_likelihood_columns(f, purpose, repr(n)) for f, n in zip(fits, names)]
    counts = [_nobs(v) for v in values]
    if len(set(counts)) > 1:
        detail = ", ".join(f"{n!r} ({_engine(f)} fit) has {c}" for f, n, c in zip(fits, names, counts))
        raise MultilevelError(f"{purpose} compares models on the same observations, but the numbers of "
                              f"pointwise log-likelihoods differ: {detail}")
    return values


def _se(values: np.ndarray) -> float:
    """sqrt(n * var(values)) with R's var (denominator n - 1), as R's loo package."""
    return float(np.sqrt(len(values) * np.var(values, ddof=1))) if len(values) > 1 else np.nan


def _lppd_i(ll: np.ndarray) -> np.ndarray:
    """log of the posterior mean of each observation's likelihood, (observations,)."""
    flat = ll.reshape(-1, ll.shape[-1])
    return logsumexp(flat, axis=0) - np.log(flat.shape[0])


def _relative_efficiency(ll: np.ndarray, counts: np.ndarray | None = None) -> float:
    """Mean over observations of ESS(exp(log-lik_i)) / draws: R's loo::relative_eff, averaged, since
    arviz-stats takes one r_eff (brms passes one per observation; it only sets the PSIS tail length).
    ``counts``: how many observations each column stands for (the mean is then weighted by them)."""
    import arviz_stats

    likelihood = np.exp(ll - ll.max(axis=(0, 1), keepdims=True))
    with np.errstate(divide="ignore", invalid="ignore"):
        ess = np.asarray(arviz_stats.ess(likelihood, method="mean", chain_axis=0, draw_axis=1), dtype=float)
    counts = np.ones(ess.shape) if counts is None else np.asarray(counts, dtype=float)
    keep = np.isfinite(ess) & (ess > 0)
    if not keep.any():
        return 1.0
    return float(np.sum(ess[keep] * counts[keep]) / np.sum(counts[keep])) / (ll.shape[0] * ll.shape[1])


def _user_stacklevel() -> int:
    """stacklevel for warnings.warn in the caller that points at the first line outside multilevel."""
    frame, level = sys._getframe(1), 1  # level 1: the function calling warnings.warn
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "multilevel":
        frame, level = frame.f_back, level + 1
    return level


# ---- results ----------------------------------------------------------------------------------
class _Estimates:
    """Pointwise values and their Estimate/SE table, printed as R's loo package prints them."""

    kind = ""
    columns: tuple[str, str, str] = ("", "", "")  # elpd, p, ic

    def __init__(self, pointwise: pd.DataFrame, n_draws: int):
        self.pointwise = pointwise
        self.n_draws = int(n_draws)
        self.nobs = len(pointwise)
        self.estimates = pd.DataFrame({"Estimate": [float(pointwise[c].sum()) for c in self.columns],
                                       "SE": [_se(pointwise[c].to_numpy()) for c in self.columns]},
                                      index=list(self.columns))

    def _value(self, column: str) -> float:
        return float(self.estimates.loc[column, "Estimate"])

    def _error(self, column: str) -> float:
        return float(self.estimates.loc[column, "SE"])

    def _footer(self) -> list[str]:
        return []

    def __str__(self) -> str:
        table = self.estimates.map(lambda v: f"{v:.1f}")
        lines = [f"Computed from {self.n_draws} by {self.nobs} log-likelihood matrix.", "",
                 table.to_string()]
        return "\n".join(lines + self._footer())

    __repr__ = __str__


class LooResult(_Estimates):
    """PSIS-LOO of one fit: ``elpd_loo``, ``p_loo``, ``looic`` with standard errors, pointwise values
    (``loo_i`` = pointwise elpd_loo, ``pareto_k``), and ArviZ's ``ELPDData`` as ``elpd_data`` (None
    when some observation's log-likelihood is constant over draws: ArviZ cannot take those). Where
    the fit was scored on its distinct log-likelihood columns, ``elpd_data`` holds the totals and
    the per-observation ``elpd_i`` and ``pareto_k`` but no ``log_weights`` (they would be the full
    (chains, draws, observations) array)."""

    kind = "loo"
    columns = ("elpd_loo", "p_loo", "looic")

    def __init__(self, pointwise, n_draws, good_k: float, r_eff: float, min_ess: np.ndarray, elpd_data=None):
        super().__init__(pointwise, n_draws)
        self.good_k, self.r_eff, self.elpd_data = float(good_k), float(r_eff), elpd_data
        self._min_ess = min_ess

    elpd_loo = property(lambda self: self._value("elpd_loo"))
    se_elpd_loo = property(lambda self: self._error("elpd_loo"))
    se = se_elpd_loo  # ArviZ's name
    p_loo = property(lambda self: self._value("p_loo"))
    se_p_loo = property(lambda self: self._error("p_loo"))
    looic = property(lambda self: self._value("looic"))
    se_looic = property(lambda self: self._error("looic"))
    loo_i = property(lambda self: self.pointwise["elpd_loo"].to_numpy())
    pareto_k = property(lambda self: self.pointwise["influence_pareto_k"].to_numpy())

    @property
    def warning(self) -> bool:
        return bool(np.any(self.pareto_k > self.good_k))

    def _footer(self) -> list[str]:
        k, good = self.pareto_k, self.good_k
        lines = ["------", f"ESS estimates assume MCMC draws (r_eff = {self.r_eff:.2f}).", ""]
        if not self.warning:
            return lines + [f"All Pareto k estimates are good (k < {good:.2g}).",
                            "See help('pareto-k-diagnostic') for details."]
        bins = [(f"(-Inf, {good:.2g}]", "(good)", k <= good), (f"({good:.2g}, 1]", "(bad)", (k > good) & (k <= 1)),
                ("(1, Inf)", "(very bad)", k > 1)]
        width = max(len(b[0]) for b in bins)
        lines += ["Pareto k diagnostic values:", f"{'':<{width + 14}}Count   Pct. Min. ESS"]
        for interval, label, mask in bins:
            ess = f"{np.min(self._min_ess[mask]):.0f}" if label == "(good)" and mask.any() else "<NA>"
            lines.append(f"{interval:>{width}}   {label:<10} {int(mask.sum()):>5} {100 * mask.mean():>5.1f}%  {ess}")
        return lines + ["See help('pareto-k-diagnostic') for details."]


class WaicResult(_Estimates):
    """WAIC of one fit: ``elpd_waic``, ``p_waic``, ``waic`` with standard errors and pointwise values."""

    kind = "waic"
    columns = ("elpd_waic", "p_waic", "waic")

    elpd_waic = property(lambda self: self._value("elpd_waic"))
    se_elpd_waic = property(lambda self: self._error("elpd_waic"))
    se = se_elpd_waic
    p_waic = property(lambda self: self._value("p_waic"))
    se_p_waic = property(lambda self: self._error("p_waic"))
    waic = property(lambda self: self._value("waic"))
    se_waic = property(lambda self: self._error("waic"))
    waic_i = property(lambda self: self.pointwise["waic"].to_numpy())

    def _footer(self) -> list[str]:
        high = int((self.pointwise["p_waic"] > 0.4).sum())
        if not high:
            return []
        return ["", f"{high} ({100 * high / self.nobs:.1f}%) p_waic estimates greater than 0.4. "
                    "We recommend trying loo instead."]


class LooCompare(pd.DataFrame):
    """loo_compare's table; prints as R's ``print(loo_compare(...), simplify = FALSE)``."""

    @property
    def _constructor(self):
        return LooCompare

    def __str__(self) -> str:
        return pd.DataFrame(self).map(lambda v: f"{v:.1f}").to_string()

    __repr__ = __str__


# ---- loo, waic, loo_compare (R's loo package) ---------------------------------------------------
def loo(fit, *, label: str = "the fit") -> LooResult:
    """PSIS-LOO cross-validation (R's ``loo``) from a fit's pointwise log-likelihood draws.

    Examples
    --------
    >>> fit = ml.brm("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))  # doctest: +SKIP
    >>> print(ml.loo(fit))  # doctest: +SKIP
    Computed from 4000 by 180 log-likelihood matrix.
    """
    return _loo_of(log_likelihood_columns(fit, "loo", label), label)


def _loo_of(columns, label: str) -> LooResult:
    """PSIS-LOO from ``(values, inverse)`` (:func:`log_likelihood_columns`): computed per column,
    copied out to the observations."""
    import arviz_base
    import arviz_stats

    ll, inverse = columns
    chains, draws, k = ll.shape
    size = chains * draws
    counts = None if inverse is None else np.bincount(inverse, minlength=k)
    # an observation whose log-likelihood is the same in every draw has uniform importance weights:
    # its leave-one-out density is exact (ArviZ's Pareto fit refuses a constant tail)
    varies = np.ptp(ll.reshape(size, k), axis=0) > 0
    if counts is not None:
        varies &= counts > 0  # a column no observation uses (the fit's own business) is not scored
    elpd_i, pareto_k, min_ess = _lppd_i(ll), np.zeros(k), np.full(k, float(size))
    good_k, r_eff, result = min(1 - 1 / np.log10(size), 0.7) if size > 1 else 0.7, 1.0, None
    if varies.any():
        r_eff = _relative_efficiency(ll[..., varies], None if counts is None else counts[varies])
        data = arviz_base.from_dict({"log_likelihood": {"y": ll[..., varies]}}, dims={"y": ["obs_id"]})
        with warnings.catch_warnings():
            # ArviZ's own wording; ours below names the fit and the count
            warnings.simplefilter("ignore", UserWarning)
            result = arviz_stats.loo(data, pointwise=True, reff=r_eff)
        elpd_i[varies] = np.asarray(result.elpd_i, dtype=float)
        pareto_k[varies] = np.asarray(result.pareto_k, dtype=float)
        weights = np.exp(np.asarray(result.log_weights, dtype=float).reshape(int(varies.sum()), -1))
        min_ess[varies] = 1 / np.sum((weights / weights.sum(axis=1, keepdims=True)) ** 2, axis=1)
        good_k = float(result.good_k)
    min_ess = _expand(min_ess * r_eff, inverse)  # R's psis_n_eff
    p_loo_i = _expand(_lppd_i(ll) - elpd_i, inverse)
    elpd_i, pareto_k, n = _expand(elpd_i, inverse), _expand(pareto_k, inverse), _nobs(columns)
    pointwise = pd.DataFrame({"elpd_loo": elpd_i, "p_loo": p_loo_i, "looic": -2 * elpd_i,
                              "influence_pareto_k": pareto_k})
    every_row_varies = bool(varies.all() if inverse is None else varies[inverse].all())
    if result is not None and inverse is not None and every_row_varies:
        result = _rows_elpd_data(result, elpd_i, p_loo_i, pareto_k)
    out = LooResult(pointwise, size, good_k, r_eff, min_ess, result if every_row_varies else None)
    if out.warning:
        bad = int(np.sum(pareto_k > out.good_k))
        warnings.warn(f"{bad} of {n} observations of {label} have Pareto k > {out.good_k:.2f}: PSIS-LOO is "
                      "unreliable for them (print the loo result for the table; K-fold cross-validation "
                      "avoids the approximation)", UserWarning, stacklevel=_user_stacklevel())
    return out


def _rows_elpd_data(result, elpd_i: np.ndarray, p_loo_i: np.ndarray, pareto_k: np.ndarray):
    """ArviZ's ELPDData of the distinct columns -> one over the observations (totals, SE and
    pointwise values as ArviZ computes them from the full array; no log_weights)."""
    import arviz_stats  # noqa: F401  (the .azstats accessor)
    import xarray as xr
    from arviz_stats.utils import ELPDData

    def rows(values):
        return xr.DataArray(values, dims=["obs_id"], coords={"obs_id": np.arange(len(values))})

    elpd, se, p, _ = rows(elpd_i).azstats.loo_summary(rows(p_loo_i))
    return ELPDData("loo", elpd, se, p, result.n_samples, len(elpd_i), result.scale, result.warning,
                    result.good_k, rows(elpd_i), rows(pareto_k), approx_posterior=result.approx_posterior)


def waic(fit, *, label: str = "the fit") -> WaicResult:
    """WAIC (R's ``loo::waic``): elpd_waic = sum(lppd_i - p_waic_i), p_waic_i = var(log-lik_i) over draws."""
    return _waic_of(log_likelihood_columns(fit, "waic", label))


def _waic_of(columns) -> WaicResult:
    """WAIC from ``(values, inverse)`` (:func:`log_likelihood_columns`): per column, copied out."""
    ll, inverse = columns
    flat = ll.reshape(-1, ll.shape[-1])
    lppd_i = _expand(_lppd_i(ll), inverse)
    p_waic_i = _expand(flat.var(axis=0, ddof=1), inverse)
    elpd_i = lppd_i - p_waic_i
    return WaicResult(pd.DataFrame({"elpd_waic": elpd_i, "p_waic": p_waic_i, "waic": -2 * elpd_i}), flat.shape[0])


def loo_compare(*fits, names=None) -> LooCompare:
    """Compare fits by PSIS-LOO as R's ``loo_compare``: best (highest elpd_loo) first.

    Columns: elpd_diff, se_diff, elpd_loo, se_elpd_loo, p_loo, se_p_loo, looic, se_looic. elpd_diff
    and se_diff come from the pointwise differences to the best model: ``sum(d)`` and
    ``sqrt(n * var(d))``. Fits may come from different engines if they score the same observations.

    Examples
    --------
    >>> ml.loo_compare(slopes, intercepts, names=["slopes", "intercepts"])  # doctest: +SKIP
    """
    names = [f"model{i + 1}" for i in range(len(fits))] if names is None else [str(n) for n in names]
    results = [_loo_of(ll, repr(n)) for ll, n in zip(_log_likelihoods(fits, names, "loo_compare"), names)]
    elpd = np.array([r.elpd_loo for r in results])
    order = np.argsort(-elpd, kind="stable")
    best = results[order[0]].loo_i
    rows = {}
    for i in order:
        r = results[i]
        diff = r.loo_i - best
        rows[names[i]] = {"elpd_diff": float(diff.sum()), "se_diff": _se(diff) if i != order[0] else 0.0,
                          "elpd_loo": r.elpd_loo, "se_elpd_loo": r.se_elpd_loo, "p_loo": r.p_loo,
                          "se_p_loo": r.se_p_loo, "looic": r.looic, "se_looic": r.se_looic}
    return LooCompare(pd.DataFrame.from_dict(rows, orient="index"))


# ---- rethinking's WAIC, PSIS and compare (deviance scale) ----------------------------------------
def rethinking_waic(fit, pointwise: bool = False, *, label: str = "the fit"):
    """rethinking's ``WAIC``: WAIC = -2 (lppd - pWAIC), lppd, penalty, std_err; pointwise on request."""
    result = _waic_of(log_likelihood_columns(fit, "WAIC", label))
    points = result.waic_i
    table = pd.Series({"WAIC": points.sum(), "lppd": float((result.pointwise["elpd_waic"]
                                                            + result.pointwise["p_waic"]).sum()),
                       "penalty": result.p_waic, "std_err": _se(points)})
    return (table, points) if pointwise else table


def rethinking_psis(fit, pointwise: bool = False, *, label: str = "the fit"):
    """rethinking's ``PSIS``: PSIS = -2 elpd_loo, lppd, penalty (p_loo), std_err; pointwise values
    and Pareto k on request."""
    result = _loo_of(log_likelihood_columns(fit, "PSIS", label), label)
    points = -2 * result.loo_i
    table = pd.Series({"PSIS": points.sum(), "lppd": result.elpd_loo + result.p_loo, "penalty": result.p_loo,
                       "std_err": _se(points)})
    return (table, points, result.pareto_k) if pointwise else table


def rethinking_compare(*fits, func: str = "WAIC", names=None, **named_fits) -> pd.DataFrame:
    """rethinking's ``compare``: WAIC (or PSIS), SE, dWAIC, dSE, pWAIC, weight; best (lowest) first.

    Name the rows with keywords, ``compare(partial=m1, none=m2)``, or ``names=[...]``.
    """
    if named_fits:
        names = list(names or [f"m{i + 1}" for i in range(len(fits))]) + list(named_fits)
        fits = fits + tuple(named_fits.values())
    func = str(func).upper()
    if func not in ("WAIC", "PSIS"):
        raise MultilevelError(f"compare: func must be 'WAIC' or 'PSIS', not {func!r}")
    names = [f"m{i + 1}" for i in range(len(fits))] if names is None else [str(n) for n in names]
    lls = _log_likelihoods(fits, names, "compare")
    scores, points = [], []
    for ll, name in zip(lls, names):
        if func == "WAIC":
            result = _waic_of(ll)
            points.append(result.waic_i)
            scores.append((result.waic, _se(result.waic_i), result.p_waic))
        else:
            result = _loo_of(ll, repr(name))
            points.append(-2 * result.loo_i)
            scores.append((-2 * result.elpd_loo, _se(points[-1]), result.p_loo))
    values = np.array([s[0] for s in scores])
    best = int(np.argmin(values))
    d_se = [_se(p - points[best]) if i != best else np.nan for i, p in enumerate(points)]
    weights = np.exp(-0.5 * (values - values.min()))
    table = pd.DataFrame({func: values, "SE": [s[1] for s in scores], f"d{func}": values - values.min(),
                          "dSE": d_se, f"p{func}": [s[2] for s in scores],
                          "weight": weights / weights.sum()}, index=names)
    return table.sort_values(func, kind="stable")

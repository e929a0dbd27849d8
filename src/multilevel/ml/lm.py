"""``lm``: formula -> design (no random terms) -> least squares by QR -> :class:`LmFit`.

The complete-pooling / no-pooling baseline next to ``lmer``: the same formula parser and design
layer, so ``ml.lm("Reaction ~ Days", d)`` and ``ml.lmer("Reaction ~ Days + (Days | Subject)", d)``
encode ``Days`` alike. The numbers follow R's ``lm``: columns that are (numerically) combinations
of earlier ones are dropped by the design layer's pivoting at R's tolerance 1e-7 and reported as
NA (NaN) coefficients; rows with zero weight do not count (R's ``lm.wfit``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg

from ..design import Design, build_design
from ..errors import DataError, ModelError
from ..formula import parse_formula
from ..results.lmfit import LmFit
from .services import LinearModelServices
from .update import remember_call


@dataclass(frozen=True)
class LeastSquares:
    """A weighted least-squares solution on the rows with positive weight.

    ``r`` is the triangular factor of sqrt(w) X (so that (X'WX)^-1 = r^-1 r^-T), ``effects`` are
    Q' sqrt(w) (y - offset) for the columns (R's ``effects``, what the type I sums of squares add
    up), ``rss`` the weighted residual sum of squares.
    """

    coef: np.ndarray
    r: np.ndarray
    effects: np.ndarray
    rss: float
    used: np.ndarray  # rows with positive weight
    df_residual: int


def least_squares(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None,
                  offset: np.ndarray | None = None) -> LeastSquares:
    """Solve min sum w (y - offset - X b)^2 by a Householder QR of sqrt(w) X (LAPACK, as R's LINPACK)."""
    used = np.ones(len(y), dtype=bool) if weights is None else weights > 0
    sw = np.ones(int(used.sum())) if weights is None else np.sqrt(weights[used])
    target = y if offset is None else y - offset
    xw, yw = x[used] * sw[:, None], target[used] * sw
    q, r = np.linalg.qr(xw, mode="reduced")
    effects = q.T @ yw
    coef = linalg.solve_triangular(r, effects) if r.size else np.zeros(0)
    resid = yw - q @ effects
    return LeastSquares(coef, r, effects, float(resid @ resid), used, int(used.sum()) - x.shape[1])


def unscaled_covariance(r: np.ndarray) -> np.ndarray:
    """(X'WX)^-1 from the triangular factor (R's ``chol2inv``)."""
    if r.size == 0:
        return np.zeros((0, 0))
    inv = linalg.solve_triangular(r, np.eye(r.shape[0]))
    return inv @ inv.T


def lm(formula: str, data: pd.DataFrame, *, weights=None, offset=None, na_action: str = "omit",
       data_name: str | None = None, contrasts: dict | None = None) -> LmFit:
    """Fit a linear model by least squares, as R's ``lm``.

    Parameters
    ----------
    formula : str
        A formula without random-effects terms, e.g. ``"Reaction ~ Days * Subject"``.
    data : pandas.DataFrame
    weights : str or array, optional
        Prior weights (a column name or one value per row); rows with weight 0 do not count.
    offset : str or array, optional
        A known part of the mean (also ``offset(x)`` in the formula).
    na_action : {"omit", "raise"}
        Drop rows with missing values (counted, warned and reported in the summary) or raise.
    data_name : str, optional
        The name shown in the summary's ``Call:`` line.
    contrasts : dict, optional
        Codings of factors of the fixed effects, as R's ``contrasts=`` (see :func:`multilevel.lmer`).

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lm("Reaction ~ Days", ml.datasets.load("sleepstudy"))
    >>> round(float(fit.coef()["Days"]), 4)
    10.4673
    """
    arguments = dict(locals())  # the call, for fit.update() (as given: before any checks)
    parsed = parse_formula(formula)
    if parsed.bars:
        raise ModelError(f"lm fits models without random-effects terms; {parsed.text!r} has "
                         f"{len(parsed.bars)}: use ml.lmer for a linear mixed model")
    design = build_design(parsed, data, weights=weights, offset=offset, na_action=na_action,
                          contrasts=contrasts)
    call = {"weights": weights} if isinstance(weights, str) else {}
    return remember_call(fit_lm_design(design, data_name=data_name or "data", call=call), "lm", arguments)


def fit_lm_design(design: Design, *, data_name: str = "data", call: dict | None = None) -> LmFit:
    """Fit a prepared :class:`Design` without random terms (the stage after ``build_design``)."""
    if design.terms:
        raise ModelError("fit_lm_design needs a design without random-effects terms")
    solution = least_squares(design.fixed.matrix, design.response, design.weights, design.offset)
    if solution.df_residual < 0:
        raise DataError(f"{design.fixed.matrix.shape[1]} coefficients cannot be estimated from "
                        f"{int(solution.used.sum())} observations")
    return LmFit(design, solution, unscaled=unscaled_covariance(solution.r), services=LinearModelServices,
                 data_name=data_name, call=call or {})

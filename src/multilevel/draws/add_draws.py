"""tidybayes's ``add_epred_draws``, ``add_predicted_draws`` and ``add_linpred_draws``: newdata with draws.

Each row of ``newdata`` is repeated once per draw, with all its columns and dtypes, then ``.row``
(1-based position in ``newdata``), ``.chain .iteration .draw`` and the value column. Rows come
row by row, draws in order within each row (tidybayes groups by the newdata columns and ``.row``).
The draws come from the protocol's ``fit.epred_draws(newdata, ndraws=, seed=, re_formula=,
allow_new_levels=)`` (and ``predicted_draws``, ``linpred_draws``), which pick ``ndraws`` draws
with :func:`multilevel.draws.pick_draws` and return them in their original order; every row holds
the same draws.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError
from ..results.protocol import require
from .tidy import pick_draws


def add_epred_draws(newdata, fit, *, ndraws=None, seed=None, re_formula=None, allow_new_levels=False,
                    value: str = ".epred", **options) -> pd.DataFrame:
    """Draws of the expected response for each row of ``newdata`` (tidybayes's ``add_epred_draws``).

    Examples
    --------
    >>> grid = pd.DataFrame({"Days": [0, 9], "Subject": pd.Categorical(["308", "308"])})
    >>> ml.add_epred_draws(grid, fit, ndraws=100, seed=1)  # doctest: +SKIP
    """
    return _add_draws(newdata, fit, "epred_draws", value, ndraws, seed, re_formula, allow_new_levels, options)


def add_predicted_draws(newdata, fit, *, ndraws=None, seed=None, re_formula=None, allow_new_levels=False,
                        value: str = ".prediction", **options) -> pd.DataFrame:
    """Posterior predictive draws for each row of ``newdata`` (tidybayes's ``add_predicted_draws``)."""
    return _add_draws(newdata, fit, "predicted_draws", value, ndraws, seed, re_formula, allow_new_levels, options)


def add_linpred_draws(newdata, fit, *, ndraws=None, seed=None, re_formula=None, allow_new_levels=False,
                      value: str = ".linpred", **options) -> pd.DataFrame:
    """Draws of the linear predictor (link scale) for each row of ``newdata`` (tidybayes's ``add_linpred_draws``)."""
    return _add_draws(newdata, fit, "linpred_draws", value, ndraws, seed, re_formula, allow_new_levels, options)


def _add_draws(newdata, fit, question, value, ndraws, seed, re_formula, allow_new_levels, options) -> pd.DataFrame:
    if not isinstance(newdata, pd.DataFrame):
        raise DataError(f"newdata must be a pandas DataFrame (the grid to predict), not {type(newdata).__name__}")
    require(fit, question, f"add_{question}")
    reserved = {".row", ".chain", ".iteration", ".draw"} & set(newdata.columns)
    if reserved or value in newdata.columns:
        raise DataError(f"newdata already has column(s) {', '.join(sorted(reserved | ({value} & set(newdata.columns))))}"
                        f"; rename them (the draws are added under those names)")
    values = np.asarray(getattr(fit, question)(newdata, ndraws=ndraws, seed=seed, re_formula=re_formula,
                                               allow_new_levels=allow_new_levels, **options))
    chains, iterations = np.shape(next(iter(fit.draws_by_chain().values())))[:2]
    picked = np.sort(pick_draws(chains * iterations, ndraws, np.random.default_rng(seed)))
    if values.shape[:2] != (len(picked), len(newdata)) or values.ndim > 3:
        raise DataError(f"{question} gave draws of shape {values.shape}, expected ({len(picked)}, {len(newdata)})")
    if values.ndim == 3:  # ordinal epred: a probability per category, rows by .category as tidybayes
        return _with_categories(newdata, values, picked, iterations, value, fit.response_categories())
    n_draws, n_rows = values.shape
    out = newdata.iloc[np.repeat(np.arange(n_rows), n_draws)].reset_index(drop=True)
    out[".row"] = np.repeat(np.arange(1, n_rows + 1), n_draws)
    out[".chain"] = np.tile(picked // iterations + 1, n_rows)
    out[".iteration"] = np.tile(picked % iterations + 1, n_rows)
    out[".draw"] = np.tile(picked + 1, n_rows)
    out[value] = values.T.reshape(-1)
    out.attrs["multilevel_values"] = [value]
    return out


def _with_categories(newdata, values, picked, iterations, value, labels=None) -> pd.DataFrame:
    """(draws, rows, K) -> one row per (newdata row, category, draw), with tidybayes's ``.category``
    (1..K; a categorical model's labels) beside ``.row``: what ``add_epred_draws`` gives for an
    ordinal or categorical brms model."""
    if ".category" in newdata.columns:
        raise DataError("newdata already has a column .category; rename it (the categories are added under that name)")
    n_draws, n_rows, n_categories = values.shape
    per_row = n_categories * n_draws
    out = newdata.iloc[np.repeat(np.arange(n_rows), per_row)].reset_index(drop=True)
    out[".row"] = np.repeat(np.arange(1, n_rows + 1), per_row)
    out[".chain"] = np.tile(picked // iterations + 1, n_rows * n_categories)
    out[".iteration"] = np.tile(picked % iterations + 1, n_rows * n_categories)
    out[".draw"] = np.tile(picked + 1, n_rows * n_categories)
    if labels is not None and len(labels) == n_categories + 1:  # categorical linpred: mu<k> of k = 2..K
        labels = labels[1:]
    categories = np.arange(1, n_categories + 1) if labels is None else np.asarray(labels, dtype=object)
    out[".category"] = np.tile(np.repeat(categories, n_draws), n_rows)
    out[value] = np.transpose(values, (1, 2, 0)).reshape(-1)
    out.attrs["multilevel_values"] = [value]
    return out

"""Posterior predictions: linear predictor, expected value, predictive draws, pointwise log-likelihood.

New data are encoded with the fit's design (the same formulaic specs and factor levels). New
levels of a grouping factor need ``allow_new_levels=True`` and get effects as brms's
``sample_new_levels``: ``"uncertainty"`` (a level's effects drawn from the fitted levels, per draw),
``"gaussian"`` (drawn from the fitted normal distribution) or ``"old_levels"`` (one old level kept
for all draws).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..design import encode_fixed, encode_offset, encode_term, newdata_frame, terms_in_re_form
from ..errors import DataError
from ..formula import tokenize


def _check_newdata(fit, newdata: pd.DataFrame, used: set[int]) -> None:
    response_vars = {t.text for t in tokenize(fit.design.formula.response) if t.kind == "name"}
    # censoring does not change predictions (brms): newdata need not say how its rows are censored
    additions = dict(fit.design.formula.response_additions)
    response_vars |= {t.text for key in ("cens", "cens.y2") if key in additions
                      for t in tokenize(additions[key]) if t.kind == "name"}
    group_vars = {v for k in used for v in fit.design.terms[k].group_vars}
    all_group_vars = {v for t in fit.design.terms for v in t.group_vars}
    needed = [v for v in fit.design.formula.variables
              if v not in response_vars and (v not in all_group_vars or v in group_vars)]
    missing = [v for v in needed if v not in newdata.columns]
    if missing:
        raise DataError(f"newdata lacks column(s) the model uses: {', '.join(missing)}")


def linear_predictor(fit, newdata=None, re_formula=None, allow_new_levels=False,
                     sample_new_levels="uncertainty", ndraws=None, seed=None) -> np.ndarray:
    """(draws, observations) linear predictor. Ordinal models: ``X b`` without an intercept (the
    thresholds, brms's ``b_Intercept[k]``, are compared with it by the likelihood)."""
    if sample_new_levels not in ("uncertainty", "gaussian", "old_levels"):
        raise ValueError("sample_new_levels must be 'uncertainty', 'gaussian' or 'old_levels'")
    used = terms_in_re_form(fit.design, re_formula)
    draws = {k: v.reshape(-1, *v.shape[2:]) for k, v in fit.run.samples.items()}
    pick, rng = _pick(fit, ndraws, seed)
    lay = fit.layout
    if newdata is None:
        x, codes_z = fit.design.fixed.matrix, [(t.codes, t.z) for t in fit.design.terms]
        offset = fit.design.offset
    else:
        from .fit import with_intercept_column

        newdata = with_intercept_column(fit.design.formula, newdata_frame(newdata))
        _check_newdata(fit, newdata, used)
        x = encode_fixed(fit.design, newdata)
        codes_z = [encode_term(t, newdata, allow_new_levels=allow_new_levels) if k in used else (None, None)
                   for k, t in enumerate(fit.design.terms)]
        offset = encode_offset(fit.design, newdata)
    names = list(fit.design.fixed.column_names)
    beta = np.zeros((len(pick), len(names)))
    b_cols = [i for i, n in enumerate(names) if n != "(Intercept)"]
    if lay.b_names:
        beta[:, b_cols] = draws["b"][pick]
    if lay.intercept:
        intercept = draws["Intercept"][pick] - (draws["b"][pick] @ lay.x_means if lay.b_names else 0.0)
        beta[:, names.index("(Intercept)")] = intercept
    eta = beta @ x.T
    if offset is not None:
        eta = eta + offset[None, :]
    effects = [r.reshape(-1, *r.shape[2:])[pick] for r in fit.group_effects()]
    for k, (g, r) in enumerate(zip(lay.groups, effects)):
        if k not in used:
            continue
        codes, z = codes_z[k]
        new = codes < 0
        if new.any() and not allow_new_levels:
            term = fit.design.terms[k]
            labels = newdata[list(term.group_vars)].astype(str).agg(":".join, axis=1).to_numpy()[new]
            raise DataError(f"new levels of {g.group!r} in newdata: {', '.join(pd.unique(labels)[:5])}; pass "
                            "allow_new_levels=True (with sample_new_levels) to predict them")
        per_obs = np.zeros((len(pick), len(codes), r.shape[-1]))
        per_obs[:, ~new] = r[:, codes[~new]]
        if new.any():
            per_obs[:, new] = _new_level_effects(fit, g, r, draws, pick, int(new.sum()), sample_new_levels, rng)
        eta = eta + np.einsum("dnp,np->dn", per_obs, z)
    if lay.predictors is not None and lay.predictors.nonlinear:  # bf(nl = TRUE): mu is the expression
        eta, _ = lay.predictors.apply(fit._predictor_samples(pick), eta, lay.predictors.inputs(newdata), np)
    return eta


def category_linear_predictors(fit, newdata=None, re_formula=None, allow_new_levels=False,
                               sample_new_levels="uncertainty", ndraws=None, seed=None) -> np.ndarray:
    """(draws, observations, K - 1): a categorical model's predictors ``mu<k>`` of the non-reference
    categories (plus any offset), brms's posterior_linpred of such a model."""
    _check_category_re_formula(fit, re_formula)
    eta = linear_predictor(fit, newdata, re_formula, allow_new_levels, sample_new_levels, ndraws, seed)
    extra = _extra_for(fit, ndraws, seed, newdata)
    return np.stack([eta + extra[mu] for mu in fit.likelihood.category_predictors], axis=-1)


def _check_category_re_formula(fit, re_formula) -> None:
    """A categorical model's group-level effects live in its predictors mu<k>, which always include
    them: re_formula (brms's NA or a subset) is refused rather than silently ignored."""
    from ..errors import ArgumentError

    preds = fit.layout.predictors
    if fit.likelihood.categorical and re_formula is not None and any(p.terms for p in preds.items):
        raise ArgumentError(f"re_formula={re_formula!r} is not available for categorical models yet: their "
                            "predictions always include the group-level effects of every mu<category>")


def _new_level_effects(fit, g, r, draws, pick, n_new, how, rng) -> np.ndarray:
    """Effects for observations of unseen levels (draws, n_new, p); all new rows of one draw share a level."""
    n_draws, levels, p = r.shape
    if how == "uncertainty":
        chosen = rng.integers(0, levels, size=n_draws)
        return np.repeat(r[np.arange(n_draws), chosen][:, None, :], n_new, axis=1)
    if how == "old_levels":
        chosen = rng.integers(0, levels)
        return np.repeat(r[:, chosen][:, None, :], n_new, axis=1)
    sd = draws[f"sd_{g.index}"][pick]
    chol = draws[f"L_{g.index}"][pick] if g.correlated else np.broadcast_to(np.eye(p), (n_draws, p, p))
    z = rng.standard_normal((n_draws, p))
    effect = np.einsum("dij,dj->di", sd[:, :, None] * chol, z)
    return np.repeat(effect[:, None, :], n_new, axis=1)


def _pick(fit, ndraws, seed):
    """Which draws to use (all, or ``ndraws`` chosen with ``seed``) and the generator for the rest."""
    from ..draws.tidy import pick_draws  # the one rule for ndraws/seed, shared with the tidy verbs

    rng = np.random.default_rng(seed)
    first = next(iter(fit.run.samples.values()))
    return pick_draws(first.shape[0] * first.shape[1], ndraws, rng), rng


def expected_value(fit, newdata=None, re_formula=None, allow_new_levels=False,
                   sample_new_levels="uncertainty", ndraws=None, seed=None) -> np.ndarray:
    """(draws, observations) E[y]; binomial: expected successes, as brms. Ordinal (cumulative)
    models: the probability of each category, (draws, observations, K), as brms."""
    _check_category_re_formula(fit, re_formula)
    eta = linear_predictor(fit, newdata, re_formula, allow_new_levels, sample_new_levels, ndraws, seed)
    extra = _extra_for(fit, ndraws, seed, newdata)
    data = _data_for(fit, newdata)
    if "trunc_lb" in data or "trunc_ub" in data:  # brms: the mean of the truncated distribution
        from .censoring import truncated_mean

        params = {k: np.asarray(v) for k, v in fit.likelihood.family_parameters(eta, extra, data).items()}
        bounds = [np.asarray(data.get(f"trunc_{side}", default)) for side, default in (("lb", -np.inf), ("ub", np.inf))]
        return truncated_mean(fit.likelihood.name, params, *bounds)
    return np.asarray(fit.likelihood.mean(eta, extra, data))


def predictive_draws(fit, newdata=None, re_formula=None, allow_new_levels=False,
                     sample_new_levels="uncertainty", ndraws=None, seed=None) -> np.ndarray:
    """(draws, observations) draws from the posterior predictive distribution."""
    import jax

    _check_category_re_formula(fit, re_formula)
    eta = linear_predictor(fit, newdata, re_formula, allow_new_levels, sample_new_levels, ndraws, seed)
    extra = _extra_for(fit, ndraws, seed, newdata)
    data = _data_for(fit, newdata)
    if "trunc_lb" in data or "trunc_ub" in data:  # brms: draws inside the truncation bounds
        from .censoring import truncated_draws

        params = {k: np.asarray(v) for k, v in fit.likelihood.family_parameters(eta, extra, data).items()}
        bounds = [np.asarray(data.get(f"trunc_{side}", default)) for side, default in (("lb", -np.inf), ("ub", np.inf))]
        return truncated_draws(fit.likelihood.name, params, *bounds, np.random.default_rng(seed))
    dist = fit.likelihood.distribution(eta, extra, data)
    key = jax.random.PRNGKey(0 if seed is None else int(seed))
    draws = np.asarray(dist.sample(key))
    if fit.likelihood.categorical:  # the category labels (brms gives their codes 1..K)
        return np.asarray(fit.likelihood.categories, dtype=object)[draws.astype(int) - 1]
    return draws


def _extra_for(fit, ndraws, seed, newdata=None) -> dict:
    """The family's extra parameters (sigma, shape...) for the same draws as the linear predictor,
    shaped to broadcast with it: (draws, 1), or (draws, rows) for a bf() model's distributional
    parameters with their own formula (on ``newdata`` where given)."""
    pick, _ = _pick(fit, ndraws, seed)
    extra = {p: v[pick][:, None] for p, v in fit.family_draws().items()}
    preds = fit.layout.predictors
    if preds is not None and preds.dpars:
        inputs = preds.inputs(None if newdata is None else _bf_newdata(newdata))
        n_rows = len(next(iter(inputs["X"].values())))
        extra.update(preds.apply(fit._predictor_samples(pick), np.zeros((len(pick), n_rows)), inputs, np)[1])
    return extra


def _bf_newdata(newdata):
    return newdata_frame(newdata)


def _data_for(fit, newdata) -> dict:
    """What the response distribution needs besides the linear predictor: binomial trials, known
    standard errors ``se()`` (predictions use them, as brms's), truncation bounds and rates
    (``trunc()``, ``rate()``, as brms); weights and censoring do not change predictions."""
    if newdata is None:
        return fit.likelihood.data(fit.design)
    from ..design.build import _expression

    additions = dict(fit.design.formula.response_additions)
    data = {"y": None}
    if fit.likelihood.name == "binomial":
        if "trials" not in additions:
            raise DataError("newdata for a binomial model needs the trials of each row")
        data["trials"] = _expression(additions["trials"], newdata, "trials")
    if any(k in additions for k in ("trunc", "rate")):  # truncation bounds and rates of the new rows
        from ..design.censoring import read_prediction_additions

        data.update(read_prediction_additions(additions, newdata, lambda text, what: _expression(text, newdata, what)))
    if "se" in additions:
        try:
            data["se"] = _expression(additions["se"], newdata, "se()")
        except Exception as error:  # noqa: BLE001 - reported as ours, naming the addition
            raise DataError(f"newdata needs the known standard errors se({additions['se']}) of each row "
                            f"for this model: {error}") from None
    return data


def pointwise_log_likelihood(fit) -> np.ndarray:
    """log p(y_i | draw) for every draw and observation: (chains, draws, observations)."""
    eta = linear_predictor(fit)
    extra = _extra_for(fit, None, None)
    data = fit.likelihood.data(fit.design)
    values = np.asarray(fit.likelihood.log_prob(eta, extra, data))
    chains, n = fit.run.samples[next(iter(fit.run.samples))].shape[:2]
    return values.reshape(chains, n, -1)

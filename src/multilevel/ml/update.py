"""``update()`` and ``refit()`` of lmer, glmer, lm and glm fits, as R's ``update`` and lme4's ``refit``.

- ``fit.update("~ . + x")``, ``fit.update(data=other)``, ``fit.update(reml=False)``: the fit's call made
  again with the changes; the formula follows R's ``update.formula``
  (:func:`multilevel.formula.update.update_formula`). Every engine records its call on the fit
  (:func:`remember_call`); a fit made otherwise (a bootstrap replicate, say) cannot be updated.
- ``fit.refit(y)``: lme4's ``refit(object, newresp)``, the same model for another response. For lmer,
  the cross-products of Z and X and the symbolic factorization are reused and only the blocks that
  involve y are recomputed (:meth:`multilevel.ml.lmm.LMMProblem.with_response`); the optimizer starts
  at the fit's theta. Fast fits of many responses on one design (simulation studies, permutations).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from ..errors import ArgumentError, DataError
from ..formula.update import update_formula


def remember_call(fit, engine: str, arguments: dict):
    """Record on ``fit`` the engine and the arguments it was called with (what :func:`update` makes
    again); returns ``fit``. Engines call it at each return (a decorator would add a frame between the
    user and the warnings that point at the user's line)."""
    if fit is not None and not isinstance(fit, type):
        try:
            fit._call = {"engine": engine, **arguments}
        except AttributeError:  # an object without attributes of its own
            pass
    return fit


def update(fit, formula: str | None = None, newdata=None, **changes):
    """R's ``update(fit, formula., ...)`` for lmer, glmer, glmer_nb, lm and glm fits (see the module)."""
    from .glm import glm
    from .glmer import glmer, glmer_nb
    from .lm import lm
    from .lmer import lmer

    engines = {"lmer": lmer, "glmer": glmer, "glmer_nb": glmer_nb, "lm": lm, "glm": glm}
    call = dict(getattr(fit, "_call", None) or {})
    if not call:
        raise ArgumentError("this fit does not record the call that made it (made by a bootstrap, a refit or an "
                            "older version): fit the model again with the engine")
    engine = engines[call.pop("engine")]
    if "data" in changes:
        if newdata is not None:
            raise ArgumentError("give the new data once: data= or newdata=")
        newdata = changes.pop("data")
    if formula is not None:
        call["formula"] = update_formula(call["formula"], formula)
    if newdata is not None:
        call["data"] = newdata
    unknown = sorted(set(changes) - set(call))
    if unknown:
        raise ArgumentError(f"update() got unknown argument{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                            f"{engine.__name__} takes {', '.join(sorted(call))}")
    call.update(changes)
    return engine(**call)


def new_response(fit, newresponse) -> np.ndarray:
    """``newresponse`` as the design's response: one finite number per row the fit used."""
    if isinstance(newresponse, pd.DataFrame):
        raise DataError("refit() takes one response column (binomial: the proportion of successes, with the fit's "
                        "trials as weights), not a DataFrame")
    try:
        y = np.asarray(newresponse, dtype=float) if not isinstance(newresponse, pd.Series) \
            else newresponse.to_numpy(float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"refit() needs numbers for the new response, not {type(newresponse).__name__} "
                        f"{str(newresponse)[:40]!r}") from exc
    if y.ndim != 1 or len(y) != fit.design.nobs:
        raise DataError(f"refit() needs one response value per row the fit used ({fit.design.nobs}), got shape "
                        f"{y.shape}")
    if not np.all(np.isfinite(y)):
        bad = np.flatnonzero(~np.isfinite(y))
        raise DataError(f"the new response has {len(bad)} missing or infinite value(s) (first at position {bad[0]})")
    return y


def refit_lmer(fit, newresponse):
    """lme4's ``refit`` of an lmer fit: the problems' response blocks replaced (see the module)."""
    from .lmer import fit_problems
    from .lmm import LMMProblem
    from .standardize import standardize

    y = new_response(fit, newresponse)
    design = dataclasses.replace(fit.design, response=y)
    problem = fit.problem.with_response(y)
    if fit.standardization.is_identity:
        search = problem
    elif fit.search_problem is not None:
        search = fit.search_problem.with_response(y)
    else:  # unpickled: the standardized problem is rebuilt (symbolic factorization shared with problem's)
        search = LMMProblem(standardize(design)[0], reml=fit.reml, like=problem)
    return fit_problems(design, search, problem, fit.standardization, reml=fit.reml, start=fit.theta,
                        data_name=fit.data_name, progress=False, constant_response=bool(np.ptp(y) == 0))


def refit_glmer(fit, newresponse):
    """lme4's ``refit`` of a glmer fit: both stages again from the fit's estimates."""
    from .glmer import fit_glmm_design

    y = new_response(fit, newresponse)
    fit.family.check_response(y, fit.design.weights if fit.design.weights is not None else np.ones_like(y),
                              "the new response")
    design = dataclasses.replace(fit.design, response=y)
    start = np.concatenate([fit.theta, fit.fixef().to_numpy()])
    return fit_glmm_design(design, nagq=fit.nagq, start=start, data_name=fit.data_name)

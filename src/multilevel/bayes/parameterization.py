"""How centered each level of a varying intercept or slope should be sampled, from a quick Laplace fit.

A level's effect ``theta_j = mean + r_j`` with ``r_j ~ N(0, sd^2)`` can be sampled non-centered
(``u_j = r_j / sd``, brms's choice: best when the data say little about that level, the usual funnel
otherwise vanishes) or centered (``u_j = theta_j``: best when the data pin the level down, where the
non-centered form puts a ridge between ``u_j``, ``sd`` and the fixed effect). Partial centering
(Papaspiliopoulos, Roberts and Skold 2007; Gorinova, Moore and Hoffman 2020) interpolates:

    u_j ~ N(c_j * mean, sd^(2 c_j)),    r_j = sd^(1 - c_j) * (u_j - c_j * mean),

which leaves the posterior of ``r`` unchanged for any ``c_j`` in [0, 1]. For a normal level with data
variance ``v_j`` the best weight is ``c_j = sd^2 / (sd^2 + v_j) = 1 - Var(r_j | y) / sd^2``: one minus
the shrinkage factor. We read ``Var(r_j | y)`` and ``sd`` from lme4's estimates (``lmer`` for gaussian
models, ``glmer`` with ``nAGQ = 0`` for binomial and Poisson ones), which cost a few milliseconds.

Only scalar terms (``(1 | g)``, ``(0 + x | g)``, each piece of ``||``) are partially centered, and
only when their column has a population-level twin (``Intercept`` for ``(1 | g)``, ``b_x`` for a
slope of ``x``) and no other term has that column: with crossed or nested intercepts, centering one
factor leaves the others' ridge with the intercept and mixes worse than brms's form (penicillin,
pastes). Correlated terms stay non-centered unless the data pin every level down (the pilot fit's
conditional variances all under 10% of the prior's, |cor| < 0.95: bangladesh at 1e5 rows; see
bayes/model.py): with less data centering puts a funnel at correlations near +-1 that NUTS cannot
cross (divergences on sleepstudy).
"""
from __future__ import annotations

import warnings

import numpy as np

from ..design import Design

# families whose pilot fit we can do, and the ml family used for it
_PILOT_FAMILY = {"gaussian": None, "bernoulli": "binomial", "binomial": "binomial", "poisson": "poisson"}


def centering_weights(design: Design, likelihood_name: str, candidates: list[int]) -> dict[int, np.ndarray]:
    """Term index -> per-level weights c_j in [0, 1] for the candidate (scalar) terms.

    Returns an empty dict (brms's non-centered form everywhere) when the family has no pilot fit
    or the pilot fit fails or is singular for a term.
    """
    if not candidates or likelihood_name not in _PILOT_FAMILY:
        return {}
    try:
        fit = _pilot_fit(design, _PILOT_FAMILY[likelihood_name])
        condvar = fit._condvar_blocks()
        lambdas = fit._lambdas()
        sigma = float(fit._sigma)
    except Exception:  # noqa: BLE001 - a failed pilot only costs sampling efficiency
        return {}
    weights = {}
    for k in candidates:
        prior_variance = float((sigma * lambdas[k][0, 0]) ** 2)
        if not np.isfinite(prior_variance) or prior_variance <= 1e-12:
            continue  # singular: the level effects are all shrunk to zero, non-centered suits
        shrinkage = condvar[k][:, 0, 0] / prior_variance
        weights[k] = np.clip(1.0 - shrinkage, 0.0, 1.0)
    return weights


def _pilot_fit(design: Design, family_name: str | None):
    from ..families import get_family
    from ..ml.glmer import _with_family, fit_glmm_design
    from ..ml.lmer import fit_design

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if family_name is None:
            return fit_design(design, reml=True)
        return fit_glmm_design(_with_family(design, get_family(family_name)), nagq=0)

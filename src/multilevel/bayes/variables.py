"""A brm fit's posterior as :class:`Variable` objects with brms's names and order.

brms's ``variables(as_draws(fit))`` lists, for ``Reaction ~ Days + (Days | Subject)``::

    b_Intercept b_Days sd_Subject__Intercept sd_Subject__Days cor_Subject__Intercept__Days
    sigma Intercept r_Subject[308,Intercept] ... r_Subject[372,Days] lprior lp__

Here the scalars come first by class (b, sd, cor, family parameters, the centred ``Intercept``),
then one array ``r_<group>`` per grouping factor with dims ``(<group>, "term")``: the group's
levels as the data's own values (``RandomTerm.level_values``) and the coefficient names.
Two terms on one factor (``(1 | g) + (0 + x | g)``) share one ``r_g``, as in brms. ``lprior``
is not computed; ``lp__`` and the other sampler columns come from ``fit.sampler_stats()``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..draws.variables import Variable

_CLASS_ORDER = ("b_", "sd_", "cor_")


def brm_posterior_variables(fit) -> dict[str, Variable]:
    """brms-named variables of a :class:`~multilevel.bayes.posterior.BrmFit`, in brms's order."""
    named = fit.draws_by_chain()
    thresholds = fit.layout.thresholds
    if thresholds:  # b_Intercept[1]..[K-1]: one variable with an index, as brms's vector
        parts = [named.pop(f"b_Intercept[{k}]") for k in range(1, thresholds + 1)]
        named = {"b_Intercept": np.stack(parts, axis=-1), **named}
    scalars = sorted(named, key=lambda name: _class_rank(name, fit.layout.family_params))
    out = {}
    for name in scalars:
        values = np.asarray(named[name])
        out[name] = Variable(name, values, *_threshold_dims(values, thresholds))
    if (fit.layout.intercept or thresholds) and "Intercept" in fit.run.samples:
        values = np.asarray(fit.run.samples["Intercept"])
        out["Intercept"] = Variable("Intercept", values, *_threshold_dims(values, thresholds))
    for group, blocks in _blocks_by_group(fit).items():
        term = fit.design.terms[blocks[0].index]
        values = np.concatenate([np.asarray(fit.run.samples[f"r_{g.index}"]) for g in blocks], axis=-1)
        levels = term.level_values if term.level_values is not None else pd.Index(term.levels, dtype=object)
        columns = pd.Index([c for g in blocks for c in g.columns], dtype=object)
        name = f"r_{group}"
        out[name] = Variable(name, values, (group, "term"), (levels, columns))
    return out


def _threshold_dims(values: np.ndarray, thresholds: int) -> tuple:
    """An ordinal model's vector of thresholds is indexed 1..K-1 (``b_Intercept[1]``); scalars have no dims."""
    if values.ndim == 3:
        return ("threshold",), (pd.Index(range(1, thresholds + 1)),)
    return (), ()


def _class_rank(name: str, family_params) -> tuple[int, int]:
    for rank, prefix in enumerate(_CLASS_ORDER):
        if name.startswith(prefix):
            return rank, 0
    if name in family_params:
        return len(_CLASS_ORDER), list(family_params).index(name)
    return len(_CLASS_ORDER) + 1, 0


def _blocks_by_group(fit) -> dict[str, list]:
    """Group blocks by grouping factor, factors in the order the formula names them (as brms)."""
    bars = [bar.group_name for bar in fit.design.formula.bars]
    blocks: dict[str, list] = {}
    for g in sorted(fit.layout.groups, key=lambda g: (bars.index(g.group) if g.group in bars else len(bars), g.index)):
        blocks.setdefault(g.group, []).append(g)
    return blocks

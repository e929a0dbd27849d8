"""brms's ``categorical`` family: an unordered response with K categories, multinomial logit.

As brms 2.18 (``family = categorical()``): the categories are ``levels(factor(y))`` (a pandas
categorical's categories in their order, unused ones dropped; otherwise the sorted distinct values),
the first is the reference. Every other category k has its own linear predictor ``mu<k>`` with the
formula's terms (brms's names: ``muB`` for category ``B``, from ``make_stan_names(paste0("mu", k))``:
characters other than letters, digits, ``.`` and ``_`` become ``.``, then ``.`` and ``_`` are
removed). The reference's predictor is 0 and

    P(y = k) = softmax(0, mu_2, ..., mu_K)[k]        (Stan's ``categorical_logit``).

The predictors are the distributional-parameter machinery of :mod:`.predictors` (one ``dpar`` per
non-reference category, identity link, centered intercept ``Intercept_muB``), so draws, priors and
summaries are named as brms names them: ``b_muB_Intercept``, ``b_muB_x``, ``sd_g__muB_Intercept``,
``r_g__muB[1,Intercept]``; priors ``ml.prior(..., dpar="muB")``. Group-level terms are independent
across categories (brms's ``(1 | ID | g)`` syntax, which correlates them, is not read here).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

CATEGORICAL_FAMILIES = ("categorical",)


# ---- the response ------------------------------------------------------------------------------
def response_categories(values, name: str) -> tuple[np.ndarray, tuple]:
    """A response column -> (float codes 1..K, NaN where missing; the K category labels in order).

    brms's ``levels(factor(y))``: a pandas categorical keeps its categories' order (unused ones
    dropped, as ``factor()`` drops them); text, booleans and numbers are sorted. Fewer than two
    categories is our DataError.
    """
    from ..errors import DataError

    series = pd.Series(values).reset_index(drop=True)
    present = series.dropna()
    if isinstance(series.dtype, pd.CategoricalDtype):
        labels = tuple(c for c in series.cat.categories if c in set(present))
    else:
        try:
            labels = tuple(sorted(pd.unique(present)))
        except TypeError:  # mixed types (text and numbers) do not sort: R's factor() reads them all as text
            raise DataError(f"categorical response {name!r} mixes text and numbers; give it one type "
                            "(or make it a pandas categorical)") from None
    if len(labels) < 2:
        shown = f" ({labels[0]!r})" if labels else ""
        raise DataError(f"categorical response {name!r} has {len(labels)} category{shown}: a categorical model "
                        "needs at least two (brms: 'At least 2 response categories are required')")
    position = {label: k + 1.0 for k, label in enumerate(labels)}
    codes = np.array([np.nan if pd.isna(v) else position[v] for v in series], dtype=float)
    return codes, labels


def predictor_names(labels) -> tuple[str, ...]:
    """brms's ``mu<category>`` names of the non-reference categories (``make_stan_names``); our
    DataError where two categories give the same name, as brms refuses them."""
    from ..errors import DataError

    def stan_name(text: str) -> str:
        kept = "".join(ch if ch.isalnum() or ch in "._" else "." for ch in text)
        return kept.replace(".", "").replace("_", "")

    names = tuple(stan_name(f"mu{label}") for label in labels[1:])
    seen: dict[str, object] = {}
    for label, name in zip(labels[1:], names):
        if name in seen:
            raise DataError(f"categories {seen[name]!r} and {label!r} both give the predictor name {name!r} "
                            "(brms keeps letters and digits only): rename one of them")
        seen[name] = label
    return names


# ---- densities and probabilities ---------------------------------------------------------------
def category_logits(eta, extra: dict, names, xp):
    """(..., K) logits: the reference's ``eta`` (0 plus any offset), then ``eta + mu<k>`` per category."""
    parts = [extra[n] for n in names]
    shape = np.broadcast_shapes(np.shape(eta), *(np.shape(p) for p in parts))
    return xp.stack([xp.broadcast_to(eta, shape)] + [xp.broadcast_to(eta + p, shape) for p in parts], axis=-1)


def categorical_logit_lpmf(y, logits, xp):
    """log softmax(logits)[y], y coded 1..K (floats): Stan's ``categorical_logit_lpmf``."""
    if xp is np:
        from scipy.special import log_softmax
    else:
        from jax.nn import log_softmax
    log_p = log_softmax(logits, axis=-1)
    k = xp.asarray(y).astype(np.int32) - 1
    k = xp.broadcast_to(k, log_p.shape[:-1])
    return xp.take_along_axis(log_p, k[..., None], axis=-1)[..., 0]


def category_probabilities(logits) -> np.ndarray:
    """softmax over the last axis in NumPy: brms's posterior_epred of a categorical model."""
    from scipy.special import softmax

    return softmax(np.asarray(logits, dtype=float), axis=-1)


class CategoricalDistribution:
    """The categorical family at logits (..., K)."""

    def __init__(self, logits):
        self.logits = logits

    def log_prob(self, y):
        import jax.numpy as jnp

        if isinstance(self.logits, np.ndarray):
            return categorical_logit_lpmf(y, self.logits, np)
        return categorical_logit_lpmf(y, self.logits, jnp)

    def sample(self, key, sample_shape=()):
        """Codes 1..K (floats), by inverting the cumulative probabilities with one uniform each (as
        brms's ``first_greater(p, runif)``)."""
        from .distributions import _numpy_rng

        rng = _numpy_rng(key)
        probs = category_probabilities(self.logits)
        shape = tuple(sample_shape) + probs.shape[:-1]
        cumulative = np.cumsum(np.broadcast_to(probs, shape + probs.shape[-1:]), axis=-1)
        u = rng.random(shape)[..., None]
        return 1.0 + np.minimum(np.sum(cumulative < u, axis=-1), probs.shape[-1] - 1).astype(float)

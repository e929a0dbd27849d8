"""brms's ordinal families ``cumulative``, ``sratio`` and ``acat``: thresholds, densities, probabilities, draws.

``sratio`` (stopping ratio) and ``acat`` (adjacent category), logit link only, share the layout below
(thresholds ``b_Intercept[k]`` for uncentered predictors, no intercept in mu) but their thresholds
are a plain vector in brms (not ordered) and their densities are brms's ``sratio_logit_lpmf`` and
``acat_logit_lpmf`` (:func:`sratio_log_probabilities`, :func:`acat_log_probabilities`).

brms 2.18 (``family = cumulative("logit")`` or ``"probit"``) has no intercept in the linear
predictor; instead ``ordered[nthres] Intercept`` thresholds for the centered predictors, with
``nthres = K - 1`` and K the largest category of a response coded 1..K. With ``mu`` the linear
predictor (the centered predictors while sampling) and ``disc = 1`` (brms drops it):

* logit: Stan's ``ordered_logistic(y | mu, Intercept)``: ``P(y <= k) = logistic(Intercept[k] - mu)``;
* probit: ``P(y = k) = Phi(Intercept[k] - mu) - Phi(Intercept[k - 1] - mu)``,

with ``Intercept[0] = -inf`` and ``Intercept[K] = +inf``. Both are computed in log space, as
``log(F(b) - F(a)) = log F(b) + log1m(exp(log F(a) - log F(b)))`` for the lower half and the same in
the upper tail with ``1 - F`` (the probit's ``Phi`` underflows in either tail otherwise).

After sampling brms reports ``b_Intercept = Intercept + dot(means_X, b)``, the thresholds for the
uncentered predictors; predictions use those with ``mu = X b`` (no intercept column).
``posterior_epred`` is, as brms's, the probability of every category: draws x rows x K.

The thresholds are sampled as Stan's ``ordered`` vector: the first free, each next one the one
before plus ``exp`` of a free number (log-Jacobian: the sum of those free numbers).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

ORDINAL_FAMILIES = ("cumulative", "sratio", "acat")
# families whose thresholds are Stan's ordered vector; sratio's and acat's are a plain vector in brms
ORDERED_THRESHOLDS = ("cumulative",)


# ---- the response ------------------------------------------------------------------------------
def ordinal_codes(values, name: str) -> np.ndarray:
    """A response column -> float codes 1..K (NaN where missing).

    Whole numbers >= 1 are kept as they are; an ordered or unordered pandas categorical maps its
    categories to 1..K in their order (as R's ``as.numeric(factor)``). Text that is not categorical is
    our DataError: its order would be a guess.
    """
    from ..errors import DataError

    series = pd.Series(values)
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy().astype(float) + 1.0
        codes[series.isna().to_numpy()] = np.nan
        return codes
    if not (pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype)):
        raise DataError(f"ordinal response {name!r} is text ({series.dtype}): make it an ordered categorical "
                        f"(pd.Categorical(values, categories=[...], ordered=True)) so that its order is known, "
                        f"or code it as whole numbers 1..K")
    return series.to_numpy(dtype=float, na_value=np.nan)


def with_ordinal_response(parsed, data: pd.DataFrame, likelihood) -> pd.DataFrame:
    """``data`` with an ordinal model's response column coded 1..K (:func:`ordinal_codes`), for the
    design (which reads numeric responses only); other families' data unchanged."""
    name = (parsed.response or "").strip()
    if not likelihood.ordinal or not isinstance(data, pd.DataFrame) or name not in data.columns:
        return data
    return data.assign(**{name: ordinal_codes(data[name], name)})


def check_ordinal_response(y: np.ndarray, name: str) -> int:
    """The number of categories K of a response coded 1..K; our DataError where it is not."""
    from ..errors import DataError

    y = np.asarray(y, dtype=float)
    bad = ~(np.isfinite(y) & (y >= 1) & (y == np.round(y)))
    if bad.any():
        raise DataError(f"ordinal response {name!r} must be whole numbers 1, 2, ..., K (or an ordered "
                        f"categorical); {int(bad.sum())} row(s) are not (first: {y[bad][0]:g})")
    if len(np.unique(y)) < 2:
        raise DataError(f"ordinal response {name!r} has a single category ({y[0]:g}): an ordinal model "
                        "needs at least two")
    return int(np.max(y))


# ---- the ordered transform ---------------------------------------------------------------------
def ordered_from_unconstrained(raw, xp):
    """Stan's ordered transform along the last axis: ``x[0] = raw[0]``, ``x[k] = x[k-1] + exp(raw[k])``;
    returns ``(x, log |Jacobian|)`` (the Jacobian summed over the last axis)."""
    head = raw[..., :1]
    steps = xp.exp(raw[..., 1:])
    x = xp.concatenate([head, head + xp.cumsum(steps, axis=-1)], axis=-1)
    return x, xp.sum(raw[..., 1:], axis=-1)


# ---- densities (JAX) and probabilities (NumPy) --------------------------------------------------
def _log_cdfs(z, link: str, xp):
    """(log F(z), log(1 - F(z))) for the link's latent distribution."""
    if xp is np:
        from scipy.special import log_expit, log_ndtr
    else:
        from jax.nn import log_sigmoid as log_expit
        from jax.scipy.special import log_ndtr
    if link == "logit":
        return log_expit(z), log_expit(-z)
    if link == "probit":
        return log_ndtr(z), log_ndtr(-z)
    raise ValueError(link)  # pragma: no cover - links are checked by make_likelihood


def _log_diff(log_big, log_small, xp):
    """log(exp(log_big) - exp(log_small)) for log_big >= log_small.

    The gap is kept below -1e-300 so that equal arguments give a large finite value rather than
    -inf: in JAX the branch a ``where`` does not take must still have a finite gradient."""
    gap = xp.minimum(log_small - log_big, -1e-300)
    return log_big + xp.log(-xp.expm1(gap))


def _interval_log_probability(lf_lo, lf_up, ls_lo, ls_up, z_up, xp):
    """log(F(z_up) - F(z_lo)) from the log cdfs (lf) and log survivals (ls) at both ends: the
    difference of cdfs below the middle, of survivals above it (either is tiny in its own tail)."""
    return xp.where(z_up <= 0, _log_diff(lf_up, lf_lo, xp), _log_diff(ls_lo, ls_up, xp))


def category_log_probabilities(eta, thresholds, link: str, xp=np):
    """log P(y = k), k = 1..K, as an array (..., K): ``eta`` (...), ``thresholds`` (..., K - 1)."""
    z = thresholds - eta[..., None]  # (..., K - 1)
    log_f, log_s = _log_cdfs(z, link, xp)
    edge = log_f.shape[:-1] + (1,)
    ninf, zero, inf = xp.full(edge, -np.inf), xp.zeros(edge), xp.full(edge, np.inf)
    return _interval_log_probability(
        xp.concatenate([ninf, log_f], axis=-1), xp.concatenate([log_f, zero], axis=-1),  # F(z_0) = 0, F(z_K) = 1
        xp.concatenate([zero, log_s], axis=-1), xp.concatenate([log_s, ninf], axis=-1),
        xp.concatenate([z, inf], axis=-1), xp)


def _log_sigmoid(z, xp):
    if xp is np:
        from scipy.special import log_expit

        return log_expit(z)
    from jax.nn import log_sigmoid

    return log_sigmoid(z)


def sratio_log_probabilities(eta, thresholds, xp=np):
    """brms's ``sratio_logit_lpmf`` for every category (..., K): with ``q_j = log(1 - logistic(
    thres_j - mu))`` (going on past category j), ``log P(y = k) = log logistic(thres_k - mu) +
    sum_{j < k} q_j`` and ``log P(y = K) = sum_j q_j``."""
    z = thresholds - eta[..., None]
    q = _log_sigmoid(-z, xp)
    before = xp.concatenate([xp.zeros(q.shape[:-1] + (1,)), xp.cumsum(q, axis=-1)], axis=-1)
    stop = xp.concatenate([_log_sigmoid(z, xp), xp.zeros(z.shape[:-1] + (1,))], axis=-1)
    return stop + before


def acat_log_probabilities(eta, thresholds, xp=np):
    """brms's ``acat_logit_lpmf`` for every category (..., K): ``p = (0, cumsum(mu - thres))``,
    ``log P(y = k) = p_k - log_sum_exp(p)``."""
    if xp is np:
        from scipy.special import logsumexp
    else:
        from jax.scipy.special import logsumexp
    steps = eta[..., None] - thresholds
    p = xp.concatenate([xp.zeros(steps.shape[:-1] + (1,)), xp.cumsum(steps, axis=-1)], axis=-1)
    return p - logsumexp(p, axis=-1, keepdims=True)


def family_log_probabilities(eta, thresholds, link: str, family: str, xp=np):
    """log P(y = k), k = 1..K (..., K), of any ordinal family."""
    if family == "sratio":
        return sratio_log_probabilities(eta, thresholds, xp)
    if family == "acat":
        return acat_log_probabilities(eta, thresholds, xp)
    return category_log_probabilities(eta, thresholds, link, xp)


def ordinal_lpmf(y, eta, thresholds, link: str, family: str = "cumulative"):
    """log P(y | eta, thresholds) in JAX for any ordinal family, y coded 1..K (floats)."""
    import jax.numpy as jnp

    if family == "cumulative":
        return cumulative_lpmf(y, eta, thresholds, link)
    log_p = family_log_probabilities(jnp.asarray(eta), jnp.asarray(thresholds), link, family, jnp)
    k = jnp.asarray(y).astype(jnp.int32) - 1
    shape = jnp.broadcast_shapes(log_p.shape[:-1], k.shape)
    log_p = jnp.broadcast_to(log_p, shape + log_p.shape[-1:])
    return jnp.take_along_axis(log_p, jnp.broadcast_to(k, shape)[..., None], -1)[..., 0]


def cumulative_lpmf(y, eta, thresholds, link: str):
    """log P(y | eta, thresholds) in JAX, y coded 1..K (floats); broadcasts over leading axes."""
    import jax.numpy as jnp

    k = jnp.asarray(y).astype(jnp.int32) - 1  # 0..K-1
    z = thresholds - eta[..., None]
    log_f, log_s = _log_cdfs(z, link, jnp)
    nthres = z.shape[-1]
    shape = jnp.broadcast_shapes(z.shape[:-1], k.shape)
    k = jnp.broadcast_to(k, shape)
    log_f, log_s, z = (jnp.broadcast_to(a, shape + (nthres,)) for a in (log_f, log_s, z))

    def at(values, index):
        return jnp.take_along_axis(values, jnp.clip(index, 0, nthres - 1)[..., None], -1)[..., 0]

    first, last = k == 0, k == nthres  # the ends: F(z_0) = 0, F(z_K) = 1
    lf_lo = jnp.where(first, -jnp.inf, at(log_f, k - 1))
    ls_lo = jnp.where(first, 0.0, at(log_s, k - 1))
    lf_up = jnp.where(last, 0.0, at(log_f, k))
    ls_up = jnp.where(last, -jnp.inf, at(log_s, k))
    z_up = jnp.where(last, jnp.inf, at(z, k))
    return _interval_log_probability(lf_lo, lf_up, ls_lo, ls_up, z_up, jnp)


def category_probabilities(eta, thresholds, link: str, family: str = "cumulative") -> np.ndarray:
    """P(y = k) (..., K) in NumPy: brms's posterior_epred of an ordinal model."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.exp(family_log_probabilities(np.asarray(eta, float), np.asarray(thresholds, float), link, family))


class OrdinalDistribution:
    """An ordinal family (cumulative, sratio, acat) at broadcast ``eta`` (...) and ``thresholds`` (..., K - 1)."""

    def __init__(self, eta, thresholds, link: str, family: str = "cumulative"):
        self.eta, self.thresholds, self.link, self.family = eta, thresholds, link, family

    def log_prob(self, y):
        return ordinal_lpmf(y, self.eta, self.thresholds, self.link, self.family)

    def sample(self, key, sample_shape=()):
        """Categories 1..K (floats), by inverting the cumulative probabilities with one uniform each."""
        from .distributions import _numpy_rng

        rng = _numpy_rng(key)
        probs = category_probabilities(self.eta, self.thresholds, self.link, self.family)
        shape = tuple(sample_shape) + probs.shape[:-1]
        cumulative = np.cumsum(np.broadcast_to(probs, shape + probs.shape[-1:]), axis=-1)
        u = rng.random(shape)[..., None]
        return 1.0 + np.minimum(np.sum(cumulative < u, axis=-1), probs.shape[-1] - 1).astype(float)


# ---- draws after sampling ------------------------------------------------------------------------
def threshold_draws(samples: dict, layout) -> np.ndarray:
    """brms's ``b_Intercept`` (..., K - 1): the thresholds for uncentered predictors,
    ``Intercept + dot(means_X, b)``."""
    thresholds = np.asarray(samples["Intercept"], dtype=float)
    if layout.b_names:
        thresholds = thresholds + np.tensordot(np.asarray(samples["b"], dtype=float), layout.x_means,
                                               axes=([-1], [0]))[..., None]
    return thresholds

"""The LKJ prior on a Cholesky factor of a correlation matrix, written out as Stan writes it.

NumPyro's ``LKJCholesky`` works, but its general transform makes XLA compile for about a second
longer per model; here the (small) dimension is unrolled in Python. Unconstrained values ``y``
(K(K-1)/2 of them) map through ``tanh`` to canonical partial correlations and on to the Cholesky
factor ``L`` (Stan's ``cholesky_corr_constrain``); the log density adds the Jacobian of that map
to ``lkj_corr_cholesky_lpdf(L | eta)`` without its constant.
"""
from __future__ import annotations

import numpy as np


def cholesky_corr_from_unconstrained(y, dim: int):
    """(L, log |Jacobian|) for unconstrained ``y`` of length dim*(dim-1)/2."""
    import jax.numpy as jnp

    z = jnp.tanh(y)
    log_jac = jnp.sum(jnp.log1p(-z**2))
    rows = [[jnp.ones(())] + [jnp.zeros(())] * (dim - 1)]
    k = 0
    for i in range(1, dim):
        row = [z[k]]
        k += 1
        sum_sqs = z[k - 1] ** 2
        for _ in range(1, i):
            log_jac = log_jac + 0.5 * jnp.log1p(-sum_sqs)
            value = z[k] * jnp.sqrt(1.0 - sum_sqs)
            k += 1
            row.append(value)
            sum_sqs = sum_sqs + value**2
        row.append(jnp.sqrt(1.0 - sum_sqs))
        row += [jnp.zeros(())] * (dim - 1 - i)
        rows.append(row)
    return jnp.stack([jnp.stack(r) for r in rows]), log_jac


def cholesky_corr_numpy(y: np.ndarray, dim: int) -> np.ndarray:
    """The same map as :func:`cholesky_corr_from_unconstrained` for arrays of draws (..., m)."""
    z = np.tanh(y)
    out = np.zeros(y.shape[:-1] + (dim, dim))
    out[..., 0, 0] = 1.0
    k = 0
    for i in range(1, dim):
        out[..., i, 0] = z[..., k]
        sum_sqs = z[..., k] ** 2
        k += 1
        for j in range(1, i):
            out[..., i, j] = z[..., k] * np.sqrt(1.0 - sum_sqs)
            sum_sqs = sum_sqs + out[..., i, j] ** 2
            k += 1
        out[..., i, i] = np.sqrt(1.0 - sum_sqs)
    return out


def lkj_cholesky_log_density(chol, eta: float):
    """lkj_corr_cholesky_lpdf(L | eta) without its normalizing constant (Stan's formula)."""
    import jax.numpy as jnp

    dim = chol.shape[0]
    log_diag = jnp.log(jnp.diagonal(chol)[1:])
    powers = jnp.arange(dim - 2, -1, -1) + (2.0 * eta - 2.0)
    return jnp.sum(powers * log_diag)

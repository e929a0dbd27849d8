"""Gaussian models with one grouping factor: the group-level effects integrated out exactly.

For ``y = X beta + Z r + e`` with ``e ~ N(0, sigma^2 I)`` and, level by level, ``r_j = S u_j``,
``u_j ~ N(0, I)`` (``S = diag(sd) L``, block-diagonal over the terms of the factor), the effects
can be integrated out in closed form. With ``A_j = Z_j'Z_j``, ``M_j = I + S'A_j S / sigma^2`` and
``e = y - X beta`` (Woodbury's identity on ``sigma^2 I + Z S S' Z'``):

    log p(y | beta, S, sigma) = -n/2 log(2 pi sigma^2) - 1/2 sum_j log|M_j|
                                - 1/2 [e'e / sigma^2 - sum_j c_j' M_j^-1 c_j],   c_j = S' Z_j'e / sigma^2.

NUTS then samples only the fixed effects and the (co)variance parameters (the hard, coupled part
of the posterior: with the effects sampled as well the ridge between them and the intercept halves
the effective sample size), and each draw of ``r`` is drawn afterwards from its exact conditional
``u_j | y, beta, S, sigma ~ N(M_j^-1 c_j, M_j^-1)``. The joint posterior is the same as brms's;
only the way of sampling it differs. Everything is per level: O(levels * p^3), no dense Z.
"""
from __future__ import annotations

import numpy as np


UNROLLED_UP_TO = 4  # p x p blocks up to this size are factored by unrolled elementwise code


def _unrolled_cholesky_solve(m, c):
    """sum of log|M_j| and of |L_j^-1 c_j|^2 over levels, M_j = L_j L_j' (levels, p, p) small.

    Written out element by element on (levels,) vectors: for 2 x 2 or 3 x 3 blocks XLA runs this
    several times faster than batched LAPACK calls, and NUTS evaluates it thousands of times.
    """
    import jax.numpy as jnp

    p = m.shape[-1]
    chol = [[None] * p for _ in range(p)]
    log_det, w, w_squares = 0.0, [None] * p, 0.0
    for i in range(p):
        for k in range(i + 1):
            total = m[:, i, k] - sum(chol[i][t] * chol[k][t] for t in range(k))
            if i == k:
                chol[i][i] = jnp.sqrt(total)
                log_det = log_det + 2.0 * jnp.sum(jnp.log(chol[i][i]))
            else:
                chol[i][k] = total / chol[k][k]
        w[i] = (c[:, i] - sum(chol[i][t] * w[t] for t in range(i))) / chol[i][i]
        w_squares = w_squares + jnp.sum(w[i] ** 2)
    return log_det, w_squares


class MarginalGaussian:
    """Cross-products of one grouping factor's levels, and the marginal likelihood and effect draws."""

    def __init__(self, xfull: np.ndarray, y: np.ndarray, codes: np.ndarray, z: np.ndarray, n_levels: int):
        n, p = z.shape
        self.n, self.p, self.n_levels = n, p, n_levels
        self.ztz = np.zeros((n_levels, p, p))
        np.add.at(self.ztz, codes, z[:, :, None] * z[:, None, :])
        self.ztx = np.zeros((n_levels, p, xfull.shape[1]))
        np.add.at(self.ztx, codes, z[:, :, None] * xfull[:, None, :])
        self.zty = np.zeros((n_levels, p))
        np.add.at(self.zty, codes, z * y[:, None])
        self.xtx, self.xty, self.yty = xfull.T @ xfull, xfull.T @ y, float(y @ y)

    def log_likelihood(self, beta, scale, sigma):
        """log p(y | beta, S, sigma) in JAX; ``scale`` is S (p, p), lower triangular."""
        import jax.numpy as jnp
        from jax.scipy.linalg import solve_triangular

        sigma2 = sigma**2
        ete = self.yty - 2.0 * beta @ self.xty + beta @ self.xtx @ beta
        zte = self.zty - self.ztx @ beta  # (levels, p)
        m = jnp.eye(self.p) + jnp.einsum("ki,jkl,lm->jim", scale, self.ztz, scale) / sigma2
        c = (zte @ scale) / sigma2  # rows: S' Z_j'e / sigma^2
        if self.p <= UNROLLED_UP_TO:
            log_det, w_squares = _unrolled_cholesky_solve(m, c)
        else:
            chol = jnp.linalg.cholesky(m)
            w = solve_triangular(chol, c[..., None], lower=True)[..., 0]
            log_det = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)))
            w_squares = jnp.sum(w**2)
        return (-0.5 * self.n * jnp.log(2.0 * jnp.pi * sigma2) - 0.5 * log_det
                - 0.5 * (ete / sigma2 - w_squares))

    def draw_effects(self, beta, scale, sigma, rng: np.random.Generator, *, prior_only: bool = False) -> np.ndarray:
        """r (..., levels, p) drawn from its conditional given each draw of (beta, S, sigma) (leading axes)."""
        lead = beta.shape[:-1]
        noise = rng.standard_normal(lead + (self.n_levels, self.p))
        if prior_only:
            return np.einsum("...ik,...jk->...ji", scale, noise)
        sigma2 = sigma[..., None, None, None] ** 2
        m = np.eye(self.p) + np.einsum("...ki,jkl,...lm->...jim", scale, self.ztz, scale) / sigma2
        chol = np.linalg.cholesky(m)
        zte = self.zty - np.einsum("jpk,...k->...jp", self.ztx, beta)
        c = np.einsum("...jk,...ki->...ji", zte, scale) / sigma2[..., 0]
        # mean M^-1 c, plus chol^-T noise: solve L v = c, then L' u = v + noise
        v = np.linalg.solve(chol, c[..., None])
        u = np.linalg.solve(np.swapaxes(chol, -1, -2), v + noise[..., None])[..., 0]
        return np.einsum("...ik,...jk->...ji", scale, u)

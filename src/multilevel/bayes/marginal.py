"""Gaussian models: the group-level effects integrated out exactly.

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
only the way of sampling it differs.

With one grouping factor everything is per level: O(levels * p^3) (:class:`OneFactorMarginal`).
With several (crossed or nested) factors ``M = I + Lambda'Z'Z Lambda / sigma^2`` couples them; it is
factored as lme4 blocks its factor, the first term's levels block-diagonally and the rest densely
(:class:`SeveralFactorMarginal`), which pays while the other terms have few effects (``DENSE_LIMIT``);
larger models keep sampling the effects. Z itself is never dense: Z'Z, Z'X and Z'y come from a
sparse Z once.
"""
from __future__ import annotations

import numpy as np


UNROLLED_UP_TO = 4  # p x p blocks up to this size are factored by unrolled elementwise code


def _unrolled_cholesky(m):
    """Lower Cholesky factors of (levels, p, p) blocks as nested lists of (levels,) arrays, and the
    sum of their log-determinants. Written out element by element: for p <= 4 XLA runs this several
    times faster than batched LAPACK calls, and NUTS evaluates it thousands of times."""
    import jax.numpy as jnp

    p = m.shape[-1]
    chol = [[None] * p for _ in range(p)]
    log_det = 0.0
    for i in range(p):
        for k in range(i + 1):
            total = m[:, i, k] - sum(chol[i][t] * chol[k][t] for t in range(k))
            if i == k:
                chol[i][i] = jnp.sqrt(total)
                log_det = log_det + 2.0 * jnp.sum(jnp.log(chol[i][i]))
            else:
                chol[i][k] = total / chol[k][k]
    return chol, log_det


def _unrolled_forward(chol, rhs):
    """Solve L_j x_j = rhs_j for every level: rhs (levels, p, r) -> x (levels, p, r)."""
    import jax.numpy as jnp

    rows = []
    for i in range(len(chol)):
        row = rhs[:, i, :] - sum(chol[i][t][:, None] * rows[t] for t in range(i))
        rows.append(row / chol[i][i][:, None])
    return jnp.stack(rows, axis=1)


DENSE_LIMIT = 120  # several factors: integrate out while the terms after the first have this many effects


def can_integrate_out(terms) -> bool:
    """One grouping factor (any size), or several whose terms after the first have few effects."""
    if len({t.group_name for t in terms}) == 1:
        return True
    return (len(terms[0].column_names) <= UNROLLED_UP_TO
            and sum(t.n_levels * len(t.column_names) for t in terms[1:]) <= DENSE_LIMIT)


def marginal_for(terms, xfull: np.ndarray, y: np.ndarray):
    codes = [np.asarray(t.codes) for t in terms]
    zs = [np.asarray(t.z, dtype=float) for t in terms]
    levels = [t.n_levels for t in terms]
    if len({t.group_name for t in terms}) == 1:
        return OneFactorMarginal(xfull, y, codes[0], np.column_stack(zs), levels[0], [z.shape[1] for z in zs])
    return SeveralFactorMarginal(xfull, y, codes, zs, levels)


def block_diagonal(blocks, xp):
    """Block-diagonal matrix (..., P, P) of square blocks (..., p_k, p_k)."""
    if len(blocks) == 1:
        return blocks[0]
    lead = blocks[0].shape[:-2]
    total = sum(b.shape[-1] for b in blocks)
    out, start = xp.zeros(lead + (total, total)), 0
    for block in blocks:
        p = block.shape[-1]
        if xp is np:
            out[..., start : start + p, start : start + p] = block
        else:
            out = out.at[..., start : start + p, start : start + p].set(block)
        start += p
    return out


def _gaussian_terms(n, sigma2, ete, log_det, w_squares, xp):
    return -0.5 * n * xp.log(2.0 * xp.pi * sigma2) - 0.5 * log_det - 0.5 * (ete / sigma2 - w_squares)


class OneFactorMarginal:
    """Every term on one grouping factor: per-level cross-products, p x p blocks (p = all columns)."""

    def __init__(self, xfull: np.ndarray, y: np.ndarray, codes: np.ndarray, z: np.ndarray, n_levels: int,
                 term_sizes: list[int] | None = None):
        n, p = z.shape
        self.n, self.p, self.n_levels = n, p, n_levels
        self.term_sizes = term_sizes or [p]
        self.ztz = np.zeros((n_levels, p, p))
        np.add.at(self.ztz, codes, z[:, :, None] * z[:, None, :])
        self.ztx = np.zeros((n_levels, p, xfull.shape[1]))
        np.add.at(self.ztx, codes, z[:, :, None] * xfull[:, None, :])
        self.zty = np.zeros((n_levels, p))
        np.add.at(self.zty, codes, z * y[:, None])
        self.xtx, self.xty, self.yty = xfull.T @ xfull, xfull.T @ y, float(y @ y)

    def log_likelihood(self, beta, scales, sigma):
        """log p(y | beta, S, sigma) in JAX; ``scales``: each term's S (p_k, p_k), lower triangular."""
        import jax.numpy as jnp
        from jax.scipy.linalg import solve_triangular

        scale = block_diagonal(scales, jnp)
        sigma2 = sigma**2
        ete = self.yty - 2.0 * beta @ self.xty + beta @ self.xtx @ beta
        zte = self.zty - self.ztx @ beta  # (levels, p)
        m = jnp.eye(self.p) + jnp.einsum("ki,jkl,lm->jim", scale, self.ztz, scale) / sigma2
        c = (zte @ scale) / sigma2  # rows: S' Z_j'e / sigma^2
        if self.p <= UNROLLED_UP_TO:
            chol, log_det = _unrolled_cholesky(m)
            w_squares = jnp.sum(_unrolled_forward(chol, c[..., None]) ** 2)
        else:
            chol = jnp.linalg.cholesky(m)
            w = solve_triangular(chol, c[..., None], lower=True)[..., 0]
            log_det = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)))
            w_squares = jnp.sum(w**2)
        return _gaussian_terms(self.n, sigma2, ete, log_det, w_squares, jnp)

    def draw_effects(self, beta, scales, sigma, rng: np.random.Generator) -> list[np.ndarray]:
        """Each term's r (..., levels, p_k), drawn from the conditional given each draw (leading axes)."""
        scale = block_diagonal(scales, np)
        noise = rng.standard_normal(beta.shape[:-1] + (self.n_levels, self.p))
        sigma2 = sigma[..., None, None, None] ** 2
        m = np.eye(self.p) + np.einsum("...ki,jkl,...lm->...jim", scale, self.ztz, scale) / sigma2
        zte = self.zty - np.einsum("jpk,...k->...jp", self.ztx, beta)
        c = np.einsum("...jk,...ki->...ji", zte, scale) / sigma2[..., 0]
        u = _conditional_draw(m, c, noise)
        r = np.einsum("...ik,...jk->...ji", scale, u)
        return np.split(r, np.cumsum(self.term_sizes)[:-1], axis=-1)


class SeveralFactorMarginal:
    """Crossed or nested factors, factored as lme4 blocks its Cholesky factor.

    The first term (most levels, lme4's order) gives a block-diagonal ``M11`` (one p1 x p1 block per
    level, as no row belongs to two of its levels); the other terms' q2 effects form a dense block.
    With ``M11 = L11 L11'`` and ``W = L11^-1 M12``, ``M = [[L11, 0], [W', L22]] [[L11, 0], [W', L22]]'``
    where ``L22 L22' = M22 - W'W`` (the Schur complement, q2 x q2). Only that block is factored densely:
    ``DENSE_LIMIT`` bounds q2, not the number of levels of the first factor.
    """

    def __init__(self, xfull: np.ndarray, y: np.ndarray, codes: list, zs: list, n_levels: list[int]):
        import scipy.sparse as sp

        self.n = len(y)
        self.shapes = [(levels, z.shape[1]) for levels, z in zip(n_levels, zs)]
        columns = []
        for code, z, (levels, p) in zip(codes, zs, self.shapes):  # effect (level j, column c) at j * p + c
            rows = np.repeat(np.arange(self.n), p)
            cols = (code[:, None] * p + np.arange(p)).reshape(-1)
            columns.append(sp.csr_matrix((z.reshape(-1), (rows, cols)), shape=(self.n, levels * p)))
        first, rest = columns[0].tocsc(), sp.hstack(columns[1:]).tocsc()
        (j1, p1) = self.shapes[0]
        self.q2 = rest.shape[1]
        self.starts = np.concatenate([[0], np.cumsum([j * p for j, p in self.shapes[1:]])])
        self.a11 = (first.T @ first).toarray().reshape(j1, p1, j1, p1)[np.arange(j1), :, np.arange(j1), :]
        self.a12 = (first.T @ rest).toarray().reshape(j1, p1, self.q2)
        self.a22 = (rest.T @ rest).toarray()
        self.ztx1 = np.asarray(first.T @ xfull).reshape(j1, p1, -1)
        self.zty1 = np.asarray(first.T @ y).reshape(j1, p1)
        self.ztx2, self.zty2 = np.asarray(rest.T @ xfull), np.asarray(rest.T @ y)
        self.xtx, self.xty, self.yty = xfull.T @ xfull, xfull.T @ y, float(y @ y)

    def _system(self, beta, scales, sigma2, xp):
        """The blocks M11 (..., J1, p1, p1), M12 (..., J1, p1, q2), M22 (..., q2, q2) and c1, c2."""
        sigma2 = xp.asarray(sigma2)
        s1 = scales[0]
        lam2 = block_diagonal([_kron_identity(s, levels, xp) for s, (levels, _) in zip(scales[1:], self.shapes[1:])], xp)
        m11 = xp.eye(s1.shape[-1]) + xp.einsum("...ai,jab,...bk->...jik", s1, self.a11, s1) / sigma2[..., None, None, None]
        m12 = xp.einsum("...ai,jaq,...qr->...jir", s1, self.a12, lam2) / sigma2[..., None, None, None]
        m22 = xp.eye(self.q2) + xp.swapaxes(lam2, -1, -2) @ self.a22 @ lam2 / sigma2[..., None, None]
        zte1 = self.zty1 - xp.einsum("jak,...k->...ja", self.ztx1, beta)
        zte2 = self.zty2 - xp.einsum("qk,...k->...q", self.ztx2, beta)
        c1 = xp.einsum("...ja,...ai->...ji", zte1, s1) / sigma2[..., None, None]
        c2 = xp.einsum("...qr,...q->...r", lam2, zte2) / sigma2[..., None]
        return m11, m12, m22, c1, c2

    def log_likelihood(self, beta, scales, sigma):
        import jax.numpy as jnp
        from jax.scipy.linalg import solve_triangular

        sigma2 = sigma**2
        ete = self.yty - 2.0 * beta @ self.xty + beta @ self.xtx @ beta
        m11, m12, m22, c1, c2 = self._system(beta, scales, sigma2, jnp)
        chol11, log_det11 = _unrolled_cholesky(m11)
        w = _unrolled_forward(chol11, m12)  # (J1, p1, q2)
        w1 = _unrolled_forward(chol11, c1[..., None])[..., 0]
        chol22 = jnp.linalg.cholesky(m22 - jnp.einsum("jaq,jar->qr", w, w))
        w2 = solve_triangular(chol22, c2 - jnp.einsum("jaq,ja->q", w, w1), lower=True)
        log_det = log_det11 + 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol22)))
        return _gaussian_terms(self.n, sigma2, ete, log_det, jnp.sum(w1**2) + jnp.sum(w2**2), jnp)

    def draw_effects(self, beta, scales, sigma, rng: np.random.Generator, chunk: int = 256) -> list[np.ndarray]:
        """Each term's r (..., levels, p_k) from u ~ N(M^-1 c, M^-1), by the blocked factor."""
        lead, (j1, p1) = beta.shape[:-1], self.shapes[0]
        flat_beta = beta.reshape(-1, beta.shape[-1])
        flat_scales = [s.reshape((-1,) + s.shape[-2:]) for s in scales]
        flat_sigma = np.reshape(sigma, -1)
        u1 = np.empty((len(flat_beta), j1, p1))
        u2 = np.empty((len(flat_beta), self.q2))
        for start in range(0, len(flat_beta), chunk):
            part = slice(start, start + chunk)
            m11, m12, m22, c1, c2 = self._system(flat_beta[part], [s[part] for s in flat_scales],
                                                 flat_sigma[part] ** 2, np)
            chol11 = np.linalg.cholesky(m11)
            w = np.linalg.solve(chol11, m12)
            v1 = np.linalg.solve(chol11, c1[..., None])[..., 0]
            chol22 = np.linalg.cholesky(m22 - np.einsum("...jaq,...jar->...qr", w, w))
            v2 = np.linalg.solve(chol22, (c2 - np.einsum("...jaq,...ja->...q", w, v1))[..., None])[..., 0]
            # L' u = v + noise, bottom block first
            noise1, noise2 = rng.standard_normal(v1.shape), rng.standard_normal(v2.shape)
            u2[part] = np.linalg.solve(np.swapaxes(chol22, -1, -2), (v2 + noise2)[..., None])[..., 0]
            rhs = v1 + noise1 - np.einsum("...jaq,...q->...ja", w, u2[part])
            u1[part] = np.linalg.solve(np.swapaxes(chol11, -1, -2), rhs[..., None])[..., 0]
        effects = [np.einsum("dik,djk->dji", flat_scales[0], u1)]
        for k, (jk, pk) in enumerate(self.shapes[1:]):
            uk = u2[:, self.starts[k]:self.starts[k + 1]].reshape(-1, jk, pk)
            effects.append(np.einsum("dik,djk->dji", flat_scales[k + 1], uk))
        return [e.reshape(lead + e.shape[1:]) for e in effects]


def _kron_identity(scale, levels: int, xp):
    """I_levels kron S (..., levels p, levels p) for S (..., p, p)."""
    p = scale.shape[-1]
    if p == 1:
        return scale * xp.eye(levels)
    eye = xp.eye(levels)
    big = eye[:, None, :, None] * scale[..., None, :, None, :]
    return big.reshape(scale.shape[:-2] + (levels * p, levels * p))


def _conditional_draw(m, c, noise):
    """u ~ N(M^-1 c, M^-1) for each (..., p, p) M: L v = c, then L' u = v + noise (M = L L')."""
    chol = np.linalg.cholesky(m)
    v = np.linalg.solve(chol, c[..., None])
    return np.linalg.solve(np.swapaxes(chol, -1, -2), v + noise[..., None])[..., 0]

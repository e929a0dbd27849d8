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
CHUNK_ELEMENTS = 1 << 22  # drawing effects: ~4M numbers (32 MB) per (chunk, levels, p, p) array


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


def _unrolled_inverse(m):
    """Inverses of (levels, p, p) SPD blocks, L^-T L^-1 from the unrolled factor (XLA compiles no LU)."""
    import jax.numpy as jnp

    chol, _ = _unrolled_cholesky(m)
    inv_chol = _unrolled_forward(chol, jnp.broadcast_to(jnp.eye(m.shape[-1]), m.shape))
    return jnp.einsum("jai,jak->jik", inv_chol, inv_chol)


def _unrolled_forward(chol, rhs):
    """Solve L_j x_j = rhs_j for every level: rhs (levels, p, r) -> x (levels, p, r)."""
    import jax.numpy as jnp

    rows = []
    for i in range(len(chol)):
        row = rhs[:, i, :] - sum(chol[i][t][:, None] * rows[t] for t in range(i))
        rows.append(row / chol[i][i][:, None])
    return jnp.stack(rows, axis=1)


# Several factors: integrate out while the terms after the first have at most DENSE_LIMIT effects.
# The q2 x q2 Cholesky and its gradient cost ~40 us at q2 = 40, ~120 us at 64 and ~330 us at 100 per
# NUTS step on the 2-core dev machine; past ~64 sampling the effects (brms's form) is as fast per
# effective draw (classroom, q2 = 107: about equal ESS per second either way).
DENSE_LIMIT = 64
PRODUCT_LIMIT = 2_000_000  # products in A12' D A12 (memory of the scatter-add)


def can_integrate_out(terms) -> bool:
    """One grouping factor (any size), or several whose terms after the first have few effects."""
    if len({t.group_name for t in terms}) == 1:
        return True
    return (len(terms[0].column_names) <= UNROLLED_UP_TO
            and sum(t.n_levels * len(t.column_names) for t in terms[1:]) <= DENSE_LIMIT
            and _count_row_products(terms) <= PRODUCT_LIMIT)


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

    def draw_effects(self, beta, scales, sigma, rng: np.random.Generator, chunk: int | None = None,
                     dtype="float64") -> list[np.ndarray]:
        """Each term's r (..., levels, p_k), drawn from the conditional given each draw (leading axes),
        computed in float64 and stored as ``dtype``.

        ``chunk`` draws at a time (by default as many as keep each (chunk, levels, p, p) array near
        ``CHUNK_ELEMENTS`` numbers), so memory stays bounded at any number of draws and levels: the
        one array of all draws is r itself. The noise is read from ``rng`` in the order of one call
        for all draws, so the draws are the same whatever the chunk.
        """
        lead = beta.shape[:-1]
        flat_beta = beta.reshape(-1, beta.shape[-1])
        flat_scales = [np.broadcast_to(s, lead + s.shape[-2:]).reshape((-1,) + s.shape[-2:]) for s in scales]
        flat_sigma = np.broadcast_to(sigma, lead).reshape(-1)
        chunk = chunk or max(1, CHUNK_ELEMENTS // (self.n_levels * self.p * self.p))
        r = np.empty((len(flat_beta), self.n_levels, self.p), dtype=dtype)
        for start in range(0, len(flat_beta), chunk):
            part = slice(start, start + chunk)
            scale = block_diagonal([s[part] for s in flat_scales], np)
            noise = rng.standard_normal((len(scale), self.n_levels, self.p))
            zte = self.zty - np.moveaxis(self.ztx @ flat_beta[part].T, -1, 0)  # (chunk, levels, p)
            if self.p <= UNROLLED_UP_TO:
                r[part] = _unrolled_conditional_effects(scale, self.ztz, zte, flat_sigma[part] ** 2, noise)
                continue
            sigma2 = flat_sigma[part, None, None, None] ** 2
            m = np.eye(self.p) + np.einsum("dki,jkl,dlm->djim", scale, self.ztz, scale, optimize=True) / sigma2
            c = np.einsum("djk,dki->dji", zte, scale) / sigma2[..., 0]
            u = _conditional_draw(m, c, noise)
            r[part] = np.einsum("dik,djk->dji", scale, u)
        r = r.reshape(lead + r.shape[1:])
        return np.split(r, np.cumsum(self.term_sizes)[:-1], axis=-1)


class SeveralFactorMarginal:
    """Crossed or nested factors, factored as lme4 blocks its Cholesky factor.

    The first term (most levels, lme4's order) gives a block-diagonal ``M11`` (one p1 x p1 block per
    level: no row belongs to two of its levels); the other terms' q2 effects form a dense block.
    ``M = [[M11, M12], [M12', M22]]`` factors as ``[[L11, 0], [W', L22]]`` with ``W = L11^-1 M12`` and
    ``L22 L22'`` the Schur complement ``M22 - M12' M11^-1 M12``. That complement is
    ``I + Lambda2' (A22 / sigma^2 - A12' D A12) Lambda2`` with ``D_j = S1 M11_j^-1 S1' / sigma^4``, and
    ``A12' D A12`` is summed over the nonzero products of each row of A12 (few: a class sits in one
    school, a plate meets six samples), so no step costs more than O(q2^2) besides the q2 x q2
    Cholesky. ``DENSE_LIMIT`` bounds q2, ``PRODUCT_LIMIT`` the number of products.
    """

    def __init__(self, xfull: np.ndarray, y: np.ndarray, codes: list, zs: list, n_levels: list[int]):
        self.n = len(y)
        self.shapes = [(levels, z.shape[1]) for levels, z in zip(n_levels, zs)]
        first, rest = _sparse_z(codes[:1], zs[:1], self.shapes[:1]), _sparse_z(codes[1:], zs[1:], self.shapes[1:])
        (j1, p1) = self.shapes[0]
        self.q2 = rest.shape[1]
        self.starts = np.concatenate([[0], np.cumsum([j * p for j, p in self.shapes[1:]])])
        self.a11 = (first.T @ first).toarray().reshape(j1, p1, j1, p1)[np.arange(j1), :, np.arange(j1), :]
        self.a12 = (first.T @ rest).toarray().reshape(j1, p1, self.q2)
        self.a22 = (rest.T @ rest).toarray()
        self.products = _row_products(self.a12)
        self.ztx1 = np.asarray(first.T @ xfull).reshape(j1, p1, -1)
        self.zty1 = np.asarray(first.T @ y).reshape(j1, p1)
        self.ztx2, self.zty2 = np.asarray(rest.T @ xfull), np.asarray(rest.T @ y)
        self.xtx, self.xty, self.yty = xfull.T @ xfull, xfull.T @ y, float(y @ y)

    def _blocks(self, beta, scales, sigma2, xp):
        """M11 (..., J1, p1, p1), its inverse, the Schur complement (..., q2, q2), c1 and the rest of c2.

        ``rhs2 = c2 - M12' M11^-1 c1`` is what the second block solves against.
        """
        sigma2 = xp.asarray(sigma2)
        s1, rest = scales[0], scales[1:]
        per_level = sigma2[..., None, None, None]
        m11 = xp.eye(s1.shape[-1]) + xp.einsum("...ai,jab,...bk->...jik", s1, self.a11, s1) / per_level
        m11_inv = np.linalg.inv(m11) if xp is np else _unrolled_inverse(m11)
        d = xp.einsum("...ia,...jab,...kb->...jik", s1, m11_inv, s1) / per_level**2
        j, a, b, q, r, values = self.products
        core = self.a22 / sigma2[..., None, None]
        if xp is np:
            core = np.array(np.broadcast_to(core, d.shape[:-3] + core.shape[-2:]))
            np.add.at(core, (..., q, r), -d[..., j, a, b] * values)
        else:
            core = core.at[..., q, r].add(-d[..., j, a, b] * values)
        core_lambda = xp.swapaxes(self._lambda2_t_times(core, rest, xp), -1, -2)  # core symmetric: core Lambda2
        schur = xp.eye(self.q2) + self._lambda2_t_times(core_lambda, rest, xp)
        zte1 = self.zty1 - xp.einsum("jak,...k->...ja", self.ztx1, beta)
        zte2 = self.zty2 - xp.einsum("qk,...k->...q", self.ztx2, beta)
        c1 = xp.einsum("...ja,...ai->...ji", zte1, s1) / sigma2[..., None, None]
        g = xp.einsum("...ia,...jab,...jb->...ji", s1, m11_inv, c1) / sigma2[..., None, None]
        rhs2 = self._lambda2_t_times((zte2 / sigma2[..., None] - xp.einsum("jaq,...ja->...q", self.a12, g))[..., None],
                                     rest, xp)[..., 0]
        return m11, m11_inv, schur, c1, rhs2

    def _lambda2_t_times(self, matrix, scales, xp):
        """Lambda2' matrix for matrix (..., q2, r), Lambda2 = blockdiag_k(I kron S_k): O(q2 r p), no dense Lambda2."""
        matrix = xp.swapaxes(matrix, -1, -2)  # rows r, columns q2: right-multiply by Lambda2 term by term
        pieces = []
        for k, (levels, p) in enumerate(self.shapes[1:]):
            block, scale = matrix[..., self.starts[k]:self.starts[k + 1]], scales[k]
            if p == 1:
                pieces.append(block * scale[..., None, 0, :])
            else:
                shaped = block.reshape(block.shape[:-1] + (levels, p))
                product = shaped @ scale[..., None, :, :]
                pieces.append(product.reshape(product.shape[:-2] + (levels * p,)))
        return xp.swapaxes(xp.concatenate(pieces, axis=-1), -1, -2)

    def log_likelihood(self, beta, scales, sigma):
        import jax.numpy as jnp
        from jax.scipy.linalg import solve_triangular

        sigma2 = sigma**2
        ete = self.yty - 2.0 * beta @ self.xty + beta @ self.xtx @ beta
        m11, m11_inv, schur, c1, rhs2 = self._blocks(beta, scales, sigma2, jnp)
        _, log_det11 = _unrolled_cholesky(m11)
        chol22 = jnp.linalg.cholesky(schur)
        w2 = solve_triangular(chol22, rhs2, lower=True)
        log_det = log_det11 + 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol22)))
        squares = jnp.einsum("ja,jab,jb->", c1, m11_inv, c1) + jnp.sum(w2**2)
        return _gaussian_terms(self.n, sigma2, ete, log_det, squares, jnp)

    def draw_effects(self, beta, scales, sigma, rng: np.random.Generator, chunk: int = 256,
                     dtype="float64") -> list[np.ndarray]:
        """Each term's r (..., levels, p_k) from u ~ N(M^-1 c, M^-1), by the blocked factor:
        u2 = L22^-T (L22^-1 rhs2 + e2), then u1 = L11^-T (L11^-1 (c1 - M12 u2) + e1); stored as ``dtype``."""
        lead, (j1, p1) = beta.shape[:-1], self.shapes[0]
        flat_beta = beta.reshape(-1, beta.shape[-1])
        flat_scales = [s.reshape((-1,) + s.shape[-2:]) for s in scales]
        flat_sigma2 = np.reshape(sigma, -1) ** 2
        u1 = np.empty((len(flat_beta), j1, p1))
        u2 = np.empty((len(flat_beta), self.q2))
        for start in range(0, len(flat_beta), chunk):
            part = slice(start, start + chunk)
            scales_part = [s[part] for s in flat_scales]
            m11, _, schur, c1, rhs2 = self._blocks(flat_beta[part], scales_part, flat_sigma2[part], np)
            chol22 = np.linalg.cholesky(schur)
            v2 = np.linalg.solve(chol22, rhs2[..., None])[..., 0]
            u2[part] = np.linalg.solve(np.swapaxes(chol22, -1, -2),
                                       (v2 + rng.standard_normal(v2.shape))[..., None])[..., 0]
            effects2 = self._lambda2_times(u2[part], scales_part[1:])
            m12_u2 = np.einsum("dai,jaq,dq->dji", scales_part[0], self.a12, effects2) / flat_sigma2[part, None, None]
            chol11 = np.linalg.cholesky(m11)
            v1 = np.linalg.solve(chol11, (c1 - m12_u2)[..., None])[..., 0]
            u1[part] = np.linalg.solve(np.swapaxes(chol11, -1, -2),
                                       (v1 + rng.standard_normal(v1.shape))[..., None])[..., 0]
        effects = [np.einsum("dik,djk->dji", flat_scales[0], u1)]
        effects2 = self._lambda2_times(u2, flat_scales[1:])
        for k, (jk, pk) in enumerate(self.shapes[1:]):
            effects.append(effects2[:, self.starts[k]:self.starts[k + 1]].reshape(-1, jk, pk))
        return [e.reshape(lead + e.shape[1:]).astype(dtype, copy=False) for e in effects]

    def _lambda2_times(self, u, scales) -> np.ndarray:
        """Lambda2 u for u (draws, q2): each level's S_k u_j (numpy)."""
        out = np.empty_like(u)
        for k, (levels, p) in enumerate(self.shapes[1:]):
            uk = u[:, self.starts[k]:self.starts[k + 1]].reshape(-1, levels, p)
            out[:, self.starts[k]:self.starts[k + 1]] = np.einsum("dik,djk->dji", scales[k], uk).reshape(-1, levels * p)
        return out


def _sparse_z(codes: list, zs: list, shapes: list):
    """Sparse Z (n, sum levels * p) for some terms; effect (level j, column c) at j * p + c."""
    import scipy.sparse as sp

    n = len(codes[0])
    columns = []
    for code, z, (levels, p) in zip(codes, zs, shapes):
        rows = np.repeat(np.arange(n), p)
        cols = (code[:, None] * p + np.arange(p)).reshape(-1)
        columns.append(sp.csr_matrix((z.reshape(-1), (rows, cols)), shape=(n, levels * p)))
    return sp.hstack(columns).tocsc()


def _count_row_products(terms) -> int:
    """How many products _row_products would list, from the codes alone (upper bound: zero z entries count)."""
    first = np.asarray(terms[0].codes)
    per_level = np.zeros(terms[0].n_levels)
    for t in terms[1:]:
        pairs = np.unique(first.astype(np.int64) * t.n_levels + np.asarray(t.codes))
        per_level += np.bincount(pairs // t.n_levels, minlength=terms[0].n_levels) * len(t.column_names)
    return int(np.sum((per_level * len(terms[0].column_names)) ** 2))


def _row_products(a12: np.ndarray):
    """Every product a12[j, a, q] * a12[j, b, r] of two nonzeros in one level j's rows: index arrays
    (j, a, b, q, r) and the values, so that (A12' D A12)[q, r] = sum D[j, a, b] * value."""
    j_idx, a_idx, q_idx = np.nonzero(a12)
    bounds = np.searchsorted(j_idx, np.arange(a12.shape[0] + 1))
    parts = []
    for level in range(a12.shape[0]):
        lo, hi = bounds[level], bounds[level + 1]
        left, right = np.meshgrid(np.arange(lo, hi), np.arange(lo, hi), indexing="ij")
        parts.append((left.reshape(-1), right.reshape(-1)))
    left = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, int)
    right = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, int)
    values = a12[j_idx[left], a_idx[left], q_idx[left]] * a12[j_idx[right], a_idx[right], q_idx[right]]
    return j_idx[left], a_idx[left], a_idx[right], q_idx[left], q_idx[right], values


def _unrolled_conditional_effects(scale, ztz, zte, sigma2, noise):
    """r_j = S u_j with u_j ~ N(M_j^-1 c_j, M_j^-1), ``M_j = I + S'Z_j'Z_j S / sigma^2``, ``c_j = S'Z_j'e / sigma^2``,
    for p <= UNROLLED_UP_TO written out element by element over (draws, levels) arrays: numpy's
    batched einsum, Cholesky and solve on millions of 2 x 2 blocks cost ~10x more (1e5 rows, 1,000
    levels, 4,000 draws: ~30 s -> ~3 s on the loaded 2-core machine). The same arithmetic as
    :func:`_conditional_draw`: L v = c, L' u = v + noise.

    scale (d, p, p), ztz (levels, p, p), zte (d, levels, p), sigma2 (d,), noise (d, levels, p).
    """
    p = scale.shape[-1]
    s = [[scale[:, a, i][:, None] for i in range(p)] for a in range(p)]  # S[a, i], (d, 1)
    inv_s2 = 1.0 / sigma2[:, None]
    a_s = [[sum(ztz[None, :, a, b] * s[b][k] for b in range(p)) for k in range(p)] for a in range(p)]
    chol = [[None] * p for _ in range(p)]
    for i in range(p):
        for k in range(i + 1):
            m_ik = inv_s2 * sum(s[a][i] * a_s[a][k] for a in range(p)) + (1.0 if i == k else 0.0)
            total = m_ik - sum(chol[i][t] * chol[k][t] for t in range(k))
            chol[i][k] = np.sqrt(total) if i == k else total / chol[k][k]
    c = [inv_s2 * sum(zte[:, :, a] * s[a][i] for a in range(p)) for i in range(p)]
    v: list = []
    for i in range(p):
        v.append((c[i] - sum(chol[i][t] * v[t] for t in range(i))) / chol[i][i])
    u = [None] * p
    for i in reversed(range(p)):
        u[i] = (v[i] + noise[:, :, i] - sum(chol[t][i] * u[t] for t in range(i + 1, p))) / chol[i][i]
    return np.stack([sum(s[i][k] * u[k] for k in range(p)) for i in range(p)], axis=-1)


def _conditional_draw(m, c, noise):
    """u ~ N(M^-1 c, M^-1) for each (..., p, p) M: L v = c, then L' u = v + noise (M = L L')."""
    chol = np.linalg.cholesky(m)
    v = np.linalg.solve(chol, c[..., None])
    return np.linalg.solve(np.swapaxes(chol, -1, -2), v + noise[..., None])[..., 0]

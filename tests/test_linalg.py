"""The blocked Cholesky factor against a dense Cholesky of the same matrix (second implementation)."""
import numpy as np
import pytest

from multilevel.linalg import BlockedCholesky, as_dense, system_blocks

rng = np.random.default_rng(7)


def dense_system(terms, xy, lambdas):
    """[Lambda'Z'Z Lambda + I, ...; XY] built densely with an explicit Z (only for testing)."""
    z_blocks = []
    for (codes, z, levels), lam in zip(terms, lambdas):
        p = z.shape[1]
        dense = np.zeros((len(codes), levels * p))
        for a in range(p):
            dense[np.arange(len(codes)), codes * p + a] = z[:, a]
        z_blocks.append(dense @ np.kron(np.eye(levels), lam))
    full = np.column_stack(z_blocks + [xy])
    matrix = full.T @ full
    q = sum(b.shape[1] for b in z_blocks)
    matrix[:q, :q] += np.eye(q)
    return matrix


def assemble(factor, sizes):
    edges = np.concatenate([[0], np.cumsum(sizes)])
    out = np.zeros((edges[-1], edges[-1]))
    for (i, j), block in factor.items():
        out[edges[i]:edges[i + 1], edges[j]:edges[j + 1]] = as_dense(block)
    return out


LAYOUTS = {
    "crossed scalar": [(40, 1), (15, 1), (6, 1)],
    "nested": [(30, 1), (10, 1)],
    "vector and scalar": [(25, 2), (8, 1)],
    "two vector terms": [(20, 2), (12, 3)],
}


@pytest.mark.parametrize("name", LAYOUTS)
def test_blocked_factor_equals_dense_cholesky(name):
    n = 400
    terms = []
    for levels, p in LAYOUTS[name]:
        if name == "nested" and terms:  # each inner level inside exactly one outer level
            codes = terms[0][0] % levels
        else:
            codes = rng.integers(0, levels, n)
            codes[:levels] = np.arange(levels)
        z = np.column_stack([np.ones(n)] + [rng.normal(size=n) for _ in range(p - 1)])
        terms.append((codes, z, levels))
    xy = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    lambdas = []
    for levels, p in LAYOUTS[name]:
        lam = np.tril(rng.normal(size=(p, p)))
        lam[np.diag_indices(p)] = np.abs(lam[np.diag_indices(p)]) + 0.3
        lambdas.append(lam)
    chol = BlockedCholesky(system_blocks(terms, xy), [(lv, p) for lv, p in LAYOUTS[name]])
    factor = chol.factor(lambdas)
    sizes = [lv * p for lv, p in LAYOUTS[name]] + [xy.shape[1]]
    got = assemble(factor, sizes)
    expected = np.linalg.cholesky(dense_system(terms, xy, lambdas))
    assert np.allclose(got, expected, atol=1e-10, rtol=1e-10)
    if name == "nested":
        assert chol.kinds[1, 1] == "diagonal"  # nesting causes no fill-in
    if name == "crossed scalar":
        assert chol.kinds[1, 1] == "dense"  # crossing fills in the second block


def test_weights_scale_rows():
    n, levels = 50, 5
    codes = np.arange(n) % levels
    z = np.ones((n, 1))
    xy = np.column_stack([np.ones(n), rng.normal(size=n)])
    w = rng.uniform(0.5, 2.0, n)
    blocks = system_blocks([(codes, z, levels)], xy, np.sqrt(w))
    assert np.allclose(blocks[0, 0].data[:, 0, 0], np.bincount(codes, weights=w))
    assert np.allclose(blocks[1, 1], (xy * w[:, None]).T @ xy)


def test_models_without_fixed_effects_and_vector_random_effects():
    """scale_block on a fixed-effects block with no rows (found by the formula fuzzer: glmer
    cnt ~ 0 + (x | g) raised numpy's 'cannot reshape array of size 0')."""
    import warnings

    import pandas as pd

    import multilevel as ml

    rng = np.random.default_rng(0)
    data = pd.DataFrame({"cnt": rng.poisson(2.0, 60), "x": rng.normal(size=60), "g": rng.choice(list("abcdef"), 60)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.SingularFitWarning)
        fits = [ml.glmer("cnt ~ 0 + (x | g)", data, family="poisson", nagq=nagq) for nagq in (0, 1)]
    assert all(np.isfinite(f.loglik) and f.fixef().empty for f in fits)
    # with no beta the Laplace stage has nothing to add to the theta-only stage
    assert fits[1].loglik == pytest.approx(fits[0].loglik, rel=1e-8)

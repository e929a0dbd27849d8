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


def _crossed_case(layout, n=400, seed=3):
    local = np.random.default_rng(seed)
    terms = []
    for levels, p in layout:
        codes = local.integers(0, levels, n)
        codes[:levels] = np.arange(levels)
        z = np.column_stack([np.ones(n)] + [local.normal(size=n) for _ in range(p - 1)])
        terms.append((codes, z, levels))
    xy = np.column_stack([np.ones(n), local.normal(size=n), local.normal(size=n)])
    lambdas = [np.tril(local.normal(size=(p, p))) + np.eye(p) * 1.5 for _, p in layout]
    return terms, xy, lambdas


@pytest.mark.parametrize("budget_mb, expected", [(512, "gram"), (0, "sparse product")])
@pytest.mark.parametrize("layout", [[(200, 1), (60, 1), (20, 1)], [(100, 2), (40, 1), (30, 2)]])
def test_crossed_fill_strategies_agree_with_dense_cholesky(monkeypatch, layout, budget_mb, expected):
    """The crossed fill-in is the same matrix whichever way it is formed (linalg/fill.py): a fixed
    Gram matrix below a scalar first term, index pairs, or a sparse product per evaluation when the
    memory budget is too small for either; also after new weights (a PIRLS step)."""
    from multilevel.linalg import cholesky

    monkeypatch.setattr(cholesky, "PRODUCT_MEMORY", budget_mb * 2**20)
    terms, xy, lambdas = _crossed_case(layout)
    dims = [(lv, p) for lv, p in layout]
    chol = BlockedCholesky(system_blocks(terms, xy), dims)
    strategies = set(chol.fill_strategy.values())
    if budget_mb == 0:
        assert strategies == {"sparse product"}
    else:
        assert expected in strategies or layout[0][1] > 1  # vector first term: index pairs
    sizes = [lv * p for lv, p in layout] + [xy.shape[1]]
    expected_factor = np.linalg.cholesky(dense_system(terms, xy, lambdas))
    assert np.allclose(assemble(chol.factor(lambdas), sizes), expected_factor, atol=1e-10, rtol=1e-10)
    # new observation weights on the same pattern (glmer's PIRLS): refreshed products
    w = np.random.default_rng(9).uniform(0.2, 3.0, len(xy))
    chol.update_blocks(system_blocks(terms, xy, np.sqrt(w)))
    weighted = [(codes, z * np.sqrt(w)[:, None], levels) for codes, z, levels in terms]
    expected_factor = np.linalg.cholesky(dense_system(weighted, xy * np.sqrt(w)[:, None], lambdas))
    assert np.allclose(assemble(chol.factor(lambdas), sizes), expected_factor, atol=1e-10, rtol=1e-10)


def test_shared_structure_and_reused_fill_buffers_give_the_same_factor():
    """``like=`` shares the symbolic stage between designs with the same random-effects blocks (the
    standardized and original designs of one fit); ``scratch=True`` reuses the dense fill block
    between evaluations. Neither changes a number; different random-effects blocks are not shared."""
    from multilevel.linalg import cholesky

    terms, xy, lambdas = _crossed_case([(700, 1), (520, 1)], n=2000)
    dims = [(700, 1), (520, 1)]
    first = BlockedCholesky(system_blocks(terms, xy), dims)
    other_xy = xy * np.array([1.0, 3.0, -2.0])
    shared = BlockedCholesky(system_blocks(terms, other_xy), dims, like=first)
    assert shared.pairs is first.pairs
    alone = BlockedCholesky(system_blocks(terms, other_xy), dims)
    assert 520 * 520 >= cholesky.SCRATCH_ENTRIES
    sizes = [700, 520, 3]
    for scale in (1.0, 0.3, 2.0):
        lam = [m * scale for m in lambdas]
        expected = assemble(alone.factor(lam), sizes)
        assert np.array_equal(assemble(shared.factor(lam, scratch=True), sizes), expected)
    weighted = [(codes, z * 2.0, levels) for codes, z, levels in terms]
    assert BlockedCholesky(system_blocks(weighted, xy), dims, like=first).pairs is not first.pairs


def test_product_memory_setting_is_read_per_fit_and_checked(monkeypatch):
    """MULTILEVEL_PRODUCT_MEMORY_MB overrides the budget at set-up (0: no precomputed product);
    a value that is not a number of megabytes is our error naming the variable."""
    from multilevel.errors import ArgumentError

    terms, xy, _ = _crossed_case([(200, 1), (60, 1)])
    monkeypatch.setenv("MULTILEVEL_PRODUCT_MEMORY_MB", "0")
    assert set(BlockedCholesky(system_blocks(terms, xy), [(200, 1), (60, 1)]).fill_strategy.values()) == {
        "sparse product"}
    for bad in ("lots", "-5", "nan"):
        monkeypatch.setenv("MULTILEVEL_PRODUCT_MEMORY_MB", bad)
        with pytest.raises(ArgumentError, match="MULTILEVEL_PRODUCT_MEMORY_MB must be a number"):
            BlockedCholesky(system_blocks(terms, xy), [(200, 1), (60, 1)])

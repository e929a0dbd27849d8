"""PSIS-LOO and WAIC on a fit's distinct log-likelihood columns (``fit.log_likelihood_distinct()``):
rows with the same (pattern, response, trials) have identical columns, so the criteria run on the K
distinct columns and copy the pointwise values out to the n rows. Second implementation: the same
functions on the full (chains, draws, n) array ``fit.log_likelihood()``; every estimate, SE,
pointwise value (elpd, p, Pareto k, min ESS), the printed summary and the compare tables agree to
1e-10."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.bayes import criteria
from test_criteria import Pointwise  # a fit that is nothing but its pointwise log-likelihood array

pytestmark = pytest.mark.filterwarnings("ignore:.*have Pareto k:UserWarning")
TOL = {"rtol": 1e-10, "atol": 1e-10}


class Distinct(Pointwise):
    """The same fit, also offering its distinct columns and each row's column."""

    def __init__(self, columns, inverse):
        super().__init__(np.take(columns, inverse, axis=-1))
        self.columns, self.inverse = np.asarray(columns), np.asarray(inverse)

    def log_likelihood_distinct(self):
        return self.columns, self.inverse


def assert_same_loo(a, b):
    assert a.nobs == b.nobs and a.n_draws == b.n_draws
    np.testing.assert_allclose(a.estimates.to_numpy(), b.estimates.to_numpy(), **TOL)
    for column in a.pointwise:
        np.testing.assert_allclose(a.pointwise[column], b.pointwise[column], **TOL)
    np.testing.assert_allclose(a.r_eff, b.r_eff, **TOL)
    np.testing.assert_allclose(a._min_ess, b._min_ess, **TOL)
    assert a.good_k == b.good_k and str(a) == str(b)
    assert (a.elpd_data is None) == (b.elpd_data is None)
    if a.elpd_data is not None:
        for key in ("elpd", "se", "p", "n_samples", "n_data_points", "good_k", "warning"):
            np.testing.assert_allclose(getattr(a.elpd_data, key), getattr(b.elpd_data, key), **TOL)
        np.testing.assert_allclose(a.elpd_data.elpd_i.values, b.elpd_data.elpd_i.values, **TOL)
        np.testing.assert_allclose(a.elpd_data.pareto_k.values, b.elpd_data.pareto_k.values, **TOL)


def assert_same_waic(a, b):
    np.testing.assert_allclose(a.estimates.to_numpy(), b.estimates.to_numpy(), **TOL)
    for column in a.pointwise:
        np.testing.assert_allclose(a.pointwise[column], b.pointwise[column], **TOL)
    assert str(a) == str(b)


def synthetic(seed=0, k=12, n=80):
    """k columns with very different shapes (two influential ones: high Pareto k; one constant),
    repeated unevenly over n rows."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(0.0, 0.2, (4, 100, 1))
    y = np.linspace(-1.5, 1.5, k)
    y[:2] = [6.0, -7.0]
    columns = -0.5 * ((y - mu) / 0.3) ** 2
    columns[..., -1] = -1.25  # the same in every draw
    inverse = rng.choice(k, size=n, p=np.arange(1, k + 1) / np.arange(1, k + 1).sum())
    inverse[:k] = np.arange(k)  # every column used
    return columns, inverse


def test_distinct_columns_give_the_full_results():
    columns, inverse = synthetic()
    fast, full = Distinct(columns, inverse), Pointwise(np.take(columns, inverse, axis=-1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = criteria.loo(fast)
    b = criteria.loo(full)
    assert_same_loo(a, b)
    assert a.warning and "Pareto k diagnostic values:" in str(a)  # the k table, bins counted per row
    assert any(f"of {len(inverse)} observations" in str(w.message) for w in caught)
    assert a.elpd_data is None  # the constant column: as the full computation
    assert_same_waic(criteria.waic(fast), criteria.waic(full))
    for func in (ml.waic, ml.psis):  # rethinking's
        table, points, *k = func(fast, pointwise=True)
        table_full, points_full, *k_full = func(full, pointwise=True)
        np.testing.assert_allclose(table.to_numpy(), table_full.to_numpy(), **TOL)
        np.testing.assert_allclose(points, points_full, **TOL)
        for x, y in zip(k, k_full):
            np.testing.assert_allclose(x, y, **TOL)


def test_compare_tables_with_distinct_and_full_fits():
    columns, inverse = synthetic(1)
    other, _ = synthetic(2)
    fast = [Distinct(columns, inverse), Distinct(other, inverse)]
    full = [Pointwise(f.log_likelihood()) for f in fast]
    mixed = [fast[0], full[1]]
    expected = ml.loo_compare(*full, names=["a", "b"])
    for fits in (fast, mixed):
        got = ml.loo_compare(*fits, names=["a", "b"])
        assert list(got.index) == list(expected.index) and str(got) == str(expected)
        np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), **TOL)
        for func in ("WAIC", "PSIS"):
            got, want = ml.compare(*fits, func=func, names=["a", "b"]), ml.compare(*full, func=func, names=["a", "b"])
            pd.testing.assert_frame_equal(got, want, rtol=1e-10, atol=1e-10)


def test_counts_of_rows_must_agree_and_index_is_checked():
    columns, inverse = synthetic()
    with pytest.raises(ml.MultilevelError, match="differ"):
        ml.loo_compare(Distinct(columns, inverse), Distinct(columns, inverse[:-1]))
    for bad in (inverse.astype(float), inverse + columns.shape[-1], inverse[:, None]):
        fit = Distinct(columns, inverse)
        fit.inverse = bad
        with pytest.raises(ml.MultilevelError, match="column number per observation"):
            criteria.loo(fit)


def _brm_fit(formula, data, seed):
    """A BrmFit of ``formula`` from random unconstrained draws (2 chains x 200) instead of NUTS:
    the brm log-likelihood code at its real inputs, without compiling a sampler."""
    from multilevel.bayes import fit as _engine  # noqa: F401  (JAX started with x64)
    from multilevel.bayes.likelihood import make_likelihood
    from multilevel.bayes.model import build_layout, make_model
    from multilevel.bayes.posterior import BrmFit
    from multilevel.bayes.sampler import SamplerRun
    from multilevel.design import build_design
    from multilevel.families import get_family
    from multilevel.formula import parse_formula

    likelihood = make_likelihood("bernoulli")
    design = build_design(parse_formula(formula), data, family=get_family("binomial"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layout = build_layout(design, likelihood, [])
    _, vector = make_model(design, layout, likelihood)
    flat = np.random.default_rng(seed).normal(0.0, 0.3, (2, 200, vector.size))
    zeros = np.zeros(flat.shape[:2])
    run = SamplerRun(vector.unpack_draws(flat), zeros, zeros, zeros, 0.0, 0.0, {"chains": 2})
    return BrmFit(design, likelihood, layout, run, []), vector.patterns


@pytest.fixture(scope="module")
def brm_fits():
    """A bernoulli brm fit whose 120 rows compress (10 groups x binary x: at most 40 columns), and
    one on the same rows with a continuous covariate (no patterns: 120 columns)."""
    rng = np.random.default_rng(5)
    n = 120
    g = rng.integers(0, 10, n)
    x = rng.integers(0, 2, n).astype(float)
    eta = -0.4 + 0.8 * x + np.linspace(-0.6, 0.6, 10)[g]
    data = pd.DataFrame({"y": (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int), "x": x,
                         "z": rng.standard_normal(n), "g": pd.Categorical(g)})
    compressed, patterns = _brm_fit("y ~ x + (1 | g)", data, 2)
    plain, no_patterns = _brm_fit("y ~ x + z + (1 | g)", data, 3)
    assert patterns is not None and no_patterns is None
    return compressed, plain


def test_brm_distinct_columns_and_criteria(brm_fits):
    fit, plain = brm_fits
    values, inverse = fit.log_likelihood_distinct()
    full = fit.log_likelihood()
    assert values.shape[:2] == full.shape[:2] and values.shape[-1] <= 40 and inverse.shape == (fit.nobs,)
    np.testing.assert_array_equal(values[..., inverse], full)
    result = fit.loo()
    assert result.elpd_data is not None and result.elpd_data.log_weights is None  # ArviZ's, per row
    assert_same_loo(result, criteria.loo(Pointwise(full)))
    assert_same_waic(fit.waic(), criteria.waic(Pointwise(full)))
    # no patterns: one column per row, in order; the criteria as before
    plain_values, plain_inverse = plain.log_likelihood_distinct()
    np.testing.assert_array_equal(plain_inverse, np.arange(plain.nobs))
    np.testing.assert_array_equal(plain_values, plain.log_likelihood())
    # compressed against uncompressed fit on the same 120 rows
    got = ml.loo_compare(fit, plain, names=["x", "x + z"])
    want = ml.loo_compare(Pointwise(full), Pointwise(plain.log_likelihood()), names=["x", "x + z"])
    assert list(got.index) == list(want.index) and str(got) == str(want)
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), **TOL)

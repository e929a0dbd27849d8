"""The three ways brm samples group-level effects give brms's posterior.

* marginal: the gaussian marginal likelihood against scipy's dense multivariate normal, and the
  conditional draws of the effects against the dense conditional mean and covariance;
* partial centering: the log density of u plus the Jacobian of u -> r is exactly brms's prior of r
  (so the posterior is unchanged for any weights), and the weights follow the shrinkage of a pilot fit;
* which form each model gets is recorded with the fit.
"""
import numpy as np
import pytest
from scipy.stats import multivariate_normal, norm

pytest.importorskip("jax")
from multilevel.bayes.sampler import prepare_devices  # noqa: E402

prepare_devices()  # float64, as brm runs
import jax.numpy as jnp  # noqa: E402

from multilevel.bayes.marginal import (  # noqa: E402
    OneFactorMarginal, SeveralFactorMarginal, _count_row_products, marginal_for)
from multilevel.bayes.model import GroupBlock, group_coefficients, group_log_density  # noqa: E402


class Term:
    """The fields of a design term that the marginal likelihood reads."""

    def __init__(self, group_name, codes, z):
        self.group_name, self.codes, self.z = group_name, codes, z
        self.n_levels, self.column_names = int(codes.max()) + 1, [f"c{i}" for i in range(z.shape[1])]


def small_problem(seed=0, n=40, factors=((4, 2),)):
    """y, X and terms for random groupings (levels, p) per factor, with their dense Z and Lambda."""
    rng = np.random.default_rng(seed)
    terms, dense_z, lambdas = [], [], []
    for k, (levels, p) in enumerate(factors):
        codes = np.concatenate([np.arange(levels), rng.integers(0, levels, n - levels)])
        z = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
        dense = np.zeros((n, levels * p))
        for i, (j, row) in enumerate(zip(codes, z)):
            dense[i, j * p : (j + 1) * p] = row
        terms.append(Term(f"g{k}", codes, z))
        dense_z.append(dense)
        lambdas.append(np.array([[1.7, 0.0], [-0.6, 0.9]]) if p == 2 else np.tril(rng.uniform(0.3, 1.5, (p, p))))
    x = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    y = rng.normal(size=n) * 3 + 1
    return terms, x, y, np.hstack(dense_z), lambdas, np.array([0.5, -1.0, 2.0]), 1.3


def dense_big_lambda(terms, lambdas):
    from scipy.linalg import block_diag

    return block_diag(*[np.kron(np.eye(t.n_levels), s) for t, s in zip(terms, lambdas)])


PROBLEMS = {"one factor p=1": dict(factors=((4, 1),)), "one factor p=2": dict(factors=((4, 2),)),
            "one factor p=3": dict(factors=((5, 3),)),
            "one factor p=6 (LAPACK)": dict(factors=((4, 6),)),  # past the unrolled factorization
            "crossed 5 x 3 + slope": dict(factors=((5, 1), (3, 2))),
            "three factors, slopes first": dict(factors=((6, 2), (3, 1), (2, 1)))}


@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_marginal_log_likelihood_is_the_dense_multivariate_normal(problem):
    terms, x, y, dense_z, lambdas, beta, sigma = small_problem(**PROBLEMS[problem])
    marginal = marginal_for(terms, x, y)
    assert isinstance(marginal, SeveralFactorMarginal if len(terms) > 1 else OneFactorMarginal)
    if len(terms) > 1:  # the count that decides whether to integrate out bounds the products listed
        assert _count_row_products(terms) >= len(marginal.products[0]) > 0
    ours = float(marginal.log_likelihood(jnp.asarray(beta), [jnp.asarray(s) for s in lambdas], sigma))
    big = dense_big_lambda(terms, lambdas)
    cov = sigma**2 * np.eye(len(y)) + dense_z @ big @ big.T @ dense_z.T
    assert ours == pytest.approx(multivariate_normal(x @ beta, cov).logpdf(y), rel=1e-12)


@pytest.mark.parametrize("problem", ["one factor p=2", "crossed 5 x 3 + slope", "three factors, slopes first"])
def test_conditional_effect_draws_have_the_dense_conditional_moments(problem):
    terms, x, y, dense_z, lambdas, beta, sigma = small_problem(seed=1, **PROBLEMS[problem])
    marginal = marginal_for(terms, x, y)
    n_draws = 40000
    effects = marginal.draw_effects(np.broadcast_to(beta, (n_draws, 3)),
                                    [np.broadcast_to(s, (n_draws,) + s.shape) for s in lambdas],
                                    np.full(n_draws, sigma), np.random.default_rng(5))
    r = np.hstack([e.reshape(n_draws, -1) for e in effects])
    # dense conditional of r given y: prior N(0, G), G = Lambda Lambda'; r | y ~ N(C Z'e / s^2, C)
    big = dense_big_lambda(terms, lambdas)
    precision = np.linalg.inv(big @ big.T) + dense_z.T @ dense_z / sigma**2
    cov = np.linalg.inv(precision)
    mean = cov @ dense_z.T @ (y - x @ beta) / sigma**2
    se = np.sqrt(np.diag(cov) / n_draws)
    assert np.all(np.abs(r.mean(axis=0) - mean) < 5 * se)
    assert np.allclose(np.cov(r.T), cov, atol=0.03 * np.abs(cov).max())


@pytest.mark.parametrize("weights", [(0.0, 0.3, 0.9, 1.0), (1.0, 1.0, 1.0, 1.0)])
def test_partial_centering_keeps_brms_prior_of_r(weights):
    # log p(u) = log N(r(u); 0, sd^2) + log |dr/du| + const, the const not depending on sd or the mean
    block = GroupBlock(0, "g", ("Intercept",), 4, False, weights, ((1.0,),))
    rng = np.random.default_rng(4)
    offsets = []
    for _ in range(5):
        sd, mean, u = rng.uniform(0.2, 3.0), rng.normal(), rng.normal(size=(1, 4)) * 2
        scale = jnp.full((1, 1), sd)
        r = np.asarray(group_coefficients(block, jnp.asarray(u), scale, jnp.asarray([mean]), jnp))[:, 0]
        assert np.allclose(r, sd ** (1 - np.array(weights)) * (u[0] - np.array(weights) * mean))
        log_u = float(group_log_density(block, jnp.asarray(u), scale, jnp.asarray([mean])))
        brms = norm.logpdf(r, 0, sd).sum() + np.sum((1 - np.array(weights)) * np.log(sd))
        offsets.append(log_u - brms)
    assert np.allclose(offsets, offsets[0]) and offsets[0] == pytest.approx(2 * np.log(2 * np.pi))


def test_centering_weights_follow_pilot_shrinkage():
    import multilevel as ml
    from multilevel.bayes.parameterization import centering_weights
    from multilevel.design import build_design
    from multilevel.formula import parse_formula

    frogs = ml.datasets.load("reedfrogs")
    frogs["tank"] = np.arange(len(frogs))
    design = build_design(parse_formula("surv | trials(density) ~ 1 + (1|tank)"), frogs,
                          family=ml.families.get_family("binomial"))
    weights = centering_weights(design, "binomial", [0])[0]
    # 1 - condVar / sd^2 from glmer: tanks of 35 tadpoles are pinned down better than tanks of 10
    assert np.all((weights > 0.5) & (weights < 1))
    assert weights[frogs["density"].to_numpy() == 35].mean() > weights[frogs["density"].to_numpy() == 10].mean()
    assert centering_weights(design, "negbinomial", [0]) == {}  # no pilot: brms's non-centered form


def _draw_effects_at_once(marginal, beta, scales, sigma, rng):
    """OneFactorMarginal.draw_effects as it was before it drew in chunks (all draws at once)."""
    from multilevel.bayes.marginal import _conditional_draw, block_diagonal

    scale = block_diagonal(scales, np)
    noise = rng.standard_normal(beta.shape[:-1] + (marginal.n_levels, marginal.p))
    sigma2 = sigma[..., None, None, None] ** 2
    m = np.eye(marginal.p) + np.einsum("...ki,jkl,...lm->...jim", scale, marginal.ztz, scale) / sigma2
    zte = marginal.zty - np.einsum("jpk,...k->...jp", marginal.ztx, beta)
    c = np.einsum("...jk,...ki->...ji", zte, scale) / sigma2[..., 0]
    r = np.einsum("...ik,...jk->...ji", scale, _conditional_draw(m, c, noise))
    return np.split(r, np.cumsum(marginal.term_sizes)[:-1], axis=-1)


@pytest.mark.parametrize("problem", ["one factor p=2", "one factor p=3", "two terms on one factor"])
def test_effect_draws_in_chunks_are_the_draws_at_once(problem):
    # the chunked draw reads the generator in the same order: same draws for a seed, any chunk size
    if problem == "two terms on one factor":  # (1 | g) + (0 + x | g): term sizes 1 and 2
        terms, x, y, *_ = small_problem(seed=2, factors=((4, 3),))
        z = np.asarray(terms[0].z)
        terms = [Term("g", terms[0].codes, z[:, :1]), Term("g", terms[0].codes, z[:, 1:])]
    else:
        terms, x, y, *_ = small_problem(seed=2, **PROBLEMS[problem])
    marginal = marginal_for(terms, x, y)
    rng = np.random.default_rng(11)
    lead = (3, 7)  # chains, draws: every draw its own beta, scales and sigma
    beta = rng.normal(size=lead + (3,))
    scales = [np.tril(rng.uniform(0.2, 1.5, lead + (k, k))) for k in marginal.term_sizes]
    sigma = rng.uniform(0.5, 2.0, lead)
    expected = _draw_effects_at_once(marginal, beta, scales, sigma, np.random.default_rng(5))
    for chunk in (1, 4, 21, None):  # None: the default size (here all 21 draws in one chunk)
        drawn = marginal.draw_effects(beta, scales, sigma, np.random.default_rng(5), chunk=chunk)
        assert [d.shape for d in drawn] == [e.shape for e in expected]
        for d, e in zip(drawn, expected):
            np.testing.assert_allclose(d, e, rtol=0, atol=1e-12)

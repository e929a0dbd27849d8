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

from multilevel.bayes.marginal import MarginalGaussian  # noqa: E402
from multilevel.bayes.model import GroupBlock, group_coefficients, group_log_density  # noqa: E402


def small_problem(seed=0, levels=4, n=23, p=2):
    rng = np.random.default_rng(seed)
    codes = np.concatenate([np.arange(levels), rng.integers(0, levels, n - levels)])
    z = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    x = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    y = rng.normal(size=n) * 3 + 1
    dense_z = np.zeros((n, levels * p))
    for i, (j, row) in enumerate(zip(codes, z)):
        dense_z[i, j * p : (j + 1) * p] = row
    scale = np.array([[1.7, 0.0], [-0.6, 0.9]]) if p == 2 else np.tril(rng.uniform(0.3, 1.5, (p, p)))
    beta, sigma = np.array([0.5, -1.0, 2.0]), 1.3
    return codes, z, x, y, dense_z, scale, beta, sigma


@pytest.mark.parametrize("p", [1, 2, 3, 6])  # 6: past the unrolled factorization, batched LAPACK
def test_marginal_log_likelihood_is_the_dense_multivariate_normal(p):
    codes, z, x, y, dense_z, scale, beta, sigma = small_problem(p=p, n=40)
    levels = int(codes.max()) + 1
    marginal = MarginalGaussian(x, y, codes, z, levels)
    ours = float(marginal.log_likelihood(jnp.asarray(beta), jnp.asarray(scale), sigma))
    big_scale = np.kron(np.eye(levels), scale)
    cov = sigma**2 * np.eye(len(y)) + dense_z @ big_scale @ big_scale.T @ dense_z.T
    assert ours == pytest.approx(multivariate_normal(x @ beta, cov).logpdf(y), rel=1e-12)


def test_conditional_effect_draws_have_the_dense_conditional_moments():
    codes, z, x, y, dense_z, scale, beta, sigma = small_problem(seed=1)
    levels, p = int(codes.max()) + 1, z.shape[1]
    marginal = MarginalGaussian(x, y, codes, z, levels)
    n_draws = 40000
    r = marginal.draw_effects(np.broadcast_to(beta, (n_draws, 3)), np.broadcast_to(scale, (n_draws, p, p)),
                              np.full(n_draws, sigma), np.random.default_rng(5)).reshape(n_draws, -1)
    # dense conditional of r given y: prior N(0, G), G = blockdiag(S S'); r | y ~ N(C Z'e / s^2, C)
    g = np.kron(np.eye(levels), scale @ scale.T)
    precision = np.linalg.inv(g) + dense_z.T @ dense_z / sigma**2
    cov = np.linalg.inv(precision)
    mean = cov @ dense_z.T @ (y - x @ beta) / sigma**2
    se = np.sqrt(np.diag(cov) / n_draws)
    assert np.all(np.abs(r.mean(axis=0) - mean) < 5 * se)
    assert np.allclose(np.cov(r.T), cov, atol=0.03 * np.abs(cov).max())


def test_prior_only_effect_draws_are_the_prior():
    codes, z, x, y, _, scale, beta, sigma = small_problem(seed=2)
    marginal = MarginalGaussian(x, y, codes, z, 4)
    r = marginal.draw_effects(np.broadcast_to(beta, (30000, 3)), np.broadcast_to(scale, (30000, 2, 2)),
                              np.full(30000, sigma), np.random.default_rng(3), prior_only=True)
    assert np.allclose(np.cov(r[:, 2, :].T), scale @ scale.T, atol=0.05)


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

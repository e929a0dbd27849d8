"""Our LKJ-Cholesky parameterization against NumPyro's (a second implementation)."""
import numpy as np
import pytest

jax = pytest.importorskip("jax")


@pytest.mark.parametrize("dim, eta", [(2, 1.0), (3, 1.0), (3, 2.5), (4, 0.7)])
def test_map_and_density_match_numpyro(dim, eta):
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.distributions.transforms import biject_to

    from multilevel.bayes.lkj import cholesky_corr_from_unconstrained, cholesky_corr_numpy, lkj_cholesky_log_density

    numpyro.enable_x64()  # as the engine runs
    rng = np.random.default_rng(dim)
    transform = biject_to(dist.constraints.corr_cholesky)
    reference = dist.LKJCholesky(dim, eta)
    values = []
    for _ in range(5):
        y = jnp.asarray(rng.normal(size=dim * (dim - 1) // 2))
        ours, log_jac = cholesky_corr_from_unconstrained(y, dim)
        theirs = transform(y)
        assert np.allclose(ours, theirs, atol=1e-12)
        assert np.allclose(cholesky_corr_numpy(np.asarray(y)[None], dim)[0], theirs, atol=1e-12)
        ours_total = lkj_cholesky_log_density(ours, eta) + log_jac
        theirs_total = reference.log_prob(theirs) + transform.log_abs_det_jacobian(y, theirs)
        values.append(float(ours_total - theirs_total))
    # equal up to the normalizing constant that we drop
    assert np.allclose(values, values[0], atol=1e-10)

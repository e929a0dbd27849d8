"""R-hat, bulk and tail ESS against arviz-stats (Vehtari et al. 2021), which brms's posterior matches.

Ours are numpy ports of arviz-stats' steps (multilevel.bayes.diagnostics), so the agreement is to
rounding (rel 1e-10), on independent, autocorrelated, discrete, tied, constant and short draws.
"""
import numpy as np
import pytest

arviz_stats = pytest.importorskip("arviz_stats")
from multilevel.bayes.diagnostics import ess_bulk, ess_tail, rhat  # noqa: E402


def ar1(rng, chains, draws, phi, shift=0.0):
    out = np.zeros((chains, draws))
    noise = rng.normal(size=(chains, draws))
    for t in range(1, draws):
        out[:, t] = phi * out[:, t - 1] + noise[:, t]
    return out + shift * np.arange(chains)[:, None]


def cases():
    rng = np.random.default_rng(7)
    return {"independent": rng.normal(size=(4, 1000)), "ar1 0.9": ar1(rng, 4, 500, 0.9),
            "ar1 0.99, chains apart": ar1(rng, 3, 300, 0.99, shift=2.0), "antithetic": ar1(rng, 4, 400, -0.6),
            "discrete with ties": rng.poisson(2.0, size=(4, 200)).astype(float),
            "one chain": rng.normal(size=(1, 333)), "odd draws": rng.gamma(2.0, size=(2, 101)),
            "short": rng.normal(size=(2, 5)), "constant": np.full((4, 100), 3.0)}


@pytest.mark.parametrize("name", list(cases()))
def test_rhat_and_ess_are_arviz_stats(name):
    values = cases()[name]
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = [float(arviz_stats.rhat(values)) if values.shape[0] > 1 else np.nan,
                    float(arviz_stats.ess(values, method="bulk")),
                    float(arviz_stats.ess(values, method="tail", prob=0.05))]
        ours = [rhat(values), ess_bulk(values), ess_tail(values, 0.05)]
    np.testing.assert_allclose(ours, expected, rtol=1e-10, equal_nan=True)


def test_nan_draws_give_nan():
    values = np.random.default_rng(1).normal(size=(2, 50))
    values[1, 3] = np.nan
    assert np.isnan([rhat(values), ess_bulk(values), ess_tail(values)]).all()

"""Sampling efficiency of brm's further brms families (issue 13): bulk ESS per second, per family.

How to run (from the repository root, with the package installed)::

    python benchmarks/brm_families.py                 # every family, 2 chains x 300 iterations, n = 300
    python benchmarks/brm_families.py --chains 4 --iter 2000 --families beta,weibull

Each family fits ``y ~ x + (1 | g)`` (300 rows, 20 groups) to data simulated from the family itself
(:class:`multilevel.bayes.distributions.ResponseDistribution`, ``eta = 0.5 + 0.4 x + u_g``, sd 0.3;
exgaussian and skew_normal on their own scale), with brms's default priors. Printed per family: wall
time of the ``ml.brm`` call (compilation included), the share spent compiling, sampling seconds (the
post-warm-up share of the run), the minimum bulk ESS over the named parameters (b_, sd_, the family's
parameters) and that minimum per second of sampling, and the number of divergent transitions. No
reference side: brms's fits of four of these models are in ``tests/fixtures/brms_issue13.json``.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import import_multilevel, print_table  # noqa: E402

# the family's parameters besides mu at the truth, and mu's scale (eta -> mu, or a location/scale)
TRUTH = {
    "zero_inflated_poisson": {"zi": 0.3}, "zero_inflated_negbinomial": {"shape": 5.0, "zi": 0.3},
    "hurdle_poisson": {"hu": 0.3}, "hurdle_negbinomial": {"shape": 5.0, "hu": 0.3},
    "hurdle_lognormal": {"sigma": 0.6, "hu": 0.25}, "beta": {"phi": 20.0}, "exponential": {},
    "weibull": {"shape": 2.0}, "shifted_lognormal": {"sigma": 0.4, "ndt": 2.0},
    "exgaussian": {"sigma": 40.0, "beta": 150.0}, "skew_normal": {"sigma": 1.0, "alpha": 4.0},
}


def simulate(family: str, n: int = 300, groups: int = 20, seed: int = 1):
    import jax
    import pandas as pd

    from multilevel.bayes.distributions import ResponseDistribution
    from multilevel.bayes.likelihood import make_likelihood

    rng = np.random.default_rng(seed)
    x, g = rng.normal(size=n), np.repeat(np.arange(groups), n // groups)
    eta = 0.5 + 0.4 * x + rng.normal(0, 0.3, groups)[g]
    if family == "exgaussian":
        eta = 400 + 30 * eta
    mu = np.asarray(make_likelihood(family).inverse_link(eta))
    y = ResponseDistribution(family, mu=mu, **TRUTH[family]).sample(jax.random.PRNGKey(seed))
    return pd.DataFrame({"y": y, "x": x, "g": g})


def run(ml, family: str, chains: int, iterations: int, seed: int) -> list:
    data = simulate(family, seed=seed)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.brm("y ~ x + (1 | g)", data, family=family, chains=chains, iter=iterations, seed=seed, refresh=0)
    wall = time.perf_counter() - started
    ess = float(fit.parameter_summary()["Bulk_ESS"].min())
    settings = fit.run.settings
    sampling = fit.run.seconds_sampling
    return [family, f"{wall:.1f}", f"{settings.get('compile_seconds', float('nan')):.1f}", f"{sampling:.2f}",
            f"{ess:.0f}", f"{ess / sampling:.0f}", str(int(np.sum(fit.run.stats["divergent__"])))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default=",".join(TRUTH), help="comma-separated subset")
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--iter", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    families = [f for f in args.families.split(",") if f]
    unknown = [f for f in families if f not in TRUTH]
    if unknown:
        ap.error(f"unknown families {', '.join(unknown)}; choose from {', '.join(TRUTH)}")
    ml = import_multilevel()
    rows = [run(ml, f, args.chains, args.iter, args.seed) for f in families]
    print(f"brm, {args.chains} chains x {args.iter} iterations, y ~ x + (1 | g), 300 rows")
    print_table(["family", "wall s", "compile s", "sampling s", "min bulk ESS", "ESS/s", "divergent"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

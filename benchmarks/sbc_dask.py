"""Wall time of ``ml.sbc`` on one thread against a dask.distributed LocalCluster of 2 worker processes.

How to run (from the repository root, with the package and ``multilevel[cluster]`` installed)::

    python benchmarks/sbc_dask.py                 # nsim = 40, 1 chain x (500 warm-up + 990 draws) per fit
    python benchmarks/sbc_dask.py --nsim 10       # quicker

The model is the fast test's (tests/test_sbc_helper.py): gaussian ``y ~ 1 + (1 | g)``, 8 groups x 4
rows, normal(0, 1) / exponential(1) priors, ranks 0..99. Printed: the synchronous run, the cluster's
start (2 processes that import multilevel and JAX), the run on it, and their ratio; the ranks of the
two runs must be identical (the seed fixes each replicate, whatever the number of workers). Within
one process brm fits take turns (NumPyro's effect handlers are process-global), so parallel speed
comes from processes: a cluster, or ``scheduler="processes"``.

Measured 2026-11-30 on 2 cores shared with other work (three runs, ranks identical every time):
synchronous 129.9 / 41.3 / 43.9 s, cluster start 1.4 / 2.1 / 2.2 s, cluster run 32.0 / 43.7 / 43.4 s
(ratio 4.07 / 0.94 / 1.01). The first synchronous run met a load of 6 that had fallen to 1.5 by
the cluster's turn; in the others another job held about one core (load 1.6 before the runs), so
the two workers shared what was left: on two free cores expect up to 2x, on a cluster the number
of worker processes.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from _common import import_multilevel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nsim", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    ml = import_multilevel()
    from distributed import Client, LocalCluster

    rng = np.random.default_rng(12)
    data = pd.DataFrame({"y": rng.normal(size=32), "g": np.repeat([f"g{i}" for i in range(8)], 4)})
    priors = [ml.prior("normal(0, 1)", class_="Intercept"), ml.prior("exponential(1)", class_="sd"),
              ml.prior("exponential(1)", class_="sigma")]
    run = dict(priors=priors, nsim=args.nsim, thin_to=99, warmup=500, draws=990, seed=2026, progress=False)  # noqa: C408

    started = time.perf_counter()
    one = ml.sbc("y ~ 1 + (1 | g)", data, scheduler="synchronous", **run)
    synchronous = time.perf_counter() - started

    started = time.perf_counter()
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        startup = time.perf_counter() - started
        started = time.perf_counter()
        spread = ml.sbc("y ~ 1 + (1 | g)", data, client=client, **run)
        on_cluster = time.perf_counter() - started

    same = one.ranks.equals(spread.ranks)
    print(f"sbc, nsim={args.nsim}, gaussian y ~ 1 + (1 | g), 8 x 4 rows, 1 chain x (500 + 990), ranks 0..99")
    print(f"  synchronous (1 thread):                 {synchronous:7.1f} s")
    print(f"  LocalCluster start ({args.workers} processes x 1 thread): {startup:7.1f} s")
    print(f"  LocalCluster run:                       {on_cluster:7.1f} s")
    print(f"  ratio synchronous / cluster run:        {synchronous / on_cluster:7.2f}")
    print(f"  ratio synchronous / (start + run):      {synchronous / (startup + on_cluster):7.2f}")
    print(f"  identical ranks: {same}; failed fits {one.failed} / {spread.failed}; "
          f"fits with divergences {one.divergent} / {spread.divergent}")
    print(one)


if __name__ == "__main__":
    main()

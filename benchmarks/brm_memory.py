"""Peak memory of a large gaussian brm fit: ``y ~ x + (x | g)``, n rows, ``--groups`` levels.

How to run (from the repository root, with the package installed)::

    python benchmarks/brm_memory.py                      # n = 1e5, 1,000 groups, 4 chains x 1000 draws
    python benchmarks/brm_memory.py --n 20000 --draws 200 --warmup 200   # quicker

Each fit runs in a fresh subprocess; the peak resident set size is the child's
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` at the end (on Linux in KiB, on macOS in bytes), so
importing JAX, sampling, drawing the integrated-out effects (``OneFactorMarginal.draw_effects``)
and the summary are all included. Also printed: the peak after data generation and import (the
floor) and the wall time. Target (issue 12): under 2 GB at n = 1e5, 1,000 groups, 4 x 1000.
The data are simulated with a fixed seed: intercept 1, slope 0.5, sd 1 and 0.3, correlation 0.3,
residual sd 1, x ~ N(0, 1), groups of equal size. brms is not run here (its memory is R's and
Stan's, a different story); the column prints "-".
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import numpy as np, pandas as pd

def peak_mb():
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024**2 if sys.platform == "darwin" else rss / 1024

n, groups, chains, draws, warmup = (int(a) for a in sys.argv[1:6])
rng = np.random.default_rng(1)
g = np.repeat(np.arange(groups), -(-n // groups))[:n]
x = rng.standard_normal(n)
cov = np.array([[1.0, 0.3 * 0.3], [0.3 * 0.3, 0.09]])
r = rng.multivariate_normal([0.0, 0.0], cov, size=groups)
y = 1 + r[g, 0] + (0.5 + r[g, 1]) * x + rng.standard_normal(n)
data = pd.DataFrame({"y": y, "x": x, "g": pd.Categorical(g)})
import multilevel as ml
import multilevel.bayes.fit  # noqa: F401  (JAX started: the floor below includes it)
floor = peak_mb()
start = time.perf_counter()
fit = ml.brm("y ~ x + (x | g)", data, chains=chains, draws=draws, warmup=warmup, seed=1, refresh=0)
seconds = time.perf_counter() - start
print(json.dumps({"floor_mb": floor, "peak_mb": peak_mb(), "seconds": seconds,
                  "parameterization": str(fit.run.settings.get("parameterization"))}))
"""


def measure(n: int, groups: int, chains: int, draws: int, warmup: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(n), str(groups), str(chains), str(draws), str(warmup)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"child failed (rc={proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=1_000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=1000)
    args = parser.parse_args(argv)
    result = measure(args.n, args.groups, args.chains, args.draws, args.warmup)
    print(f"brm gaussian y ~ x + (x | g): n={args.n:,}, {args.groups:,} groups, {args.chains} chains x {args.draws} "
          f"draws ({args.warmup} warm-up)")
    print(f"{'':24}{'ours':>10}{'brms':>10}")
    print(f"{'peak RSS (MB)':24}{result['peak_mb']:>10.0f}{'-':>10}")
    print(f"{'  after import (MB)':24}{result['floor_mb']:>10.0f}{'-':>10}")
    print(f"{'wall time (s)':24}{result['seconds']:>10.1f}{'-':>10}")
    print(f"parameterization: {result['parameterization']}")


if __name__ == "__main__":
    main()

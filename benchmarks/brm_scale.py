"""brm at 1e5 rows: a bernoulli model's time and ESS per second, a gaussian model's peak memory (issue 12).

How to run (from the repository root)::

    PYTHONPATH=src python benchmarks/brm_scale.py                  # both, n = 1e5, 4 chains x 1000 (1000 warm-up)
    PYTHONPATH=src python benchmarks/brm_scale.py --only bernoulli --draws 200 --warmup 200   # quicker
    PYTHONPATH=src python benchmarks/brm_scale.py --loo            # also the pointwise log-likelihood and LOO
    PYTHONPATH=src python benchmarks/brm_scale.py --draws-dtype float32   # draws stored as float32

bernoulli: ``y ~ 1 + urban + (1 + urban | district)``, the bangladesh contraception model on data
generated to n rows (60 districts, ``urban`` ~ Bernoulli(0.3); intercept -0.7, slope 0.7, sd 0.5
and 0.6, correlation -0.6; fixed seed). Every row shares its linear predictor with the other rows
of its district and urban value, so the likelihood runs on 120 patterns (see
:mod:`multilevel.bayes.likelihood`). Printed: the set-up before NUTS (design, the pilot fit
behind the centering, the model; "nan" on trees that do not record it, where it is counted in
post-processing), compilation, warm-up and sampling (NumPyro runs them in one compiled loop; the
split is by iterations), the post-processing in ``brm`` after sampling (unpacking draws, summary,
diagnostics), the smallest bulk ESS per second of sampling
over the named parameters, the mean tree depth, and the peak resident memory of the process.
Target: the whole ``brm`` call under 120 s.

gaussian: ``y ~ x + (x | g)``, continuous x, 1,000 groups (effects integrated out and drawn
afterwards in chunks; this replaces the earlier benchmarks/brm_memory.py). Target: peak memory under 2 GB.

Measured on the shared 2-core dev machine (30 Nov 2026; load 2-13 from other work, so times vary
by 2-3x), n = 1e5, 4 x 1000:

* bernoulli, before issue 12 (every row in the likelihood, correlated term non-centered): 4 x 100
  draws (100 warm-up) alone took 1,484 s at load ~12 (tree depth 6.3, min bulk ESS 11, R-hat 1.34);
  a gradient cost 4.2 ms at load 2 (vs 0.08 ms on the 120 patterns).
* bernoulli, after: 24.9 s with a cold compilation cache (set-up 1.3, compilation 16.6, warm-up
  3.5, sampling 3.5, post-processing 0.1), 8.6 s with a warm one; min bulk ESS 6,657 (~2,000 per
  second of sampling), tree depth 4.0, peak RSS 480-680 MB. ``log_likelihood()`` (4, 1000, 1e5):
  13.5 s, peak RSS 3.6 GB (the result is 3.2 GB). ``loo()`` on it was ArviZ's PSIS over 1e5 columns
  (250 draws per chain: 254 s, 8.4 GB peak; 4 x 1000: ~3.2 ms and ~0.25 GB per 1,000 columns measured
  on 2,000 and 5,000 of them, so ~5-6 minutes and ~25 GB more than the 3.2 GB array: killed); it now
  runs on the 240 distinct columns (``fit.log_likelihood_distinct()``) and copies the pointwise values
  out to the rows: 1.3-4.2 s (the first call in a process the slower), peak RSS 620 MB (the fit's
  480 MB + 70-150 MB), WAIC 0.4 s.
* gaussian: 56 s cold (compilation 19.5), 21 s warm; peak RSS 720-930 MB (float32 draws: 697 MB).

Each fit runs in a fresh subprocess, so the peak memory (``resource.getrusage``: KiB on Linux,
bytes on macOS) is that fit's, JAX's start included. The "before" numbers of issue 12 are those of
the same script run on the tree before the change (``git archive`` of the parent commit, with
``PYTHONPATH`` pointing at it).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

TARGET_SECONDS = 120.0
TARGET_MB = 2048.0

CHILD = r"""
import json, resource, sys, time
import numpy as np, pandas as pd

def peak_mb():
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024**2 if sys.platform == "darwin" else rss / 1024

kind, n, chains, draws, warmup, with_loo = sys.argv[1], *(int(a) for a in sys.argv[2:7])
dtype_option = {} if sys.argv[7] == "float64" else {"draws_dtype": sys.argv[7]}
rng = np.random.default_rng(1)
if kind == "bernoulli":
    districts = 60
    district = rng.integers(0, districts, n)
    urban = (rng.random(n) < 0.3).astype(float)
    cov = np.array([[0.25, -0.6 * 0.5 * 0.6], [-0.6 * 0.5 * 0.6, 0.36]])
    r = rng.multivariate_normal([0.0, 0.0], cov, size=districts)
    eta = -0.7 + r[district, 0] + (0.7 + r[district, 1]) * urban
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    data = pd.DataFrame({"y": y, "urban": urban, "district": pd.Categorical(district)})
    formula, family = "y ~ 1 + urban + (1 + urban | district)", "bernoulli"
else:
    groups = 1000
    g = np.repeat(np.arange(groups), -(-n // groups))[:n]
    x = rng.standard_normal(n)
    cov = np.array([[1.0, 0.3 * 0.3], [0.3 * 0.3, 0.09]])
    r = rng.multivariate_normal([0.0, 0.0], cov, size=groups)
    y = 1 + r[g, 0] + (0.5 + r[g, 1]) * x + rng.standard_normal(n)
    data = pd.DataFrame({"y": y, "x": x, "g": pd.Categorical(g)})
    formula, family = "y ~ x + (x | g)", "gaussian"
import multilevel as ml
import multilevel.bayes.fit  # noqa: F401  (JAX started before the clock)
floor = peak_mb()
start = time.perf_counter()
fit = ml.brm(formula, data, family=family, chains=chains, draws=draws, warmup=warmup, seed=1, refresh=0,
             **dtype_option)
seconds = time.perf_counter() - start
run = fit.run
table = fit.parameter_summary()
compile_s = float(run.settings.get("compile_seconds", 0.0))
loop = max(run.seconds_total - compile_s, 0.0)
setup = float(run.settings.get("setup_seconds", float("nan")))
out = {"seconds": seconds, "setup": setup, "compile": compile_s, "warmup": loop - run.seconds_sampling,
       "sampling": run.seconds_sampling, "post": seconds - run.seconds_total - (0.0 if setup != setup else setup),
       "min_bulk_ess": float(table["Bulk_ESS"].min()), "min_tail_ess": float(table["Tail_ESS"].min()),
       "max_rhat": float(table["Rhat"].max()), "tree_depth": float(np.mean(run.stats["treedepth__"])),
       "likelihood": str(run.settings.get("likelihood", "-")), "floor_mb": floor, "peak_mb": peak_mb(),
       "estimates": {k: round(float(v), 3) for k, v in table["Estimate"].items()}}
if with_loo:  # loo first: its peak is not the full log-likelihood array's
    start = time.perf_counter()
    fit.loo()
    out["loo_s"] = time.perf_counter() - start
    out["peak_mb_after_loo"] = peak_mb()
    start = time.perf_counter()
    ll = fit.log_likelihood()
    out["log_lik_s"] = time.perf_counter() - start
    out["log_lik_shape"] = list(ll.shape)
    del ll
print(json.dumps(out))
"""


def measure(kind: str, n: int, chains: int, draws: int, warmup: int, loo: bool, dtype: str = "float64") -> dict:
    args = [kind, n, chains, draws, warmup, int(loo), dtype]
    proc = subprocess.run([sys.executable, "-c", CHILD, *map(str, args)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"child failed (rc={proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(kind: str, args, r: dict) -> None:
    print(f"\nbrm {kind}, n={args.n:,}, {args.chains} chains x {args.draws} draws ({args.warmup} warm-up), "
          f"draws stored as {args.draws_dtype}")
    print(f"  likelihood: {r['likelihood']}")
    print(f"  wall time of brm    {r['seconds']:9.1f} s   (target {TARGET_SECONDS:.0f} s: "
          f"ratio {r['seconds'] / TARGET_SECONDS:.2f})")
    for label, key in [("design, pilot, model", "setup"), ("compilation", "compile"), ("warm-up", "warmup"),
                       ("sampling", "sampling"), ("post-processing", "post")]:
        print(f"    {label:18}{r[key]:9.1f} s")
    ess_s = r["min_bulk_ess"] / max(r["sampling"], 1e-9)
    print(f"  min bulk ESS        {r['min_bulk_ess']:9.0f}     ({ess_s:.0f} per second of sampling); "
          f"min tail ESS {r['min_tail_ess']:.0f}; max R-hat {r['max_rhat']:.3f}")
    print(f"  mean tree depth     {r['tree_depth']:9.2f}")
    print(f"  peak RSS            {r['peak_mb']:9.0f} MB  (after import {r['floor_mb']:.0f} MB; target "
          f"{TARGET_MB:.0f} MB: ratio {r['peak_mb'] / TARGET_MB:.2f})")
    if "log_lik_s" in r:
        print(f"  loo()               {r['loo_s']:9.1f} s   peak RSS then {r['peak_mb_after_loo']:.0f} MB")
        print(f"  log_likelihood()    {r['log_lik_s']:9.1f} s   shape {tuple(r['log_lik_shape'])}")
    print(f"  estimates: {r['estimates']}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--only", choices=("bernoulli", "gaussian"))
    parser.add_argument("--loo", action="store_true", help="also time loo() and log_likelihood()")
    parser.add_argument("--draws-dtype", default="float64", choices=("float64", "float32"),
                        help="brm's draws_dtype (float32: half the memory for the stored draws)")
    args = parser.parse_args(argv)
    for kind in ("bernoulli", "gaussian"):
        if args.only in (None, kind):
            report(kind, args, measure(kind, args.n, args.chains, args.draws, args.warmup, args.loo, args.draws_dtype))


if __name__ == "__main__":
    main()

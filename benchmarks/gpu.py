"""brm and ulam on a GPU: ESS per second there and on the CPU, side by side in one run (issue 12).

How to run (from the repository root, with the package installed; JAX with CUDA for the GPU column:
``pip install -U "jax[cuda12]"``)::

    python benchmarks/gpu.py                 # every model, on every platform JAX finds
    python benchmarks/gpu.py --quick         # 4 x 250 draws (250 warm-up), n = 2e4 for the large models
    python benchmarks/gpu.py --platforms gpu # the GPU only

Each (model, platform) pair runs in a fresh subprocess with ``JAX_PLATFORMS`` set, so the CPU
column is what a user without a GPU gets (chains in parallel over CPU devices) and the GPU column
what JAX picks when it has one: one accelerator holds the four chains, run vectorized (``jax.vmap``)
on it (``fit.run.settings["chain_method"]``). Models, 4 chains x 1000 draws after 1000 warm-up:

1. brm sleepstudy ``Reaction ~ Days + (Days | Subject)`` (180 rows; effects integrated out);
2. brm bernoulli ``y ~ 1 + urban + (1 + urban | district)`` on n generated rows (60 districts:
   120 patterns of equal linear predictors, see benchmarks/brm_scale.py);
3. brm poisson ``y ~ x + (1 | g)``, continuous x (every row distinct: n rows in the likelihood),
   1,000 groups, effects sampled;
4. ulam reedfrogs, partial pooling over 48 tanks.

Printed per cell: wall time of the call, compilation (JAX's own count), sampling (the
post-warm-up share of the loop), the smallest bulk ESS over the named parameters and ESS per
second of sampling, the largest R-hat, the chain method and device. The last column is the GPU
over the CPU in ESS/s. Nothing is asserted: a benchmark, not a test.

Measured
--------
2026-11-30 on a lent machine with one NVIDIA H200 and 16 CPU cores (jax 0.11.2 with CUDA 13,
numpyro 0.22.0, Python 3.12, the package at commit cd67913; cold JAX cache in each fresh process).
The slow test ``test_chains_run_vectorized_where_devices_are_fewer_than_chains`` passed there on the
GPU. ``--quick`` (4 x 250 + 250, n = 2e4), then the two large models at the defaults (4 x 1000 + 1000,
n = 1e5):

===========  ========  ======  =======  ========  =======  =====  =====  ==========  ===========
model        platform  wall s  compile  sampling  min ESS  ESS/s  R-hat  chains      gpu/cpu
===========  ========  ======  =======  ========  =======  =====  =====  ==========  ===========
sleepstudy   cpu         2.96     2.01      0.41      681   1649  1.015  parallel
sleepstudy   gpu        16.04     8.84      2.76      852    309  1.013  vectorized  0.19
bernoulli    cpu         3.76     1.78      0.26       80    308  1.060  parallel
bernoulli    gpu        14.71     7.29      2.58       52     20  1.079  vectorized  0.07
poisson      cpu        12.53     2.35      4.55      998    219  1.004  parallel
poisson      gpu        15.17     7.20      2.81     1175    419  1.005  vectorized  1.91
reedfrogs    cpu         3.68     2.20      0.33      773   2318  1.018  parallel
reedfrogs    gpu        14.75     8.95      1.48      773    523  1.018  vectorized  0.23
poisson 1e5  gpu        25.54    10.83      5.87     5610    955  1.002  vectorized
poisson 1e5  cpu        45.70     3.84     20.02     5515    275  1.001  parallel    3.47
bern. 1e5    gpu        16.65     6.74      3.88     6565   1691  1.001  vectorized
bern. 1e5    cpu         4.87     2.41      0.64     6016   9354  1.002  parallel    0.18
===========  ========  ======  =======  ========  =======  =====  =====  ==========  ===========

So the GPU pays where the likelihood is large and has no shortcut: poisson with a continuous x at
1e5 rows samples 3.5x faster per effective draw than 16 CPU cores. Small models, and the bernoulli
model, which brm reduces to 120 covariate patterns, are latency-bound: each leapfrog step is a few
kernel launches, and the GPU compile costs 7-11 s against 2-4 s on the CPU. On a machine with a GPU,
fit small models with ``JAX_PLATFORMS=cpu``. (The quick bernoulli's low ESS is its 250 draws; the
full run has R-hat 1.001-1.002.)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, sys, time, warnings
import numpy as np, pandas as pd
import multilevel as ml
import multilevel.bayes.fit, multilevel.rethinking.fit  # noqa: F401  (JAX started before the clock)
import jax

model, n, draws, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(1)
options = dict(chains=4, draws=draws, warmup=warmup, seed=1, refresh=0)
start = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    if model == "sleepstudy":
        fit = ml.brm("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"), **options)
    elif model == "bernoulli":
        district = rng.integers(0, 60, n)
        urban = (rng.random(n) < 0.3).astype(float)
        r = rng.multivariate_normal([0, 0], [[0.25, -0.18], [-0.18, 0.36]], size=60)
        eta = -0.7 + r[district, 0] + (0.7 + r[district, 1]) * urban
        data = pd.DataFrame({"y": (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int), "urban": urban,
                             "district": pd.Categorical(district)})
        start = time.perf_counter()
        fit = ml.brm("y ~ 1 + urban + (1 + urban | district)", data, family="bernoulli", **options)
    elif model == "poisson":
        g = rng.integers(0, 1000, n)
        x = rng.standard_normal(n)
        eta = 0.5 + 0.3 * x + 0.4 * rng.standard_normal(1000)[g]
        data = pd.DataFrame({"y": rng.poisson(np.exp(eta)), "x": x, "g": pd.Categorical(g)})
        start = time.perf_counter()
        fit = ml.brm("y ~ x + (1 | g)", data, family="poisson", **options)
    else:
        frogs = ml.datasets.load("reedfrogs")
        frogs["tank"] = np.arange(1, 49)
        fit = ml.ulam('''
            surv ~ dbinom(density, p)
            logit(p) <- a[tank]
            a[tank] ~ dnorm(a_bar, sigma)
            a_bar ~ dnorm(0, 1.5)
            sigma ~ dexp(1)''', frogs, **options)
seconds = time.perf_counter() - start
if model == "reedfrogs":
    table = ml.precis(fit, depth=2)
    ess, rhat = table["n_eff"], table["Rhat"]
else:
    table = fit.parameter_summary()
    ess, rhat = table["Bulk_ESS"], table["Rhat"]
s = fit.run.settings
device = jax.devices()[0]
print(json.dumps({"seconds": seconds, "compile": float(s.get("compile_seconds", 0.0)),
                  "sampling": fit.run.seconds_sampling, "min_ess": float(np.min(ess)), "max_rhat": float(np.max(rhat)),
                  "method": s["chain_method"], "backend": s["backend"],
                  "device": getattr(device, "device_kind", str(device))}))
"""

MODELS = ("sleepstudy", "bernoulli", "poisson", "reedfrogs")
PLATFORM_ENV = {"cpu": "cpu", "gpu": "cuda"}


def has_gpu() -> bool:
    """Whether JAX finds a CUDA device, asked in a subprocess (JAX's platform is fixed once it starts)."""
    probe = "import jax; print(len(jax.devices('gpu')))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    return proc.returncode == 0 and proc.stdout.strip() not in ("", "0")


def run_child(model: str, platform: str, n: int, draws: int, warmup: int) -> dict | None:
    env = dict(os.environ, JAX_PLATFORMS=PLATFORM_ENV[platform])
    proc = subprocess.run([sys.executable, "-c", CHILD, model, str(n), str(draws), str(warmup)], env=env,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        print(f"  {model} on {platform} failed (rc={proc.returncode}): {last}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platforms", nargs="+", choices=sorted(PLATFORM_ENV), default=None,
                        help="default: cpu, and gpu where JAX finds one")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--n", type=int, default=None, help="rows of the generated bernoulli and poisson data (default 1e5)")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="4 x 250 draws (250 warm-up), n = 2e4")
    args = parser.parse_args(argv)
    if args.quick:
        args.draws, args.warmup = 250, 250
    args.n = args.n or (20_000 if args.quick else 100_000)
    platforms = args.platforms or (["cpu", "gpu"] if has_gpu() else ["cpu"])
    if "gpu" not in platforms:
        print("JAX finds no GPU here (or --platforms left it out): the GPU column is '-'.")
    print(f"4 chains x {args.draws} draws ({args.warmup} warm-up); generated models on n = {args.n:,} rows")
    header = f"{'model':12}{'platform':>9}{'wall s':>9}{'compile':>9}{'sampling':>9}{'min ESS':>9}{'ESS/s':>9}" \
             f"{'R-hat':>7}  {'chains':12}{'device'}"
    print(header)
    for model in args.models:
        per_second = {}
        for platform in platforms:
            r = run_child(model, platform, args.n, args.draws, args.warmup)
            if r is None:
                continue
            per_second[platform] = r["min_ess"] / max(r["sampling"], 1e-9)
            print(f"{model:12}{platform:>9}{r['seconds']:9.2f}{r['compile']:9.2f}{r['sampling']:9.2f}"
                  f"{r['min_ess']:9.0f}{per_second[platform]:9.0f}{r['max_rhat']:7.3f}  {r['method']:12}{r['device']}")
        if "cpu" in per_second and "gpu" in per_second:
            print(f"{'':12}{'gpu/cpu':>9} ESS/s ratio {per_second['gpu'] / per_second['cpu']:.2f}")


if __name__ == "__main__":
    main()

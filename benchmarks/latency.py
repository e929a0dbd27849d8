"""Latency a user feels: the first Bayesian fit in a fresh ``python`` process, cold and warm cache.

How to run (from the repository root, with the package installed)::

    python benchmarks/latency.py               # best of 3 per cell
    python benchmarks/latency.py --repeats 1   # quicker

Models (4 chains x 1000 draws after 1000 warm-up, the defaults)
---------------------------------------------------------------
1. brm sleepstudy: ``ml.brm("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))``.
2. ulam reedfrogs (partial pooling): ``surv ~ dbinom(density, p); logit(p) <- a[tank];
   a[tank] ~ dnorm(a_bar, sigma); a_bar ~ dnorm(0, 1.5); sigma ~ dexp(1)``, tank = row 1..48.

What is measured
----------------
Each cell is a fresh subprocess, timed by this script from start to exit (interpreter start-up,
``import multilevel``, loading the data, the fit, the summary). The child reports its own split:
import (``import multilevel`` plus the engine, JAX included), fit (the ``brm``/``ulam`` call) and
the seconds JAX spent lowering and compiling (``fit.run.settings["compile_seconds"]``).

* cold: JAX's persistent compilation cache on (the default) in a new, empty folder: every
  program is compiled and written.
* warm: a second process on the same folder: the NUTS program is read back, not compiled.
* off: ``MULTILEVEL_JAX_CACHE=0`` (as before the cache existed).

Best of ``--repeats`` runs per cell (each cold run gets its own empty folder): the machine may
be shared, so the minimum is the least disturbed run. brms/rethinking: where ``Rscript`` with brms
is installed, ``Rscript -e 'library(brms); brm(...)'`` is timed the same way (whole process, Stan's
C++ compilation included) and the ratio brms / ours is printed; otherwise "-". Target (issue 12):
brm sleepstudy <= 4 s end to end and >= 10x brms.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, sys, time
start = time.perf_counter()
import multilevel as ml
import numpy as np
import multilevel.bayes.fit, multilevel.rethinking.fit  # noqa: F401  (the engine, as brm/ulam load it)
imported = time.perf_counter()
if sys.argv[1] == "brm":
    fit = ml.brm("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"), seed=1, refresh=0)
else:
    frogs = ml.datasets.load("reedfrogs")
    frogs["tank"] = np.arange(1, 49)
    fit = ml.ulam('''
        surv ~ dbinom(density, p)
        logit(p) <- a[tank]
        a[tank] ~ dnorm(a_bar, sigma)
        a_bar ~ dnorm(0, 1.5)
        sigma ~ dexp(1)
    ''', frogs, seed=1, refresh=0)
done = time.perf_counter()
print(json.dumps({"import": imported - start, "fit": done - imported,
                  "compile": fit.run.settings["compile_seconds"], "cache": fit.run.settings.get("compilation_cache")}))
"""

BRMS = """
suppressMessages(library(brms))
fit <- brm(Reaction ~ Days + (Days | Subject), data = lme4::sleepstudy, refresh = 0, seed = 1)
"""

MODELS = {"brm sleepstudy": "brm", "ulam reedfrogs": "ulam"}


def run_child(model: str, cache_home: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("JAX_COMPILATION_CACHE_DIR", "MULTILEVEL_JAX_CACHE")}
    if cache_home is None:
        env["MULTILEVEL_JAX_CACHE"] = "0"
    else:
        env["XDG_CACHE_HOME"] = env["LOCALAPPDATA"] = cache_home
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, model], env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{model} child failed (rc={proc.returncode}):\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]), wall=wall)


def brms_seconds() -> float | None:
    """Whole-process wall time of R fitting sleepstudy with brms, or None without R and brms."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    check = subprocess.run([rscript, "-e", "quit(status = !requireNamespace('brms', quietly = TRUE))"],
                           capture_output=True, check=False)
    if check.returncode != 0:
        return None
    start = time.perf_counter()
    proc = subprocess.run([rscript, "--vanilla", "-e", BRMS], capture_output=True, check=False)
    return time.perf_counter() - start if proc.returncode == 0 else None


def best(runs: list[dict]) -> dict:
    return min(runs, key=lambda r: r["wall"])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-r", action="store_true", help="skip brms")
    args = parser.parse_args(argv)
    brms = None if args.no_r else brms_seconds()
    print(f"fresh-process latency, best of {args.repeats} (seconds; wall = process start to exit)")
    print(f"{'model':16}{'cache':>7}{'wall':>8}{'import':>8}{'fit':>8}{'compile':>9}{'brms':>8}{'ratio':>8}")
    for label, model in MODELS.items():
        cells = {"cold": [], "warm": [], "off": []}
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory(prefix="multilevel-latency-") as home:
                cells["cold"].append(run_child(model, home))
                cells["warm"].append(run_child(model, home))
            cells["off"].append(run_child(model, None))
        for cache, runs in cells.items():
            r = best(runs)
            r_side = brms if model == "brm" else None  # rethinking's ulam needs cmdstan: not timed here
            ratio = f"{r_side / r['wall']:.1f}" if r_side else "-"
            side = f"{r_side:.1f}" if r_side else "-"
            print(f"{label:16}{cache:>7}{r['wall']:>8.2f}{r['import']:>8.2f}{r['fit']:>8.2f}{r['compile']:>9.2f}"
                  f"{side:>8}{ratio:>8}")


if __name__ == "__main__":
    main()

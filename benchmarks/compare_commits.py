"""Has a change slowed the existing lmer/glmer fits? Time them at a base commit and at the working
tree, side by side in one run (alternating, each fit in a fresh process, best of ``--reps``).

How to run (from the repository root)::

    python benchmarks/compare_commits.py --base 8d688f7            # every model, best of 3
    python benchmarks/compare_commits.py --base HEAD~5 --models sleepstudy,cbpp --reps 5

The base is checked out with ``git worktree`` into a temporary folder (removed afterwards) and run
with ``PYTHONPATH`` pointing at its ``src``; the working tree runs the same way. Printed per model:
the best wall time of the fit on each side (after import and data loading), the ratio now/base
(> 1 is slower), and |Δ -2 logLik| between the two (the fits should agree). Run it on an otherwise
idle machine; the ratio of two timings taken minutes apart on a busy one means little.

Measured (2026-11-30, the shared 2-core machine, idle but for this run; base 8d688f7, now the issue-14
work: contrasts, leverage, refit/update, devfun/control, glmer families, structured covariances),
best of 3, then best of 5 for the two that looked slower::

    model           base s  now s  now/base  |d -2logLik|
    sleepstudy       0.047  0.043      0.92      0.00e+00
    insteval         5.400  5.472      1.01      0.00e+00
    penicillin       0.050  0.054      1.07      0.00e+00
    cbpp             0.116  0.126      1.08      0.00e+00
    bangladesh       0.192  0.211      1.10      0.00e+00     best of 5: 0.185 -> 0.182 (0.98)
    grouseticks      1.253  1.049      0.84      0.00e+00
    poisson_slopes   3.805  4.172      1.10      0.00e+00     best of 5: 3.370 -> 3.351 (0.99)

A profile of poisson_slopes shows the same calls on both sides (193 PIRLS runs, 392 deviance
evaluations); the fits are bit-identical.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = {
    "sleepstudy": "ml.lmer('Reaction ~ Days + (Days | Subject)', ml.datasets.load('sleepstudy'))",
    "insteval": "ml.lmer('y ~ service + (1 | s) + (1 | d) + (1 | dept:service)', ml.datasets.load('insteval'))",
    "penicillin": "ml.lmer('diameter ~ 1 + (1 | plate) + (1 | sample)', ml.datasets.load('penicillin'))",
    "cbpp": "ml.glmer('cbind(incidence, size - incidence) ~ period + (1 | herd)', ml.datasets.load('cbpp'))",
    "bangladesh": "ml.glmer('use.contraception ~ urban + (1 + urban | district)', ml.datasets.load('bangladesh'))",
    "grouseticks": ("ml.glmer('TICKS ~ YEAR + cHEIGHT + (1|BROOD) + (1|INDEX) + (1|LOCATION)', "
                    "ml.datasets.load('grouseticks'), family='poisson')"),
    "poisson_slopes": "ml.glmer('y ~ x + (x | g)', poisson_slopes_data(), family='poisson')",
}
SNIPPET = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np, pandas as pd
import multilevel as ml

def poisson_slopes_data(levels=10_000, per=10, seed=1):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(levels), per)
    x = rng.normal(size=levels * per)
    u = rng.multivariate_normal([0, 0], [[0.25, 0.05], [0.05, 0.09]], size=levels)
    y = rng.poisson(np.exp(0.5 + 0.3 * x + u[g, 0] + u[g, 1] * x))
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})

start = time.perf_counter()
fit = eval(CALL)  # this script's own model text, not user input
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "m2loglik": -2 * float(fit.loglik)}))
"""


def run_one(src: Path, call: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run([sys.executable, "-c", SNIPPET.replace("CALL", repr(call))], capture_output=True, text=True,
                         env=env, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="the commit to compare with (e.g. 8d688f7)")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(base), args.base], check=True)
        try:
            for model in models:
                times = {"base": [], "now": []}
                losses = {}
                for _ in range(args.reps):  # alternate, so that a change in load hits both sides
                    for side, src in (("base", base / "src"), ("now", ROOT / "src")):
                        result = run_one(src, MODELS[model])
                        times[side].append(result["seconds"])
                        losses[side] = result["m2loglik"]
                best_base, best_now = min(times["base"]), min(times["now"])
                rows.append([model, f"{best_base:.3f}", f"{best_now:.3f}", f"{best_now / best_base:.2f}",
                             f"{abs(losses['now'] - losses['base']):.2e}"])
                print(f"{model}: base {times['base']} now {times['now']}", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
    print_table(["model", "base s", "now s", "now/base", "|d -2logLik|"], rows)


if __name__ == "__main__":
    main()

"""Fits on a busy machine: each model idle and next to a process spinning one core, thread policy on/off.

How to run (from the repository root, with the package installed, e.g. editable)::

    python benchmarks/contention.py              # ours (policy on and off) and lme4 if available
    python benchmarks/contention.py --no-r       # ours only
    python benchmarks/contention.py --rounds 2   # fewer rounds

What is measured
----------------
Three models, each timed best-of-N (wall clock of the fit, data already loaded; N = rounds x
1 InstEval, 3 crossed or 10 sleepstudy fits):

* InstEval, ML: ``y ~ service + (1|s) + (1|d) + (1|dept)`` (73,421 rows; the 1,128-level ``d``
  fills in densely);
* crossed: ``y ~ x + (1|a) + (1|b)``, REML, 10,000 rows with 100 x 200 levels generated here with
  a fixed seed (written to a temporary CSV for R);
* sleepstudy, REML: ``Reaction ~ Days + (Days | Subject)``.

Each is run *idle* and *busy*: busy means a subprocess running a pure-Python ``while True: pass``
(one core taken, no BLAS of its own) for the whole measurement. Ours runs with the thread policy of
:mod:`multilevel.threads` (``on``: ``MULTILEVEL_BLAS_THREADS`` unset) and without it (``off``:
OpenBLAS's default threads, one per core). lme4 runs through ``benchmarks/r/contention_bench.R`` in
the same idle and busy states. Configurations are interleaved round by round (idle then busy;
policy on then off fit by fit; lme4 after ours in each state), so that load from other jobs on a
shared machine falls on all of them alike. The table shows best-of-N seconds and the slowdown
busy / idle; the target for ours with the policy on is a slowdown under 1.3x.

This machine may be shared: "idle" is idle of *our* busy process only. Read the ratios, and rerun
when another job was running.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA_DIR, REPO, import_multilevel, key_values, print_table, run_rscript  # noqa: E402

R_SCRIPT = REPO / "benchmarks" / "r" / "contention_bench.R"
SPIN = "while True:\n    pass\n"
TARGET_SLOWDOWN = 1.3
MODELS = {  # name: (formula, reml)
    "insteval": ("y ~ service + (1|s) + (1|d) + (1|dept)", False),
    "crossed": ("y ~ x + (1|a) + (1|b)", True),
    "sleepstudy": ("Reaction ~ Days + (Days | Subject)", True),
}


def crossed_data(seed: int = 12, n: int = 10_000, levels_a: int = 100, levels_b: int = 200):
    """``y ~ x + (1|a) + (1|b)`` with crossed factors of 100 and 200 levels (fixed seed)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, levels_a, n), rng.integers(0, levels_b, n)
    x = rng.standard_normal(n)
    y = 1.0 + 0.5 * x + rng.normal(0, 0.8, levels_a)[a] + rng.normal(0, 0.5, levels_b)[b] + rng.standard_normal(n)
    return pd.DataFrame({"y": y, "x": x, "a": [f"a{i}" for i in a], "b": [f"b{i}" for i in b]})


class Busy:
    """A competing process spinning one core while the ``with`` block runs (or nothing when idle)."""

    def __init__(self, busy: bool):
        self.busy, self.process = busy, None

    def __enter__(self):
        if self.busy:
            self.process = subprocess.Popen([sys.executable, "-c", SPIN])
            time.sleep(0.5)  # let the scheduler see it
        return self

    def __exit__(self, *exc):
        if self.process is not None:
            self.process.kill()
            self.process.wait()


def fit_once(ml, name: str, data, policy: str) -> tuple[float, float, int]:
    """Seconds for one fit of model ``name`` with ``MULTILEVEL_BLAS_THREADS`` = ``policy``, its
    criterion and the BLAS threads it recorded."""
    formula, reml = MODELS[name]
    saved = os.environ.get("MULTILEVEL_BLAS_THREADS")
    os.environ["MULTILEVEL_BLAS_THREADS"] = policy
    try:
        t0 = time.perf_counter()
        fit = ml.lmer(formula, data, reml=reml)
        seconds = time.perf_counter() - t0
    finally:
        if saved is None:
            os.environ.pop("MULTILEVEL_BLAS_THREADS", None)
        else:
            os.environ["MULTILEVEL_BLAS_THREADS"] = saved
    return seconds, float(fit.reml_criterion if reml else fit.deviance), fit.optimizer.settings["blas_threads"]


def time_lme4(crossed_csv: Path, batch: dict) -> dict | None:
    """lme4's best seconds and criterion per model for one batch of fits (one R process)."""
    levels = json.loads((DATA_DIR / "factor_levels_r.json").read_text())
    dept_levels = ",".join(levels["insteval"]["dept"]["levels"])
    text = run_rscript(R_SCRIPT, [DATA_DIR, dept_levels, crossed_csv, batch["insteval"], batch["crossed"],
                                  batch["sleepstudy"]], "lme4", timeout=1800)
    if text is None:
        return None
    values = key_values(text)
    return {name: (min(values[name]), values[f"{name}_criterion"][0]) for name in MODELS}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds; each runs every configuration once, interleaved (default 3)")
    parser.add_argument("--no-r", action="store_true", help="skip lme4")
    args = parser.parse_args(argv)
    batch = {"insteval": 1, "crossed": 3, "sleepstudy": 10}  # fits per configuration and round

    ml = import_multilevel()
    import numpy as np
    from threadpoolctl import threadpool_info

    data = {"insteval": ml.datasets.load("insteval"), "crossed": crossed_data(),
            "sleepstudy": ml.datasets.load("sleepstudy")}
    blas = [(info["internal_api"], info["num_threads"]) for info in threadpool_info() if info["user_api"] == "blas"]
    print(f"multilevel {ml.__version__}, numpy {np.__version__}, {os.cpu_count()} CPUs, BLAS {blas}; "
          f"{args.rounds} rounds of {batch} fits per configuration, interleaved so that load from "
          f"other jobs falls on every configuration alike; best of all")
    for name in MODELS:  # warm-up: imports, BLAS thread start
        fit_once(ml, name, data[name], "auto")

    ours: dict = {}  # (policy, state) -> name -> [(seconds, criterion, threads)]
    lme4: dict = {}  # state -> name -> [(seconds, criterion)]
    with tempfile.TemporaryDirectory() as folder:
        crossed_csv = Path(folder) / "crossed.csv"
        data["crossed"].to_csv(crossed_csv, index=False)
        for round_ in range(args.rounds):
            print(f"  round {round_ + 1} of {args.rounds} ...", flush=True)
            for state in ("idle", "busy"):
                with Busy(state == "busy"):
                    for name in MODELS:
                        for _ in range(batch[name]):
                            for policy in ("auto", "off"):
                                ours.setdefault((policy, state), {}).setdefault(name, []).append(
                                    fit_once(ml, name, data[name], policy))
                    if not args.no_r:
                        r = time_lme4(crossed_csv, batch)
                        for name in MODELS if r is not None else ():
                            lme4.setdefault(state, {}).setdefault(name, []).append(r[name])

    def best(runs):
        return None if not runs else min(runs, key=lambda run: run[0])

    ours = {key: {name: best(runs) for name, runs in by_name.items()} for key, by_name in ours.items()}
    lme4 = {state: {name: best(runs) for name, runs in by_name.items()} for state, by_name in lme4.items()}

    def cells(result_idle, result_busy):
        if result_idle is None or result_busy is None:
            return ["-", "-", "-"]
        ratio = result_busy[0] / result_idle[0]
        return [f"{result_idle[0]:.3f}", f"{result_busy[0]:.3f}", f"{ratio:.2f}x"]

    rows = []
    for name in MODELS:
        r_idle = (lme4.get("idle") or {}).get(name)
        r_busy = (lme4.get("busy") or {}).get(name)
        rows.append([name, *cells(ours["auto", "idle"][name], ours["auto", "busy"][name]),
                     *cells(ours["off", "idle"][name], ours["off", "busy"][name]), *cells(r_idle, r_busy),
                     "-" if r_busy is None else f"{r_busy[0] / ours['auto', 'busy'][name][0]:.1f}x"])
    print_table(["model (seconds)", "on idle", "on busy", "on slowdown", "off idle", "off busy", "off slowdown",
                 "lme4 idle", "lme4 busy", "lme4 slowdown", "busy: lme4/on"], rows)
    print(f"\n'on': thread policy (multilevel.threads); 'off': MULTILEVEL_BLAS_THREADS=off (BLAS default threads).\n"
          f"Target: slowdown (busy / idle) under {TARGET_SLOWDOWN}x with the policy on.")
    for name in MODELS:
        on, off = ours["auto", "idle"][name], ours["off", "idle"][name]
        r = (lme4.get("idle") or {}).get(name)
        agree = "" if r is None else f", lme4 {r[1]:.6f} (rel diff {abs(on[1] - r[1]) / abs(r[1]):.1e})"
        print(f"  {name}: criterion on {on[1]:.10f} ({on[2]} thread(s)), off {off[1]:.10f} ({off[2]} thread(s)), "
              f"|on - off| = {abs(on[1] - off[1]):.1e}{agree}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Large crossed models side by side with lme4: time and peak memory, idle and next to a busy process.

    python benchmarks/scale.py                 # 1e6 rows, 20,000 x 2,000 crossed levels
    python benchmarks/scale.py --huge          # also 1e7 rows, 100,000 x 5,000 levels (ours only)
    python benchmarks/scale.py --rows 2e5      # a smaller first case, for a quick look
    python benchmarks/scale.py --others        # then the other issue-12 benchmarks, one after another

Each fit runs in a fresh child process that reads the generated CSV file (ours with pandas, lme4 with
read.csv), so both peak resident sizes include reading the data and nothing of this script; the
peak is the child's ``ru_maxrss``. ``y ~ x + (1|a) + (1|b)`` by ML; a and b are drawn uniformly, so
at 1e6 rows each level of ``a`` meets ~50 levels of ``b`` and the ``b`` block fills in densely.

Targets (issue 12): at 1e6 rows 2,000 x 20,000 levels, peak memory <= lme4's and >= 5x lme4's
speed; at 1e7 rows with 5,000 x 100,000 levels, under 8 GB and 15 minutes; a busy process slows a
fit by less than 1.3x. ``--others`` runs benchmarks/contention.py (thread policy), glmer_vs_lme4.py,
brm_scale.py (Bayesian memory and bernoulli speed), latency.py, out_of_core.py (Dask) and gpu.py
(ESS/s on the CPU and on a GPU where JAX has one), whichever exist, each printing its own ratios.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, SRC, fmt, key_values, print_table
from contention import Busy

R_SCRIPT = REPO / "benchmarks" / "r" / "scale_bench.R"
FORMULA = "y ~ x + (1|a) + (1|b)"
OTHERS = ["contention.py", "glmer_vs_lme4.py", "brm_scale.py", "latency.py", "out_of_core.py", "gpu.py"]

# The child that fits one data set with multilevel and reports what the parent tabulates.
OURS = f"""
import sys, time
sys.path.insert(0, {str(SRC)!r})
import pandas as pd
import multilevel as ml
data = pd.read_csv(sys.argv[1])
t0 = time.perf_counter()
fit = ml.lmer({FORMULA!r}, data, reml=False, progress=False)
print("seconds", time.perf_counter() - t0)
print("criterion", fit.deviance)
print("evaluations", fit.optimizer.n_evaluations)
print("fill_in", fit.optimizer.settings.get("fill_in", "-"))
print("blas_threads", fit.optimizer.settings.get("blas_threads", "-"))
"""

# Runs a command and reports its peak resident size (Linux: kilobytes) on stderr.
PEAK = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
        "print('peak_kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
        "sys.exit(r.returncode)")


def write_data(path: Path, rows: int, levels_a: int, levels_b: int, seed: int = 7) -> None:
    """The crossed data set, written in chunks (a 1e7-row file never exists as one frame here)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    effect_a, effect_b = rng.normal(0, 0.8, levels_a), rng.normal(0, 0.5, levels_b)
    chunk = 1_000_000
    with open(path, "w") as out:
        for start in range(0, rows, chunk):
            size = min(chunk, rows - start)
            a, b = rng.integers(0, levels_a, size), rng.integers(0, levels_b, size)
            x = rng.standard_normal(size)
            y = 1.0 + 0.5 * x + effect_a[a] + effect_b[b] + rng.standard_normal(size)
            pd.DataFrame({"y": y, "x": x, "a": a, "b": b}).to_csv(out, index=False, header=start == 0)


def run_child(command: list[str], timeout: float) -> dict | None:
    """Run a fit in a child process: its key/value lines plus ``peak_mb``; None when it fails."""
    try:
        proc = subprocess.run([sys.executable, "-c", PEAK, *command], capture_output=True, text=True,
                              timeout=timeout, cwd=str(REPO))
    except subprocess.TimeoutExpired:
        print(f"  timed out after {timeout:.0f} s: {' '.join(command[:3])} ...")
        return None
    if proc.returncode == 3:
        print(f"  {proc.stderr.strip().splitlines()[0]}: skipped")
        return None
    if proc.returncode != 0:
        print(f"  failed (rc={proc.returncode}):\n{proc.stderr[-2000:]}")
        return None
    values = {key: value[0] for key, value in key_values(proc.stdout, text_keys=("fill_in",)).items()}
    peak = key_values(proc.stderr).get("peak_kb")
    values["peak_mb"] = peak[-1] / 1024 if peak else None
    return values


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=float, default=1e6, help="rows of the first case (default 1e6)")
    parser.add_argument("--huge", action="store_true", help="also 1e7 rows with 100,000 x 5,000 levels")
    parser.add_argument("--no-r", action="store_true", help="skip lme4")
    parser.add_argument("--no-busy", action="store_true", help="skip the runs next to a busy process")
    parser.add_argument("--r-busy", action="store_true",
                        help="run lme4 next to the busy process too (another ~10 minutes at 1e6 rows)")
    parser.add_argument("--others", action="store_true", help="then run the other issue-12 benchmarks")
    args = parser.parse_args(argv)
    cases = [(f"{args.rows:.0e} rows, 20,000 x 2,000", int(args.rows), 20_000, 2_000, True)]
    if args.huge:
        cases.append(("1e+07 rows, 100,000 x 5,000", 10_000_000, 100_000, 5_000, False))
    has_r = not args.no_r and subprocess.run(["which", "Rscript"], capture_output=True).returncode == 0
    print(f"{os.cpu_count()} CPUs; {FORMULA} by ML; each fit in a fresh process reading a CSV file")

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for label, n, levels_a, levels_b, with_r in cases:
            path = Path(folder) / f"crossed_{n}.csv"
            t0 = time.perf_counter()
            write_data(path, n, levels_a, levels_b)
            print(f"\n{label}: data written in {time.perf_counter() - t0:.0f} s", flush=True)
            result = {}
            for state in ("idle",) if args.no_busy else ("idle", "busy"):
                with Busy(state == "busy"):
                    print(f"  ours, {state} ...", flush=True)
                    result["ours", state] = run_child([sys.executable, "-c", OURS, str(path)], timeout=1800)
                    if has_r and with_r and (state == "idle" or args.r_busy):
                        print(f"  lme4, {state} ...", flush=True)
                        result["lme4", state] = run_child(
                            ["Rscript", "--vanilla", str(R_SCRIPT), str(path), FORMULA, "FALSE"], timeout=3600)
            rows.append(_row(label, result))
            _report(label, result)
    print_table(["case", "ours s", "ours busy s", "slowdown", "lme4 s", "lme4 busy s", "lme4/ours",
                 "ours MB", "lme4 MB", "MB ours/lme4"], rows)
    print("\nTargets: 1e6 rows: lme4/ours >= 5 and MB ours/lme4 <= 1; 1e7 rows: < 900 s and < 8192 MB;"
          " slowdown < 1.3x.")
    if args.others:
        for script in OTHERS:
            path = REPO / "benchmarks" / script
            if path.exists():
                print(f"\n===== benchmarks/{script} =====", flush=True)
                subprocess.run([sys.executable, str(path)], cwd=str(REPO))
    return 0


def _row(label: str, result: dict) -> list:
    def get(who, state, key):
        values = result.get((who, state))
        return None if values is None else values.get(key)

    ours, ours_busy = get("ours", "idle", "seconds"), get("ours", "busy", "seconds")
    lme4, lme4_busy = get("lme4", "idle", "seconds"), get("lme4", "busy", "seconds")
    ours_mb, lme4_mb = get("ours", "idle", "peak_mb"), get("lme4", "idle", "peak_mb")
    return [label, fmt(ours, ".1f"), fmt(ours_busy, ".1f"),
            "-" if not (ours and ours_busy) else f"{ours_busy / ours:.2f}x",
            fmt(lme4, ".1f"), fmt(lme4_busy, ".1f"), "-" if not (ours and lme4) else f"{lme4 / ours:.1f}x",
            fmt(ours_mb, ".0f"), fmt(lme4_mb, ".0f"),
            "-" if not (ours_mb and lme4_mb) else f"{ours_mb / lme4_mb:.2f}"]


def _report(label: str, result: dict) -> None:
    ours, lme4 = result.get(("ours", "idle")), result.get(("lme4", "idle"))
    if ours:
        print(f"  ours: deviance {ours['criterion']:.6f}, {ours['evaluations']:.0f} evaluations, "
              f"fill-in {ours['fill_in']}, BLAS threads {ours['blas_threads']}")
    if ours and lme4:
        diff = abs(ours["criterion"] - lme4["criterion"]) / abs(lme4["criterion"])
        print(f"  lme4: deviance {lme4['criterion']:.6f} (relative difference {diff:.1e})")


if __name__ == "__main__":
    sys.exit(main())

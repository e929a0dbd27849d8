"""Benchmark ``multilevel.lmer`` against R's lme4, side by side, in one run.

How to run (from the repository root, with the package installed, e.g. editable)::

    python benchmarks/lmer_vs_lme4.py            # full run (ours + lme4 if available)
    python benchmarks/lmer_vs_lme4.py --quick    # ours only, 1 repetition

What is measured
----------------
1. InstEval, ML: ``y ~ service + (1|s) + (1|d) + (1|dept)``, ``reml=False``.
   Wall-clock time of ``ml.lmer`` after import and data loading; best of
   ``--reps`` (default 3) runs, all runs printed.  lme4's
   ``lmer(..., REML=FALSE)`` is timed inside R with ``system.time`` (so R
   start-up and loading lme4 are excluded), also best of ``--reps``.
   Target: lme4 time / our time >= 5.
2. sleepstudy, REML: ``Reaction ~ Days + (Days | Subject)``; median ms per fit
   over ``--sleep-fits`` (default 50) fits after one warm-up fit, for ours and
   for lme4 (timed inside R).  Target: ours < 10 ms.
3. Peak memory of our InstEval fit: the fit runs in a fresh subprocess
   (``python -c ...``); ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` is
   reported after imports + data loading (baseline) and after the fit (peak).
   Target: peak < 1.5 GB (1536 MiB; "MB" below means 2**20 bytes).
4. Agreement: relative difference of our ML deviance vs lme4's (same run).
   Target: |rel diff| < 1e-6.

lme4's side lives in ``benchmarks/r/lmer_bench.R`` and reads the bundled CSVs
(``src/multilevel/datasets/data``), with ``s``, ``d``, ``dept``, ``service``
converted by ``factor()`` and ``dept`` levels in the order of
``factor_levels_r.json``.  R is optional: if ``Rscript`` or lme4 is missing (or
``--quick``/``--no-r`` is given) only our numbers are printed and the lme4
columns show "-".

The environment's BLAS settings (e.g. ``OPENBLAS_CORETYPE``) are used as they
are, in this process, in the memory subprocess and in R.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA_DIR, REPO, SRC, fmt, import_multilevel, key_values, print_table, run_rscript  # noqa: E402,F401

R_SCRIPT = REPO / "benchmarks" / "r" / "lmer_bench.R"

INSTEVAL_FORMULA = "y ~ service + (1|s) + (1|d) + (1|dept)"
SLEEP_FORMULA = "Reaction ~ Days + (Days | Subject)"

TARGET_RATIO = 5.0
TARGET_SLEEP_MS = 10.0
TARGET_PEAK_MB = 1536.0
TARGET_REL_DEV = 1e-6



def _maxrss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


# Code run in a fresh interpreter for the memory measurement.
_MEMORY_CODE = r"""
import json, resource, sys, time
def maxrss():
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 2**20 if sys.platform == "darwin" else r / 1024
def current_rss():
    try:
        with open("/proc/self/statm") as fh:
            import os
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")
try:
    import multilevel as ml
except ImportError:
    sys.path.insert(0, SRC)
    import multilevel as ml
data = ml.datasets.load("insteval")
base_peak, base_cur = maxrss(), current_rss()
t0 = time.perf_counter()
fit = ml.lmer(FORMULA, data, reml=False)
secs = time.perf_counter() - t0
def vmhwm():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")
print(json.dumps({"peak_vmhwm_mb": vmhwm(), "baseline_maxrss_mb": base_peak, "baseline_rss_mb": base_cur,
                  "peak_maxrss_mb": maxrss(), "seconds": secs, "deviance": float(fit.deviance)}))
"""


def run_memory_subprocess(timeout: float = 600.0) -> dict | None:
    code = f"SRC = {str(SRC)!r}\nFORMULA = {INSTEVAL_FORMULA!r}\n" + _MEMORY_CODE
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=timeout, cwd=str(REPO))
    except subprocess.TimeoutExpired:
        print("  memory subprocess timed out", file=sys.stderr)
        return None
    if proc.returncode != 0:
        print(f"  memory subprocess failed (rc={proc.returncode}):\n{proc.stderr[-2000:]}",
              file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_lme4(reps: int, sleep_fits: int, timeout: float = 1800.0) -> dict | None:
    """Run the R side; return parsed results, or None (with a note) if unavailable."""
    levels = json.loads((DATA_DIR / "factor_levels_r.json").read_text())
    dept_levels = ",".join(levels["insteval"]["dept"]["levels"])
    out = run_rscript(R_SCRIPT, [DATA_DIR, dept_levels, reps, sleep_fits], "lme4", timeout)
    return None if out is None else key_values(out)



def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="skip lme4 and use 1 repetition (and 10 sleepstudy fits)")
    ap.add_argument("--no-r", action="store_true", help="skip lme4")
    ap.add_argument("--reps", type=int, default=None, help="InstEval repetitions (default 3)")
    ap.add_argument("--sleep-fits", type=int, default=None,
                    help="timed sleepstudy fits (default 50)")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory subprocess")
    args = ap.parse_args(argv)
    reps = args.reps or (1 if args.quick else 3)
    sleep_fits = args.sleep_fits or (10 if args.quick else 50)
    use_r = not (args.quick or args.no_r)

    # ---------------------------------------------------------------- 3. memory
    # Run first, while this process is still small: on Linux a child's ru_maxrss
    # starts from the RSS of the process that forked it (the high-water mark is
    # carried over fork/vfork + exec), so a parent that already holds a fitted
    # InstEval model would inflate the child's numbers.  VmHWM (per address
    # space, reset by exec) is printed as a cross-check where /proc exists.
    mem = None
    if not args.no_memory:
        print("[3] Peak memory of the InstEval ML fit (fresh subprocess)")
        mem = run_memory_subprocess()
        if mem is not None:
            print(f"  baseline after imports + data: maxrss {mem['baseline_maxrss_mb']:.1f} MB "
                  f"(current RSS {mem['baseline_rss_mb']:.1f} MB)")
            print(f"  peak after fit: maxrss {mem['peak_maxrss_mb']:.1f} MB "
                  f"(+{mem['peak_maxrss_mb'] - mem['baseline_maxrss_mb']:.1f} MB over baseline; "
                  f"VmHWM {mem['peak_vmhwm_mb']:.1f} MB; fit took {mem['seconds']:.3f} s)")

    ml = import_multilevel()
    import numpy as np

    print(f"\nmultilevel {ml.__version__}, Python {platform.python_version()}, "
          f"numpy {np.__version__}, {platform.machine()}, {os.cpu_count()} CPUs, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")

    # ---------------------------------------------------------------- 1. InstEval, ML
    print(f"[1] InstEval ML  {INSTEVAL_FORMULA}  ({reps} run(s))")
    insteval = ml.datasets.load("insteval")
    times = []
    fit = None
    for i in range(reps):
        t0 = time.perf_counter()
        fit = ml.lmer(INSTEVAL_FORMULA, insteval, reml=False)
        times.append(time.perf_counter() - t0)
        print(f"  ours run {i + 1}: {times[-1]:.3f} s")
    ours_inst = min(times)
    ours_dev = float(fit.deviance)
    print(f"  ours: best {ours_inst:.3f} s, deviance {ours_dev:.6f}, converged={fit.converged}, "
          f"theta={np.round(fit.theta, 6).tolist()}")
    del fit

    # ---------------------------------------------------------------- 2. sleepstudy, REML
    print(f"\n[2] sleepstudy REML  {SLEEP_FORMULA}  ({sleep_fits} fits after warm-up)")
    sleep = ml.datasets.load("sleepstudy")
    sfit = ml.lmer(SLEEP_FORMULA, sleep)  # warm-up
    st = []
    for _ in range(sleep_fits):
        t0 = time.perf_counter()
        sfit = ml.lmer(SLEEP_FORMULA, sleep)
        st.append(time.perf_counter() - t0)
    ours_sleep_ms = statistics.median(st) * 1e3
    print(f"  ours: median {ours_sleep_ms:.2f} ms (min {min(st) * 1e3:.2f}, "
          f"max {max(st) * 1e3:.2f}), REML criterion {sfit.reml_criterion:.6f}")

    # ---------------------------------------------------------------- lme4
    r = None
    if use_r:
        print(f"\n[lme4] Rscript {R_SCRIPT.relative_to(REPO)} "
              f"({reps} InstEval run(s), {sleep_fits} sleepstudy fits)")
        r = run_lme4(reps, sleep_fits)
    r_inst = r_dev = r_sleep_ms = None
    if r is not None:
        try:
            print(f"  R {r['r_version'][0]}, lme4 {r['lme4_version'][0]}")
            for i, t in enumerate(r["insteval_seconds"]):
                print(f"  lme4 run {i + 1}: {t:.3f} s")
            r_inst = min(r["insteval_seconds"])
            r_dev = r["insteval_deviance"][0]
            print(f"  lme4: best {r_inst:.3f} s, deviance {r_dev:.6f}, "
                  f"theta={[round(t, 6) for t in r['insteval_theta']]}")
            r_sleep_ms = statistics.median(r["sleepstudy_seconds"]) * 1e3
            print(f"  lme4 sleepstudy: median {r_sleep_ms:.2f} ms, "
                  f"REML criterion {r['sleepstudy_reml'][0]:.6f}")
        except (KeyError, IndexError) as exc:
            print(f"  could not parse lme4 output ({exc!r}): ignoring lme4.")
            r_inst = r_dev = r_sleep_ms = None

    # ---------------------------------------------------------------- table
    rows = []

    def verdict(ok):
        return "-" if ok is None else ("PASS" if ok else "FAIL")

    ratio = None if r_inst is None else r_inst / ours_inst
    rows.append(["InstEval ML fit, best (s)", fmt(ours_inst, ".3f"), fmt(r_inst, ".3f"),
                 fmt(ratio, ".2f"), f"ratio >= {TARGET_RATIO:g}",
                 verdict(None if ratio is None else ratio >= TARGET_RATIO)])
    sratio = None if r_sleep_ms is None else r_sleep_ms / ours_sleep_ms
    rows.append(["sleepstudy REML, median (ms)", fmt(ours_sleep_ms, ".2f"), fmt(r_sleep_ms, ".2f"),
                 fmt(sratio, ".2f"), f"ours < {TARGET_SLEEP_MS:g} ms",
                 verdict(ours_sleep_ms < TARGET_SLEEP_MS)])
    if mem is not None:
        peak = mem["peak_maxrss_mb"]
        rows.append(["InstEval peak RSS (MB)", f"{peak:.1f}", "-", "-",
                     f"< {TARGET_PEAK_MB:g} MB", verdict(peak < TARGET_PEAK_MB)])
        rows.append(["  baseline RSS after load (MB)", f"{mem['baseline_maxrss_mb']:.1f}", "-",
                     "-", "-", "-"])
    else:
        rows.append(["InstEval peak RSS (MB)", "-", "-", "-", f"< {TARGET_PEAK_MB:g} MB", "-"])
    rel = None if r_dev is None else (ours_dev - r_dev) / abs(r_dev)
    rows.append(["InstEval ML deviance", f"{ours_dev:.4f}", fmt(r_dev, ".4f"),
                 "-" if rel is None else f"rel {rel:+.2e}", f"|rel| < {TARGET_REL_DEV:g}",
                 verdict(None if rel is None else abs(rel) < TARGET_REL_DEV)])

    header = ["metric", "ours", "lme4", "lme4/ours", "target", "result"]
    print_table(header, rows)
    if r is None:
        print("(lme4 not run: ratio and agreement not checked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

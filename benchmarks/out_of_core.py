"""lmer on a parquet data set larger than one process should hold, through Dask (issue 12).

How to run (from the repository root, with ``pip install -e '.[parquet,cluster]'``)::

    python benchmarks/out_of_core.py                    # 5e7 rows, y ~ x + (1 | g) + (1 | h)
    python benchmarks/out_of_core.py --rows 1e7         # quicker
    python benchmarks/out_of_core.py --rows 5e7 --setup-only   # write the data, read its layout, no fit
    python benchmarks/out_of_core.py --glmer            # glmer: 2e6 rows, binomial y ~ x + (1 | g)

With ``--glmer`` the data are a 0/1 response, P(y = 1) = logit^-1(-0.5 + 0.8 x + effect of g (sd 1)),
in files of 2.5e5 rows by default, and the fit is ``ml.glmer(..., family="binomial")``: each PIRLS
step is one map-reduce over the partitions, so "passes" counts them all.

The data are written under ``--dir`` (default /tmp/multilevel_out_of_core) in files of ``--chunk`` rows
(one Dask partition each), generated chunk by chunk with fixed seeds: g has ``--g-levels`` levels
(intercept sd 1, slope sd 0.3 when the formula has ``(x | g)``), h ``--h-levels`` (sd 0.5), x ~ N(0, 1),
y = 1 + 0.5 x + effects + N(0, 1). Free disk space is checked first. The fit runs on a
``LocalCluster`` of ``--workers`` worker processes with one thread each; printed: the time to write,
the fit's wall time and passes over the data, each worker's peak resident memory
(``resource.getrusage`` in the worker: the peak of its whole life, import included) and this
process's (the client, where the reduced blocks are factorized).
"""
from __future__ import annotations

import argparse
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from _common import import_multilevel

BYTES_PER_ROW = 24  # y, x float64 and g, h int32 before compression: a generous bound on disk


def peak_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024**2 if sys.platform == "darwin" else rss / 1024


def write_data(directory: Path, rows: int, chunk: int, g_levels: int, h_levels: int, slope: bool) -> int:
    """Chunk files part-00000.parquet, ...; returns the number of files."""
    rng = np.random.default_rng(12)
    effect_g, slope_g = rng.standard_normal(g_levels), 0.3 * rng.standard_normal(g_levels)
    effect_h = 0.5 * rng.standard_normal(h_levels)
    directory.mkdir(parents=True, exist_ok=True)
    files = 0
    for start in range(0, rows, chunk):
        m = min(chunk, rows - start)
        r = np.random.default_rng([12, start])
        g = r.integers(0, g_levels, m).astype(np.int32)
        h = r.integers(0, h_levels, m).astype(np.int32)
        x = r.standard_normal(m)
        y = 1 + (0.5 + (slope_g[g] if slope else 0.0)) * x + effect_g[g] + effect_h[h] + r.standard_normal(m)
        pd.DataFrame({"y": y, "x": x, "g": g, "h": h}).to_parquet(directory / f"part-{files:05d}.parquet", index=False)
        files += 1
    return files


def write_binomial_data(directory: Path, rows: int, chunk: int, g_levels: int) -> int:
    """--glmer: chunk files of y (0/1), x, g; returns the number of files."""
    effect_g = np.random.default_rng(13).standard_normal(g_levels)
    directory.mkdir(parents=True, exist_ok=True)
    files = 0
    for start in range(0, rows, chunk):
        m = min(chunk, rows - start)
        r = np.random.default_rng([13, start])
        g = r.integers(0, g_levels, m).astype(np.int32)
        x = r.standard_normal(m)
        y = (r.random(m) < 1 / (1 + np.exp(-(-0.5 + 0.8 * x + effect_g[g])))).astype(np.float64)
        pd.DataFrame({"y": y, "x": x, "g": g}).to_parquet(directory / f"part-{files:05d}.parquet", index=False)
        files += 1
    return files


def worker_peak_mb() -> float:
    import resource
    import sys

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024**2 if sys.platform == "darwin" else rss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--glmer", action="store_true", help="a binomial glmer instead of lmer")
    parser.add_argument("--rows", type=float, default=None, help="default 5e7 (lmer), 2e6 (--glmer)")
    parser.add_argument("--chunk", type=float, default=None, help="rows per file (= per partition); "
                        "default 1e6 (lmer), 2.5e5 (--glmer)")
    parser.add_argument("--formula", default=None, help="default y ~ x + (1 | g) + (1 | h) (lmer), y ~ x + (1 | g) (--glmer)")
    parser.add_argument("--nagq", type=int, default=1, help="--glmer: 0 or 1 (Laplace)")
    parser.add_argument("--g-levels", type=int, default=None, help="default 10000 (lmer), 1000 (--glmer)")
    parser.add_argument("--h-levels", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dir", default="/tmp/multilevel_out_of_core")
    parser.add_argument("--setup-only", action="store_true", help="write the data and read its layout; no fit")
    parser.add_argument("--keep", action="store_true", help="keep the data directory afterwards")
    args = parser.parse_args()
    defaults = ({"rows": 2e6, "chunk": 2.5e5, "formula": "y ~ x + (1 | g)", "g_levels": 1000} if args.glmer else
                {"rows": 5e7, "chunk": 1e6, "formula": "y ~ x + (1 | g) + (1 | h)", "g_levels": 10_000})
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    rows, chunk = int(args.rows), int(args.chunk)
    kind = "binomial_" if args.glmer else ""
    directory = Path(args.dir) / f"{kind}rows{rows}_g{args.g_levels}_h{args.h_levels}"

    free = shutil.disk_usage(Path(args.dir).parent if not Path(args.dir).exists() else args.dir).free
    need = rows * BYTES_PER_ROW
    print(f"rows {rows:,}, {-(-rows // chunk)} files of {chunk:,} rows; free disk {free / 1e9:.1f} GB, "
          f"need at most {need / 1e9:.1f} GB")
    if not directory.exists() and need > 0.8 * free:
        sys.exit("not enough free disk space: choose fewer --rows or another --dir")

    ml = import_multilevel()
    import dask.dataframe as dd
    import distributed

    if directory.exists():
        print(f"data: reusing {directory}")
    else:
        start = time.perf_counter()
        if args.glmer:
            files = write_binomial_data(directory, rows, chunk, args.g_levels)
        else:
            files = write_data(directory, rows, chunk, args.g_levels, args.h_levels, "x|" in args.formula.replace(" ", ""))
        print(f"data: wrote {files} files in {time.perf_counter() - start:.1f} s "
              f"({sum(f.stat().st_size for f in directory.iterdir()) / 1e9:.2f} GB)")
    frame = dd.read_parquet(str(directory))
    print(f"dask: {frame.npartitions} partitions, columns {list(frame.columns)}")
    if args.setup_only:
        return

    with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None, memory_limit=0) as cluster, \
            distributed.Client(cluster) as client:
        client.run(lambda: __import__("multilevel"))  # import in the workers before the clock starts
        before = client.run(worker_peak_mb)
        start = time.perf_counter()
        if args.glmer:
            fit = ml.glmer(args.formula, str(directory), family="binomial", nagq=args.nagq, client=client)
        else:
            fit = ml.lmer(args.formula, str(directory), client=client)
        elapsed = time.perf_counter() - start
        peaks = client.run(worker_peak_mb)
    settings = fit.optimizer.settings["out_of_core"]
    print(f"fit: {elapsed:.1f} s wall, {settings['passes']} passes over {settings['partitions']} partitions, "
          f"{fit.optimizer.n_evaluations} objective evaluations")
    for address, peak in peaks.items():  # a worker restarted by the nanny has a new address, no "before"
        floor = f"{before[address]:.0f} MB" if address in before else "- (restarted during the fit)"
        print(f"  worker {address}: peak RSS {peak:.0f} MB (after import {floor})")
    print(f"  client (this process): peak RSS {peak_mb():.0f} MB")
    print(f"  total peak over processes: {sum(peaks.values()) + peak_mb():.0f} MB")
    if args.glmer:
        record = fit.optimizer.settings
        print(f"  PIRLS: {record['pirls_runs']} runs, {record['pirls_iterations']} iterations; "
              f"{record['deviance_evaluations']} deviance evaluations")
        print(f"theta {np.round(fit.theta, 5).tolist()}, logLik {fit.loglik:.4f}")
    else:
        print(f"theta {np.round(fit.theta, 5).tolist()}, sigma {fit.sigma:.5f}")
    print(fit.fixef().round(5).to_string())
    if not args.keep:
        shutil.rmtree(directory)


if __name__ == "__main__":
    main()

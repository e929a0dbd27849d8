"""Where does a second BLAS thread start to pay? The measurement behind multilevel.threads.

One evaluation of the profiled deviance spends its BLAS time on the largest dense block of the
blocked Cholesky factor: a rank update ``A - B @ B.T`` and a Cholesky factor of a ``d x d`` block.
This script times that pair of kernels for several ``d`` with 1 and 2 OpenBLAS threads, on an idle
machine and next to a process spinning one core, and prints best-of-N times.

    python benchmarks/blas_threshold.py [--repeats 5] [--sizes 256,512,1024,2048,3072]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np
from scipy.linalg import lapack
from threadpoolctl import threadpool_limits

from _common import print_table

SPIN = "while True:\n    pass\n"  # a pure-Python busy loop: one core taken, no BLAS of its own


def kernels(d: int, rng: np.random.Generator):
    b = rng.standard_normal((d, d)) / np.sqrt(d)
    a = b @ b.T + 2.0 * np.eye(d)
    c = 0.5 * rng.standard_normal((d, d)) / np.sqrt(d)

    def run():
        target = a - c @ c.T  # the fill-in update of a dense diagonal block
        lapack.dpotrf(target, lower=1, clean=0, overwrite_a=1)
    return run


def best_of(fn, repeats: int, budget: float = 20.0) -> float:
    fn()  # warm-up (thread pool start, page faults)
    times, start = [], time.perf_counter()
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - start > budget:
            break
    return min(times)


def measure(sizes, repeats, busy: bool) -> dict:
    spinner = subprocess.Popen([sys.executable, "-c", SPIN]) if busy else None
    try:
        if spinner is not None:
            time.sleep(0.5)
        rng = np.random.default_rng(1)
        out = {}
        for d in sizes:
            fn = kernels(d, rng)
            reps = max(3, repeats if d >= 1024 else 10 * repeats)
            for threads in (1, 2):
                with threadpool_limits(limits=threads, user_api="blas"):
                    out[d, threads] = best_of(fn, reps)
        return out
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", default="128,256,512,1024,1536,2048,3072")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    idle = measure(sizes, args.repeats, busy=False)
    busy = measure(sizes, args.repeats, busy=True)
    rows = []
    for d in sizes:
        rows.append([d, f"{idle[d, 1] * 1e3:.2f}", f"{idle[d, 2] * 1e3:.2f}", f"{idle[d, 1] / idle[d, 2]:.2f}",
                     f"{busy[d, 1] * 1e3:.2f}", f"{busy[d, 2] * 1e3:.2f}", f"{busy[d, 1] / busy[d, 2]:.2f}"])
    print("dense block d: A - C C' then dpotrf; best-of-N milliseconds; gain = t(1 thread) / t(2 threads)")
    print_table(["d", "idle 1T", "idle 2T", "idle gain", "busy 1T", "busy 2T", "busy gain"], rows)


if __name__ == "__main__":
    main()

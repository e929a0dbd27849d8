"""How many BLAS threads an optimizer loop gets: one, unless its largest dense block gains from more.

An evaluation of a mixed model's objective does many small dense operations (the blocked Cholesky
factor's dense blocks, the fixed-effects rows). A multi-threaded BLAS splits each one across its
threads, which then spin waiting for each other; when another process holds one of the cores, every
such hand-off waits for the scheduler, and a fit slows down by an order of magnitude (InstEval on
2 cores with one other busy process: 25.6 s with OpenBLAS's default 2 threads, 2.7 s with one).
So the optimizer loops of ``lmer`` and ``glmer`` (and the profile loops that refit; a GLMM's
bootstrap refits through ``glmer``'s) run under :func:`blas_threads_for`, which applies this rule:

* the largest dense block of the factor has fewer than :data:`MIN_DENSE_FOR_THREADS` rows:
  **one thread** (``benchmarks/blas_threshold.py`` measures where a second thread starts to pay);
* otherwise the BLAS keeps the threads it has.

The rule only ever lowers the count: a limit the user set (``OMP_NUM_THREADS``,
``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` or an enclosing ``threadpoolctl.threadpool_limits``)
is read from the library itself and never raised. The environment variable
``MULTILEVEL_BLAS_THREADS`` changes the rule, read at every fit:

* unset or ``auto``: the rule above;
* ``off``: leave the BLAS alone (the library's own threads, whatever the model);
* a whole number ``N``: at most ``N`` threads for every model.

The count in effect is recorded in ``fit.optimizer.settings["blas_threads"]``, with the rule that
chose it (``"blas_thread_policy"``) and the block size it judged (``"largest_dense_block"``).
"""
from __future__ import annotations

import math
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass

from threadpoolctl import ThreadpoolController

from .errors import ArgumentError

ENV_VAR = "MULTILEVEL_BLAS_THREADS"
# Below this many rows in its largest dense block, an evaluation runs on one BLAS thread.
# benchmarks/blas_threshold.py (rank update + Cholesky of a d x d block, OpenBLAS 0.3.31, 2 cores
# shared with other jobs, best of 3-50), time with 2 threads / time with 1, with no busy process
# of ours (load 1-4 from other jobs):
# 41, 8.2, 1.05, 1.28, 1.60, 1.50 at d = 128, 256, 512, 1024, 1536, 2048 and 0.67 at 3072 (the first
# gain); next to a busy process 2 threads lost at every d (up to 500x at d = 128) except once at
# 2048 (not repeated). A second run under heavy load from other jobs gained only at 4096. Larger
# blocks keep the BLAS's threads: an evaluation there takes seconds, so hand-offs cost little.
MIN_DENSE_FOR_THREADS = 3072


@dataclass(frozen=True)
class BlasThreads:
    """What :func:`blas_threads_for` did: the count in effect, the rule, the block size it judged."""

    threads: int | None  # None: no BLAS library with a thread pool is loaded
    policy: str
    largest_dense_block: int | None

    def settings(self) -> dict:
        """The entries for an :class:`~multilevel.ml.optimize.OptimizerRecord`'s ``settings``."""
        return {"blas_threads": self.threads, "blas_thread_policy": self.policy,
                "largest_dense_block": self.largest_dense_block}


def largest_dense_block(cholesky) -> int:
    """Rows of the largest block a :class:`~multilevel.linalg.BlockedCholesky` stores dense on its
    diagonal: a random-effects term filled in by another (levels x p), or the fixed-effects rows."""
    sizes = [levels * p for j, (levels, p) in enumerate(cholesky.dims) if cholesky.kinds[j, j] == "dense"]
    fixed = cholesky.A.get((cholesky.K, cholesky.K))  # a GLMM between PIRLS passes may hold none
    return max(sizes + [0 if fixed is None else fixed.shape[0]])


def policy_threads(dense_rows: int | None) -> tuple[int | None, str]:
    """The thread cap for a problem whose largest dense block has ``dense_rows`` rows, and the rule's
    name (``None``: no cap). Reads ``MULTILEVEL_BLAS_THREADS`` each time.

    Examples
    --------
    >>> policy_threads(100)
    (1, 'auto')
    """
    setting = os.environ.get(ENV_VAR, "auto").strip().lower()
    if setting in ("", "auto"):
        small = dense_rows is not None and dense_rows < MIN_DENSE_FOR_THREADS
        return (1 if small else None), "auto"
    if setting in ("off", "none"):
        return None, "off"
    try:
        count = int(setting)
    except ValueError:
        count = 0
    if count < 1:
        raise ArgumentError(f"{ENV_VAR} must be 'auto', 'off' or a whole number of threads of at least 1, "
                            f"not {os.environ[ENV_VAR]!r}")
    return count, f"{ENV_VAR}={count}"


# Regions open now, in any thread: several fits may run at once (parallel refits on Dask's
# threaded scheduler), and OpenBLAS's count is one per process. The first region to open keeps
# each library's count; while any region is open the smallest cap holds; the last one restores.
_LOCK = threading.Lock()
_OPEN_CAPS: list[float] = []
_ORIGINAL: dict = {}  # library path -> (its controller, its count before the first region opened)


def _apply_caps() -> None:
    cap = min(_OPEN_CAPS, default=math.inf)
    for library, original in _ORIGINAL.values():
        wanted = int(min(original, cap))
        if library.num_threads != wanted:
            library.set_num_threads(wanted)


@contextmanager
def limit_blas_threads(threads: int | None):
    """Cap every loaded BLAS at ``threads`` (never raising a library's count) for the block; restore
    each library's own count afterwards. ``None`` caps nothing. Yields the count in effect (the
    largest over the BLAS libraries; None when none is loaded). Safe to nest and to enter from
    several threads at once: the smallest cap of the regions open holds until the last one closes.

    Examples
    --------
    >>> import numpy as np
    >>> with limit_blas_threads(1) as n:
    ...     _ = np.ones((3, 3)) @ np.ones((3, 3))
    >>> n
    1
    """
    cap = math.inf if threads is None else threads
    with _LOCK:
        if not _OPEN_CAPS:
            # a new controller (about 1 ms) for each outermost region: it sees BLAS libraries
            # loaded since the last fit, and reads their counts as the user left them
            libraries = ThreadpoolController().select(user_api="blas").lib_controllers
            _ORIGINAL.update((library.filepath, (library, library.num_threads)) for library in libraries)
        _OPEN_CAPS.append(cap)
        _apply_caps()
        in_effect = max((library.num_threads for library, _ in _ORIGINAL.values()), default=None)
    try:
        yield in_effect
    finally:
        with _LOCK:
            _OPEN_CAPS.remove(cap)
            _apply_caps()  # with no region left open: the original counts
            if not _OPEN_CAPS:
                _ORIGINAL.clear()


@contextmanager
def blas_threads_for(cholesky):
    """The thread policy for a problem factored by ``cholesky`` (its largest dense block decides).

    Yields a :class:`BlasThreads` to record in the optimizer's settings.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.ml.lmm import LMMProblem
    >>> problem = LMMProblem(ml.build_design(ml.parse_formula("Reaction ~ Days + (Days | Subject)"),
    ...                      ml.datasets.load("sleepstudy")))
    >>> with blas_threads_for(problem.cholesky) as blas:
    ...     value = problem.objective(problem.initial_theta())
    >>> (blas.threads, blas.policy, blas.largest_dense_block)
    (1, 'auto', 3)
    """
    rows = largest_dense_block(cholesky)
    cap, policy = policy_threads(rows)
    with limit_blas_threads(cap) as threads:
        yield BlasThreads(threads, policy, rows)

"""Many fits as a map over seeds, handed to Dask: the one executor layer for bootstrap and power.

A job is ``task(seed_sequence) -> result`` run once per replicate. Replicate ``i`` always gets
``np.random.SeedSequence(seed).spawn(nsim)[i]``, so the numbers do not depend on the scheduler, the
number of workers or how replicates are grouped into Dask tasks. Replicates travel in chunks (a few
per worker) so that the fit is shipped once per chunk, not once per replicate.

By default the work runs on Dask's local threaded scheduler (``scheduler="threads"``, see
:data:`DEFAULT_SCHEDULER`); ``client=`` sends it to a ``dask.distributed`` cluster (a ``Client`` or
its address), where the task is scattered to every worker once.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np

from .errors import ArgumentError
from .progress import show_progress

# Measured on 2 cores shared with other work (load 4-7), sleepstudy bootstrap nsim=100 (~0.02 s
# per refit), best of 3 in three sessions: threads 1.4-2.0 s, synchronous 2.1-2.3 s, processes 9-11 s
# (each run starts fresh interpreters that import numpy/scipy/multilevel first); a warm LocalCluster
# of 2 processes 1.6-2.1 s. The refits release the GIL in LAPACK/BLAS and numpy, so threads win on one machine;
# every chunk works on its own copy of the task (see _run_chunk), so threads share no workspace.
DEFAULT_SCHEDULER = "threads"
SCHEDULERS = ("synchronous", "threads", "processes")


@dataclass(frozen=True)
class SeedPlan:
    """The seed sequences of a run; ``entropy`` reproduces a run started with ``seed=None``."""

    entropy: int
    seeds: tuple

    @classmethod
    def of(cls, seed, nsim: int) -> SeedPlan:
        if isinstance(seed, np.random.SeedSequence):
            root = seed
        elif seed is None or isinstance(seed, (int, np.integer)):
            root = np.random.SeedSequence(None if seed is None else int(seed))
        else:
            raise ArgumentError(f"seed must be an integer, a numpy SeedSequence or None, not {type(seed).__name__}")
        return cls(int(root.entropy), tuple(root.spawn(nsim)))


def _run_chunk(task, seeds):
    # each chunk works on its own copy: what a task builds lazily (problems, factor workspaces) is
    # never shared between threads of one worker
    task = copy.deepcopy(task)
    return [task(s) for s in seeds]


def _chunks(n: int, parts: int) -> list[range]:
    size = math.ceil(n / max(1, min(n, parts)))
    return [range(i, min(i + size, n)) for i in range(0, n, size)]


def map_seeds(task, seed, nsim: int, *, client=None, scheduler: str | None = None, progress: bool | None = None,
              description: str = "replicates") -> tuple[list, int]:
    """``[task(s) for s in SeedSequence(seed).spawn(nsim)]`` on Dask; returns (results, entropy).

    Parameters
    ----------
    task : callable
        A picklable callable of one ``numpy.random.SeedSequence``.
    client : dask.distributed.Client or str, optional
        A cluster (or its scheduler's address); without it Dask's local ``scheduler`` runs the map.
    scheduler : {"synchronous", "threads", "processes"}, optional
        Dask's local scheduler (default :data:`DEFAULT_SCHEDULER`); ignored with ``client``.
    progress : bool, optional
        A progress bar over replicates; by default only in a terminal or notebook.

    Examples
    --------
    >>> results, _ = map_seeds(lambda s: np.random.default_rng(s).random(), 42, 3)
    >>> len(results)
    3
    """
    plan = SeedPlan.of(seed, nsim)
    bar = None
    if show_progress(progress):
        from tqdm.auto import tqdm

        bar = tqdm(total=nsim, desc=description, leave=False)
    try:
        if client is not None:
            out = _on_cluster(task, plan.seeds, client, bar)
        else:
            out = _on_local(task, plan.seeds, scheduler or DEFAULT_SCHEDULER, bar)
    finally:
        if bar is not None:
            bar.close()
    return out, plan.entropy


def _on_local(task, seeds, scheduler: str, bar) -> list:
    import dask
    from dask.callbacks import Callback

    if scheduler not in SCHEDULERS:
        raise ArgumentError(f"scheduler must be one of {', '.join(map(repr, SCHEDULERS))}, not {scheduler!r}")
    workers = 1 if scheduler == "synchronous" else (dask.system.CPU_COUNT or 1)
    # a handful of chunks per worker: the fit travels once per chunk; 20 chunks or more keep a bar moving
    parts = max(4 * workers, 20 if bar is not None else 1)
    shared = dask.delayed(task, pure=False)  # no hashing of a large fit
    pieces = [dask.delayed(_run_chunk, pure=False)(shared, [seeds[i] for i in idx],
                                                   dask_key_name=f"replicates-{idx.start}")
              for idx in _chunks(len(seeds), parts)]

    class Bar(Callback):
        def _posttask(self, key, result, dsk, state, id):
            if bar is not None and isinstance(key, str) and key.startswith("replicates-"):
                bar.update(len(result))

    with Bar():
        results = dask.compute(*pieces, scheduler=scheduler)
    return [r for chunk in results for r in chunk]


def _on_cluster(task, seeds, client, bar) -> list:
    from distributed import Client, as_completed

    own = isinstance(client, str)
    if own:
        client = Client(client)
    elif not isinstance(client, Client):
        raise ArgumentError(f"client must be a dask.distributed.Client or a scheduler address, not {type(client).__name__}")
    try:
        workers = max(1, sum(client.nthreads().values()))
        shared = client.scatter(task, broadcast=True)
        chunks = _chunks(len(seeds), 4 * workers)
        futures = client.map(_run_chunk, [shared] * len(chunks), [[seeds[i] for i in idx] for idx in chunks],
                             pure=False)
        if bar is not None:
            for future in as_completed(futures):
                bar.update(len(chunks[futures.index(future)]))
        results = client.gather(futures)
    finally:
        if own:
            client.close()
    return [r for chunk in results for r in chunk]

"""A Dask DataFrame (or a parquet path) as the source of a design, and the map-reduce runner over its partitions.

Out-of-core data are read one partition at a time, in stages that each live in their own module:

- here: :func:`is_out_of_core` and :func:`dask_frame` (what counts as out-of-core data, and the Dask
  DataFrame behind it), and :class:`PartitionReducer`, which runs every pass as a map-reduce over the
  partitions on Dask's local scheduler or a ``dask.distributed`` cluster: no pass gathers the rows in
  one process;
- :mod:`multilevel.design.partition_plan`: the :class:`~multilevel.design.partition_plan.PartitionPlan`
  that encodes any partition exactly as ``build_design`` encodes the whole frame;
- :mod:`multilevel.design.partition_scan`: the first pass, :func:`~multilevel.design.partition_scan.plan_partitions`,
  which finds the global facts (levels, categories, missing-value counts) the plan needs;
- :mod:`multilevel.design.exact_statistics`: exact order statistics (medians, by counting below
  data-valued pivots) and numpy's mean, bit for bit, over the partitions.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import ArgumentError, DataError, ModelError
from .newdata import plain_message

INSTALL_HINT = "pip install 'multilevel[parquet]' (pyarrow and dask's dataframe support)"

# what a pass of exact_statistics.order_statistics sends back to the client (read at call time, so
# that tests can shrink them to force the sampling and counting passes)
GATHER = 1 << 16  # at most this many candidate values travel to the client for the final selection
SAMPLE = 1024  # pivots per partition in a sampling pass


# ---- sources and the map-reduce runner -----------------------------------------------------------
def is_out_of_core(data) -> bool:
    """A parquet path (str or Path) or a Dask DataFrame: data fitted partition by partition."""
    if isinstance(data, (str, Path)):
        return True
    return type(data).__module__.startswith("dask.dataframe") and type(data).__name__ == "DataFrame"


def dask_frame(data):
    """The Dask DataFrame behind ``data`` (a parquet file or directory is read lazily)."""
    try:
        import dask.dataframe as dd
    except ImportError as exc:  # dask.dataframe itself needs pyarrow (dask >= 2025)
        raise ModelError(f"out-of-core fits need dask.dataframe and pyarrow ({plain_message(exc)}): {INSTALL_HINT}") from None
    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.exists():
            hint = (f"; a bundled data set is ml.datasets.load({str(data)!r})"
                    if isinstance(data, str) and "/" not in data and "." not in data else "")
            raise DataError(f"data must be a pandas or Dask DataFrame or a parquet path: there is no parquet "
                            f"file or directory at {str(path)!r}{hint}")
        try:
            return dd.read_parquet(str(path))
        except ImportError as exc:
            raise ModelError(f"reading parquet needs pyarrow ({plain_message(exc)}): {INSTALL_HINT}") from None
        except Exception as exc:
            raise DataError(f"could not read parquet data at {str(path)!r}: {plain_message(exc)}") from exc
    return data


class PartitionReducer:
    """Map-reduce passes over the partitions of a Dask DataFrame.

    ``run(task, params, combine)`` applies ``task(partition, params)`` to every partition and folds
    the results with ``combine(a, b)`` in a tree (fan-in 4), on Dask's local scheduler (threads) or on
    ``client`` (a ``dask.distributed.Client`` or a scheduler address, handled as
    :mod:`multilevel.parallel` does: an address opens a client that :meth:`close` closes).
    """

    FAN_IN = 4

    def __init__(self, frame, client=None, scheduler: str = "threads"):
        self.parts = frame.to_delayed()
        self.scheduler = scheduler
        self.passes = 0
        self.own_client = isinstance(client, str)
        if client is not None:
            from distributed import Client

            if self.own_client:
                client = Client(client)
            elif not isinstance(client, Client):
                raise ArgumentError(f"client must be a dask.distributed.Client or a scheduler address, "
                                    f"not {type(client).__name__}")
        self.client = client

    def with_parts(self, parts: list, on_close=None) -> "PartitionReducer":
        """A reducer on the same scheduler over other per-partition objects (e.g. encoded partitions
        persisted on the workers); it counts its own passes and never closes the client;
        ``on_close()`` runs at :meth:`close` (e.g. to remove spilled files)."""
        other = object.__new__(PartitionReducer)
        other.parts, other.scheduler, other.client, other.passes = list(parts), self.scheduler, self.client, 0
        other.own_client, other.on_close = False, on_close
        return other

    @property
    def n_partitions(self) -> int:
        return len(self.parts)

    def run(self, task, params, combine, indexed: bool = False):
        """``indexed``: the task is called as ``task(partition, params, index)`` (its place in the frame)."""
        import dask

        shared = dask.delayed(params, pure=False, traverse=False)
        level = [dask.delayed(task, pure=False)(part, shared, *((i,) if indexed else ()))
                 for i, part in enumerate(self.parts)]
        while len(level) > 1:
            level = [dask.delayed(_fold, pure=False)(combine, *level[i:i + self.FAN_IN])
                     for i in range(0, len(level), self.FAN_IN)]
        self.passes += 1
        if self.client is not None:
            return self.client.compute(level[0]).result()
        return dask.compute(level[0], scheduler=self.scheduler)[0]

    @property
    def description(self) -> str:
        where = "a dask.distributed cluster" if self.client is not None else f"dask's local {self.scheduler!r} scheduler"
        return where

    on_close = None

    def close(self) -> None:
        if self.on_close is not None:
            self.on_close()
            self.on_close = None
        if self.own_client and self.client is not None:
            self.client.close()


def _fold(combine, *results):
    """Fold partition results; ``None`` marks a partition without usable rows."""
    out = None
    for result in results:
        if result is not None:
            out = result if out is None else combine(out, result)
    return out

"""Where the chunks of pairs are compared and scored: in this process, or on a Dask cluster.

The engine only runs the same pure function over each chunk and hands the results back in
chunk order, so the outputs do not depend on the engine: the local engine and a cluster give
the same pairs, weights and clusters. Dask is an optional extra (`pip install
reconcile-csc[dask]`), imported only when asked for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from reconcile.errors import ConfigError

log = logging.getLogger(__name__)
ENGINES = ("local", "dask")
DASK_MISSING = "the dask engine needs dask.distributed. Fix: pip install 'reconcile-csc[dask]', or use engine: local."


class Engine(Protocol):
    def map(self, fn: Callable[..., Any], partitions: Iterable[Any], **shared: Any) -> list[Any]:
        """fn(partition, **shared) for each partition, results in partition order."""


class LocalEngine:
    """In this process, one chunk after another: memory holds one chunk's intermediates at a time."""

    def map(self, fn: Callable[..., Any], partitions: Iterable[Any], **shared: Any) -> list[Any]:
        return [fn(partition, **shared) for partition in partitions]


class DaskEngine:
    """On dask.distributed: an existing cluster's scheduler, or a LocalCluster started for the run.

    What every chunk needs (the standardised records, the model) is scattered to every worker once;
    the chunks themselves are small (the record numbers of a few blocks).
    """

    def __init__(self, client: Any) -> None:
        self.client = client

    def map(self, fn: Callable[..., Any], partitions: Iterable[Any], **shared: Any) -> list[Any]:
        scattered = {name: self.client.scatter(value, broadcast=True, hash=False) for name, value in shared.items()}
        futures = self.client.map(fn, list(partitions), pure=False, **scattered)
        try:
            return self.client.gather(futures)
        finally:
            for future in [*futures, *scattered.values()]:
                future.release()


@contextmanager
def open_engine(
    name: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    processes: bool = True,
    connect_timeout: float = 30,
) -> Iterator[Engine]:
    """The named engine, closed (and its LocalCluster stopped) on leaving. `scheduler`: e.g. tcp://host:8786."""
    if name == "local":
        yield LocalEngine()
        return
    if name != "dask":
        raise ConfigError(f"unknown matching engine {name!r}. Fix: use one of {', '.join(ENGINES)}.")
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError(DASK_MISSING) from None
    if scheduler:
        log.info("dask engine: connecting to the scheduler given in matching.scheduler")
        try:
            client = Client(scheduler, timeout=connect_timeout)
        except OSError as exc:
            raise ConfigError(
                f"cannot reach the Dask scheduler at {scheduler} ({type(exc).__name__}). "
                "Fix: check matching.scheduler and that the scheduler is running."
            ) from None
        try:
            yield DaskEngine(client)
        finally:
            client.close()
        return
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=processes, dashboard_address=None, silence_logs=logging.ERROR
    )
    try:
        client = Client(cluster)
        log.info("dask engine: LocalCluster with %d workers", len(cluster.workers))
        try:
            yield DaskEngine(client)
        finally:
            client.close()
    finally:
        cluster.close()  # its worker processes must not outlive the run

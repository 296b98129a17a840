"""Dask clients for jobs that spread scenes or tiles over workers."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


@contextmanager
def dask_client(scheduler: str | None, workers: int = 2) -> Iterator[object | None]:
    """A ``dask.distributed.Client`` for ``scheduler``, closed (with its cluster) on exit.

    ``None`` or ``""`` yields None (run in this process); ``"local"`` starts a
    ``LocalCluster`` of ``workers`` single-threaded worker processes; anything else is a
    scheduler address such as ``tcp://host:8786``.
    """
    if not scheduler:
        yield None
        return
    from dask.distributed import Client, LocalCluster

    if scheduler == "local":
        with LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True) as cluster, Client(cluster) as client:
            yield client
    else:
        with Client(scheduler) as client:
            yield client

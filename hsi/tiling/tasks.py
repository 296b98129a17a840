"""Tile tasks run in parallel across tiles, in order, a bounded number at a time, each on a fixed thread count.

Why the thread count is part of the task: torch splits the reductions and matrix products of
one call over its intra-op threads, and on 1 or 2 threads sums round in another order (BM3D on
one 256 x 256 eigen-image differs by up to 1.6e-2). A task that always runs on the same number
of threads (:class:`FixedThreads`, default 1) gives the same bits whether it runs in this
process, in a pool of threads, or on a Dask worker with any number of threads. The cores are
then used by running tiles side by side (:func:`run_in_order`): torch releases the GIL inside
its operations, and tile-level parallelism is coarser than intra-op parallelism.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

import torch

from hsi.errors import ParameterError


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads in this thread, restoring the count after.

    torch's OpenMP thread count is per thread, so other threads (a pool's, the caller's) keep theirs.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class FixedThreads:
    """``fn(*args)`` run on ``threads`` torch threads, wherever it runs; picklable when ``fn`` is."""

    def __init__(self, fn: Callable, threads: int = 1):
        if int(threads) < 1:
            raise ParameterError(f"tile_threads must be >= 1; got {threads}")
        self.fn, self.threads = fn, int(threads)

    def __call__(self, *args):
        with torch_threads(self.threads):
            return self.fn(*args)


def _is_dask(executor) -> bool:
    return type(executor).__module__.startswith("distributed")


def executor_slots(executor) -> int:
    """Tasks ``executor`` runs at once: a Dask client's worker threads, else its ``_max_workers`` (1 if unknown)."""
    if _is_dask(executor):
        return max(1, sum(executor.nthreads().values()))
    return max(1, int(getattr(executor, "_max_workers", 1)))


def run_in_order(fn: Callable, items: Iterable, *, executor=None, workers: int = 1,
                 in_flight: int | None = None) -> Iterator:
    """``fn(item)`` for each item, yielded in the items' order.

    ``executor`` None: ``workers`` threads of this process (1: here, one item at a time);
    otherwise anything with ``submit(fn, item) -> future`` (a Dask client: tasks marked impure,
    so equal inputs are still computed). At most ``in_flight`` items are submitted and not yet
    yielded (default twice the parallel slots), so memory stays bounded however many items
    there are; ``items`` is consumed lazily, one item per submission. Pending tasks are
    cancelled when the caller stops early or a task fails.
    """
    workers = int(workers)
    if workers < 1:
        raise ParameterError(f"tile workers must be >= 1; got {workers}")
    if executor is None and workers == 1:
        yield from map(fn, items)
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="hsi-tile") if executor is None else None
    runner = pool or executor
    limit = int(in_flight or 2 * (workers if pool else executor_slots(executor)))
    submit = (lambda item: runner.submit(fn, item, pure=False)) if _is_dask(runner) else (lambda item: runner.submit(fn, item))
    pending: deque = deque()
    try:
        items = iter(items)
        for item in items:
            pending.append(submit(item))
            if len(pending) >= limit:
                break
        while pending:
            result = pending.popleft().result()
            for item in items:  # refill before yielding, so the slots stay busy while the caller writes
                pending.append(submit(item))
                break
            yield result
    finally:
        for future in pending:
            future.cancel()
        if pool is not None:
            pool.shutdown(wait=True)

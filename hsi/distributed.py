"""Dask clients for jobs that spread scenes or tiles over workers, and a guard for orphaned tasks."""

from __future__ import annotations

import ctypes
import hashlib
import logging
import threading
import time
from concurrent.futures import CancelledError
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from hsi.errors import ParameterError, SchedulerLostError
from hsi.io.lock import is_locked


def check_workers_given(cfg, given: set[str]) -> None:
    """``workers=`` given on the command line without ``scheduler=local`` would be ignored: refuse it."""
    if "workers" in given and cfg.get("scheduler") != "local":
        raise ParameterError(f"workers={cfg.workers} is used by scheduler=local only; "
                             f"scheduler={cfg.get('scheduler')} starts no workers of its own")


def check_scheduler(scheduler: str | None, workers: int = 2) -> None:
    """Refuse, before any work, a ``scheduler=`` that is neither ``local`` nor an address, and a
    local cluster without workers (``scheduler=foo`` was a ValueError traceback after the fit;
    ``scheduler=local workers=0`` waited for ever)."""
    if not scheduler:
        return
    if scheduler == "local":
        if int(workers) < 1:
            raise ParameterError(f"workers= must be >= 1 for scheduler=local; got {workers}")
    elif ":" not in str(scheduler):  # tcp://host:8786 or host:8786
        raise ParameterError(f"scheduler= must be local or a Dask scheduler address such as tcp://host:8786; "
                             f"got {scheduler!r}")


@contextmanager
def dask_client(scheduler: str | None, workers: int = 2, worker_timeout_s: float = 60.0) -> Iterator[object | None]:
    """A ``dask.distributed.Client`` for ``scheduler``, closed (with its cluster) on exit.

    ``None`` or ``""`` yields None (run in this process); ``"local"`` starts a
    ``LocalCluster`` of ``workers`` single-threaded worker processes; anything else is a
    scheduler address such as ``tcp://host:8786``. A scheduler that cannot be reached, or
    that goes away while the block waits on it, raises :class:`SchedulerLostError` (one line
    from the CLI) instead of distributed's connection or cancellation errors. A scheduler
    that no worker joins within ``worker_timeout_s``, or whose workers run another hsi
    (:func:`check_workers`), is refused the same way before any work is sent: tasks would
    wait for ever, or come back computed by other code.
    """
    if not scheduler:
        yield None
        return
    check_scheduler(scheduler, workers)
    from dask.distributed import Client, LocalCluster

    if scheduler == "local":
        with LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True) as cluster, Client(cluster) as client:
            yield client
    else:
        # A lost scheduler is reported by the job in one line; distributed would also log the
        # reconnection attempts with tracebacks.
        import distributed  # noqa: F401  (configures its loggers, whose levels are set here)

        loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
                   if name.split(".")[0] in ("distributed", "tornado")]
        levels = [logger.level for logger in loggers]
        for logger in loggers:
            logger.setLevel(logging.CRITICAL)
        try:
            try:
                client = Client(scheduler, timeout="30s")
            except (OSError, TimeoutError) as error:
                raise SchedulerLostError(f"Dask scheduler {scheduler} could not be reached ({error})") from None
            with client:
                try:
                    check_workers(client, scheduler, worker_timeout_s)
                    yield client
                except (CancelledError, OSError, TimeoutError) as error:
                    if client.status == "running":
                        raise
                    raise SchedulerLostError(f"lost the Dask scheduler {scheduler} "
                                             f"({type(error).__name__})") from None
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def hsi_source_fingerprint() -> dict:
    """Where this process's hsi lives and a SHA-256 of its Python source (paths and contents)."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return {"path": str(root), "sha256": digest.hexdigest()}


def check_workers(client, scheduler: str, timeout_s: float = 60.0) -> None:
    """Refuse a scheduler without workers after ``timeout_s``, or whose workers import another hsi.

    Workers started without this checkout on their ``PYTHONPATH`` import whichever hsi their
    interpreter finds (an installed one, another checkout): tiles would be computed by other
    code, silently, or fail to unpickle. Workers that join later are not checked.
    """
    deadline = time.monotonic() + timeout_s
    while not client.scheduler_info(n_workers=-1)["workers"]:
        if time.monotonic() > deadline:
            raise SchedulerLostError(f"scheduler={scheduler}: no Dask worker joined within {timeout_s:.0f} s "
                                     f"(start them with `dask worker {scheduler}`)")
        time.sleep(0.2)
    here = hsi_source_fingerprint()
    try:
        theirs = client.run(hsi_source_fingerprint)
    except ImportError as error:
        raise SchedulerLostError(f"scheduler={scheduler}: its workers cannot import hsi ({error}); start them with "
                                 f"{Path(here['path']).parent} on PYTHONPATH") from None
    for worker, fingerprint in sorted(theirs.items()):
        if fingerprint["sha256"] != here["sha256"]:
            raise SchedulerLostError(f"scheduler={scheduler}: worker {worker} runs hsi from {fingerprint['path']}, whose "
                                     f"source differs from this run's ({here['path']}); start the workers with "
                                     f"{Path(here['path']).parent} on PYTHONPATH")


class DriverGone(BaseException):
    """Raised inside a task whose driver died: the task must not finish its outputs late."""


@contextmanager
def abandon_if_driver_dies(driver_lock: Path | str | None, poll_seconds: float = 1.0) -> Iterator[None]:
    """Run the block, interrupting it with :class:`DriverGone` once ``driver_lock`` is no longer held.

    A batch driver holds the lock of its output folder while it runs (see
    :mod:`hsi.io.lock`); the kernel drops it when the driver dies, however it dies. Dask
    keeps running tasks of a vanished client, so each task watches that lock from a
    thread and, when it is free, raises into the task's thread. The exception arrives at
    the next Python step (between blocks or tiles, before a writer renames its temporary
    file into place); the writer then discards its temporary file and the job writes no
    completion record, so nothing reaches a final path late.
    """
    if driver_lock is None:
        yield
        return
    if not is_locked(driver_lock):
        raise DriverGone(f"{driver_lock}: the batch driver is gone; not starting")
    target = threading.get_ident()
    guard = threading.Lock()
    state = {"done": False, "fired": False}
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(poll_seconds):
            if not is_locked(driver_lock):
                with guard:  # again at every poll: library code may swallow one exception
                    if not state["done"]:
                        state["fired"] = True
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target), ctypes.py_object(DriverGone))

    watcher = threading.Thread(target=watch, name="hsi-driver-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        with guard:
            state["done"] = True
            if state["fired"]:  # not delivered yet: cancel it so it cannot hit the caller later
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target), None)
        stop.set()

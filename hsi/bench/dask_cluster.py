"""A real Dask cluster on this machine: one ``dask scheduler`` and ``n`` ``dask worker`` processes.

Benchmarks and tests of the distributed path need what users run (``restore
scheduler=tcp://...`` against separately started processes), not an in-process
``LocalCluster``. Starting those processes blind is how a benchmark hangs: a fixed port may
be held by a scheduler left over from a killed run (the new scheduler exits, the workers join
the old one), a worker may not be up when the job submits, and output sent to ``DEVNULL``
leaves nothing to diagnose. Here the port is a free one, the processes log to files, the
cluster is yielded only when the scheduler answers and every worker has registered, and a
process that dies while waiting fails the start with its log's tail.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from hsi.errors import SchedulerLostError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _tail(path: Path, n_chars: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-n_chars:]
    except OSError:
        return ""


@contextmanager
def local_dask_cluster(log_dir: Path | str, *, n_workers: int = 2, threads_per_worker: int = 1, nanny: bool = False,
                       env: dict | None = None, start_timeout: float = 120.0) -> Iterator[dict]:
    """Start a scheduler and ``n_workers`` workers on 127.0.0.1; yield ``{"address", "processes", "logs"}``.

    Workers run ``threads_per_worker`` threads, no memory limit (the benchmarks measure
    memory; Dask's default would pause a worker at 80 % of its share of the machine), and
    without a nanny unless asked (a killed worker stays dead). ``env`` is the processes'
    environment (``PYTHONPATH`` decides which hsi the workers import; they run in ``log_dir``). Every process is
    ended on exit, also when the block fails.
    """
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    processes: dict[str, subprocess.Popen] = {}
    logs: dict[str, Path] = {}

    def launch(name: str, *args: str) -> None:
        logs[name] = log_dir / f"{name}.log"
        with open(logs[name], "wb") as log:
            # cwd: ``python -m`` puts it first on sys.path, so it must not be a folder holding an hsi
            processes[name] = subprocess.Popen([sys.executable, "-m", *args], env=env, cwd=log_dir, stdout=log,
                                               stderr=subprocess.STDOUT, start_new_session=True)

    def check_alive() -> None:
        for name, process in processes.items():
            if process.poll() is not None:
                raise SchedulerLostError(f"the Dask {name} ({address}) exited with status {process.returncode} "
                                         f"while the cluster started: {_tail(logs[name])}")

    try:
        launch("scheduler", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
               "--no-dashboard")
        deadline = time.monotonic() + start_timeout
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            check_alive()
            if time.monotonic() > deadline:
                raise SchedulerLostError(f"the Dask scheduler did not listen on {address} within {start_timeout:.0f} s")
            time.sleep(0.1)
        for i in range(n_workers):
            launch(f"worker{i}", "distributed.cli.dask_worker", address, "--host", "127.0.0.1", "--nthreads",
                   str(threads_per_worker), "--memory-limit", "0", "--no-dashboard",
                   *(() if nanny else ("--no-nanny",)))
        _wait_for_workers(address, n_workers, deadline, check_alive)
        yield {"address": address, "processes": processes, "logs": logs}
    finally:
        _stop(processes)


def _wait_for_workers(address: str, n_workers: int, deadline: float, check_alive) -> None:
    from distributed import Client

    with Client(address, timeout=f"{max(deadline - time.monotonic(), 1):.0f}s") as client:
        while len(client.scheduler_info(n_workers=-1)["workers"]) < n_workers:
            check_alive()
            if time.monotonic() > deadline:
                raise SchedulerLostError(f"only {len(client.scheduler_info(n_workers=-1)['workers'])} of {n_workers} "
                                         f"Dask workers joined {address} in time")
            time.sleep(0.2)


def _stop(processes: dict[str, subprocess.Popen], grace: float = 20.0) -> None:
    """Workers first, then the scheduler: SIGTERM to each process group, SIGKILL after ``grace`` seconds."""
    for name in sorted(processes, key=lambda n: n == "scheduler"):
        process = processes[name]
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

"""Measurements of whole programs for the benchmarks: wall time and peak memory of a subprocess, matmul rate.

A program is measured as users run it, in its own process (interpreter start, imports, reading
and writing included). Memory is sampled every 0.1 s over the process tree and any other
processes doing its work (Dask workers): the resident set, which also counts page cache of
memory-mapped files, and the anonymous part (``RssAnon``), which is what the program holds.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import psutil
import torch


def anonymous_bytes(process: psutil.Process) -> int:
    """``RssAnon`` of ``process`` (bytes); 0 when it cannot be read."""
    try:
        with open(f"/proc/{process.pid}/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def measured_run(command: list[str], log: Path, *, env: dict | None = None, cwd: Path | None = None,
                 helpers: tuple[int, ...] = (), timeout_s: float | None = None) -> dict:
    """Run ``command``; wall seconds and peak RSS / anonymous memory (GB) of it, its children and ``helpers``.

    The output goes to ``log`` (a file, so a chatty program can never block on a full pipe);
    a failure or a run past ``timeout_s`` raises ``RuntimeError`` with the log's tail.
    ``helpers`` are pids of processes that work for the command (Dask workers).
    """
    started = time.perf_counter()
    with open(log, "wb") as out:
        child = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    parent = psutil.Process(child.pid)
    others = [psutil.Process(pid) for pid in helpers if psutil.pid_exists(pid)]
    peak = peak_anon = 0
    while child.poll() is None:
        try:
            tree = [parent, *parent.children(recursive=True), *others]
            peak = max(peak, sum(p.memory_info().rss for p in tree))
            peak_anon = max(peak_anon, sum(anonymous_bytes(p) for p in tree))
        except psutil.Error:
            pass
        if timeout_s is not None and time.perf_counter() - started > timeout_s:
            child.kill()
            child.wait()
            raise RuntimeError(f"{' '.join(command[:4])} ... ran past {timeout_s:.0f} s; log {log}: {_tail(log)}")
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} ... failed ({child.returncode}); log {log}: {_tail(log)}")
    return {"seconds": seconds, "peak_rss_gb": peak / 1e9, "peak_anonymous_gb": peak_anon / 1e9}


def _tail(path: Path, n_chars: int = 2000) -> str:
    return Path(path).read_text(errors="replace")[-n_chars:]


def matmul_gflops(threads: int, n: int = 2048, repeats: int = 5) -> float:
    """Measured float32 matrix-product rate on ``threads`` torch threads, GFLOP/s (best of ``repeats``)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - started)
        return 2 * n ** 3 / best / 1e9
    finally:
        torch.set_num_threads(before)

"""Helpers of the fault tests: small scenes, the CLI in a subprocess, a lock held by another process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from hsi.io import save_scene
from hsi.scene import Scene
from hsi.settings import PROJECT_ROOT


def small_scene(path: Path, rows: int = 20, cols: int = 18, bands: int = 8, seed: int = 0) -> Path:
    """A noisy smooth float32 cube with wavelengths, saved at ``path``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:rows, 0:cols] / max(rows, cols)
    spectra = rng.uniform(0.1, 0.9, size=(3, bands))
    weights = np.stack([np.sin(3 * yy) ** 2, np.cos(2 * xx) ** 2, 0.5 + 0 * xx], axis=2)
    cube = weights @ spectra / weights.sum(axis=2, keepdims=True) + rng.normal(0, 0.05, (rows, cols, bands))
    save_scene(Scene.from_array(cube.astype(np.float32), wavelengths_nm=np.linspace(450, 2400, bands)), path)
    return path


def cli_env(threads: int = 1) -> dict:
    return {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg",
            "OMP_NUM_THREADS": str(threads)}


def start_cli(*args: str, threads: int = 1, **popen) -> subprocess.Popen:
    """``python cli.py ARGS`` as a subprocess on ``threads`` threads (stdout and stderr captured as text)."""
    return subprocess.Popen([sys.executable, str(PROJECT_ROOT / "cli.py"), *args], env=cli_env(threads), cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def run_cli(*args: str, timeout: float = 300, threads: int = 1) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(PROJECT_ROOT / "cli.py"), *args], env=cli_env(threads), cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=timeout)


def kill_when(process: subprocess.Popen, ready, timeout: float = 120) -> bool:
    """SIGKILL ``process`` once ``ready()``; False when it finished first."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if ready():
            process.send_signal(signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.002)
    process.communicate()
    return False


def error_lines(stderr: str) -> list[str]:
    """The lines of stderr that are not progress bars or warnings."""
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@contextmanager
def lock_held_elsewhere(output: Path):
    """Another process holds the lock of ``output``; yields its pid, SIGKILLs it on exit."""
    code = ("import sys, time; from hsi.io.lock import acquire; acquire(sys.argv[1]); "
            "print('held', flush=True); time.sleep(120)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(output)], env=cli_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder.pid
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)

"""batch on a real ``dask scheduler`` + ``dask worker`` pair on 127.0.0.1: dead workers, scheduler, driver."""

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.faults._helpers import cli_env, small_scene, start_cli

pytest.importorskip("distributed", reason="dask[distributed] is in the dev extra")
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(module: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", f"distributed.cli.{module}", *args], env=cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_for(condition, timeout=120.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("timed out")


@pytest.fixture
def cluster():
    """A scheduler and two single-thread workers without nannies (a killed worker stays dead)."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    processes = {"scheduler": _start("dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
                                     "--dashboard-address", ":0")}
    try:
        _wait_for(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, timeout=60)
        for i in range(2):
            processes[f"worker{i}"] = _start("dask_worker", address, "--nthreads", "1", "--no-nanny",
                                             "--no-dashboard", "--host", "127.0.0.1")
        from distributed import Client

        with Client(address, timeout="60s") as client:  # both workers up, so the scenes run side by side
            client.wait_for_workers(2, timeout=120)
        yield address, processes
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)


def _scenes(folder: Path, n: int) -> None:
    for i in range(n):
        small_scene(folder / f"s{i}.tif", rows=96, cols=48, bands=16, seed=i)


def _batch(folder, out, address):
    return ["batch", "job=restore", f"inputs=[{folder}/s*.tif]", f"output_dir={out}", f"scheduler={address}",
            "job_overrides=[method=tv,method.n_iter=600,tiling.tile=16,tiling.overlap=4,quicklook=false]"]


def _markers(out):
    folder = out / ".hsi-batch-attempts"
    return [json.loads(p.read_text()) for p in folder.iterdir()] if folder.is_dir() else []


def _report(out):
    return json.loads((out / "batch_report.json").read_text())["results"]["scenes"]


def test_a_killed_worker_is_reported_and_its_scene_retried(cluster, tmp_path):
    address, processes = cluster
    _scenes(tmp_path, 2)
    out = tmp_path / "out"
    driver = start_cli(*_batch(tmp_path, out, address))
    try:
        first = _wait_for(lambda: _markers(out))[0]
        subprocess.run(["kill", "-9", str(first["pid"])], check=True)  # the worker running a scene dies
        stdout, stderr = driver.communicate(timeout=300)
    finally:
        driver.kill()
    assert driver.returncode == 0, stderr[-2000:]
    scenes = _report(out)
    assert all(s["status"] == "done" for s in scenes)
    retried = [s for s in scenes if s.get("attempts", 1) > 1]
    assert len(retried) == 1 and first["worker"] in retried[0]["retried"]


def test_a_killed_scheduler_ends_the_batch_in_one_line_with_a_report(cluster, tmp_path):
    address, processes = cluster
    _scenes(tmp_path, 5)
    out = tmp_path / "out"
    driver = start_cli(*_batch(tmp_path, out, address))
    try:
        _wait_for(lambda: (out / "batch_report.json").exists()
                  and any(s["status"] == "done" for s in _report(out)), timeout=200)
        processes["scheduler"].send_signal(signal.SIGKILL)
        stdout, stderr = driver.communicate(timeout=180)
    finally:
        driver.kill()
    assert driver.returncode != 0
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "scheduler" in errors[0], stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    scenes = _report(out)
    assert any(s["status"] == "done" for s in scenes)
    assert all(s["status"] == "done" or s["status"].startswith("not run") or s["status"] == "failed" for s in scenes)


def test_a_killed_driver_leaves_no_late_outputs(cluster, tmp_path):
    address, _ = cluster
    _scenes(tmp_path, 2)
    out = tmp_path / "out"
    driver = start_cli(*_batch(tmp_path, out, address))
    _wait_for(lambda: len(_markers(out)) == 2)  # both scenes are running on the workers
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=30)
    time.sleep(25)  # longer than a scene takes: an orphaned task would have written by now
    left = sorted(p.name for p in out.iterdir())
    assert not [name for name in left if name.startswith("s") or name.endswith(".part")], left


def test_restore_spreading_tiles_over_a_killed_scheduler_fails_in_one_line_and_writes_nothing(cluster, tmp_path):
    address, processes = cluster
    source = small_scene(tmp_path / "in.tif", rows=160, cols=48, bands=16)
    output = tmp_path / "out.tif"
    restore = start_cli("restore", f"input={source}", f"output={output}", "method=tv", "method.n_iter=600",
                        "tiling.tile=16", "tiling.overlap=4", "quicklook=false", "progress=false", f"scheduler={address}")
    try:
        _wait_for(lambda: any(p.name.endswith(".part") for p in tmp_path.iterdir()), timeout=200)  # strips landing
        processes["scheduler"].send_signal(signal.SIGKILL)
        stdout, stderr = restore.communicate(timeout=180)
    finally:
        restore.kill()
    assert restore.returncode == 2, stderr[-2000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "lost the Dask scheduler" in errors[0] and "Traceback" not in stderr
    assert not output.exists() and not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]

"""A batch task stops, writing nothing, once the driver holding its output folder's lock is gone."""

import os
import signal
import time

import pytest

from hsi.distributed import DriverGone, abandon_if_driver_dies
from hsi.jobs.batch import process_one

from tests.faults._helpers import lock_held_elsewhere, small_scene


def test_a_running_task_stops_when_its_driver_dies_and_not_before(tmp_path):
    folder = tmp_path / "out"
    with lock_held_elsewhere(folder) as driver_pid:
        with abandon_if_driver_dies(folder, poll_seconds=0.05):
            time.sleep(0.3)  # the driver is alive: the task runs on
        started = time.monotonic()
        with pytest.raises(DriverGone):
            with abandon_if_driver_dies(folder, poll_seconds=0.05):
                os.kill(driver_pid, signal.SIGKILL)
                while time.monotonic() - started < 10:  # a task's Python loop (tiles, blocks)
                    time.sleep(0.01)
        assert time.monotonic() - started < 5


def test_a_task_whose_driver_is_gone_does_not_start(tmp_path):
    source, folder = small_scene(tmp_path / "in.tif"), tmp_path / "out"
    folder.mkdir()
    result = process_one("convert", [f"input={source}", f"output={folder / 'in.tif'}"], driver_lock=str(folder))
    assert result["status"] == "abandoned" and not (folder / "in.tif").exists()

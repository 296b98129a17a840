"""Runs killed mid-write leave no debris that accumulates; live writes are left alone.

Before: each killed run left a hidden `.NAME.tif.XXXX.part` that nothing ever removed
(12 accumulated in one session); temporary names did not say which process owned them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from _io_faults import leftovers

from hsi.io import open_scene, save_scene
from hsi.scene import Scene

ROOT = Path(__file__).resolve().parents[2]

# A writer that writes one block, says so, then stalls before the next: killed there.
SLOW_WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from hsi.io import create_writer
    from hsi.scene import Scene, Window
    like = Scene.from_array(np.zeros((64, 64, 8), np.float32))
    with create_writer(sys.argv[1], like, overwrite=True) as writer:
        writer.write(Window(0, 0, 16, 64), np.ones((16, 64, 8), np.float32))
        print("writing", flush=True)
        time.sleep(120)
""")


def start_slow_writer(output: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(output)], stdout=subprocess.PIPE, text=True,
                               cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert process.stdout.readline().strip() == "writing"
    return process


def test_a_killed_writer_s_temporary_file_is_removed_by_the_next_write(tmp_path):
    output = tmp_path / "out.tif"
    for _ in range(3):  # each killed run's debris is swept by the next writer: it never accumulates
        process = start_slow_writer(output)
        process.send_signal(signal.SIGKILL)
        process.wait()
        debris = leftovers(tmp_path)
        assert len(debris) == 1 and f".{process.pid}-" in debris[0]
    values = np.random.default_rng(0).normal(size=(64, 64, 8)).astype(np.float32)
    save_scene(Scene.from_array(values), output, overwrite=True)
    assert leftovers(tmp_path) == []
    np.testing.assert_array_equal(open_scene(output).read(), values)
    assert not output.with_name("out.tif.aux.xml").exists()


def test_a_live_writer_s_temporary_file_is_kept(tmp_path):
    output = tmp_path / "out.tif"
    process = start_slow_writer(output)
    try:
        live = leftovers(tmp_path)
        assert len(live) == 1 and f".{process.pid}-" in live[0]
        save_scene(Scene.from_array(np.zeros((64, 64, 8), np.float32)), output)
        assert leftovers(tmp_path) == live
    finally:
        process.kill()
        process.wait()


def test_a_dead_streamed_run_s_eigen_image_folder_is_removed_by_the_next_run_and_a_live_one_s_kept(tmp_path):
    from hsi.tiling.subspace_stream import scratch_folder

    from tests.faults._helpers import lock_held_elsewhere

    output = tmp_path / "out.tif"
    dead = tmp_path / ".out.tif.eigen-dead0000"  # a SIGKILLed run's: its lock file stayed, no process holds it
    dead.mkdir()
    (dead / "projected.f32").write_bytes(b"\0" * 64)
    (tmp_path / ".out.tif.eigen-dead0000.lock").write_text("12345\n")
    live = tmp_path / ".out.tif.eigen-live0000"
    live.mkdir()
    with lock_held_elsewhere(live):
        mine = scratch_folder(output)
        names = sorted(path.name for path in tmp_path.iterdir())
    assert names == sorted([mine.name, mine.name + ".lock", live.name, live.name + ".lock"])
    assert mine.is_dir() and mine.name.startswith(".out.tif.eigen-")

"""A scene several times larger than the memory budget streams through in bounded memory."""

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from hsi.io import create_writer, open_scene
from hsi.scene import Scene


def test_streaming_a_scene_6x_the_budget_stays_under_it(tmp_path):
    rows, cols, bands = 1024, 512, 48  # 96 MiB of float32
    budget = 16 * 2**20
    source = tmp_path / "big.npy"
    data = np.lib.format.open_memmap(source, mode="w+", dtype=np.float32, shape=(rows, cols, bands))
    for r in range(0, rows, 128):
        data[r:r + 128] = np.arange(r, r + 128, dtype=np.float32)[:, None, None]
    data.flush()
    del data
    scene = open_scene(source)
    assert scene.n_rows * scene.n_cols * scene.n_bands * 4 > 5 * budget
    block_rows = scene.block_rows_for(budget // 4)
    tracemalloc.start()
    with create_writer(tmp_path / "out.h5", scene.derived(), compression=None) as writer:
        for window in scene.windows(block_rows):
            writer.write(window, scene.read(window, physical=True) * 2.0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < budget, f"peak {peak / 2**20:.1f} MiB over the {budget / 2**20:.0f} MiB budget"
    out = open_scene(tmp_path / "out.h5")
    assert out.read(bands=[0])[1000, 7, 0] == 2000.0
    assert isinstance(out, Scene)


def _resident_bytes_of(fragment: str) -> int:
    """Resident bytes of this process's mappings of files whose path contains ``fragment``."""
    total, inside = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if fields and not fields[0].endswith(":"):  # a mapping's header line: address perms offset dev inode [path]
                inside = len(fields) > 5 and fragment in fields[5]
            elif inside and fields[0] == "Rss:":
                total += int(fields[1]) * 1024
    return total


@pytest.mark.parametrize("name", ["out.npy", "out.hdr"])
def test_a_memory_mapped_output_does_not_stay_resident(tmp_path, name):
    """Written windows leave the process's resident set (they would hold the whole output by the end)."""
    if not Path("/proc/self/smaps").exists():
        pytest.skip("needs Linux /proc/self/smaps")
    rows, cols, bands = 1024, 256, 48  # 48 MiB of float32, written 64 rows (3 MiB) at a time
    scene = Scene.from_array(np.zeros((rows, cols, bands), np.float32))
    resident = []
    with create_writer(tmp_path / name, scene.derived()) as writer:
        for window in scene.windows(64):
            block = np.arange(window.row, window.row + window.height, dtype=np.float32)[:, None, None]
            writer.write(window, np.broadcast_to(block, (window.height, cols, bands)))
            resident.append(_resident_bytes_of(".part"))
    assert max(resident) <= 64 * cols * bands * 4 + 2 * 4096, f"{max(resident) / 2**20:.1f} MiB of the output resident"
    out = open_scene(tmp_path / name).read(physical=True)
    assert np.array_equal(out[:, 0, 0], np.arange(rows, dtype=np.float32))
    assert np.array_equal(out, np.broadcast_to(out[:, :1, :1], out.shape))

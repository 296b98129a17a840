"""A scene several times larger than the memory budget runs through the tiled engine."""

import tracemalloc

import numpy as np

from hsi.io import open_scene
from hsi.tiling import run_tiled


def double(batch):
    return batch * 2.0


def test_tiled_run_on_scene_5x_the_budget_stays_under_it(tmp_path):
    rows, cols, bands = 4096, 128, 40  # 80 MiB of float32; the engine holds about one tile row (~10 MiB)
    budget = 16 * 2**20
    source = tmp_path / "big.npy"
    data = np.lib.format.open_memmap(source, mode="w+", dtype=np.float32, shape=(rows, cols, bands))
    for r in range(0, rows, 256):
        data[r:r + 256] = np.arange(r, r + 256, dtype=np.float32)[:, None, None]
    data.flush()
    del data
    scene = open_scene(source)
    assert rows * cols * bands * 4 >= 5 * budget
    import hsi.tiling.runner  # noqa: F401  (imports torch: keep import-time allocations out of the measure)
    import torch  # noqa: F401

    tracemalloc.start()
    run_tiled(double, scene, tmp_path / "out.npy", tile=64, overlap=8, batch_size=2, progress=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < budget, f"peak {peak / 2**20:.1f} MiB over the {budget / 2**20:.0f} MiB budget"
    out = np.load(tmp_path / "out.npy", mmap_mode="r")
    assert out[4000, 100, 7] == 8000.0 and out[3, 5, 0] == 6.0

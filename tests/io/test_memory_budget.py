"""A scene several times larger than the memory budget streams through in bounded memory."""

import tracemalloc

import numpy as np

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

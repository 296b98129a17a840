"""An interrupted tiled run resumes where it stopped and gives the uninterrupted result."""

import numpy as np
import pytest

from hsi.errors import ParameterError
from hsi.io import open_scene
from hsi.scene import Scene
from hsi.tiling import run_tiled


class CountingBlur:
    """3 x 3 box blur that counts its calls and can fail after ``fail_after`` calls."""

    def __init__(self, fail_after=None):
        self.calls, self.fail_after = 0, fail_after

    def __call__(self, batch):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt("simulated interruption")
        padded = np.pad(batch, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
        h, w = batch.shape[1:3]
        return sum(padded[:, i:i + h, j:j + w] for i in range(3) for j in range(3)) / 9.0


class CountingBlurOther(CountingBlur):
    pass


def test_interrupted_run_resumes_and_matches_the_uninterrupted_result(tmp_path, rng):
    scene = Scene.from_array(rng.uniform(size=(70, 40, 3)).astype(np.float32))
    options = dict(tile=16, overlap=4, batch_size=1, progress=False, prefetch=False)
    full = CountingBlur()
    expected = open_scene(run_tiled(full, scene, tmp_path / "full.tif", **options)["output"]).read()

    output = tmp_path / "out.tif"
    with pytest.raises(KeyboardInterrupt):
        run_tiled(CountingBlur(fail_after=full.calls // 2), scene, output, resume=True, **options)
    assert not output.exists()
    assert any((tmp_path / "out.tif.partial").glob("rows_*.npy"))

    second = CountingBlur()
    summary = run_tiled(second, scene, output, resume=True, **options)
    assert summary["resumed_from_row"] > 0
    assert second.calls < full.calls
    assert np.array_equal(open_scene(output).read(), expected)
    assert not (tmp_path / "out.tif.partial").exists()


def test_resume_with_other_settings_is_refused(tmp_path, rng):
    scene = Scene.from_array(rng.uniform(size=(40, 20, 2)).astype(np.float32))
    output = tmp_path / "out.tif"
    with pytest.raises(KeyboardInterrupt):
        run_tiled(CountingBlur(fail_after=2), scene, output, resume=True, tile=8, overlap=2, batch_size=1,
                  progress=False, prefetch=False)
    with pytest.raises(ParameterError, match="different settings"):
        run_tiled(CountingBlurOther(), scene, output, resume=True, tile=8, overlap=2, progress=False)

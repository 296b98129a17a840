"""The throughput benchmark's scene, score and floor helpers (the full suite runs in minutes)."""

import numpy as np
import pytest

pytest.importorskip("skimage")

from hsi.bench.throughput import fasthyde_flops, hyde_available, make_scene, streamed_mpsnr  # noqa: E402


def test_scene_is_textured_noisy_and_scored_like_mpsnr(tmp_path):
    from hsi.metrics import mpsnr

    noisy, clean = make_scene(tmp_path, 40, 12, sigma=30.0, seed=0, strip_rows=16)
    y, x = np.load(noisy), np.load(clean)
    assert y.shape == x.shape == (40, 40, 12) and y.dtype == np.float32
    assert np.isclose(x.max(), 1.0) and x.min() > 0
    assert np.std(y - x) == pytest.approx(30 / 255, rel=0.05)
    assert np.std(np.diff(x[..., 0], axis=1)) > 1e-3  # photographic texture, not flat fields
    assert streamed_mpsnr(clean, noisy, strip_rows=7) == pytest.approx(mpsnr(x, y), abs=1e-6)


def test_hyde_absence_is_a_reason_not_an_error(tmp_path):
    assert "not found" in hyde_available(str(tmp_path / "no-python"))
    assert "not found" in hyde_available(None)


def test_arithmetic_grows_with_pixels_and_subspace():
    small, large = fasthyde_flops(256, 200, 5, 1.0), fasthyde_flops(512, 200, 5, 1.0)
    assert 3.9 < large / small < 4.5
    assert fasthyde_flops(256, 200, 10, 1.0) > small

"""MTF kernels, blur and decimation (hsi.degrade.mtf)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hsi.degrade import (
    SENSOR_MTF,
    decimate,
    degrade_pan,
    degrade_resolution,
    gaussian_blur,
    mtf_blur,
    mtf_kernel,
    sensor_mtf,
)
from hsi.errors import ParameterError


def _response_2d(kernel: np.ndarray, f_row: float, f_col: float) -> complex:
    taps = np.arange(kernel.shape[0]) - kernel.shape[0] // 2
    phase_rows = np.exp(-2j * np.pi * f_row * taps)[:, None]
    phase_cols = np.exp(-2j * np.pi * f_col * taps)[None, :]
    return complex(np.sum(kernel * phase_rows * phase_cols))


@pytest.mark.parametrize("gain", [0.11, 0.15, 0.23, 0.3, 0.35, 0.6])
@pytest.mark.parametrize("ratio", [2, 4, 6])
def test_mtf_kernel_gain_at_nyquist_and_unit_sum(gain, ratio):
    kernel = mtf_kernel(gain, ratio)
    assert kernel.shape == (41, 41)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-12)
    nyquist = 1.0 / (2 * ratio)
    for f_row, f_col in ((nyquist, 0.0), (0.0, nyquist)):
        response = _response_2d(kernel, f_row, f_col)
        assert abs(response.imag) < 1e-12
        assert response.real == pytest.approx(gain, abs=1e-3)
    # A low pass: the response keeps falling beyond Nyquist.
    assert _response_2d(kernel, 2 * nyquist, 0.0).real < gain


def test_mtf_blur_attenuates_a_nyquist_grating_by_the_gain():
    ratio, gain = 4, 0.3
    cols = np.arange(64)
    grating = np.cos(2 * np.pi * cols / (2 * ratio))  # exactly the LR Nyquist frequency
    cube = np.tile(grating[None, :, None], (16, 1, 1))
    blurred = mtf_blur(cube, gain, ratio, padding="circular")
    np.testing.assert_allclose(blurred, gain * cube, atol=1e-6)


def test_mtf_blur_per_band_gains_and_flat_image_preserved(small_cube):
    gains = np.linspace(0.2, 0.4, small_cube.shape[2])
    blurred = mtf_blur(small_cube, gains, 4)
    assert blurred.shape == small_cube.shape and blurred.dtype == np.float32
    flat = np.full((9, 7, 3), 2.5, dtype=np.float64)
    np.testing.assert_allclose(mtf_blur(flat, [0.2, 0.3, 0.4], 4), flat, rtol=1e-12)
    # Each band filtered with its own gain: band 0 (lowest gain) is smoothed most.
    rough = np.random.default_rng(1).standard_normal((32, 32, 2))
    out = mtf_blur(rough, [0.1, 0.6], 4)
    assert out[..., 0].std() < out[..., 1].std()


def test_gaussian_blur_flat_and_smoothing(small_cube):
    noise = np.random.default_rng(2).standard_normal((40, 40, 2)).astype(np.float32)
    blurred = gaussian_blur(noise, [0.5, 2.0])
    # White noise variance after a unit-sum Gaussian is about 1 / (4 pi sigma^2).
    assert blurred[..., 1].var() == pytest.approx(1 / (4 * np.pi * 4.0), rel=0.35)
    assert blurred[..., 0].var() > blurred[..., 1].var()
    np.testing.assert_allclose(gaussian_blur(np.ones((5, 6, 1)), 3.0), 1.0, rtol=1e-12)


def test_decimate_shape_offset_and_kind():
    cube = np.arange(16 * 12 * 2).reshape(16, 12, 2)
    low = decimate(cube, 4)
    assert low.shape == (4, 3, 2)
    np.testing.assert_array_equal(low[..., 0], cube[2::4, 2::4, 0])
    assert decimate(cube, 4, offset=0)[0, 0, 0] == cube[0, 0, 0]
    assert decimate(cube, 4, offset=(1, 3))[0, 0, 1] == cube[1, 3, 1]
    assert decimate(np.zeros((10, 10)), 3).shape == (3, 3)  # rows 1, 4, 7
    assert isinstance(decimate(torch.zeros(8, 8, 3), 2), torch.Tensor)
    with pytest.raises(ParameterError, match="offset"):
        decimate(cube, 4, offset=4)
    with pytest.raises(ParameterError, match="ratio"):
        decimate(cube, 2.5)


def test_degrade_resolution_sensor_shapes_and_numpy_torch_parity():
    rng = np.random.default_rng(3)
    cube = rng.random((32, 28, 8)).astype(np.float32)
    low_np = degrade_resolution(cube, 4, "WorldView-2")
    assert low_np.shape == (8, 7, 8) and isinstance(low_np, np.ndarray)
    low_torch = degrade_resolution(torch.from_numpy(cube), 4, "WV2")
    assert isinstance(low_torch, torch.Tensor)
    np.testing.assert_allclose(low_torch.numpy(), low_np, atol=1e-6)
    # Same as explicit gains, blur then decimate.
    explicit = decimate(mtf_blur(cube, SENSOR_MTF["WV2"].ms_gains, 4), 4)
    np.testing.assert_allclose(low_np, explicit)
    with pytest.raises(ParameterError, match="8 MS bands"):
        degrade_resolution(cube[..., :4], 4, "WV2")


def test_degrade_pan_uses_pan_gain():
    pan = np.random.default_rng(4).random((40, 40))
    low = degrade_pan(pan, 4, "IKONOS")
    assert low.shape == (10, 10)
    np.testing.assert_allclose(low, decimate(mtf_blur(pan, 0.17, 4), 4))
    with pytest.raises(ParameterError, match="no PAN"):
        degrade_pan(pan, 4, "EnMAP")


def test_sensor_table_and_lookup():
    for name in ("QB", "IKONOS", "GeoEye1", "WV2", "WV3", "Pleiades", "PRISMA", "EnMAP", "generic"):
        entry = SENSOR_MTF[name]
        assert all(0 < g < 1 for g in entry.ms_gains) and entry.source
    assert SENSOR_MTF["WV2"].gains(8)[-1] == 0.27 and SENSOR_MTF["WV2"].pan_gain == 0.11
    assert SENSOR_MTF["PRISMA"].gains(66).shape == (66,)
    assert sensor_mtf("quickbird") is SENSOR_MTF["QB"]
    assert sensor_mtf("GeoEye-1") is SENSOR_MTF["GeoEye1"]
    with pytest.raises(ParameterError, match="unknown sensor"):
        sensor_mtf("landsat-99")


def test_bad_parameters_are_named():
    with pytest.raises(ParameterError, match="nyquist_gain"):
        mtf_kernel(1.2, 4)
    with pytest.raises(ParameterError, match="ratio"):
        mtf_kernel(0.3, 1)
    with pytest.raises(ParameterError, match="size"):
        mtf_kernel(0.3, 4, size=40)
    with pytest.raises(ParameterError, match="increase size"):
        mtf_kernel(0.01, 8, size=11)
    with pytest.raises(ParameterError, match="per band"):
        mtf_blur(np.zeros((8, 8, 3)), [0.3, 0.3], 4)
    with pytest.raises(ParameterError, match="padding"):
        mtf_blur(np.zeros((8, 8, 3)), 0.3, 4, padding="zeros")


def test_tiny_images_and_large_kernels_pad_correctly():
    # A 41-tap kernel on a 5x3 image: mirror padding must wrap several times.
    image = np.random.default_rng(5).random((5, 3, 1))
    for padding in ("symmetric", "reflect", "replicate", "circular"):
        out = mtf_blur(image, 0.3, 4, padding=padding)
        assert out.shape == image.shape and np.isfinite(out).all()
        assert image.min() - 1e-12 <= out.min() and out.max() <= image.max() + 1e-12

"""Spectral response functions (hsi.degrade.srf)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hsi.degrade import SENSOR_SRF, box_srf, gaussian_srf, srf_matrix, synthesize
from hsi.errors import InputError, ParameterError

WAVELENGTHS = np.arange(380.0, 2510.0, 10.0)  # an AVIRIS-like 10 nm grid


def test_gaussian_srf_rows_normalised_and_peaked_at_centre():
    srf = gaussian_srf(WAVELENGTHS, [500.0, 800.0], [40.0, 100.0])
    assert srf.shape == (2, WAVELENGTHS.size)
    np.testing.assert_allclose(srf.sum(axis=1), 1.0)
    assert WAVELENGTHS[srf[0].argmax()] == 500.0 and WAVELENGTHS[srf[1].argmax()] == 800.0
    # Half maximum at centre +- FWHM / 2.
    assert srf[0][WAVELENGTHS == 520.0][0] == pytest.approx(srf[0].max() / 2, rel=1e-9)


def test_box_srf_equal_weights_inside():
    srf = box_srf(WAVELENGTHS, [450.0], [900.0])
    inside = (WAVELENGTHS >= 450) & (WAVELENGTHS <= 900)
    np.testing.assert_allclose(srf[0, inside], 1.0 / inside.sum())
    assert np.all(srf[0, ~inside] == 0)


@pytest.mark.parametrize("name", sorted(SENSOR_SRF))
def test_flat_spectrum_synthesises_the_flat_value(name):
    cube = np.full((3, 4, WAVELENGTHS.size), 0.37, dtype=np.float32)
    out = synthesize(cube, WAVELENGTHS, name)
    n_out = len(SENSOR_SRF[name].band_names)
    assert out.shape == (3, 4, n_out)
    np.testing.assert_allclose(out, 0.37, rtol=1e-5)


def test_synthesis_selects_the_right_spectral_region():
    # A spectrum that is 1 in the red (630-690 nm) and 0 elsewhere lights mostly the red band.
    spectrum = ((WAVELENGTHS >= 630) & (WAVELENGTHS <= 690)).astype(np.float64)
    out = synthesize(np.tile(spectrum, (2, 2, 1)), WAVELENGTHS, "WV2_MS")[0, 0]
    names = SENSOR_SRF["WV2_MS"].band_names
    assert names[int(out.argmax())] == "red" and out.max() > 0.75  # Gaussian shoulders leak a little
    assert out[names.index("coastal")] < 1e-6 and out[names.index("nir2")] < 1e-3


def test_numpy_torch_parity_and_matrix_input(small_cube):
    wavelengths = np.linspace(420, 880, small_cube.shape[2])
    matrix = box_srf(wavelengths, [450.0, 600.0], [600.0, 850.0])
    from_numpy = synthesize(small_cube, wavelengths, matrix)
    from_torch = synthesize(torch.from_numpy(small_cube), None, torch.from_numpy(matrix))
    assert isinstance(from_torch, torch.Tensor)
    np.testing.assert_allclose(from_torch.numpy(), from_numpy, rtol=1e-6)
    np.testing.assert_allclose(from_numpy, small_cube @ matrix.T.astype(np.float32), rtol=1e-5)


def test_uncovered_wavelengths_raise_a_clear_error():
    samson_like = np.linspace(401, 889, 156)
    with pytest.raises(InputError, match="nir2"):
        synthesize(np.zeros((2, 2, 156)), samson_like, "WV2_MS")
    with pytest.raises(InputError, match="B11"):
        srf_matrix("S2_20m", samson_like)
    with pytest.raises(InputError, match="wavelengths"):
        synthesize(np.zeros((2, 2, 10)), np.arange(10.0), "WV2_PAN")
    with pytest.raises(ParameterError, match="unknown spectral response"):
        synthesize(np.zeros((2, 2, 156)), samson_like, "MODIS")
    with pytest.raises(ParameterError, match="srf matrix"):
        synthesize(np.zeros((2, 2, 156)), None, np.ones((2, 10)))


def test_real_samson_pan_synthesis(samson):
    wavelengths = samson.wavelengths_nm  # 401-889 nm
    pan = synthesize(samson.cube, wavelengths, box_srf(wavelengths, [450.0], [850.0]))
    assert pan.shape == samson.cube.shape[:2] + (1,)
    assert np.all(pan[..., 0] >= samson.cube.min(axis=2) - 1e-9)
    assert np.all(pan[..., 0] <= samson.cube.max(axis=2) + 1e-9)
    with pytest.raises(InputError, match="450-900 nm"):
        synthesize(samson.cube, wavelengths, "PAN_generic")

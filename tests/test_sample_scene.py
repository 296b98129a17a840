"""The synthetic sample scene: valid ground truth, realistic spectra, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from hsi.errors import ParameterError
from hsi.sample_scene import MATERIAL_NAMES, make_sample_scene, sample_scene_metadata


@pytest.fixture(scope="module")
def sample():
    return make_sample_scene(n_rows=48, n_cols=40, seed=0)


def test_shapes_and_dtypes(sample):
    n_bands = sample.wavelengths_nm.size
    assert 100 <= n_bands <= 120
    assert sample.wavelengths_nm[0] == 400 and sample.wavelengths_nm[-1] == 2500
    assert sample.cube.shape == (48, 40, n_bands) and sample.cube.dtype == np.float32
    assert sample.abundances.shape == (48, 40, len(MATERIAL_NAMES))
    assert sample.endmembers.shape == (n_bands, len(MATERIAL_NAMES))
    assert sample.fwhm_nm.shape == sample.bad_bands.shape == sample.sigma_per_band.shape == (n_bands,)
    assert sample.material_names == MATERIAL_NAMES


def test_abundances_are_valid_with_pure_pixels(sample):
    abundances = sample.abundances.astype(np.float64)
    assert abundances.min() >= 0.0
    np.testing.assert_allclose(abundances.sum(axis=-1), 1.0, atol=1e-6)
    for k, name in enumerate(MATERIAL_NAMES):
        assert (abundances[:, :, k] > 0.999).any(), f"no pure pixel of {name}"
    # Mixed pixels too: most of the scene is not pure.
    assert np.mean(abundances.max(axis=-1) < 0.99) > 0.3


def test_cube_is_the_linear_mixture_plus_the_stated_noise():
    sample = make_sample_scene(n_rows=64, n_cols=64, seed=3)
    clean = sample.abundances.astype(np.float64) @ sample.endmembers.T.astype(np.float64)
    residual = sample.cube.astype(np.float64) - clean
    measured = residual.reshape(-1, residual.shape[2]).std(axis=0)
    np.testing.assert_allclose(measured, sample.sigma_per_band, rtol=0.08)
    assert np.abs(residual.mean(axis=(0, 1))).max() < 3 * sample.sigma_per_band.max() / 64
    # Water-vapour bands are flagged and much noisier than the rest.
    bad = sample.bad_bands
    flagged = sample.wavelengths_nm[bad]
    assert bad.sum() > 5
    assert np.all(((flagged >= 1350) & (flagged <= 1450)) | ((flagged >= 1800) & (flagged <= 1950)))
    assert sample.sigma_per_band[bad].min() > 3 * sample.sigma_per_band[~bad].max()


def test_noise_free_option_gives_the_exact_mixture():
    sample = make_sample_scene(n_rows=16, n_cols=16, noise_sigma=0.0, bad_band_sigma=0.0)
    np.testing.assert_allclose(sample.cube, sample.abundances @ sample.endmembers.T, atol=1e-6)


def test_spectra_have_their_diagnostic_features(sample):
    wavelengths, endmembers = sample.wavelengths_nm, sample.endmembers
    at = lambda material, nm: endmembers[np.argmin(np.abs(wavelengths - nm)), MATERIAL_NAMES.index(material)]  # noqa: E731
    assert at("green vegetation", 860) / at("green vegetation", 660) > 3  # red edge
    assert at("green vegetation", 560) > at("green vegetation", 660)  # green peak
    assert at("dry vegetation", 860) / at("dry vegetation", 660) < 1.6  # no red edge
    assert at("dry vegetation", 2100) < 0.9 * min(at("dry vegetation", 2000), at("dry vegetation", 2220))  # cellulose
    assert at("dry soil", 2200) < 0.95 * min(at("dry soil", 2120), at("dry soil", 2280))  # clay Al-OH
    assert at("dry soil", 400) < at("dry soil", 800) < at("dry soil", 1600)
    assert at("water", 1000) < 0.01 and at("water", 560) > at("water", 860)
    assert np.all((endmembers > 0) & (endmembers < 0.7))


def test_deterministic_per_seed():
    a = make_sample_scene(n_rows=20, n_cols=24, seed=5)
    b = make_sample_scene(n_rows=20, n_cols=24, seed=5)
    c = make_sample_scene(n_rows=20, n_cols=24, seed=6)
    assert np.array_equal(a.cube, b.cube) and np.array_equal(a.abundances, b.abundances)
    assert not np.array_equal(a.cube, c.cube)


def test_custom_wavelengths_and_bad_input():
    sample = make_sample_scene(n_rows=16, n_cols=16, wavelengths_nm=np.arange(410, 1000, 10.0))
    assert sample.cube.shape == (16, 16, 59) and not sample.bad_bands.any()
    np.testing.assert_allclose(sample.fwhm_nm, 11.0)
    with pytest.raises(ParameterError, match="n_rows"):
        make_sample_scene(n_rows=4)
    with pytest.raises(ParameterError, match="wavelengths_nm"):
        make_sample_scene(wavelengths_nm=[500, 400, 600])


def test_scene_carries_the_georeference(sample):
    scene = sample.to_scene()
    meta = sample_scene_metadata()
    assert scene.crs.to_epsg() == 32611 and scene.pixel_size == (30.0, 30.0)
    assert (scene.transform.c, scene.transform.f) == (350000.0, 3810000.0)
    assert scene.nodata == meta["nodata"] == -9999.0 and scene.units == "reflectance"
    np.testing.assert_array_equal(scene.read(), sample.cube)
    np.testing.assert_array_equal(scene.bad_bands, sample.bad_bands)

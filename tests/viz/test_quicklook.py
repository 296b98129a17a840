"""Quicklooks: band choice, percentile stretch, transparency of nodata, files on disk."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest

from hsi.errors import ParameterError, WriteError
from hsi.io.atomic import atomic_write
from hsi.viz import (
    plot_spectra,
    rgb_bands,
    rgb_image,
    save_band_maps,
    save_before_after,
    save_error_map,
    save_rgb_quicklook,
    stretch_limits,
)


def test_rgb_bands_nearest_to_true_colour():
    wavelengths = np.arange(400.0, 1001.0, 10.0)  # 400, 410, ... nm
    assert rgb_bands(wavelengths) == (24, 15, 6)  # 640, 550, 460 nm
    assert rgb_bands([450.0, 560.0, 655.0, 800.0]) == (2, 1, 0)
    assert rgb_bands(wavelengths, targets_nm=(860, 650, 550)) == (46, 25, 15)


def test_rgb_bands_without_wavelengths_uses_fractions_of_the_range():
    assert rgb_bands(None, n_bands=101) == (75, 50, 25)
    with pytest.raises(ParameterError, match="n_bands"):
        rgb_bands(None)


def test_stretch_maps_percentiles_to_0_and_255():
    rng = np.random.default_rng(0)
    cube = rng.uniform(0.1, 0.6, size=(30, 40, 5))
    rgba = rgb_image(cube, bands=(3, 2, 1), percentiles=(0, 100))
    for channel, band in enumerate((3, 2, 1)):
        values = cube[:, :, band]
        assert rgba[:, :, channel][values == values.min()].item() == 0
        assert rgba[:, :, channel][values == values.max()].item() == 255
    # With the default (2, 98) stretch, 2 % of the pixels saturate at each end (ties aside).
    rgba = rgb_image(cube, bands=(3, 2, 1))
    assert 0.01 < np.mean(rgba[:, :, 0] == 0) < 0.04
    assert 0.01 < np.mean(rgba[:, :, 0] == 255) < 0.04
    assert np.all(rgba[:, :, 3] == 255)


def test_nodata_is_transparent_and_does_not_set_the_stretch():
    cube = np.tile(np.linspace(0.0, 1.0, 20)[None, :, None], (10, 1, 3))
    cube[0, 0, :] = -9999.0  # nodata value
    cube[1, 1, 1] = np.nan
    mask = np.zeros((10, 20), bool)
    mask[0, 0] = True
    rgba = rgb_image(cube, bands=(0, 1, 2), percentiles=(0, 100), nodata_mask=mask)
    assert rgba[0, 0, 3] == 0 and rgba[1, 1, 3] == 0
    assert np.all(rgba[0, 0, :3] == 0)
    assert (rgba[:, :, 3] == 0).sum() == 2
    # -9999 was ignored: the darkest valid pixel (0.0) maps to 0 and the brightest to 255.
    np.testing.assert_allclose(stretch_limits(cube, bands=(0, 1, 2), percentiles=(0, 100), nodata_mask=mask),
                               [[0.0, 1.0]] * 3)
    assert rgba[5, 0, 0] == 0 and rgba[5, 19, 0] == 255


def test_quicklook_png_has_the_scene_size(tmp_path):
    cube = np.random.default_rng(1).uniform(size=(17, 23, 8)).astype(np.float32)
    wavelengths = np.linspace(420, 720, 8)
    path = save_rgb_quicklook(cube, wavelengths, tmp_path / "ql.png")
    image = matplotlib.image.imread(path)
    assert image.shape == (17, 23, 4)
    expected = rgb_image(cube, wavelengths) / 255.0
    np.testing.assert_allclose(image, expected, atol=1e-6)
    assert matplotlib.image.imread(save_rgb_quicklook(cube, None, tmp_path / "big.png", upscale=3)).shape == (51, 69, 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.png", "ql.png"]  # no temporary files left


def test_failed_write_leaves_nothing_behind(tmp_path):
    with pytest.raises(ParameterError, match="unknownformat"):
        save_rgb_quicklook(np.ones((4, 4, 3)), None, tmp_path / "ql.unknownformat")

    def broken_writer(temporary):
        temporary.write_bytes(b"half an image")
        raise OSError("disk full")

    (tmp_path / "ql.png").write_bytes(b"previous")
    with pytest.raises(WriteError, match=r"ql\.png: could not write the output \(disk full\)"):
        atomic_write(tmp_path / "ql.png", broken_writer)
    assert [p.name for p in tmp_path.iterdir()] == ["ql.png"]
    assert (tmp_path / "ql.png").read_bytes() == b"previous"


def test_before_after_shares_the_stretch_of_before(tmp_path):
    rng = np.random.default_rng(2)
    before = rng.uniform(0.2, 0.4, size=(20, 20, 6))
    after = before * 2.0  # twice as bright: with a shared stretch it saturates
    limits = stretch_limits(before, bands=(0, 1, 2))
    assert np.mean(rgb_image(after, bands=(0, 1, 2), limits=limits) == 255) > 0.9 * 0.75
    path = save_before_after(before, after, None, tmp_path / "ba.png", crop="center")
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    with pytest.raises(ParameterError, match="same bands"):
        save_before_after(before, after[:, :, :3], None, tmp_path / "x.png")


def test_plots_are_written(tmp_path):
    wavelengths = np.linspace(400, 2500, 50)
    spectra = np.stack([np.linspace(0, 1, 50), np.linspace(1, 0, 50)], axis=1)
    for path in (
        plot_spectra(wavelengths, spectra, ["up", "down"], tmp_path / "spectra.png", title="t"),
        plot_spectra(None, spectra[:, 0], None, tmp_path / "one.png"),
        save_band_maps(np.random.default_rng(3).uniform(size=(12, 15, 5)), list("abcde"), tmp_path / "maps.png"),
        save_error_map(np.abs(np.random.default_rng(4).normal(size=(12, 15))), tmp_path / "err.png", "RMSE"),
    ):
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and min(image.shape[:2]) > 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["err.png", "maps.png", "one.png", "spectra.png"]
    with pytest.raises(ParameterError, match="labels"):
        plot_spectra(wavelengths, spectra, ["only one"], tmp_path / "bad.png")


def test_atomic_images_get_the_usual_file_mode(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "ql.png", lambda target: target.write_bytes(b"png"))
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600: others can read quicklooks

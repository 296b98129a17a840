"""EnMAP product folders: the real L2A tile and synthetic folders with METADATA.XML."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from hsi.errors import FormatError
from hsi.io import open_scene
from hsi.scene import Window

ENMAP_TILE = "satellite/enmap_l2a_hyspecnet"
STEM = "ENMAP01-____L2A-DT0000000001_20230101T000000Z_001_V010400_20230102T000000Z"


def test_real_tile_has_grid_nodata_and_quality_layers(satellite):
    with pytest.warns(UserWarning, match="without METADATA.XML"):
        scene = open_scene(satellite / ENMAP_TILE)
    assert scene.shape == (128, 128, 224) and scene.nodata == -32768
    assert scene.crs.to_epsg() == 32618 and scene.transform.a == 30.0
    assert scene.metadata["product"]["sensor"] == "EnMAP" and scene.metadata["product"]["level"] == "L2A"
    assert {"cloud", "cirrus", "haze", "snow", "cloud_shadow", "pixel"} <= set(scene.masks)
    assert scene.read_mask("cloud").shape == (128, 128)
    assert scene.read_mask("pixel").shape == (128, 128, 224)


def test_real_tile_without_metadata_gets_the_nominal_band_table_and_reflectance(satellite):
    """No METADATA.XML: DLR's nominal centres (VNIR then SWIR, each ascending) and reflectance = DN x 1e-4."""
    with pytest.warns(UserWarning, match="nominal band centres"):
        scene = open_scene(satellite / ENMAP_TILE)
    wavelengths = scene.wavelengths_nm
    assert wavelengths.shape == (224,) and scene.fwhm_nm is None and scene.units == "reflectance"
    vnir, swir = wavelengths[:91], wavelengths[91:]
    assert np.all(np.diff(vnir) > 0) and np.all(np.diff(swir) > 0)
    assert 418 < vnir[0] < 419 and 993 < vnir[-1] < 994 and 901 < swir[0] < 903 and 2445 < swir[-1] < 2446
    cube = scene.read(Window(0, 0, 128, 128), physical=True)
    valid = cube[np.isfinite(cube)]
    assert valid.size > 0.85 * cube.size  # the 22 water-vapour bands are the nodata
    # a dark water tile: reflectance of a few percent, slightly negative where the correction overshoots;
    # left in DN its values reach the hundreds
    assert np.all((valid > -0.1) & (valid < 1.2))
    assert np.mean((valid >= -0.05) & (valid <= 1.2)) > 0.999 and 0 < np.median(valid) < 0.1


def test_a_band_count_the_nominal_table_does_not_know_keeps_band_indices_and_dn(tmp_path, rng):
    folder = tmp_path / STEM
    folder.mkdir()
    _write_tif(folder / f"{STEM}-SPECTRAL_IMAGE.TIF", rng.integers(0, 900, (4, 3, 6)).astype(np.int16), nodata=-32768)
    with pytest.warns(UserWarning, match="with 6 bands"):
        scene = open_scene(folder)
    assert scene.wavelengths_nm is None and scene.units == "DN" and scene.scale == 1.0


def _write_tif(path: Path, cube: np.ndarray, nodata=None) -> None:
    profile = dict(driver="GTiff", width=cube.shape[1], height=cube.shape[0], count=cube.shape[2], dtype=cube.dtype.name,
                   crs="EPSG:32633", transform=Affine(30, 0, 500000, 0, -30, 5000000), nodata=nodata)
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(np.moveaxis(cube, -1, 0))


def _metadata_xml(wavelengths, fwhm, gains, offsets) -> str:
    bands = "".join(
        f'<bandID number="{i + 1}"><wavelengthCenterOfBand>{w}</wavelengthCenterOfBand><FWHMOfBand>{f}</FWHMOfBand>'
        f"<GainOfBand>{g}</GainOfBand><OffsetOfBand>{o}</OffsetOfBand></bandID>"
        for i, (w, f, g, o) in enumerate(zip(wavelengths, fwhm, gains, offsets)))
    return f"<level_X><specific><bandCharacterisation>{bands}</bandCharacterisation></specific></level_X>"


@pytest.fixture
def enmap_folder(tmp_path, rng):
    """A 9 x 7 x 5 L2A folder: SPECTRAL_IMAGE (int16, nodata -32768, band 2 empty), METADATA.XML, a cloud layer."""
    folder = tmp_path / STEM
    folder.mkdir()
    cube = rng.integers(100, 5000, (9, 7, 5)).astype(np.int16)
    cube[:, :, 2] = -32768
    cube[0, 0] = -32768
    _write_tif(folder / f"{STEM}-SPECTRAL_IMAGE.TIF", cube, nodata=-32768)
    cloud = np.zeros((9, 7, 1), np.uint8)
    cloud[4:, :, 0] = 1
    _write_tif(folder / f"{STEM}-QL_QUALITY_CLOUD.TIF", cloud)
    xml = _metadata_xml([420.0, 500.0, 940.0, 1600.0, 2200.0], [6.5, 7.0, 11.0, 9.5, 8.0], [1e-4] * 5, [0.0] * 5)
    (folder / f"{STEM}-METADATA.XML").write_text(xml)
    return folder, cube


def test_metadata_xml_gives_wavelengths_fwhm_and_reflectance(enmap_folder):
    folder, cube = enmap_folder
    scene = open_scene(folder)
    np.testing.assert_allclose(scene.wavelengths_nm, [420, 500, 940, 1600, 2200])
    np.testing.assert_allclose(scene.fwhm_nm, [6.5, 7.0, 11.0, 9.5, 8.0])
    values = scene.read(physical=True)
    np.testing.assert_allclose(values[1, 1], cube[1, 1].astype(np.float32) * np.float32(1e-4) * [1, 1, np.nan, 1, 1])
    assert np.isnan(values[0, 0]).all() and scene.units == "reflectance"
    assert scene.read_mask("cloud")[4:].all() and not scene.read_mask("cloud")[:4].any()


def test_per_band_gains_are_applied_lazily(enmap_folder):
    folder, cube = enmap_folder
    xml = _metadata_xml([420.0, 500.0, 940.0, 1600.0, 2200.0], [7.0] * 5, [0.01, 0.02, 0.03, 0.04, 0.05], [1.0] * 5)
    (folder / f"{STEM}-METADATA.XML").write_text(xml)
    scene = open_scene(folder)
    expected = cube[2, 3].astype(np.float32) * np.float32([0.01, 0.02, 0.03, 0.04, 0.05]) + 1
    expected[2] = np.nan
    np.testing.assert_allclose(scene.read(physical=True)[2, 3], expected, rtol=1e-6)


def test_zipped_product_reads_like_the_folder(enmap_folder, tmp_path):
    folder, _ = enmap_folder
    archive = tmp_path / f"{STEM}.ZIP"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in folder.iterdir():
            zf.write(path, f"{STEM}/{path.name}")
    zipped, plain = open_scene(archive), open_scene(folder)
    np.testing.assert_array_equal(zipped.read(physical=True), plain.read(physical=True))
    np.testing.assert_array_equal(zipped.wavelengths_nm, plain.wavelengths_nm)


def test_band_count_disagreeing_with_the_image_is_a_one_line_error(enmap_folder):
    folder, _ = enmap_folder
    (folder / f"{STEM}-METADATA.XML").write_text(_metadata_xml([420.0, 500.0], [7.0] * 2, [1e-4] * 2, [0.0] * 2))
    with pytest.raises(FormatError, match=r"METADATA.XML.*describes 2 bands, the SPECTRAL_IMAGE has 5"):
        open_scene(folder)


def test_folder_missing_its_band_file_is_a_one_line_error(enmap_folder):
    folder, _ = enmap_folder
    (folder / f"{STEM}-SPECTRAL_IMAGE.TIF").unlink()
    with pytest.raises(FormatError, match=r"EnMAP product without a SPECTRAL_IMAGE file"):
        open_scene(folder)

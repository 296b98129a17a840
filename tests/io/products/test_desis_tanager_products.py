"""DESIS (GeoTIFF + ENVI header with gains) and Tanager (HDF5) products built to their layouts."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import rasterio
from affine import Affine

from hsi.errors import FormatError
from hsi.io import open_scene
from hsi.io.products.glt import orthorectified

DESIS = "DESIS-HSI-L2A-DT0483038728_001-20200415T144233-V0215-SPECTRAL_IMAGE"


def _write_desis(folder, rng, gains=True):
    cube = rng.integers(1, 10000, (6, 5, 4)).astype(np.int16)
    cube[2, 2] = -32768
    with rasterio.open(folder / f"{DESIS}.tif", "w", driver="GTiff", width=5, height=6, count=4, dtype="int16",
                       crs="EPSG:32614", transform=Affine(30, 0, 600000, 0, -30, 3400000)) as ds:
        ds.write(np.moveaxis(cube, -1, 0))
    lines = ["ENVI", "samples = 5", "lines = 6", "bands = 4", "data type = 2", "interleave = bsq",
             "wavelength = {402.0, 550.5, 700.1, 998.9}", "fwhm = {3.5, 3.5, 3.6, 3.8}", "data ignore value = -32768"]
    if gains:
        lines += ["data gain values = {1e-4, 1e-4, 2e-4, 2e-4}", "data offset values = {0, 0, 0.01, 0.01}"]
    (folder / f"{DESIS}.hdr").write_text("\n".join(lines) + "\n")
    return folder / f"{DESIS}.tif", cube


def test_desis_header_gives_wavelengths_gains_and_fill(tmp_path, rng):
    path, cube = _write_desis(tmp_path, rng)
    scene = open_scene(path)
    np.testing.assert_allclose(scene.wavelengths_nm, [402.0, 550.5, 700.1, 998.9])
    assert scene.crs.to_epsg() == 32614 and scene.metadata["product"]["sensor"] == "DESIS"
    values = scene.read(physical=True)
    expected = cube[1, 3].astype(np.float32) * np.float32([1e-4, 1e-4, 2e-4, 2e-4]) + np.float32([0, 0, 0.01, 0.01])
    np.testing.assert_allclose(values[1, 3], expected, rtol=1e-6)
    assert np.isnan(values[2, 2]).all()


def test_desis_without_its_header_is_a_one_line_error(tmp_path, rng):
    path, _ = _write_desis(tmp_path, rng)
    path.with_suffix(".hdr").unlink()
    with pytest.raises(FormatError, match=r"DESIS image without its ENVI header"):
        open_scene(path)


def _write_tanager(path, rng, wavelengths=True):
    cube = rng.random((5, 7, 6)).astype(np.float32)  # (bands, rows, cols)
    footprint = np.zeros((7, 6), np.uint8)
    footprint[:, 0] = 1
    with h5py.File(path, "w") as f:
        fields = "HDFEOS/SWATHS/HYP/Data Fields"
        dataset = f.create_dataset(f"{fields}/surface_reflectance", data=cube)
        if wavelengths:
            dataset.attrs["wavelengths"] = np.linspace(380.0, 2500.0, 5)
            dataset.attrs["fwhm"] = np.full(5, 5.5)
        f[f"{fields}/nodata_pixels"] = footprint
        f["HDFEOS/SWATHS/HYP/Geolocation Fields/Latitude"] = np.full((7, 6), 40.0)
        f["HDFEOS/SWATHS/HYP/Geolocation Fields/Longitude"] = np.full((7, 6), -105.0)
    return cube


def test_tanager_cube_is_transposed_and_the_footprint_is_nodata(tmp_path, rng):
    path = tmp_path / "20250101_000000_00_4001_basic_sr_hdf5.h5"
    cube = _write_tanager(path, rng)
    scene = open_scene(path)
    assert scene.shape == (7, 6, 5) and scene.metadata["product"]["sensor"] == "Tanager"
    values = scene.read(physical=True)
    np.testing.assert_array_equal(values[3, 4], cube[:, 3, 4])
    assert np.isnan(values[:, 0]).all() and scene.read_mask("outside_footprint")[:, 0].all()
    assert scene.geolocation.kind == "lat/lon" and scene.wavelengths_nm[-1] == 2500.0


def test_tanager_without_wavelengths_is_a_one_line_error(tmp_path, rng):
    path = tmp_path / "tanager.h5"
    _write_tanager(path, rng, wavelengths=False)
    with pytest.raises(FormatError, match=r"tanager.h5: Tanager 'surface_reflectance' without a wavelengths attribute"):
        open_scene(path)


def test_tanager_latlon_arrays_orthorectify_through_gdal_geolocation(tmp_path, rng):
    path = tmp_path / "tanager.h5"
    cube = _write_tanager(path, rng)
    with h5py.File(path, "a") as f:  # a north-up swath, 0.001 deg pixels: the map grid is the swath itself
        rows, cols = np.mgrid[0:7, 0:6]
        f["HDFEOS/SWATHS/HYP/Geolocation Fields/Latitude"][...] = 40.0 - 0.001 * rows
        f["HDFEOS/SWATHS/HYP/Geolocation Fields/Longitude"][...] = -105.0 + 0.001 * cols
    scene = open_scene(path)
    ortho = orthorectified(scene)
    assert ortho.crs.to_epsg() == 4326 and ortho.shape == scene.shape
    assert ortho.transform.c == pytest.approx(-105.0005) and ortho.transform.f == pytest.approx(40.0005)
    np.testing.assert_array_equal(ortho.read(physical=True)[:, 1:], np.moveaxis(cube, 0, -1)[:, 1:])

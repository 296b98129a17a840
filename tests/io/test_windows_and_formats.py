"""Windowed reads and out-of-order windowed writes, for every format."""

import h5py
import numpy as np
import pytest
import scipy.io
from affine import Affine
from rasterio.crs import CRS

from hsi.io import create_writer, open_scene, save_scene
from hsi.scene import Scene, Window

FORMATS = ["cube.tif", "cube.hdr", "cube.h5", "cube.npy", "cube.mat"]


@pytest.fixture
def georeferenced(rng):
    cube = rng.normal(size=(37, 29, 11)).astype(np.float32)
    return Scene.from_array(
        cube, wavelengths_nm=np.linspace(0.4, 2.5, 11) * 1000, fwhm_nm=np.full(11, 10.0),
        nodata=-9999.0, crs=CRS.from_epsg(32633), transform=Affine(20, 0, 500000, 0, -20, 4600000),
        bad_bands=np.arange(11) == 4, units="reflectance",
    )


@pytest.mark.parametrize("name", FORMATS)
def test_any_window_and_band_subset_matches_the_full_read(tmp_path, georeferenced, name):
    scene = open_scene(save_scene(georeferenced, tmp_path / name))
    full = georeferenced.read()
    window, bands = Window(5, 3, 17, 9), [7, 2, 2, 10]
    np.testing.assert_array_equal(scene.read(window, bands), full[5:22, 3:12][:, :, bands])


@pytest.mark.parametrize("name", FORMATS)
def test_writer_accepts_windows_in_any_order(tmp_path, georeferenced, name):
    full = georeferenced.read()
    windows = list(georeferenced.windows(8, 7))
    np.random.default_rng(1).shuffle(windows)
    with create_writer(tmp_path / name, georeferenced.derived()) as writer:
        for window in windows:
            writer.write(window, full[window.rows, window.cols])
    np.testing.assert_array_equal(open_scene(tmp_path / name).read(), full)


def test_failed_write_leaves_no_file(tmp_path, georeferenced):
    with pytest.raises(RuntimeError):
        with create_writer(tmp_path / "out.tif", georeferenced.derived()) as writer:
            writer.write(Window(0, 0, 8, 8), georeferenced.read(Window(0, 0, 8, 8)))
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_hdf5_layout_and_key_options(tmp_path, rng):
    cube = rng.normal(size=(6, 5, 4))
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f.create_dataset("group/radiance", data=cube.transpose(2, 0, 1))
    scene = open_scene(tmp_path / "x.h5", key="group/radiance", layout="bands,rows,cols")
    np.testing.assert_array_equal(scene.read(), cube)


def test_matlab_v73_is_transposed_back(tmp_path, rng):
    cube = rng.normal(size=(6, 5, 4))
    # MATLAB v7.3 stores column-major: h5py sees the reversed axes.
    with h5py.File(tmp_path / "x.mat", "w") as f:
        f.create_dataset("cube", data=cube.transpose(2, 1, 0))
    np.testing.assert_array_equal(open_scene(tmp_path / "x.mat").read(), cube)


def test_matlab_bands_by_pixels_layout(tmp_path, rng):
    cube = rng.normal(size=(4, 3, 5))
    matrix = cube.transpose(2, 0, 1).reshape(5, -1, order="F")
    scipy.io.savemat(tmp_path / "y.mat", {"Y": matrix, "nRow": 4, "nCol": 3})
    np.testing.assert_array_equal(open_scene(tmp_path / "y.mat").read(), cube)


def test_micrometre_wavelengths_become_nanometres(tmp_path, rng):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        d = f.create_dataset("cube", data=rng.normal(size=(3, 3, 4)))
        d.attrs["axes"] = "rows,cols,bands"
        d.attrs["wavelength"] = [0.5, 0.6, 0.7, 0.8]
        d.attrs["wavelength_units"] = "micrometers"
    np.testing.assert_allclose(open_scene(tmp_path / "x.h5").wavelengths_nm, [500, 600, 700, 800])


def test_physical_read_applies_scale_and_masks_nodata(tmp_path):
    counts = np.array([[[100, -9999]]], dtype=np.int16)
    scene = Scene.from_array(counts, scale=1e-4, nodata=-9999)
    values = open_scene(save_scene(scene, tmp_path / "s.tif")).read(physical=True)
    assert values[0, 0, 0] == pytest.approx(0.01) and np.isnan(values[0, 0, 1])


def test_cog_output_is_a_valid_tiled_geotiff(tmp_path, georeferenced):
    import rasterio

    path = save_scene(georeferenced, tmp_path / "c.tif", cog=True)
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == 32633 and ds.profile.get("tiled")
    np.testing.assert_array_equal(open_scene(path).read(), georeferenced.read())

"""EMIT granules: the real crops and synthetic granules built to the LP DAAC layout."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from hsi.errors import FormatError
from hsi.io import open_scene
from hsi.io.products.glt import orthorectified

EMIT_OBS = "satellite/emit/EMIT_L1B_OBS_001_20220827T060753_9999999_999.nc"
EMIT_MASK = "satellite/emit/EMIT_L2A_MASK_001_20220827T060753_9999999_999.nc"
EMIT_RFL = "satellite/emit/EMIT_L2A_RFL_001_20241006T165148_2428011_003_crop.nc"


def test_real_obs_crop_reads_fill_glt_and_grid(satellite):
    path = satellite / EMIT_OBS
    scene = open_scene(path)
    assert scene.shape == (200, 200, 11)
    assert scene.nodata == -9999.0
    assert scene.metadata["product"] == {"sensor": "EMIT", "level": "L1B", "product": "L1B OBS", "content": "geometry"}
    assert scene.band_names[0].startswith("Path length")
    assert scene.geolocation.kind == "glt" and scene.geolocation.shape == (318, 354)
    ortho = orthorectified(scene)
    assert ortho.crs.to_epsg() == 4326
    with h5py.File(path) as f:
        assert ortho.transform.to_gdal() == pytest.approx(tuple(f.attrs["geotransform"]))
        glt_x, glt_y, obs = f["location/glt_x"][:], f["location/glt_y"][:], f["obs"][:]
    expected = np.full((318, 354, 11), -9999.0, np.float32)
    hit = (glt_x != 0) & (glt_y != 0)
    expected[hit] = obs[glt_y[hit] - 1, glt_x[hit] - 1]
    np.testing.assert_array_equal(ortho.read(), expected)


def test_real_mask_crop_exposes_flags_as_masks(satellite):
    scene = open_scene(satellite / EMIT_MASK)
    assert {"cloud", "cirrus", "water", "aggregate"} <= set(scene.masks)
    with h5py.File(satellite / EMIT_MASK) as f:
        aggregate = f["mask"][:, :, 7]
    np.testing.assert_array_equal(scene.read_mask("aggregate"), (aggregate != 0) & (aggregate != -9999))


def test_real_rfl_crop_is_reflectance_with_fill_as_nodata(satellite):
    with pytest.warns(UserWarning, match="no wavelengths and no geolocation"):
        scene = open_scene(satellite / EMIT_RFL)
    assert scene.shape == (32, 32, 3) and scene.nodata == -9999.0 and scene.units == "reflectance"
    values = scene.read(physical=True)
    assert np.isfinite(values).all() and 0 < values.min() and values.max() < 1


def test_synthetic_rfl_rotated_glt_bands_and_companion_mask(tmp_path, write_emit_rfl, rotated_glt, rng):
    cube = rng.random((20, 12, 6)).astype(np.float32)
    cube[3] = -9999.0  # a fill line
    glt_x, glt_y = rotated_glt(20, 12, 30.0)
    good = np.array([1, 1, 0, 1, 1, 0])
    path = write_emit_rfl(tmp_path, cube, glt_x, glt_y, good=good)
    mask_path = tmp_path / path.name.replace("_RFL_", "_MASK_")
    with h5py.File(mask_path, "w") as f:
        flags = np.zeros((20, 12, 8), np.float32)
        flags[5:8, :, 0] = 1  # cloud
        f["mask"] = flags
        bits = np.zeros((20, 12, 8), np.uint8)
        bits[2, 3, 4] = 1  # band 4 interpolated at one pixel
        f["band_mask"] = np.packbits(bits, axis=2)
        f["sensor_band_parameters/mask_bands"] = np.array(
            [b"Cloud flag", b"Cirrus flag", b"Water flag", b"Spacecraft Flag", b"Dilated Cloud Flag", b"AOD550",
             b"H2O (g cm-2)", b"Aggregate Flag"], dtype=object)
    scene = open_scene(path)
    np.testing.assert_array_equal(scene.bad_bands, good == 0)
    assert scene.wavelengths_nm[0] == pytest.approx(381.0) and scene.fwhm_nm[0] == pytest.approx(8.5)
    assert scene.read_mask("cloud")[5:8].all() and not scene.read_mask("cloud")[:5].any()
    interpolated = scene.read_mask("interpolated")
    assert interpolated.shape == (20, 12, 6) and interpolated[2, 3, 4] and interpolated.sum() == 1
    subset = scene.select_bands([4, 5]).read_mask("interpolated")
    assert subset.shape == (20, 12, 2) and subset[2, 3, 0] and subset.sum() == 1
    assert np.isnan(scene.read(physical=True)[3]).all()
    ortho = orthorectified(scene).read()
    hit = glt_x > 0
    np.testing.assert_array_equal(ortho[hit], cube[glt_y[hit] - 1, glt_x[hit] - 1])
    assert (ortho[~hit] == -9999.0).all()


def test_glt_outside_the_swath_is_a_one_line_error(tmp_path, write_emit_rfl, rotated_glt, rng):
    glt_x, glt_y = rotated_glt(10, 8, 0.0)
    glt_y[glt_y > 0] += 5  # points past the last swath row
    scene = open_scene(write_emit_rfl(tmp_path, rng.random((10, 8, 4)), glt_x, glt_y))
    with pytest.raises(FormatError, match=r"EMIT_L2A_RFL.*GLT points outside the 10 x 8 swath"):
        orthorectified(scene)


def test_truncated_netcdf_is_a_one_line_error(tmp_path, write_emit_rfl, rotated_glt, rng):
    path = write_emit_rfl(tmp_path, rng.random((10, 8, 4)), *rotated_glt(10, 8, 0.0))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(FormatError, match=r"EMIT_L2A_RFL.*not a readable EMIT NetCDF4 file \(truncated"):
        open_scene(path)

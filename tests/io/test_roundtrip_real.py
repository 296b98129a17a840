"""Round trips through every format on the real shared scenes keep data and metadata."""

import numpy as np
import pytest
import rasterio

from hsi.io import open_scene, save_scene

AVIRIS = "aviris_ng/ang20160910t185702_2rdn_img.hdr"
EMIT = "emit/emit20250324t221005_jpl_unmix_ex.hdr"


def test_aviris_envi_reads_georeferencing_like_gdal(shared_data):
    scene = open_scene(shared_data / AVIRIS)
    assert scene.shape == (25, 30, 425)
    assert scene.crs.to_epsg() == 32611
    assert scene.pixel_size == (15.0, 15.0)
    assert scene.wavelengths_nm.size == 425 and scene.wavelengths_nm[0] == pytest.approx(376.44)
    assert scene.nodata == -9999
    with rasterio.open(shared_data / AVIRIS.replace(".hdr", "")) as gdal:
        assert scene.transform.almost_equals(gdal.transform)
        np.testing.assert_array_equal(scene.read(), np.moveaxis(gdal.read(), 0, -1))


def test_emit_envi_reads_bil_fwhm_and_bad_bands(shared_data):
    scene = open_scene(shared_data / EMIT)
    assert scene.shape == (10, 10, 285)
    assert 380 < scene.wavelengths_nm[0] < 382
    assert 8 < scene.fwhm_nm[0] < 9  # nm, not scaled like micrometres
    assert scene.bad_bands.sum() > 0 and scene.crs is None and scene.transform is None


@pytest.mark.parametrize("source", [AVIRIS, EMIT])
def test_geotiff_envi_hdf5_geotiff_round_trip_is_exact(shared_data, tmp_path, source):
    original = open_scene(shared_data / source)
    pixels = original.read()
    first = open_scene(save_scene(original, tmp_path / "a.tif"))
    chain = [first]
    for name in ("b.hdr", "c.h5", "d.tif", "e.npy", "f.mat"):
        chain.append(open_scene(save_scene(chain[-1], tmp_path / name)))
    for scene in chain:
        where = scene.path.name
        np.testing.assert_array_equal(scene.read(), pixels, err_msg=where)
        np.testing.assert_allclose(scene.wavelengths_nm, original.wavelengths_nm, err_msg=where)
        assert scene.nodata == original.nodata, where
        if scene.path.suffix != ".mat":  # MAT carries no georeferencing
            assert scene.crs == original.crs, where
            assert (scene.transform is None) == (original.transform is None), where
            if original.transform is not None:
                assert scene.transform.almost_equals(original.transform), where
            if original.fwhm_nm is not None:
                np.testing.assert_allclose(scene.fwhm_nm, original.fwhm_nm, err_msg=where)
            if original.bad_bands is not None:
                np.testing.assert_array_equal(scene.bad_bands, original.bad_bands, err_msg=where)


def test_envi_from_geotiff_is_readable_by_gdal_with_same_georeferencing(shared_data, tmp_path):
    original = open_scene(shared_data / AVIRIS)
    header = save_scene(open_scene(save_scene(original, tmp_path / "a.tif")), tmp_path / "b.hdr")
    with rasterio.open(header.with_suffix(".img")) as gdal:
        assert gdal.crs.to_epsg() == 32611
        assert gdal.transform.almost_equals(original.transform)


def test_unmixing_mat_is_rebuilt_column_major(shared_data, samson):
    scene = open_scene(shared_data / "samson" / "samson_gt.mat")
    np.testing.assert_array_equal(scene.read(), samson.cube)

"""PRISMA HDF-EOS5 products, built to the ASI layout: VNIR+SWIR merge, scaling, grid, PAN, pansharpening."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import rasterio

from hsi.cli import main
from hsi.errors import FormatError
from hsi.io import open_scene
from hsi.io.products import open_pair

VNIR_CW = np.array([0.0, 980.0, 700.0, 550.0, 420.0, 0.0])  # decreasing, with unused (0) slots, as delivered
SWIR_CW = np.array([2400.0, 1650.0, 1200.0, 990.0, 950.0])  # 990 and 950 overlap the VNIR (up to 980)


def _write_prisma(path, level: str, rows: int = 16, cols: int = 16, ratio: int = 6, wavelengths: bool = True):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:rows * ratio, 0:cols * ratio] / (3.0 * ratio)
    pan = (20000 + 15000 * np.sin(yy) * np.cos(xx)).astype(np.uint16)
    low = pan.reshape(rows, ratio, cols, ratio).mean(axis=(1, 3))
    vnir = np.stack([low * (0.5 + 0.1 * b) for b in range(VNIR_CW.size)], axis=1).astype(np.uint16)  # (rows, bands, cols)
    swir = np.stack([low * (0.4 + 0.05 * b) for b in range(SWIR_CW.size)], axis=1).astype(np.uint16)
    vnir = vnir + rng.integers(0, 3, vnir.shape).astype(np.uint16)
    with h5py.File(path, "w") as f:
        if wavelengths:
            f.attrs["List_Cw_Vnir"], f.attrs["List_Cw_Swir"] = VNIR_CW, SWIR_CW
            f.attrs["List_Fwhm_Vnir"], f.attrs["List_Fwhm_Swir"] = np.full(6, 10.0), np.full(5, 12.0)
            f.attrs["List_Cw_Vnir_Flags"], f.attrs["List_Cw_Swir_Flags"] = (VNIR_CW > 0).astype(np.int8), np.ones(5, np.int8)
        f.attrs["Processing_Level"] = np.bytes_(level[1:].encode())
        if level == "L1":
            for det in ("Vnir", "Swir", "Pan"):
                f.attrs[f"ScaleFactor_{det}"], f.attrs[f"Offset_{det}"] = np.float32(100.0), np.float32(0.5)
        else:
            for det in ("Vnir", "Swir", "Pan"):
                f.attrs[f"L2Scale{det}Min"], f.attrs[f"L2Scale{det}Max"] = np.float32(0.0), np.float32(1.0)
        if level == "L2D":
            f.attrs["Epsg_Code"] = np.int32(32633)
            f.attrs["Product_ULcorner_easting"], f.attrs["Product_ULcorner_northing"] = 400000.0, 5000000.0
            f.attrs["Product_LRcorner_easting"] = 400000.0 + 30.0 * cols
            f.attrs["Product_LRcorner_northing"] = 5000000.0 - 30.0 * rows
        hco = f"HDFEOS/SWATHS/PRS_{level}_HCO"
        f[f"{hco}/Data Fields/VNIR_Cube"], f[f"{hco}/Data Fields/SWIR_Cube"] = vnir, swir
        f[f"HDFEOS/SWATHS/PRS_{level}_PCO/Data Fields/Cube"] = pan
        if level != "L2D":
            suffix = "_VNIR" if level == "L1" else ""
            r, c = np.mgrid[0:rows, 0:cols]  # a swath tilted on the ground, ~30 m pixels
            f[f"{hco}/Geolocation Fields/Latitude{suffix}"] = 45.0 - 0.00027 * r - 0.00008 * c
            f[f"{hco}/Geolocation Fields/Longitude{suffix}"] = 12.0 + 0.00038 * c - 0.0001 * r
    return path, vnir, swir, pan


def test_l2d_merges_detectors_sorted_drops_empty_slots_and_the_overlap(tmp_path):
    path, vnir, swir, _ = _write_prisma(tmp_path / "PRS_L2D_STD_20230101000000_20230101000004_0001.he5", "L2D")
    scene = open_scene(path)
    np.testing.assert_array_equal(scene.wavelengths_nm, [420, 550, 700, 980, 990, 1200, 1650, 2400])
    assert scene.metadata["product"]["level"] == "L2D" and scene.units == "reflectance"
    values = scene.read(physical=True)
    np.testing.assert_allclose(values[3, 5, 0], vnir[3, 4, 5] / 65535.0, rtol=1e-6)  # 420 nm is VNIR slot 4
    np.testing.assert_allclose(values[3, 5, 4], swir[3, 3, 5] / 65535.0, rtol=1e-6)  # 990 nm is SWIR slot 3
    assert scene.crs.to_epsg() == 32633 and scene.transform.a == 30.0 and scene.transform.c == 400000.0
    pan = open_pair(path)[1]
    assert pan.shape == (96, 96, 1) and pan.transform.a == 5.0 and pan.crs == scene.crs


def test_l1_is_radiance_with_scale_factors_and_latlon_geolocation(tmp_path):
    path, vnir, _, _ = _write_prisma(tmp_path / "PRS_L1_STD_OFFL_20230101000000_20230101000004_0001.he5", "L1")
    scene = open_scene(path)
    np.testing.assert_allclose(scene.read(physical=True)[0, 0, 0], vnir[0, 4, 0] / 100.0 - 0.5, rtol=1e-6)
    assert scene.transform is None and scene.geolocation.kind == "lat/lon"
    assert scene.geolocation.latitude.endswith("Latitude_VNIR")


def test_prisma_without_wavelength_attributes_is_a_one_line_error(tmp_path):
    path, *_ = _write_prisma(tmp_path / "PRS_L2D_STD_20230101000000_20230101000004_0001.he5", "L2D", wavelengths=False)
    with pytest.raises(FormatError, match=r"PRS_L2D.*without the wavelength attribute List_Cw_Vnir"):
        open_scene(path)


def test_pansharpen_a_prisma_l2d_product_with_its_own_pan(tmp_path):
    path, *_ = _write_prisma(tmp_path / "PRS_L2D_STD_20230101000000_20230101000004_0001.he5", "L2D")
    out = tmp_path / "sharp.tif"
    assert main(["pansharpen", f"product={path}", f"output={out}", "sensor=PRISMA", "quicklook=false"]) == 0
    with rasterio.open(out) as ds:
        assert (ds.height, ds.width, ds.count) == (96, 96, 8) and ds.transform.a == 5.0 and ds.crs.to_epsg() == 32633


def test_restore_a_prisma_l1_swath_writes_the_latlon_orthorectified_grid(tmp_path):
    path, *_ = _write_prisma(tmp_path / "PRS_L1_STD_OFFL_20230101000000_20230101000004_0001.he5", "L1")
    out = tmp_path / "restored.tif"
    assert main(["restore", f"input={path}", f"output={out}", "progress=false", "quicklook=false"]) == 0
    swath = open_scene(tmp_path / "restored_swath.tif").read()
    with rasterio.open(out) as ds:
        ortho = np.moveaxis(ds.read(), 0, -1)
        assert ds.crs.to_epsg() == 4326
    spectra = {tuple(v) for v in swath.reshape(-1, swath.shape[2])}
    mapped = ortho[np.isfinite(ortho).all(axis=2)]
    assert len(mapped) > 0.5 * 16 * 16 and all(tuple(v) in spectra for v in mapped)  # indexing, no resampling

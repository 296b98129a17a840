"""Sentinel-2 L2A SAFE folders, built to the Products Specification's layout (JP2 per band)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from hsi.cli import main
from hsi.errors import FormatError
from hsi.io import open_scene
from hsi.io.products import product_root

GRANULE = "GRANULE/L2A_T33UUP_A000001_20240101T100000"
STEM = "T33UUP_20240101T100000"
BANDS_10M = ("B02", "B03", "B04", "B08")
BANDS_20M = ("B05", "B06", "B07", "B8A", "B11", "B12")
ORDER = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
BAND_IDS = {"B02": 1, "B03": 2, "B04": 3, "B05": 4, "B06": 5, "B07": 6, "B08": 7, "B8A": 8, "B11": 11, "B12": 12}


def _write_jp2(path: Path, band: np.ndarray, pixel: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = dict(driver="JP2OpenJPEG", width=band.shape[1], height=band.shape[0], count=1, dtype="uint16",
                   crs="EPSG:32633", transform=Affine(pixel, 0, 300000, 0, -pixel, 5000040))
    with rasterio.open(path, "w", QUALITY=100, REVERSIBLE="YES", **profile) as ds:  # lossless, as ESA writes them
        ds.write(band, 1)


def _metadata(files: list[str], offsets: bool) -> str:
    images = "".join(f"<IMAGE_FILE>{name}</IMAGE_FILE>" for name in files)
    add = "".join(f'<BOA_ADD_OFFSET band_id="{i}">-1000</BOA_ADD_OFFSET>' for i in range(13)) if offsets else ""
    return ('<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd">'
            "<n1:General_Info><Product_Info><Product_Organisation><Granule_List><Granule>"
            f'<IMAGE_FILE_2A>ignored</IMAGE_FILE_2A>{images}</Granule></Granule_List></Product_Organisation>'
            "</Product_Info><Product_Image_Characteristics><QUANTIFICATION_VALUES_LIST>"
            '<BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE></QUANTIFICATION_VALUES_LIST>'
            f"<BOA_ADD_OFFSET_VALUES_LIST>{add}</BOA_ADD_OFFSET_VALUES_LIST>"
            "</Product_Image_Characteristics></n1:General_Info></n1:Level-2A_User_Product>")


@pytest.fixture
def safe(tmp_path):
    """An 8 x 6 (10 m) L2A product: DN = 1000 + 100 * band + pixel index, fill at (0, 0), an SCL."""
    folder = tmp_path / "S2A_MSIL2A_20240101T100000_N0510_R122_T33UUP_20240101T120000.SAFE"
    files, counts = [], {}
    for i, band in enumerate(ORDER):
        fine = band in BANDS_10M
        shape = (8, 6) if fine else (4, 3)
        values = (1000 + 100 * i + np.arange(np.prod(shape)).reshape(shape)).astype(np.uint16)
        values[0, 0] = 0
        res = "10m" if fine else "20m"
        name = f"{GRANULE}/IMG_DATA/R{res}/{STEM}_{band}_{res}"
        _write_jp2(folder / f"{name}.jp2", values, 10.0 if fine else 20.0)
        files.append(name)
        counts[band] = values
    scl = np.array([[0, 4, 8], [9, 10, 3], [6, 11, 1], [5, 5, 5]], np.uint16)
    scl_name = f"{GRANULE}/IMG_DATA/R20m/{STEM}_SCL_20m"
    _write_jp2(folder / f"{scl_name}.jp2", scl, 20.0)
    (folder / "MTD_MSIL2A.xml").write_text(_metadata(files + [scl_name], offsets=True))
    return folder, counts, scl


def test_bands_are_stacked_on_the_10m_grid_with_the_boa_offset(safe):
    folder, counts, _ = safe
    scene = open_scene(folder)
    assert scene.shape == (8, 6, 10) and scene.band_names == list(ORDER)
    assert scene.crs.to_epsg() == 32633 and scene.transform.a == 10.0 and scene.transform.c == 300000
    assert scene.wavelengths_nm[0] == pytest.approx(492.4) and scene.wavelengths_nm[-1] == pytest.approx(2202.4)
    assert scene.metadata["product"]["sensor"] == "Sentinel-2"
    reflectance = scene.read(physical=True)
    b02 = (counts["B02"].astype(float) - 1000) / 10000
    np.testing.assert_allclose(reflectance[1:, :, 0], b02[1:], atol=1e-6)
    b05 = (counts["B05"].astype(float) - 1000) / 10000
    replicated = np.repeat(np.repeat(b05, 2, axis=0), 2, axis=1)  # each 20 m pixel covers 2 x 2 10 m pixels
    np.testing.assert_allclose(reflectance[2:, :, ORDER.index("B05")], replicated[2:], atol=1e-6)
    assert np.isnan(reflectance[0, 0, 0]) and np.isnan(reflectance[:2, :2, ORDER.index("B05")]).all()  # fill 0
    window = scene.read(window=scene.full_window.__class__(3, 1, 4, 4), physical=True)  # odd offsets
    np.testing.assert_array_equal(window, reflectance[3:7, 1:5])


def test_scene_classification_gives_the_masks(safe):
    folder, _, scl = safe
    scene = open_scene(folder)
    cloud = scene.read_mask("cloud")
    expected = np.repeat(np.repeat(np.isin(scl, (8, 9)), 2, axis=0), 2, axis=1)
    np.testing.assert_array_equal(cloud, expected)
    assert scene.read_mask("water").sum() == 4 and scene.read_mask("snow").sum() == 4


def test_convert_keeps_the_counts_and_the_per_band_offset(safe, tmp_path):
    folder, counts, _ = safe
    out = tmp_path / "s2.tif"
    assert main(["convert", f"input={folder}", f"output={out}", "progress=false"]) == 0
    copy = open_scene(out)
    assert copy.dtype == np.uint16
    np.testing.assert_array_equal(copy.read()[:, :, 0], counts["B02"])
    np.testing.assert_allclose(copy.read(physical=True), open_scene(folder).read(physical=True), equal_nan=True)


def test_a_missing_band_file_is_one_line_naming_the_product(safe):
    folder, *_ = safe
    next(folder.rglob("*_B11_20m.jp2")).unlink()
    with pytest.raises(FormatError, match=r"\.SAFE: Sentinel-2 product is missing its B11_20m band file"):
        open_scene(folder)


def test_the_folder_is_one_scene_for_batch(safe):
    folder, *_ = safe
    assert product_root(folder) == folder


def test_a_band_file_deep_in_the_folder_belongs_to_the_product(safe):
    folder, *_ = safe
    assert product_root(next(folder.rglob("*_B02_10m.jp2"))) == folder

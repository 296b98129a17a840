"""Landsat 8/9 Collection 2 folders built to the USGS layout: lazy band stack, MTL scaling, QA masks, PAN."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from affine import Affine

from hsi.cli import main
from hsi.errors import FormatError
from hsi.io import open_scene
from hsi.io.products import open_pair

ID = "LC09_L1TP_044034_20230101_20230102_02_T1"


def _write(path, array, transform):
    with rasterio.open(path, "w", driver="GTiff", width=array.shape[1], height=array.shape[0], count=1,
                       dtype=array.dtype.name, crs="EPSG:32610", transform=transform, nodata=0) as ds:
        ds.write(array, 1)


@pytest.fixture
def landsat_folder(tmp_path):
    return _build(tmp_path, fill=True)


def _build(tmp_path, fill: bool):
    folder = tmp_path / ID
    folder.mkdir()
    rows, cols, x0, y0 = 16, 16, 500000.0, 4200000.0
    yy, xx = np.mgrid[0:2 * rows, 0:2 * cols] / 6.0
    pan = (20000 + 8000 * np.sin(yy) * np.cos(xx)).astype(np.uint16)
    low = pan.reshape(rows, 2, cols, 2).mean(axis=(1, 3))
    lines = ["GROUP = LANDSAT_METADATA_FILE", "  GROUP = PRODUCT_CONTENTS"]
    for band in range(2, 9):
        data = pan if band == 8 else (low * (0.6 + 0.05 * band)).astype(np.uint16)
        if fill:
            data[0, 0] = 0  # a fill pixel
        # the 15 m grid's corner sits half a PAN pixel (7.5 m) inside the 30 m grid's, as GDAL reads C2 files
        transform = Affine(15, 0, x0 + 7.5, 0, -15, y0 - 7.5) if band == 8 else Affine(30, 0, x0, 0, -30, y0)
        _write(folder / f"{ID}_B{band}.TIF", data, transform)
        lines.append(f'    FILE_NAME_BAND_{band} = "{ID}_B{band}.TIF"')
    qa = np.zeros((rows, cols), np.uint16)
    qa[:4] |= 1 << 3  # cloud on the top four rows
    _write(folder / f"{ID}_QA_PIXEL.TIF", qa, Affine(30, 0, x0, 0, -30, y0))
    lines += [f'    FILE_NAME_QUALITY_L1_PIXEL = "{ID}_QA_PIXEL.TIF"', "  END_GROUP = PRODUCT_CONTENTS",
              "  GROUP = LEVEL1_RADIOMETRIC_RESCALING"]
    lines += [f"    REFLECTANCE_MULT_BAND_{b} = 2.0000E-05\n    REFLECTANCE_ADD_BAND_{b} = -0.100000" for b in range(2, 9)]
    lines += ["  END_GROUP = LEVEL1_RADIOMETRIC_RESCALING", '  SPACECRAFT_ID = "LANDSAT_9"', "END_GROUP = LANDSAT_METADATA_FILE"]
    (folder / f"{ID}_MTL.txt").write_text("\n".join(lines) + "\nEND\n")
    return folder, pan, low


def test_folder_is_one_scene_of_bands_2_to_7_with_mtl_scaling_and_qa_masks(landsat_folder):
    folder, _, low = landsat_folder
    scene = open_scene(folder)
    assert scene.shape == (16, 16, 6) and scene.band_names == ["B2", "B3", "B4", "B5", "B6", "B7"]
    np.testing.assert_allclose(scene.wavelengths_nm, [482.0, 561.4, 654.6, 864.7, 1608.9, 2200.7])
    values = scene.read(physical=True)
    expected = (low[5, 6] * 0.7).astype(np.uint16) * np.float32(2e-5) - np.float32(0.1)  # band 2
    np.testing.assert_allclose(values[5, 6, 0], expected, rtol=1e-5)
    assert np.isnan(values[0, 0]).all()  # the fill value 0 is nodata
    assert scene.read_mask("cloud")[:4].all() and not scene.read_mask("cloud")[4:].any()
    assert scene.metadata["product"]["sensor"] == "LANDSAT_9"


def test_pan_half_pixel_offset_is_resampled_onto_the_nested_grid(landsat_folder):
    folder, pan, _ = landsat_folder
    ms, pan_scene = open_pair(folder)
    assert pan_scene.shape == (32, 32, 1)
    assert pan_scene.transform.c == ms.transform.c and pan_scene.transform.f == ms.transform.f
    values = (pan_scene.read(physical=True)[:, :, 0] + 0.1) / 2e-5
    # output (r, c) lies half a pixel up-left of input (r, c): the mean of the 2 x 2 input neighbours
    np.testing.assert_allclose(values[5, 7], pan[4:6, 6:8].astype(np.float64).mean(), rtol=1e-4)


def test_folder_missing_a_band_file_is_a_one_line_error(landsat_folder):
    folder, _, _ = landsat_folder
    (folder / f"{ID}_B2.TIF").unlink()
    with pytest.raises(FormatError, match=r"missing its band file .*_B2.TIF"):
        open_scene(folder)


def test_pansharpen_a_landsat_folder_without_cropping(tmp_path):
    folder, _, _ = _build(tmp_path, fill=False)
    out = tmp_path / "sharp.tif"
    assert main(["pansharpen", f"product={folder}", f"output={out}", "quicklook=false"]) == 0
    with rasterio.open(out) as ds:
        assert (ds.height, ds.width, ds.count) == (32, 32, 6)
        assert ds.transform == Affine(15, 0, 500000.0, 0, -15, 4200000.0)


def test_batch_over_a_product_folder_runs_one_scene_and_reports_the_product(landsat_folder, tmp_path):
    folder, _, _ = landsat_folder
    out = tmp_path / "batch"
    assert main(["batch", "job=convert", f"inputs=[{folder}/*]", f"output_dir={out}", "output_suffix=.tif"]) == 0
    report = json.loads((out / "batch_report.json").read_text())
    assert [s["input"] for s in report["results"]["scenes"]] == [str(folder)]
    assert report["results"]["scenes"][0]["product"] == {"sensor": "LANDSAT_9", "level": "L1", "product": "L1 bands 2-7",
                                                        "content": "spectra"}
    with rasterio.open(out / f"{ID}.tif") as ds:
        assert ds.count == 6 and ds.crs.to_epsg() == 32610


def test_level2_folder_uses_the_surface_reflectance_rescaling_not_level1s(tmp_path):
    folder, _, low = _build(tmp_path, fill=False)
    mtl = (folder / f"{ID}_MTL.txt").read_text()
    sr = ["  GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS"]
    sr += [f"    REFLECTANCE_MULT_BAND_{b} = 2.75e-05\n    REFLECTANCE_ADD_BAND_{b} = -0.2" for b in range(2, 8)]
    sr += ["  END_GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS"]
    # as in a real L2SP MTL, the level-1 rescaling group comes after the level-2 one
    (folder / f"{ID}_MTL.txt").write_text(mtl.replace("  GROUP = LEVEL1_RADIOMETRIC_RESCALING",
                                                      "\n".join(sr) + "\n  GROUP = LEVEL1_RADIOMETRIC_RESCALING"))
    scene = open_scene(folder)
    expected = (low[5, 6] * 0.7).astype(np.uint16) * np.float32(2.75e-5) - np.float32(0.2)
    np.testing.assert_allclose(scene.read(physical=True)[5, 6, 0], expected, rtol=1e-5)

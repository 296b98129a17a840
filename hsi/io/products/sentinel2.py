"""ESA Sentinel-2 MSI Level-2A products: a ``.SAFE`` folder with one JPEG 2000 file per band.

Layout (Sentinel-2 Products Specification Document, S2-PDGS-TAS-DI-PSD, Level-2A; verified
here on synthetic folders only): ``<name>.SAFE/MTD_MSIL2A.xml`` lists the image files
(``Granule/IMAGE_FILE``, paths relative to the folder without ``.jp2``, ending in
``_<band>_<resolution>``) under ``GRANULE/<granule>/IMG_DATA/R10m|R20m|R60m``, and gives the
radiometry: ``BOA_QUANTIFICATION_VALUE`` (10000) and, from processing baseline 04.00 on, one
``BOA_ADD_OFFSET`` per band (``band_id`` 0-12 in the order B01 ... B08, B8A, B09 ... B12;
-1000), so ``reflectance = (DN + BOA_ADD_OFFSET) / BOA_QUANTIFICATION_VALUE``; DN 0 is the
fill (``NODATA``).

The scene is the ten land bands, on the 10 m grid: B02, B03, B04, B08 (10 m) and B05, B06,
B07, B8A, B11, B12 (20 m), each 20 m pixel repeated over the 2 x 2 10 m pixels it covers (the
20 m grid nests in the 10 m one: same corner, twice the pixel size; checked). The 60 m
atmospheric bands B01, B09 are left out. The rescaling is kept as the scene's per-band
scale/offset (applied lazily; ``convert`` keeps the counts). The scene classification
``SCL`` (20 m) gives the masks: cloud (classes 8, 9), cirrus (10), cloud_shadow (3), water
(6), snow (11), defective (1). Band centres and widths: Sentinel-2A MSI nominal values
(ESA Sentinel-2 User Handbook, spectral bands table; S2B differs by up to 17 nm at B12).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from hsi.errors import FormatError
from hsi.io.products.common import ProductInfo, RasterioReader, StackedReader, open_raster
from hsi.scene import Scene, Window

METADATA = "MTD_MSIL2A.xml"
# band -> (resolution m, band_id in the metadata, centre nm, width nm), Sentinel-2A
BANDS = {
    "B02": (10, 1, 492.4, 66.0), "B03": (10, 2, 559.8, 36.0), "B04": (10, 3, 664.6, 31.0),
    "B05": (20, 4, 704.1, 15.0), "B06": (20, 5, 740.5, 15.0), "B07": (20, 6, 782.8, 20.0),
    "B08": (10, 7, 832.8, 106.0), "B8A": (20, 8, 864.7, 21.0), "B11": (20, 11, 1613.7, 91.0),
    "B12": (20, 12, 2202.4, 175.0),
}
SCL_CLASSES = {"cloud": (8, 9), "cirrus": (10,), "cloud_shadow": (3,), "water": (6,), "snow": (11,), "defective": (1,)}


def detect(path: Path) -> bool:
    """A folder holding ``MTD_MSIL2A.xml`` (an unzipped ``.SAFE`` product)."""
    return path.is_dir() and (path / METADATA).is_file()


class ReplicatedReader:
    """A one-band reader on a grid ``factor`` times coarser, read on the fine grid by repeating pixels."""

    def __init__(self, base, factor: int, shape: tuple[int, int]):
        self.base, self.factor = base, int(factor)
        self.shape, self.dtype = (shape[0], shape[1], 1), base.dtype

    def read(self, window: Window, bands: np.ndarray) -> np.ndarray:
        f = self.factor
        top, left = window.row // f, window.col // f
        bottom = min(-(-(window.row + window.height) // f), self.base.shape[0])
        right = min(-(-(window.col + window.width) // f), self.base.shape[1])
        coarse = self.base.read(Window(top, left, bottom - top, right - left), np.array([0]))[:, :, 0]
        fine = np.repeat(np.repeat(coarse, f, axis=0), f, axis=1)
        rows, cols = window.row - top * f, window.col - left * f
        block = fine[rows:rows + window.height, cols:cols + window.width]
        return np.repeat(block[:, :, None], len(bands), axis=2)


class ClassReader:
    """1 where a classification layer holds one of ``classes``, else 0 (one band)."""

    def __init__(self, base, classes: tuple[int, ...]):
        self.base, self.classes = base, np.asarray(classes)
        self.shape, self.dtype = base.shape, np.dtype(np.uint8)

    def read(self, window: Window, bands: np.ndarray) -> np.ndarray:
        return np.isin(self.base.read(window, bands), self.classes).astype(np.uint8)


def _metadata(path: Path) -> ET.Element:
    source = path / METADATA
    try:
        return ET.fromstring(source.read_bytes())
    except ET.ParseError as error:
        raise FormatError(f"{source}: not valid XML ({error})") from None


def _image_files(root: ET.Element, path: Path) -> dict[str, Path]:
    """``{'B02_10m': path, ..., 'SCL_20m': path}`` from the metadata's IMAGE_FILE entries."""
    files = {}
    for entry in root.iter("IMAGE_FILE"):
        name = (entry.text or "").strip()
        match = re.search(r"_([A-Z0-9]{3})_(\d\dm)$", name)
        if match:
            files[f"{match.group(1)}_{match.group(2)}"] = path / f"{name}.jp2"
    return files


def _radiometry(root: ET.Element, path: Path) -> tuple[float, dict[int, float]]:
    """BOA quantification value and the per-band add offsets (empty before baseline 04.00)."""
    text = next((e.text for e in root.iter("BOA_QUANTIFICATION_VALUE")), None)
    try:
        quantification = float(text)
    except (TypeError, ValueError):
        raise FormatError(f"{path / METADATA}: no numeric BOA_QUANTIFICATION_VALUE") from None
    offsets = {}
    for entry in root.iter("BOA_ADD_OFFSET"):
        try:
            offsets[int(entry.get("band_id"))] = float(entry.text)
        except (TypeError, ValueError):
            raise FormatError(f"{path / METADATA}: BOA_ADD_OFFSET entries need a band_id and a number") from None
    return quantification, offsets


def _band_reader(files: dict[str, Path], key: str, path: Path, grid) -> RasterioReader | ReplicatedReader:
    """The reader of one band file (``B05_20m``), on the 10 m ``grid`` = (shape, transform)."""
    source = files.get(key)
    if source is None or not source.is_file():
        raise FormatError(f"{path}: Sentinel-2 product is missing its {key} band file"
                          + (f" ({source.relative_to(path)})" if source is not None else " (not in MTD_MSIL2A.xml)"))
    with open_raster(str(source), path) as ds:
        shape, transform, dtype = (ds.height, ds.width, 1), ds.transform, ds.dtypes[0]
    reader = RasterioReader(str(source), shape, dtype)
    if grid is None:
        return reader
    factor = int(round(transform.a / grid[1].a))
    nested = (factor >= 1 and np.isclose(transform.c, grid[1].c) and np.isclose(transform.f, grid[1].f)
              and np.isclose(transform.a, grid[1].a * factor) and np.isclose(transform.e, grid[1].e * factor))
    if not nested or shape[0] * factor < grid[0][0] or shape[1] * factor < grid[0][1]:
        raise FormatError(f"{source}: {key} is not on a grid nested in the 10 m grid of the product")
    return reader if factor == 1 else ReplicatedReader(reader, factor, grid[0][:2])


def open_sentinel2(path: Path) -> Scene:
    root = _metadata(path)
    files = _image_files(root, path)
    quantification, add_offsets = _radiometry(root, path)
    first = _band_reader(files, "B02_10m", path, None)
    with open_raster(files["B02_10m"], path) as ds:
        grid, crs = (first.shape, ds.transform), ds.crs
    readers = [_band_reader(files, f"{band}_{resolution}m", path, grid) for band, (resolution, *_) in BANDS.items()]
    band_ids = [band_id for _, band_id, _, _ in BANDS.values()]
    masks = {}
    if files.get("SCL_20m") is not None and files["SCL_20m"].is_file():
        scl = _band_reader(files, "SCL_20m", path, grid)
        masks = {name: ClassReader(scl, classes) for name, classes in SCL_CLASSES.items()}
    return Scene(
        reader=StackedReader(readers, [(i, 0) for i in range(len(readers))]),
        wavelengths_nm=[centre for *_, centre, _ in BANDS.values()],
        fwhm_nm=[width for *_, width in BANDS.values()],
        nodata=0.0, band_names=list(BANDS), crs=crs, transform=grid[1],
        scale=1.0 / quantification,
        offset=np.asarray([add_offsets.get(band_id, 0.0) for band_id in band_ids]) / quantification,
        units="reflectance",
        metadata={"product": ProductInfo("Sentinel-2", "L2A", "L2A 10 m + 20 m bands").as_dict()},
        path=path, masks=masks,
    )

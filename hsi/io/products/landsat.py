"""USGS Landsat 8/9 Collection 2 product folders (OLI/TIRS, Level-1 and Level-2).

Layout (USGS Landsat 8-9 Collection 2 Level-1 / Level-2 Data Format Control Books,
LSDS-1822 / LSDS-1328): one GeoTIFF per band, ``<id>_B<n>.TIF`` (L1) or ``<id>_SR_B<n>.TIF``
(L2), named in the ``<id>_MTL.txt`` file (``GROUP = PRODUCT_CONTENTS``, ``FILE_NAME_BAND_<n>``),
with the rescaling ``REFLECTANCE_MULT_BAND_<n>`` / ``REFLECTANCE_ADD_BAND_<n>`` (TOA for L1,
surface reflectance for L2); 0 is the fill value; ``QA_PIXEL`` flags fill (bit 0), dilated
cloud (1), cirrus (2), cloud (3), cloud shadow (4), snow (5) and water (7).

The scene is the reflective bands 2-7 (OLI: 482, 561, 655, 865, 1609, 2201 nm centres,
USGS "Landsat 8-9 OLI spectral bands"), stacked lazily; band 8 (PAN, 503-676 nm, 15 m) is
the product's PAN. In these products the 15 m grid's corner sits half a PAN pixel from the
30 m grid's (as read by GDAL): :func:`open_landsat_pan` resamples the PAN by that half
pixel (bilinear, the mean of 2 x 2 neighbours) onto the grid nested in the MS one.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from affine import Affine

from hsi.errors import FormatError
from hsi.io.products.common import PerBandScaledReader, ProductInfo, RasterioReader, StackedReader, open_raster
from hsi.scene import Scene, Window

NAME = re.compile(r"^(LC08|LC09|LO08|LO09)_(L1TP|L1GT|L1GS|L2SP|L2SR)_", re.IGNORECASE)
MS_BANDS = (2, 3, 4, 5, 6, 7)
CENTRES_NM = {2: 482.0, 3: 561.4, 4: 654.6, 5: 864.7, 6: 1608.9, 7: 2200.7, 8: 589.5}
QA_BITS = {"fill": 0, "dilated_cloud": 1, "cirrus": 2, "cloud": 3, "cloud_shadow": 4, "snow": 5, "water": 7}


def detect(path: Path) -> bool:
    return path.is_dir() and any(NAME.match(p.name) and p.name.upper().endswith("_MTL.TXT") for p in path.iterdir())


def parse_mtl(text: str) -> dict[str, dict[str, str]]:
    """``{group: {KEY: value}}`` of an MTL file (innermost group; quotes removed)."""
    groups: dict[str, dict[str, str]] = {}
    stack = [""]
    for line in text.splitlines():
        key, sep, value = (part.strip() for part in line.partition("="))
        if not sep:
            continue
        if key == "GROUP":
            stack.append(value)
        elif key == "END_GROUP" and len(stack) > 1:
            stack.pop()
        else:
            groups.setdefault(stack[-1], {})[key] = value.strip('"')
    return groups


RESCALING_GROUPS = ("LEVEL2_SURFACE_REFLECTANCE_PARAMETERS", "LEVEL1_RADIOMETRIC_RESCALING")


def _flat(groups: dict[str, dict[str, str]]) -> dict[str, str]:
    """File names and metadata from ``PRODUCT_CONTENTS`` and the rest; rescaling from the product's
    own level (an L2 MTL also carries the L1 rescaling, which does not apply to its SR bands)."""
    rescaling = next((groups[g] for g in RESCALING_GROUPS if g in groups), {})
    flat = {k: v for name, group in groups.items() if name not in RESCALING_GROUPS for k, v in group.items()}
    return {**flat, **groups.get("PRODUCT_CONTENTS", {}), **rescaling}


def _mtl(folder: Path) -> tuple[Path, dict[str, str]]:
    path = next(p for p in sorted(folder.iterdir()) if p.name.upper().endswith("_MTL.TXT"))
    return path, _flat(parse_mtl(path.read_text(errors="replace")))


def _band_file(folder: Path, mtl: dict, band: int, mtl_path: Path) -> str:
    name = mtl.get(f"FILE_NAME_BAND_{band}")
    if name is None:
        raise FormatError(f"{mtl_path}: MTL names no file for band {band} (FILE_NAME_BAND_{band})")
    path = folder / name
    if not path.exists():
        raise FormatError(f"{folder}: Landsat product folder is missing its band file {name}")
    return str(path)


def _rescaling(mtl: dict, band: int, mtl_path: Path) -> tuple[float, float]:
    try:
        return float(mtl[f"REFLECTANCE_MULT_BAND_{band}"]), float(mtl[f"REFLECTANCE_ADD_BAND_{band}"])
    except KeyError as missing:
        raise FormatError(f"{mtl_path}: MTL without {missing}") from None


class BitReader:
    """One bit of an integer QA band, as a 0/1 one-band reader."""

    def __init__(self, base, bit: int):
        self.base, self.bit = base, int(bit)
        self.shape, self.dtype = (*base.shape[:2], 1), np.dtype(np.uint8)

    def read(self, window: Window, bands: np.ndarray) -> np.ndarray:
        qa = self.base.read(window, np.array([0]))
        return np.repeat(((qa >> self.bit) & 1).astype(np.uint8), len(bands), axis=2)


def open_landsat(path: Path) -> Scene:
    mtl_path, mtl = _mtl(path)
    readers, grid = [], None
    for band in MS_BANDS:
        source = _band_file(path, mtl, band, mtl_path)
        with open_raster(source, path) as ds:
            shape = (ds.height, ds.width, 1)
            if grid is None:
                grid = (shape, ds.crs, ds.transform, ds.dtypes[0])
            elif shape != grid[0] or ds.transform != grid[2]:
                raise FormatError(f"{source}: band {band} is not on the grid of band {MS_BANDS[0]}")
        readers.append(RasterioReader(source, shape, grid[3]))
    gains, offsets = zip(*[_rescaling(mtl, b, mtl_path) for b in MS_BANDS])
    stacked = StackedReader(readers, [(i, 0) for i in range(len(readers))])
    masks = {}
    qa_name = mtl.get("FILE_NAME_QUALITY_L1_PIXEL")
    if qa_name and (path / qa_name).exists():
        qa = RasterioReader(str(path / qa_name), grid[0], np.uint16)
        masks = {name: BitReader(qa, bit) for name, bit in QA_BITS.items()}
    level = "L2" if "_L2" in mtl_path.name.upper() else "L1"
    return Scene(
        reader=PerBandScaledReader(stacked, gains, offsets, nodata=0), wavelengths_nm=[CENTRES_NM[b] for b in MS_BANDS],
        nodata=float("nan"), band_names=[f"B{b}" for b in MS_BANDS], crs=grid[1], transform=grid[2],
        units="reflectance" if level == "L2" else "TOA reflectance",
        metadata={"product": ProductInfo(mtl.get("SPACECRAFT_ID", "Landsat"), level, f"{level} bands 2-7").as_dict()},
        path=path, masks=masks,
    )


class HalfPixelShiftReader:
    """A one-band reader resampled by ``(dy, dx)`` pixels, each 0 or +-1/2: the mean of the neighbours.

    Output pixel (r, c) is the bilinear value at input (r + dy, c + dx); rows/cols beyond the
    input repeat its edge. ``shape`` may differ from the input's (cropped or extended).
    """

    def __init__(self, base, dy: float, dx: float, shape: tuple[int, int]):
        self.base, self.dy, self.dx = base, dy, dx
        self.shape, self.dtype = (shape[0], shape[1], 1), np.dtype(np.float32)

    def read(self, window: Window, bands: np.ndarray) -> np.ndarray:
        r0 = int(np.floor(window.row + min(self.dy, 0)))
        c0 = int(np.floor(window.col + min(self.dx, 0)))
        height, width = window.height + (self.dy != 0), window.width + (self.dx != 0)
        rows = np.clip(np.arange(r0, r0 + height), 0, self.base.shape[0] - 1)
        cols = np.clip(np.arange(c0, c0 + width), 0, self.base.shape[1] - 1)
        inside = Window(int(rows.min()), int(cols.min()), int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1))
        block = self.base.read(inside, np.array([0]))[:, :, 0].astype(np.float32)
        block = block[np.ix_(rows - inside.row, cols - inside.col)]
        if self.dy != 0:
            block = 0.5 * (block[:-1] + block[1:])
        if self.dx != 0:
            block = 0.5 * (block[:, :-1] + block[:, 1:])
        return np.repeat(block[:, :, None], len(bands), axis=2)


def open_landsat_pan(path: Path) -> Scene:
    """Band 8 resampled onto the 15 m grid nested in the bands 2-7 grid (corner on corner)."""
    ms = open_landsat(path)
    mtl_path, mtl = _mtl(path)
    source = _band_file(path, mtl, 8, mtl_path)
    with open_raster(source, path) as ds:
        shape, transform, crs, dtype = (ds.height, ds.width, 1), ds.transform, ds.crs, ds.dtypes[0]
    if crs != ms.crs:
        raise FormatError(f"{source}: PAN CRS {crs} differs from the bands' {ms.crs}")
    ratio = int(round(ms.transform.a / transform.a))
    target = Affine(ms.transform.a / ratio, 0.0, ms.transform.c, 0.0, ms.transform.e / ratio, ms.transform.f)
    dx = (target.c - transform.c) / transform.a
    dy = (target.f - transform.f) / transform.e
    if any(abs(v) > 1e-6 and abs(abs(v) - 0.5) > 1e-6 for v in (dx, dy)):
        raise FormatError(f"{source}: PAN grid is {dx:.2f} x {dy:.2f} PAN pixels from the bands' grid; expected 0 or 1/2")
    shift = HalfPixelShiftReader(RasterioReader(source, shape, dtype), round(2 * dy) / 2, round(2 * dx) / 2,
                                 (ms.n_rows * ratio, ms.n_cols * ratio))
    gain, offset = _rescaling(mtl, 8, mtl_path)
    return Scene(
        reader=PerBandScaledReader(shift, [gain], [offset], nodata=0), wavelengths_nm=[CENTRES_NM[8]], nodata=float("nan"),
        band_names=["B8"], crs=crs, transform=target, units=ms.units,
        metadata={"product": {**ms.metadata["product"], "product": "band 8 (PAN)"}}, path=path,
    )

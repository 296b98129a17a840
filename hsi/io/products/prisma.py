"""ASI PRISMA products (HDF-EOS5 ``.he5``): L1, L2B, L2C, L2D hyperspectral cube and PAN.

Layout (PRISMA Products Specification Document, ASI PRISMA-ASI-DT-PS-0001; as read by the
EnMAP-Box and prismaread importers): ``HDFEOS/SWATHS/PRS_<level>_HCO/Data Fields/VNIR_Cube``
and ``SWIR_Cube`` stored (rows, bands, cols) in uint16 DN, the PAN in
``PRS_<level>_PCO/Data Fields/Cube`` (rows, cols) on a grid 6 times finer; root attributes
``List_Cw_Vnir``/``List_Cw_Swir`` (centres, nm; 0 marks an unused slot), ``List_Fwhm_*`` and
``List_Cw_*_Flags`` (1 = band delivered).

Radiometry per level: L1 radiance = DN / ``ScaleFactor_<det>`` - ``Offset_<det>``; L2
reflectance = ``L2Scale<Det>Min`` + DN * (``Max`` - ``Min``) / 65535.

Merging: VNIR and SWIR slots with a zero centre or a zero flag are dropped; both detectors
cover about 920-1010 nm, and the SWIR bands centred at or below the last VNIR centre are
dropped (the VNIR's are kept), so that the merged cube has strictly increasing wavelengths
without two bands at the same place; the rest is sorted by wavelength.

Geolocation: L2D is map-projected: ``Epsg_Code`` and the product corners
``Product_ULcorner_easting/northing`` and ``Product_LRcorner_easting/northing``, read as the
outer corners of the grid (pixel size = extent / pixel count). L1/L2B/L2C are in swath
geometry with per-pixel ``Latitude``/``Longitude`` (``Latitude_VNIR`` for L1) in
``Geolocation Fields``: kept as a lat/lon geolocation (``Scene.geolocation``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.crs import CRS

from hsi.errors import FormatError
from hsi.io.hdf5 import Hdf5Reader
from hsi.io.products.common import H5LayerReader, PerBandScaledReader, ProductInfo, StackedReader, open_h5, text
from hsi.io.products.glt import LatLonGeolocation
from hsi.scene import Scene

NAME = re.compile(r"^PRS_(L1|L2B|L2C|L2D)_", re.IGNORECASE)
DN_MAX = 65535.0
DETECTORS = ("Vnir", "Swir")


def detect(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".he5" and bool(NAME.match(path.name))


def _level(path: Path, attrs) -> str:
    match = NAME.match(path.name)
    if match:
        return match.group(1).upper()
    level = text(attrs.get("Processing_Level", "")).strip().upper()
    return level if level.startswith("L") else f"L{level}"


def _radiometry(attrs, detector: str, level: str, path: Path) -> tuple[float, float]:
    """(gain, offset) turning a detector's DN into physical values for ``level``."""
    try:
        if level == "L1":
            factor = float(np.asarray(attrs[f"ScaleFactor_{detector}"]).reshape(-1)[0])
            return 1.0 / factor, -float(np.asarray(attrs[f"Offset_{detector}"]).reshape(-1)[0])
        low = float(np.asarray(attrs[f"L2Scale{detector}Min"]).reshape(-1)[0])
        high = float(np.asarray(attrs[f"L2Scale{detector}Max"]).reshape(-1)[0])
        return (high - low) / DN_MAX, low
    except KeyError as missing:
        raise FormatError(f"{path}: PRISMA {level} file without the scale attribute {missing}") from None


def _band_table(attrs, detector: str, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    key = f"List_Cw_{detector}"
    if key not in attrs:
        raise FormatError(f"{path}: PRISMA file without the wavelength attribute {key}")
    centres = np.asarray(attrs[key], np.float64).reshape(-1)
    fwhm = np.asarray(attrs.get(f"List_Fwhm_{detector}", np.zeros_like(centres)), np.float64).reshape(-1)
    flags = np.asarray(attrs.get(f"{key}_Flags", np.ones_like(centres)), np.float64).reshape(-1)
    return centres, fwhm, flags


def _swath(level: str) -> str:
    return f"HDFEOS/SWATHS/PRS_{level}_HCO"


def open_prisma(path: Path) -> Scene:
    handle = open_h5(path, "PRISMA HDF-EOS5")
    with handle:
        attrs = dict(handle.attrs)
        level = _level(path, attrs)
        fields = f"{_swath(level)}/Data Fields"
        readers, table, gains, offsets = [], [], [], []
        for detector in DETECTORS:
            key = f"{fields}/{detector.upper()}_Cube"
            if key not in handle:
                raise FormatError(f"{path}: PRISMA {level} file without {key}")
            rows, n_slots, cols = handle[key].shape
            centres, fwhm, flags = _band_table(attrs, detector, path)
            if centres.size != n_slots:
                raise FormatError(f"{path}: {centres.size} {detector.upper()} wavelengths for {n_slots} cube bands")
            gain, offset = _radiometry(attrs, detector, level, path)
            readers.append(Hdf5Reader(path, key, ("rows", "bands", "cols"), (rows, cols, n_slots), handle[key].dtype))
            for slot in np.flatnonzero((centres > 0) & (flags != 0)):
                table.append((centres[slot], fwhm[slot], len(readers) - 1, int(slot)))
                gains.append(gain)
                offsets.append(offset)
        vnir_top = max((w for w, _, r, _ in table if r == 0), default=-np.inf)
        keep = [i for i, (w, _, r, _) in enumerate(table) if r == 0 or w > vnir_top]  # the overlap goes to VNIR
        keep.sort(key=lambda i: table[i][0])
        crs, transform = _map_grid(attrs, level, (rows, cols), path)
        geolocation = None if transform is not None else _latlon(handle, level, path)
    stacked = StackedReader(readers, [(table[i][2], table[i][3]) for i in keep])
    return Scene(
        reader=PerBandScaledReader(stacked, np.take(gains, keep), np.take(offsets, keep), nodata=None),
        wavelengths_nm=[table[i][0] for i in keep],
        fwhm_nm=[table[i][1] for i in keep],
        nodata=float("nan"),
        crs=crs,
        transform=transform,
        units="radiance (W m-2 sr-1 um-1)" if level == "L1" else "reflectance",
        metadata={"product": ProductInfo("PRISMA", level, f"{level} HCO (VNIR+SWIR)").as_dict()},
        path=path,
        geolocation=geolocation,
    )


def _map_grid(attrs, level: str, shape: tuple[int, int], path: Path):
    if level != "L2D":
        return None, None
    try:
        epsg = int(np.asarray(attrs["Epsg_Code"]).reshape(-1)[0])
        ul_x, ul_y = (float(np.asarray(attrs[k]).reshape(-1)[0])
                      for k in ("Product_ULcorner_easting", "Product_ULcorner_northing"))
        lr_x, lr_y = (float(np.asarray(attrs[k]).reshape(-1)[0])
                      for k in ("Product_LRcorner_easting", "Product_LRcorner_northing"))
    except KeyError as missing:
        raise FormatError(f"{path}: PRISMA L2D file without the map attribute {missing}") from None
    rows, cols = shape
    return CRS.from_epsg(epsg), Affine((lr_x - ul_x) / cols, 0.0, ul_x, 0.0, (lr_y - ul_y) / rows, ul_y)


def _latlon(handle, level: str, path: Path) -> LatLonGeolocation | None:
    group = f"{_swath(level)}/Geolocation Fields"
    for suffix in ("", "_VNIR"):
        lat, lon = f"{group}/Latitude{suffix}", f"{group}/Longitude{suffix}"
        if lat in handle and lon in handle:
            return LatLonGeolocation(path, lat, lon)
    return None


def open_prisma_pan(path: Path) -> Scene:
    """The product's own PAN image (one band, 6 times finer than the cube) as a scene."""
    handle = open_h5(path, "PRISMA HDF-EOS5")
    with handle:
        attrs = dict(handle.attrs)
        level = _level(path, attrs)
        key = f"HDFEOS/SWATHS/PRS_{level}_PCO/Data Fields/Cube"
        if key not in handle:
            raise FormatError(f"{path}: PRISMA {level} file without a PAN cube ({key})")
        rows, cols = handle[key].shape
        gain, offset = _radiometry(attrs, "Pan", level, path)
        crs, transform = _map_grid(attrs, level, (rows, cols), path)
    reader = H5LayerReader(path, key)
    return Scene(
        reader=PerBandScaledReader(reader, [gain], [offset], nodata=None), nodata=float("nan"), band_names=["pan"],
        crs=crs, transform=transform, units="radiance (W m-2 sr-1 um-1)" if level == "L1" else "reflectance",
        metadata={"product": ProductInfo("PRISMA", level, f"{level} PCO (PAN)").as_dict()}, path=path,
    )


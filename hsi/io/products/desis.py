"""DLR DESIS products (L1B/L1C/L2A): a GeoTIFF cube with an ENVI header beside it.

Layout (DESIS Product Specification, DLR; verified here on synthetic files only):
``DESIS-HSI-<level>-<id>-SPECTRAL_IMAGE.tif`` with ``...-SPECTRAL_IMAGE.hdr`` carrying
``wavelength``, ``fwhm`` (nm), ``data gain values`` and ``data offset values`` (physical =
DN * gain + offset) and ``data ignore value`` (the fill). GDAL gives the grid and CRS, the
header the spectral and radiometric description.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import spectral.io.envi as spectral_envi

from hsi.errors import FormatError
from hsi.io.products.common import PerBandScaledReader, ProductInfo, RasterioReader, open_raster
from hsi.scene import Scene

NAME = re.compile(r"^DESIS-HSI-(L1B|L1C|L2A)-.*SPECTRAL_IMAGE\.tif$", re.IGNORECASE)


def detect(path: Path) -> bool:
    return path.is_file() and bool(NAME.match(path.name))


def _numbers(header: dict, key: str, n_bands: int, source: Path) -> np.ndarray | None:
    if key not in header:
        return None
    values = np.asarray([float(v) for v in np.atleast_1d(header[key])])
    if values.size != n_bands:
        raise FormatError(f"{source}: '{key}' has {values.size} values for {n_bands} bands")
    return values


def open_desis(path: Path) -> Scene:
    header_path = path.with_suffix(".hdr")
    if not header_path.exists():
        raise FormatError(f"{path}: DESIS image without its ENVI header {header_path.name}")
    try:
        header = spectral_envi.read_envi_header(str(header_path))
    except Exception as error:  # spectral raises several types for malformed headers
        raise FormatError(f"{header_path}: unreadable ENVI header ({error})") from None
    with open_raster(str(path), path) as ds:
        shape, dtype, crs, transform = (ds.height, ds.width, ds.count), ds.dtypes[0], ds.crs, ds.transform
        nodata = ds.nodata
    n_bands = shape[2]
    if "data ignore value" in header:
        nodata = float(header["data ignore value"])
    gains = _numbers(header, "data gain values", n_bands, header_path)
    offsets = _numbers(header, "data offset values", n_bands, header_path)
    reader = RasterioReader(str(path), shape, dtype)
    if gains is not None:
        reader = PerBandScaledReader(reader, gains, np.zeros(n_bands) if offsets is None else offsets, nodata)
        nodata = float("nan")
    level = NAME.match(path.name).group(1).upper()
    return Scene(
        reader=reader, wavelengths_nm=_numbers(header, "wavelength", n_bands, header_path),
        fwhm_nm=_numbers(header, "fwhm", n_bands, header_path), nodata=nodata, crs=crs, transform=transform,
        units="reflectance" if level == "L2A" else "radiance",
        metadata={"product": ProductInfo("DESIS", level, f"{level} SPECTRAL_IMAGE").as_dict()}, path=path,
    )

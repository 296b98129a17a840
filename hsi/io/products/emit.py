"""NASA EMIT granules (NetCDF4): L1B RAD and OBS, L2A RFL, RFLUNCERT and MASK.

Layout (EMIT Data Product User Guide, LP DAAC; checked on real granules): the main
variable is ``(downtrack, crosstrack, bands)`` with ``_FillValue`` -9999; band centres
and widths in ``sensor_band_parameters/wavelengths`` and ``fwhm`` (nm), usable bands in
``good_wavelengths`` (1 = good); ``location/glt_x``, ``glt_y`` (1-based swath indices,
0 = none) on the map grid of the root attributes ``geotransform`` (GDAL order) and
``spatial_ref`` (WKT, EPSG:4326). An L2A RFL granule's quality flags live in the
companion ``EMIT_L2A_MASK_...`` granule of the same acquisition: ``mask`` bands 1-5 and 8
are binary flags (cloud, cirrus, water, spacecraft, dilated cloud, aggregate), 6-7 are data
(AOD, water vapour), and ``band_mask`` packs one bit per wavelength (interpolated values).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import h5py
import numpy as np
from affine import Affine
from rasterio.crs import CRS

from hsi.errors import FormatError
from hsi.io.hdf5 import Hdf5Reader
from hsi.io.products.common import H5LayerReader, ProductInfo, open_h5, require_dataset, text
from hsi.io.products.glt import GltGeolocation
from hsi.scene import Scene, Window

NAME = re.compile(r"^EMIT_(L1B|L2A)_(RAD|OBS|RFL|RFLUNCERT|MASK)_", re.IGNORECASE)
VARIABLES = {"RAD": "radiance", "OBS": "obs", "RFL": "reflectance", "RFLUNCERT": "reflectance_uncertainty",
             "MASK": "mask"}
BAND_NAMES = {"OBS": "observation_bands", "MASK": "mask_bands"}
# Granules whose bands are not spectra: observation geometry and per-pixel flags.
NOT_SPECTRA = {"OBS": "geometry", "MASK": "flags"}
# Binary flags of the L2A MASK product, by their name in sensor_band_parameters/mask_bands.
MASK_FLAGS = {"cloud flag": "cloud", "cirrus flag": "cirrus", "water flag": "water", "spacecraft flag": "spacecraft",
              "dilated cloud flag": "dilated_cloud", "aggregate flag": "aggregate"}
AXES = ("rows", "cols", "bands")


def detect(path: Path) -> bool:
    """An EMIT granule: its LP DAAC name, or a NetCDF4 file whose root says ``instrument = EMIT``."""
    if not path.is_file() or path.suffix.lower() != ".nc":
        return False
    if NAME.match(path.name):
        return True
    try:
        with h5py.File(path, "r") as handle:
            return text(handle.attrs.get("instrument", "")).strip().upper() == "EMIT"
    except OSError:
        return False


def _product_code(path: Path, handle: h5py.File) -> str:
    match = NAME.match(path.name)
    if match:
        return match.group(2).upper()
    for code, variable in VARIABLES.items():
        if variable in handle:
            return code
    raise FormatError(f"{path}: EMIT file without any of the variables {', '.join(VARIABLES.values())}")


def _glt(path: Path, handle: h5py.File) -> GltGeolocation | None:
    if "location/glt_x" not in handle or "location/glt_y" not in handle:
        return None
    try:
        transform = Affine.from_gdal(*[float(v) for v in np.asarray(handle.attrs["geotransform"]).reshape(-1)[:6]])
        crs = CRS.from_wkt(text(handle.attrs["spatial_ref"]))
    except (KeyError, ValueError) as error:
        raise FormatError(f"{path}: EMIT GLT without a usable geotransform / spatial_ref attribute ({error})") from None
    return GltGeolocation(_GltReader(path), transform, crs, path)


class _GltReader:
    """``location/glt_x`` and ``glt_y`` as a two-band integer reader."""

    def __init__(self, path: Path):
        self.x, self.y = H5LayerReader(path, "location/glt_x"), H5LayerReader(path, "location/glt_y")
        self.shape, self.dtype = (*self.x.shape[:2], 2), np.dtype(np.int32)

    def read(self, window: Window, bands: np.ndarray) -> np.ndarray:
        layers = {0: self.x, 1: self.y}
        return np.concatenate([layers[int(b)].read(window, np.array([0])) for b in bands], axis=2)


def _flag_layers(path: Path, handle: h5py.File, grid: tuple[int, int]) -> dict:
    """Binary cloud / cirrus / water / ... flags of an EMIT L2A MASK granule, by name."""
    if "mask" not in handle or "sensor_band_parameters/mask_bands" not in handle:
        return {}
    if tuple(handle["mask"].shape[:2]) != tuple(grid):
        raise FormatError(f"{path}: mask granule is {handle['mask'].shape[:2]}, the scene {grid}; not the same swath")
    names = [text(n).strip().lower() for n in handle["sensor_band_parameters/mask_bands"][:]]
    return {MASK_FLAGS[n]: H5LayerReader(path, "mask", band=i) for i, n in enumerate(names) if n in MASK_FLAGS}


class PackedBandMaskReader:
    """The L2A MASK ``band_mask``: per pixel, bit-packed flags of interpolated wavelengths
    (focal-plane bad pixel or saturation), unpacked lazily to one 0/1 band per spectral band."""

    def __init__(self, path: Path, n_bands: int):
        self.packed = H5LayerReader(path, "band_mask")
        with h5py.File(path, "r") as handle:
            rows, cols, n_bytes = handle["band_mask"].shape
        if n_bytes * 8 < n_bands:
            raise FormatError(f"{path}: band_mask packs {n_bytes * 8} flags for {n_bands} bands")
        self.path, self.n_bytes = path, n_bytes
        self.shape, self.dtype = (rows, cols, n_bands), np.dtype(np.uint8)

    def read(self, window: Window, bands: np.ndarray) -> np.ndarray:
        if self.packed._handle is None:
            self.packed._handle = h5py.File(self.path, "r")
        packed = np.asarray(self.packed._handle["band_mask"][window.rows, window.cols, :])
        return np.unpackbits(packed, axis=2)[:, :, np.asarray(bands)]


def companion_mask(path: Path) -> Path | None:
    """The ``EMIT_L2A_MASK_`` granule of the same acquisition beside an RFL/RFLUNCERT file."""
    match = re.match(r"^(EMIT_L2A_)(RFL|RFLUNCERT)(_.*)$", path.name, re.IGNORECASE)
    if not match:
        return None
    candidate = path.with_name(f"{match.group(1)}MASK{match.group(3)}")
    return candidate if candidate.exists() else None


def open_emit(path: Path) -> Scene:
    handle = open_h5(path, "EMIT NetCDF4")
    with handle:
        code = _product_code(path, handle)
        variable = VARIABLES[code]
        dataset = require_dataset(handle, variable, path, f"EMIT {code} product")
        if dataset.ndim != 3:
            raise FormatError(f"{path}: EMIT variable '{variable}' has shape {dataset.shape}; expected 3-D")
        shape, dtype = tuple(int(n) for n in dataset.shape), dataset.dtype
        fill = dataset.attrs.get("_FillValue")
        parameters = handle.get("sensor_band_parameters", {})
        wavelengths = np.asarray(parameters["wavelengths"]) if "wavelengths" in parameters else None
        fwhm = np.asarray(parameters["fwhm"]) if "fwhm" in parameters else None
        good = np.asarray(parameters["good_wavelengths"]) if "good_wavelengths" in parameters else None
        names = None
        if code in BAND_NAMES and BAND_NAMES[code] in parameters:
            names = [text(n) for n in parameters[BAND_NAMES[code]][:]]
        level = "L1B" if code in ("RAD", "OBS") else "L2A"
        info = ProductInfo("EMIT", level, f"{level} {code}", content=NOT_SPECTRA.get(code, "spectra"))
        masks = _flag_layers(path, handle, shape[:2])
        geolocation = _glt(path, handle)
        units = text(dataset.attrs.get("units", "")) or None
    mask_path = companion_mask(path)
    if mask_path is not None:
        with open_h5(mask_path, "EMIT NetCDF4") as mask_handle:
            masks = {**_flag_layers(mask_path, mask_handle, shape[:2]), **masks}
            if "band_mask" in mask_handle and code in ("RFL", "RFLUNCERT"):
                masks["interpolated"] = PackedBandMaskReader(mask_path, shape[2])
    if geolocation is None and wavelengths is None:
        warnings.warn(f"{path}: EMIT granule without location/ and sensor_band_parameters/ groups (a cropped file?): "
                      "no wavelengths and no geolocation", stacklevel=2)
    return Scene(
        reader=Hdf5Reader(path, variable, AXES, shape, dtype),
        wavelengths_nm=wavelengths,
        fwhm_nm=fwhm,
        bad_bands=None if good is None else np.asarray(good) == 0,
        nodata=None if fill is None else float(np.asarray(fill).reshape(-1)[0]),
        band_names=names,
        units="reflectance" if code == "RFL" else units,
        metadata={"product": info.as_dict()},
        path=path,
        masks=masks,
        geolocation=geolocation,
    )

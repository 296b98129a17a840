"""Planet Tanager HDF5 products (basic radiance / surface reflectance, HDF-EOS5 layout).

Layout (Planet Tanager product specification, as read by peers' Tanager readers; verified
here on synthetic files only): ``/HDFEOS/SWATHS/HYP/Data Fields/toa_radiance`` or
``surface_reflectance`` stored (bands, rows, cols) with ``wavelengths`` and ``fwhm`` (nm)
attributes on the dataset; ``nodata_pixels`` (1 = outside the footprint) in the same
group; per-pixel ``Latitude``/``Longitude`` in ``Geolocation Fields`` (swath geometry).
Pixels flagged in ``nodata_pixels`` are nodata (NaN), never data.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from hsi.errors import FormatError
from hsi.io.hdf5 import Hdf5Reader
from hsi.io.products.common import H5LayerReader, ProductInfo, open_h5, text
from hsi.io.products.glt import LatLonGeolocation
from hsi.scene import Scene, Window

SWATH = "HDFEOS/SWATHS/HYP"
VARIABLES = {"surface_reflectance": ("L2", "reflectance"), "toa_radiance": ("L1", "radiance (W m-2 sr-1 um-1)")}


def detect(path: Path) -> bool:
    if not path.is_file() or path.suffix.lower() not in (".h5", ".he5"):
        return False
    try:
        with h5py.File(path, "r") as handle:
            return f"{SWATH}/Data Fields" in handle and any(f"{SWATH}/Data Fields/{v}" in handle for v in VARIABLES)
    except OSError:
        return False


class _FootprintReader:
    """Float32 pixels with NaN wherever ``nodata_pixels`` flags a pixel outside the footprint."""

    def __init__(self, cube: Hdf5Reader, footprint: H5LayerReader | None):
        self.cube, self.footprint = cube, footprint
        self.shape, self.dtype = cube.shape, np.dtype(np.float32)

    def read(self, window: Window, bands: np.ndarray) -> np.ndarray:
        values = self.cube.read(window, bands).astype(np.float32)
        if self.footprint is not None:
            outside = self.footprint.read(window, np.array([0]))[:, :, 0] != 0
            values[outside] = np.nan
        return values


def open_tanager(path: Path) -> Scene:
    handle = open_h5(path, "Tanager HDF5")
    with handle:
        fields = f"{SWATH}/Data Fields"
        variable = next(v for v in VARIABLES if f"{fields}/{v}" in handle)
        dataset = handle[f"{fields}/{variable}"]
        if dataset.ndim != 3:
            raise FormatError(f"{path}: Tanager '{variable}' has shape {dataset.shape}; expected (bands, rows, cols)")
        n_bands, rows, cols = dataset.shape
        if "wavelengths" not in dataset.attrs:
            raise FormatError(f"{path}: Tanager '{variable}' without a wavelengths attribute")
        wavelengths = np.asarray(dataset.attrs["wavelengths"], np.float64)
        fwhm = np.asarray(dataset.attrs["fwhm"], np.float64) if "fwhm" in dataset.attrs else None
        cube = Hdf5Reader(path, f"{fields}/{variable}", ("bands", "rows", "cols"), (rows, cols, n_bands), dataset.dtype)
        footprint = H5LayerReader(path, f"{fields}/nodata_pixels") if f"{fields}/nodata_pixels" in handle else None
        geo = f"{SWATH}/Geolocation Fields"
        geolocation = (LatLonGeolocation(path, f"{geo}/Latitude", f"{geo}/Longitude")
                       if f"{geo}/Latitude" in handle and f"{geo}/Longitude" in handle else None)
        units = text(dataset.attrs.get("units", "")) or VARIABLES[variable][1]
    level = VARIABLES[variable][0]
    return Scene(
        reader=_FootprintReader(cube, footprint), wavelengths_nm=wavelengths, fwhm_nm=fwhm, nodata=float("nan"),
        units=units, metadata={"product": ProductInfo("Tanager", level, variable).as_dict()}, path=path,
        masks={"outside_footprint": footprint} if footprint is not None else {}, geolocation=geolocation,
    )

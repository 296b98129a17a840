"""``.npy`` cubes (rows, cols, bands), memory-mapped, with metadata in a ``.npy.json`` sidecar."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.crs import CRS

from hsi.errors import FormatError
from hsi.io.base import MemmapWriter, require_file
from hsi.io.hdf5 import AXES, parse_layout, read_stored
from hsi.scene import Scene, Window

SUFFIXES = (".npy",)


def sidecar_path(path: Path) -> Path:
    return Path(path).with_name(Path(path).name + ".json")


class NpyReader:
    def __init__(self, path: Path, layout: tuple[str, ...], shape, dtype):
        self.path, self.layout, self.shape, self.dtype = path, layout, shape, np.dtype(dtype)

    def read(self, window: Window, bands: np.ndarray) -> np.ndarray:
        return read_stored(np.load(self.path, mmap_mode="r"), self.layout, window, bands)


def open_npy(path: Path, layout: str | None = None) -> Scene:
    path = require_file(path)
    try:
        array = np.load(path, mmap_mode="r")
    except (ValueError, EOFError, OSError) as error:  # EOFError: an empty or cut-off file
        raise FormatError(f"{path}: not a readable .npy file ({error or 'empty file'})") from None
    meta = json.loads(sidecar_path(path).read_text()) if sidecar_path(path).exists() else {}
    if array.ndim != 3:
        raise FormatError(f"{path}: array has shape {array.shape}; a cube needs 3 dimensions (rows, cols, bands)")
    axes = parse_layout(layout or meta.get("axes"), str(path))
    shape = tuple(int(array.shape[axes.index(a)]) for a in AXES)
    crs = meta.get("crs_wkt")
    transform = meta.get("transform")
    return Scene(
        reader=NpyReader(path, axes, shape, array.dtype),
        wavelengths_nm=meta.get("wavelength_nm"),
        fwhm_nm=meta.get("fwhm_nm"),
        bad_bands=meta.get("bad_bands"),
        nodata=meta.get("nodata"),
        band_names=meta.get("band_names"),
        crs=CRS.from_wkt(crs) if crs else None,
        transform=Affine.from_gdal(*transform) if transform else None,
        scale=meta.get("scale", 1.0),
        offset=meta.get("offset", 0.0),
        units=meta.get("units"),
        metadata=meta.get("metadata", {}),
        path=path,
    )


def _listed(values):
    return None if values is None else np.asarray(values).tolist()


class NpyWriter(MemmapWriter):
    def __init__(self, path: Path, like: Scene, *, temporary: Path):
        super().__init__(path, like)
        sidecar_tmp = temporary.with_name(temporary.name + ".json")
        self._parts = [(temporary, self.path), (sidecar_tmp, sidecar_path(self.path))]
        sidecar = {
            "axes": "rows,cols,bands",
            "wavelength_nm": _listed(like.wavelengths_nm), "fwhm_nm": _listed(like.fwhm_nm),
            "bad_bands": _listed(like.bad_bands), "nodata": like.nodata, "band_names": like.band_names,
            "crs_wkt": like.crs.to_wkt() if like.crs is not None else None,
            "transform": list(like.transform.to_gdal()) if like.transform is not None else None,
            "scale": np.asarray(like.scale).tolist(), "offset": np.asarray(like.offset).tolist(), "units": like.units, "metadata": like.metadata,
        }
        sidecar_tmp.write_text(json.dumps(sidecar, default=str, indent=1))
        np.lib.format.open_memmap(temporary, mode="w+", dtype=self.dtype, shape=self.shape).flush()
        self._map(temporary, lambda: np.load(temporary, mmap_mode="r+"))

    @classmethod
    def outputs(cls, path: Path, **options) -> tuple[Path, Path]:
        return Path(path), sidecar_path(path)

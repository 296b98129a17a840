"""What the product readers share: lazy per-band scaling, single-layer readers, product labels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from hsi.errors import FormatError
from hsi.io.base import LazyHandle
from hsi.scene import PixelReader, Window


@dataclass(frozen=True)
class ProductInfo:
    """Which mission product a scene came from (kept in ``Scene.metadata['product']``)."""

    sensor: str
    level: str
    product: str
    #: What the bands hold: "spectra" (radiance, reflectance, their uncertainty), or a layer of
    #: the product that is not a spectrum ("flags", "geometry"), which spectral jobs refuse.
    content: str = "spectra"

    def as_dict(self) -> dict:
        return {"sensor": self.sensor, "level": self.level, "product": self.product, "content": self.content}


class PerBandScaledReader:
    """Physical float32 values ``stored * gain[b] + offset[b]`` per band, NaN where stored is nodata.

    Products whose gains differ per band (EnMAP L1B, DESIS, PRISMA L1) cannot use the
    scene's single ``scale``/``offset``: this applies them lazily, window by window.
    """

    def __init__(self, base: PixelReader, gains: np.ndarray, offsets: np.ndarray, nodata: float | None):
        self.base, self.nodata = base, nodata
        self.gains = np.asarray(gains, np.float32).reshape(-1)
        self.offsets = np.asarray(offsets, np.float32).reshape(-1)
        self.shape, self.dtype = tuple(base.shape), np.dtype(np.float32)

    def read(self, window: Window, bands: np.ndarray) -> np.ndarray:
        stored = self.base.read(window, bands)
        values = stored.astype(np.float32) * self.gains[bands] + self.offsets[bands]
        missing = ~np.isfinite(values)
        if self.nodata is not None:
            missing |= stored == np.asarray(self.nodata).astype(stored.dtype)
        values[missing] = np.nan
        return values


class H5LayerReader(LazyHandle):
    """One 2-D layer, or one band of a 3-D dataset, of an HDF5/NetCDF4 file as a one-band reader."""

    def __init__(self, path: Path, key: str, band: int | None = None, band_axis: int = 2):
        self.path, self.key, self.band, self.band_axis = Path(path), key, band, band_axis
        with h5py.File(self.path, "r") as handle:
            dataset = handle[key]
            grid = [n for axis, n in enumerate(dataset.shape) if band is None or axis != band_axis]
            self.shape, self.dtype = (int(grid[0]), int(grid[1]), 1), np.dtype(dataset.dtype)

    def read(self, window: Window, bands: np.ndarray) -> np.ndarray:
        if self._handle is None:
            self._handle = h5py.File(self.path, "r")
        selection = [window.rows, window.cols]
        if self.band is not None:
            selection.insert(self.band_axis, self.band)
        layer = np.asarray(self._handle[self.key][tuple(selection)])
        return np.repeat(layer[:, :, None], len(bands), axis=2)


def text(value) -> str:
    """An HDF5 attribute as text (bytes, numpy bytes and one-element arrays included)."""
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size else ""
    return value.decode(errors="replace") if isinstance(value, (bytes, np.bytes_)) else str(value)


def open_h5(path: Path, what: str) -> h5py.File:
    """An HDF5/NetCDF4 product file, or a one-line error (truncated downloads fail here)."""
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise FormatError(f"{path}: not a readable {what} file (truncated or damaged download?): {error}") from None


def require_dataset(handle: h5py.File, key: str, path: Path, what: str) -> h5py.Dataset:
    """``handle[key]``, or a one-line error naming what the product lacks."""
    dataset = handle.get(key)
    if not isinstance(dataset, h5py.Dataset):
        raise FormatError(f"{path}: {what} has no dataset '{key}'")
    return dataset


class RasterioReader(LazyHandle):
    """Any GDAL-readable raster (a file, or a ``/vsizip/`` member) as a ``(rows, cols, bands)`` reader."""

    def __init__(self, source: str, shape: tuple[int, int, int], dtype):
        self.source, self.shape, self.dtype = str(source), tuple(shape), np.dtype(dtype)

    def read(self, window: Window, bands: np.ndarray) -> np.ndarray:
        import rasterio
        from rasterio.windows import Window as RioWindow

        if self._handle is None:
            self._handle = rasterio.open(self.source)
        data = self._handle.read(indexes=[int(b) + 1 for b in bands],
                                 window=RioWindow(window.col, window.row, window.width, window.height))
        return np.moveaxis(data, 0, -1)


def open_raster(source: str, label: Path | str):
    """``rasterio.open(source)`` with a one-line error naming ``label`` (the product file)."""
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        return rasterio.open(source)
    except RasterioIOError as error:
        raise FormatError(f"{label}: not a readable raster ({error})") from None


class StackedReader:
    """Bands picked from several readers on one grid, in a given order: ``picks[i] = (reader, band)``."""

    def __init__(self, readers: list, picks: list[tuple[int, int]]):
        self.readers, self.picks = readers, picks
        self.shape = (*readers[0].shape[:2], len(picks))
        self.dtype = np.result_type(*[r.dtype for r in readers])

    def read(self, window: Window, bands: np.ndarray) -> np.ndarray:
        out = np.empty((window.height, window.width, len(bands)), self.dtype)
        for r, reader in enumerate(self.readers):
            slots = [k for k, b in enumerate(bands) if self.picks[int(b)][0] == r]
            if slots:
                out[:, :, slots] = reader.read(window, np.asarray([self.picks[int(bands[k])][1] for k in slots]))
        return out

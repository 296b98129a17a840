"""HDF5 cubes through h5py: any dataset path, any axis layout, chunked + compressed on write.

Metadata lives in the dataset's attributes: ``axes`` ("rows,cols,bands" order of the
stored axes), ``wavelength_nm``, ``fwhm_nm``, ``bad_bands``, ``nodata``, ``band_names``,
``crs_wkt``, ``transform`` (six GDAL-order coefficients), ``units``, ``scale``, ``offset``.
Files written by other tools are read with ``key=`` and ``layout=`` options.
"""

from __future__ import annotations

import contextlib
import gc
import json
import shutil
import sys
from pathlib import Path

import h5py
import numpy as np
from affine import Affine
from rasterio.crs import CRS

from hsi.errors import FormatError, WriteError
from hsi.io.base import LazyHandle, SceneWriter, require_file
from hsi.io.wavelengths import to_nanometres
from hsi.scene import Scene, Window

SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5")
AXES = ("rows", "cols", "bands")


def parse_layout(layout: str | None, source: str) -> tuple[str, ...]:
    """'bands,rows,cols' -> ('bands', 'rows', 'cols'), checked."""
    axes = tuple(a.strip().lower() for a in (layout or "rows,cols,bands").split(","))
    if sorted(axes) != sorted(AXES):
        raise FormatError(f"{source}: layout must name rows, cols and bands once each, got {layout!r}")
    return axes


def read_stored(array_like, layout: tuple[str, ...], window: Window, bands: np.ndarray) -> np.ndarray:
    """Read a window from an array stored in ``layout`` order and return (rows, cols, bands)."""
    order = np.argsort(bands)
    sorted_bands = np.asarray(bands)[order]
    unique, inverse = np.unique(sorted_bands, return_inverse=True)
    band_index = slice(int(unique[0]), int(unique[-1]) + 1) if unique.size and np.all(np.diff(unique) == 1) else list(unique)
    selection = {"rows": window.rows, "cols": window.cols, "bands": band_index}
    block = np.asarray(array_like[tuple(selection[a] for a in layout)])
    block = np.transpose(block, [layout.index(a) for a in AXES])
    block = block[:, :, inverse]
    restore = np.empty_like(order)
    restore[order] = np.arange(order.size)
    return block[:, :, restore]


class Hdf5Reader(LazyHandle):
    def __init__(self, path: Path, key: str, layout: tuple[str, ...], shape, dtype):
        self.path, self.key, self.layout, self.shape, self.dtype = path, key, layout, shape, np.dtype(dtype)

    def read(self, window: Window, bands: np.ndarray) -> np.ndarray:
        if self._handle is None:
            self._handle = h5py.File(self.path, "r")
        return read_stored(self._handle[self.key], self.layout, window, bands)


def _find_cube(handle: h5py.File, path: Path) -> str:
    cubes = []
    handle.visititems(lambda name, obj: cubes.append(name) if isinstance(obj, h5py.Dataset) and obj.ndim == 3 else None)
    if len(cubes) == 1:
        return cubes[0]
    if not cubes:
        raise FormatError(f"{path}: no 3-D dataset found; pass key=<dataset path>")
    raise FormatError(f"{path}: several 3-D datasets ({', '.join(cubes)}); pass key=<one of them>")


def open_hdf5(path: Path, key: str | None = None, layout: str | None = None) -> Scene:
    path = require_file(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise FormatError(f"{path}: not a readable HDF5 file ({error})") from None
    with handle:
        key = key or _find_cube(handle, path)
        if key not in handle or not isinstance(handle[key], h5py.Dataset):
            datasets = []
            handle.visititems(lambda name, obj: datasets.append(name) if isinstance(obj, h5py.Dataset) else None)
            raise FormatError(f"{path}: no dataset '{key}'; it has {', '.join(datasets) or 'no datasets'}")
        dataset = handle[key]
        if dataset.ndim != 3:
            raise FormatError(f"{path}: dataset '{key}' has shape {dataset.shape}; a cube needs 3 dimensions")
        attrs = dict(dataset.attrs)
        stored_layout = attrs.get("axes")
        if layout is None and stored_layout is None:
            raise FormatError(
                f"{path}: dataset '{key}' of shape {dataset.shape} does not say its axis order; "
                "pass \"read.layout='rows,cols,bands'\" (quoted; or 'bands,rows,cols', ...)"
            )
        axes = parse_layout(layout or _text(stored_layout), str(path))
        shape = tuple(int(dataset.shape[axes.index(a)]) for a in AXES)
        wavelengths = attrs.get("wavelength_nm")
        if wavelengths is None and "wavelength" in attrs:
            wavelengths = to_nanometres(attrs["wavelength"], _text(attrs.get("wavelength_units")))
        transform = attrs.get("transform")
        crs_wkt = _text(attrs.get("crs_wkt"))
        nodata = attrs.get("nodata")
        names = attrs.get("band_names")
        extra = _text(attrs.get("hsi_metadata"))
        return Scene(
            reader=Hdf5Reader(path, key, axes, shape, dataset.dtype),
            wavelengths_nm=wavelengths,
            fwhm_nm=attrs.get("fwhm_nm"),
            bad_bands=attrs.get("bad_bands"),
            nodata=None if nodata is None or np.size(nodata) == 0 else float(nodata),
            band_names=[_text(n) for n in names] if names is not None else None,
            crs=CRS.from_wkt(crs_wkt) if crs_wkt else None,
            transform=Affine.from_gdal(*[float(v) for v in transform]) if transform is not None else None,
            scale=np.asarray(attrs.get("scale", 1.0), dtype=np.float64),
            offset=np.asarray(attrs.get("offset", 0.0), dtype=np.float64),
            units=_text(attrs.get("units")) or None,
            metadata=json.loads(extra) if extra else {},
            path=path,
        )


def _text(value) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _check_free_space(path: Path, n_bytes: int) -> None:
    """Refuse to start unless the uncompressed cube fits: the HDF5 library does not survive a
    full disk in the middle of a write (its cache is left broken and the process can crash)."""
    free = shutil.disk_usage(Path(path).parent).free
    if free < n_bytes + 2**20:
        raise WriteError(f"{path}: could not write the output (HDF5 needs up to {n_bytes / 1e6:.1f} MB free, "
                         f"the disk has {free / 1e6:.1f} MB); nothing was left at that path")


@contextlib.contextmanager
def _quiet_deallocation():
    """h5py reports a failed flush of an object it frees as "Exception ignored" on stderr;
    inside a write that already failed (and raises one clear error) that is noise."""
    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None
    try:
        yield
    finally:
        sys.unraisablehook = hook


class Hdf5Writer(SceneWriter):
    def __init__(self, path: Path, like: Scene, *, temporary: Path, key: str = "cube", compression: str = "gzip", chunk: int = 64):
        super().__init__(path, like)
        rows, cols, bands = self.shape
        self._key = key
        self._parts = [(temporary, self.path)]
        _check_free_space(self.path, int(np.prod(self.shape)) * self.dtype.itemsize)
        self._file = h5py.File(temporary, "w")
        chunks = (min(chunk, rows), min(chunk, cols), min(bands, max(1, (1 << 20) // (chunk * chunk * self.dtype.itemsize))))
        self._dataset = self._file.create_dataset(key, shape=self.shape, dtype=self.dtype, chunks=chunks, compression=compression)
        attrs = self._dataset.attrs
        attrs["axes"] = "rows,cols,bands"
        for name, value in (("wavelength_nm", like.wavelengths_nm), ("fwhm_nm", like.fwhm_nm)):
            if value is not None:
                attrs[name] = np.asarray(value, dtype=np.float64)
        if like.bad_bands is not None:
            attrs["bad_bands"] = np.asarray(like.bad_bands, dtype=bool)
        if like.nodata is not None:
            attrs["nodata"] = float(like.nodata)
        if like.band_names is not None:
            attrs["band_names"] = [str(n) for n in like.band_names]
        if like.crs is not None:
            attrs["crs_wkt"] = like.crs.to_wkt()
        if like.transform is not None:
            attrs["transform"] = np.asarray(like.transform.to_gdal(), dtype=np.float64)
        attrs["scale"], attrs["offset"] = np.asarray(like.scale, np.float64), np.asarray(like.offset, np.float64)
        if like.units:
            attrs["units"] = like.units
        if like.metadata:
            attrs["hsi_metadata"] = json.dumps(like.metadata, default=str)
        self._parts = [(temporary, self.path)]

    def _write(self, window: Window, block: np.ndarray) -> None:
        self._dataset[window.rows, window.cols, :] = block

    def _finish(self) -> None:
        if self._file is not None:
            with _quiet_deallocation():
                handle, dataset = self._file, self._dataset
                self._file = self._dataset = None
                try:
                    dataset.flush()  # h5py caches chunks: a full disk shows here, not in _write
                    handle.flush()
                finally:
                    del dataset
                    handle.close()
                    del handle
                    gc.collect()

    def _verify(self) -> None:
        with h5py.File(self._parts[0][0], "r") as handle:
            found = handle[self._key].shape
        if found != self.shape:
            raise FormatError(f"{self.path}: the written dataset reads back as {found}, not {self.shape}")

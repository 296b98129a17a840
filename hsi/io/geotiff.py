"""GeoTIFF / Cloud-Optimized GeoTIFF through rasterio.

Per-band wavelengths are stored three ways so every tool finds them: band tags
``wavelength``/``fwhm`` (nm, ``wavelength_units=nm``), GDAL's ``IMAGERY`` domain
``CENTRAL_WAVELENGTH_UM``/``FWHM_UM``, and the band description.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import threading
import warnings
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.errors import RasterioIOError
from rasterio.windows import Window as RioWindow

from hsi.errors import FormatError, ParameterError, WriteError
from hsi.io.base import LazyHandle, SceneWriter, require_file
from hsi.io.wavelengths import nm_factor, wavelengths_from_names
from hsi.scene import Scene, Window

# GDAL's block cache (default 5% of the machine's memory) holds decoded blocks as anonymous
# memory: a whole 1,024 x 1,024 x 200 scene after one streamed read. hsi reads and writes in
# block order and needs little of it; GDAL_CACHEMAX set by the user wins.
os.environ.setdefault("GDAL_CACHEMAX", "256")

SUFFIXES = (".tif", ".tiff", ".gtiff")
#: Compressions the writer offers (``write.compress=``); floats get predictor 3 with the lossless codecs.
COMPRESSIONS = ("none", "deflate", "lzw", "zstd")


def _rio_window(window: Window) -> RioWindow:
    return RioWindow(window.col, window.row, window.width, window.height)


class _GdalErrorFilter(logging.Filter):
    """Hands the errors rasterio logs to the collections open in the logging thread.

    While any collection is open the logger runs at INFO (rasterio logs GDAL's errors at
    INFO); records below the level the logger had before are dropped here, so the user
    sees exactly what they saw without the collection.
    """

    def __init__(self):
        super().__init__()
        self.local = threading.local()
        self.threshold = logging.WARNING

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.levelno >= logging.ERROR or message.startswith("GDAL signalled an error"):
            for messages in getattr(self.local, "open", ()):
                messages.append(message.split("msg=", 1)[-1].strip("'\""))
        return record.levelno >= self.threshold


class _GdalErrors:
    """``with _GdalErrors() as errors:`` collects the errors GDAL signals in this thread.

    GDAL reports some failures only through its error handler (a full disk while the
    directory is written at close, a tile that cannot be decoded), which rasterio logs
    instead of raising; the caller raises on ``errors.first``.
    """

    LOGGER = logging.getLogger("rasterio._err")
    _filter = _GdalErrorFilter()
    _lock = threading.Lock()
    _active = 0
    _saved_level = logging.NOTSET

    def __init__(self):
        self.messages: list[str] = []

    def __enter__(self) -> "_GdalErrors":
        cls = _GdalErrors
        with cls._lock:
            if cls._active == 0:
                cls._saved_level = self.LOGGER.level
                cls._filter.threshold = self.LOGGER.getEffectiveLevel()
                self.LOGGER.setLevel(min(logging.INFO, cls._filter.threshold))
                self.LOGGER.addFilter(cls._filter)
            cls._active += 1
        if not hasattr(cls._filter.local, "open"):
            cls._filter.local.open = []
        cls._filter.local.open.append(self.messages)
        return self

    def __exit__(self, *exc) -> None:
        cls = _GdalErrors
        cls._filter.local.open.remove(self.messages)
        with cls._lock:
            cls._active -= 1
            if cls._active == 0:
                self.LOGGER.removeFilter(cls._filter)
                self.LOGGER.setLevel(cls._saved_level)

    @property
    def first(self) -> str | None:
        return self.messages[0] if self.messages else None


class GeoTiffReader(LazyHandle):
    def __init__(self, path: Path, shape, dtype):
        self.path, self.shape, self.dtype = path, shape, np.dtype(dtype)

    def read(self, window: Window, bands: np.ndarray) -> np.ndarray:
        """The window's pixels; a tile GDAL cannot read (a cut-off file) is an error, never zeros."""
        with _GdalErrors() as errors:
            try:
                if self._handle is None:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
                        self._handle = rasterio.open(self.path)
                data = self._handle.read(indexes=[int(b) + 1 for b in bands], window=_rio_window(window))
            except (RasterioIOError, rasterio.errors.RasterioError) as error:
                raise FormatError(f"{self.path}: cannot read rows {window.row}-{window.row + window.height - 1} "
                                  f"({errors.first or _cause(error)}); the file is damaged or cut off") from None
        if errors.first:
            raise FormatError(f"{self.path}: cannot read rows {window.row}-{window.row + window.height - 1} "
                              f"({errors.first}); the file is damaged or cut off")
        return np.moveaxis(data, 0, -1)


def _cause(error: BaseException) -> str:
    """The innermost message of a rasterio error chain ("Read failed. See previous exception")."""
    while error.__cause__ is not None:
        error = error.__cause__
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _float_list(tag_values: list[str | None]) -> np.ndarray | None:
    if any(v is None for v in tag_values) or not tag_values:
        return None
    try:
        return np.asarray([float(v) for v in tag_values])
    except ValueError:
        return None


def open_geotiff(path: Path) -> Scene:
    path = require_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            ds = rasterio.open(path)
        with ds:
            shape = (ds.height, ds.width, ds.count)
            band_tags = [ds.tags(i) for i in range(1, ds.count + 1)]
            imagery = [ds.tags(i, ns="IMAGERY") for i in range(1, ds.count + 1)]
            units = ds.tags().get("wavelength_units") or band_tags[0].get("wavelength_units")
            wavelengths = _float_list([t.get("wavelength") for t in band_tags])
            fwhm = _float_list([t.get("fwhm") for t in band_tags])
            if wavelengths is not None:
                factor = nm_factor(wavelengths, units)
                wavelengths, fwhm = wavelengths * factor, None if fwhm is None else fwhm * factor
            else:
                wavelengths = _float_list([t.get("CENTRAL_WAVELENGTH_UM") for t in imagery])
                fwhm = _float_list([t.get("FWHM_UM") for t in imagery])
                wavelengths = None if wavelengths is None else wavelengths * 1000.0
                fwhm = None if fwhm is None else fwhm * 1000.0
            descriptions = [d for d in ds.descriptions]
            names = descriptions if all(descriptions) else None
            if wavelengths is None and names:
                wavelengths = wavelengths_from_names(names)
            bad = [t.get("bad_band") for t in band_tags]
            bad_bands = np.asarray([b == "1" for b in bad]) if any(b is not None for b in bad) else None
            scale, offset = np.asarray(ds.scales, dtype=np.float64), np.asarray(ds.offsets, dtype=np.float64)
            extra = ds.tags().get("hsi_metadata")
            georeferenced = ds.crs is not None or not ds.transform.is_identity
            return Scene(
                reader=GeoTiffReader(path, shape, ds.dtypes[0]),
                wavelengths_nm=wavelengths,
                fwhm_nm=fwhm,
                bad_bands=bad_bands,
                nodata=ds.nodata,
                band_names=names,
                crs=ds.crs,
                transform=ds.transform if georeferenced else None,
                scale=scale,
                offset=offset,
                units=ds.tags().get("units"),
                metadata=json.loads(extra) if extra else {},
                path=path,
            )
    except RasterioIOError as error:
        raise FormatError(f"{path}: not a readable GeoTIFF ({error})") from None


class GeoTiffWriter(SceneWriter):
    """Tiled GeoTIFF, uncompressed unless ``compress`` says; ``cog=True`` rewrites it as a COG on close.

    Uncompressed by default: restored float reflectance is noise-like in its low bits and
    compresses little, while every compressor multiplies the write time; every reader opens
    an uncompressed file. ``compress=deflate|lzw|zstd`` trades write time for size.

    Every write and the close run with GDAL's errors collected: one signalled error fails
    the output, and the closed file is reopened and checked before it is renamed into place.
    """

    def __init__(self, path: Path, like: Scene, *, temporary: Path, cog: bool = False, compress: str = "none", block: int = 256):
        if compress not in COMPRESSIONS:
            raise ParameterError(f"{path}: GeoTIFF compress must be one of {', '.join(COMPRESSIONS)}; got {compress!r}")
        if int(block) != block or block < 16 or block % 16:
            raise ParameterError(f"{path}: GeoTIFF block must be a multiple of 16 (256 or 512); got {block}")
        block = int(block)
        super().__init__(path, like)
        self.cog = cog
        rows, cols, bands = self.shape
        profile = dict(
            driver="GTiff", width=cols, height=rows, count=bands, dtype=self.dtype.name,
            crs=like.crs, transform=like.transform, nodata=like.nodata,
            tiled=True, blockxsize=min(block, _multiple_of_16(cols)), blockysize=min(block, _multiple_of_16(rows)),
            compress=compress, interleave="band" if bands > 4 else "pixel", BIGTIFF="IF_SAFER",
        )
        if np.issubdtype(self.dtype, np.floating):
            profile["predictor"] = 3 if compress in ("deflate", "lzw", "zstd") else 1
        elif compress in ("deflate", "lzw", "zstd"):
            profile["predictor"] = 2
        self._temporary = temporary
        self._parts = [(temporary, self.path)]
        self._dataset = None
        with self._checked("create"), warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            self._dataset = rasterio.open(temporary, "w", **profile)
            _write_band_metadata(self._dataset, like)

    @classmethod
    def outputs(cls, path: Path, **options) -> tuple[Path, Path]:
        """The GeoTIFF and GDAL's ``.aux.xml`` beside it (replaced: it described the old file)."""
        path = Path(path)
        return path, path.with_name(path.name + ".aux.xml")

    @contextlib.contextmanager
    def _checked(self, action: str):
        with _GdalErrors() as errors:
            try:
                yield
            except rasterio.errors.RasterioError as error:
                raise self._error(action, errors.first or _cause(error)) from None
        if errors.first:
            raise self._error(action, errors.first)

    def _error(self, action: str, cause: str) -> WriteError:
        # libtiff names the full disk only on stderr; GDAL's message says "write error"
        if shutil.disk_usage(self._temporary.parent).free < 2**16:
            cause = f"No space left on device; GDAL: {cause}"
        return WriteError(f"{self.path}: could not {action} the output ({cause}); nothing was left at that path")

    def _write(self, window: Window, block: np.ndarray) -> None:
        with self._checked("write"):
            self._dataset.write(np.moveaxis(block, -1, 0), window=_rio_window(window))

    def _finish(self) -> None:
        if self._dataset is not None and not self._dataset.closed:
            with self._checked("finish"):
                self._dataset.close()
            if self.cog and not self._closed:
                cog_path = self._temporary.with_name(self._temporary.name + ".cog")
                self._parts.append((cog_path, cog_path))  # removed with the rest on failure
                with self._checked("convert to COG"):
                    rasterio.shutil.copy(self._temporary, cog_path, driver="COG", compress="deflate", BIGTIFF="IF_SAFER")
                Path(cog_path).replace(self._temporary)
                self._parts.pop()

    def _verify(self) -> None:
        with self._checked("verify"), warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(self._temporary) as ds:
                found = (ds.height, ds.width, ds.count, np.dtype(ds.dtypes[0]))
                if found != (*self.shape, self.dtype):
                    raise WriteError(f"{self.path}: the written file reads back as {found[:3]} {found[3]}, "
                                     f"not {self.shape} {self.dtype}")
                missing = _tile_outside(ds, os.path.getsize(self._temporary))
        if missing:
            raise self._error("finish", missing)

    def close(self) -> Path:
        path = super().close()
        self.outputs(self.path)[1].unlink(missing_ok=True)
        return path


def _tile_outside(ds, file_size: int) -> str | None:
    """The first tile GDAL recorded that does not lie inside the file, described, or None.

    libtiff can lose the end of a tile on a full disk and say so only on stderr, leaving a
    file that opens but cannot be read.
    """
    block_rows, block_cols = ds.block_shapes[0]
    for band in range(1, ds.count + 1):
        for row in range(-(-ds.height // block_rows)):
            for col in range(-(-ds.width // block_cols)):
                offset = ds.get_tag_item(f"BLOCK_OFFSET_{col}_{row}", "TIFF", bidx=band)
                size = ds.get_tag_item(f"BLOCK_SIZE_{col}_{row}", "TIFF", bidx=band)
                if offset is None or size is None or int(offset) + int(size) > file_size:
                    return f"tile {row},{col} of band {band} is missing from the written file"
    return None


def _multiple_of_16(n: int) -> int:
    return max(16, (n // 16) * 16) if n >= 16 else 16


def _write_band_metadata(ds, like: Scene) -> None:
    ds.update_tags(units=like.units or "", wavelength_units="nm")
    if like.metadata:
        ds.update_tags(hsi_metadata=json.dumps(like.metadata, default=str))
    scale, offset = like.band_scale_offset()
    if np.any(scale != 1.0) or np.any(offset != 0.0):
        ds.scales, ds.offsets = [float(v) for v in scale], [float(v) for v in offset]
    for band in range(like.n_bands):
        tags = {}
        if like.wavelengths_nm is not None:
            tags["wavelength"] = repr(float(like.wavelengths_nm[band]))
            ds.update_tags(band + 1, ns="IMAGERY", CENTRAL_WAVELENGTH_UM=repr(float(like.wavelengths_nm[band]) / 1000.0))
        if like.fwhm_nm is not None:
            tags["fwhm"] = repr(float(like.fwhm_nm[band]))
            ds.update_tags(band + 1, ns="IMAGERY", FWHM_UM=repr(float(like.fwhm_nm[band]) / 1000.0))
        if like.bad_bands is not None:
            tags["bad_band"] = "1" if like.bad_bands[band] else "0"
        if tags:
            ds.update_tags(band + 1, **tags)
        if like.band_names is not None:
            ds.set_band_description(band + 1, str(like.band_names[band]))
        elif like.wavelengths_nm is not None:
            ds.set_band_description(band + 1, f"{like.wavelengths_nm[band]:.2f} nm")

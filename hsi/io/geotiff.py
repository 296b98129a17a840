"""GeoTIFF / Cloud-Optimized GeoTIFF through rasterio.

Per-band wavelengths are stored three ways so every tool finds them: band tags
``wavelength``/``fwhm`` (nm, ``wavelength_units=nm``), GDAL's ``IMAGERY`` domain
``CENTRAL_WAVELENGTH_UM``/``FWHM_UM``, and the band description.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.errors import RasterioIOError
from rasterio.windows import Window as RioWindow

from hsi.errors import FormatError
from hsi.io.base import LazyHandle, SceneWriter, require_file
from hsi.io.wavelengths import nm_factor, wavelengths_from_names
from hsi.scene import Scene, Window

SUFFIXES = (".tif", ".tiff", ".gtiff")


def _rio_window(window: Window) -> RioWindow:
    return RioWindow(window.col, window.row, window.width, window.height)


class GeoTiffReader(LazyHandle):
    def __init__(self, path: Path, shape, dtype):
        self.path, self.shape, self.dtype = path, shape, np.dtype(dtype)

    def read(self, window: Window, bands: np.ndarray) -> np.ndarray:
        if self._handle is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
                self._handle = rasterio.open(self.path)
        data = self._handle.read(indexes=[int(b) + 1 for b in bands], window=_rio_window(window))
        return np.moveaxis(data, 0, -1)


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
            scale = float(ds.scales[0]) if len(set(ds.scales)) == 1 else 1.0
            offset = float(ds.offsets[0]) if len(set(ds.offsets)) == 1 else 0.0
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
    """Tiled, deflate-compressed GeoTIFF; ``cog=True`` rewrites it as a COG on close."""

    def __init__(self, path: Path, like: Scene, *, temporary: Path, cog: bool = False, compress: str = "deflate", block: int = 256):
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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            self._dataset = rasterio.open(temporary, "w", **profile)
        _write_band_metadata(self._dataset, like)
        self._parts = [(temporary, self.path)]

    def _write(self, window: Window, block: np.ndarray) -> None:
        self._dataset.write(np.moveaxis(block, -1, 0), window=_rio_window(window))

    def _finish(self) -> None:
        if self._dataset is not None and not self._dataset.closed:
            self._dataset.close()
            if self.cog and not self._closed:
                cog_path = self._temporary.with_name(self._temporary.name + ".cog")
                rasterio.shutil.copy(self._temporary, cog_path, driver="COG", compress="deflate", BIGTIFF="IF_SAFER")
                Path(self._temporary).unlink()
                Path(cog_path).rename(self._temporary)


def _multiple_of_16(n: int) -> int:
    return max(16, (n // 16) * 16) if n >= 16 else 16


def _write_band_metadata(ds, like: Scene) -> None:
    ds.update_tags(units=like.units or "", wavelength_units="nm")
    if like.metadata:
        ds.update_tags(hsi_metadata=json.dumps(like.metadata, default=str))
    if like.scale != 1.0 or like.offset != 0.0:
        ds.scales = [like.scale] * like.n_bands
        ds.offsets = [like.offset] * like.n_bands
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

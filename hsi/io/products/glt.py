"""Geometry lookup tables (GLT): orthorectify a swath exactly as EMIT and AVIRIS do.

Products with per-pixel latitude/longitude instead (PRISMA L1/L2B/L2C, Tanager) get their
lookup table from GDAL's geolocation-array warping (:class:`LatLonGeolocation`).

A GLT is a pair of integer rasters on a map grid (``transform``, ``crs``): at each output
pixel, the 1-based swath column (``glt_x``) and row (``glt_y``) whose value goes there,
0 where no swath pixel lands. Negative indices (AVIRIS-NG/-3 GLTs mark pixels filled
from a neighbour that way) point at ``abs(index)``; EMIT GLTs hold none. Orthorectifying
is indexing, no resampling, so values stay exactly the producer's.

Reference: EMIT L2A Algorithm Theoretical Basis / product user guide (``location/glt_x``,
``glt_y``, root ``geotransform`` and ``spatial_ref``); JPL emit-utils ``apply_glt``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.crs import CRS

from hsi.errors import FormatError, InputError
from hsi.scene import ArrayReader, PixelReader, Scene, Window


@dataclass
class GltGeolocation:
    """The lookup from a swath to a map grid.

    ``lookup`` reads ``(rows, cols, 2)`` integer windows of (x, y) = (swath column, swath
    row), 1-based, 0 = no data, on the grid of ``shape`` (rows, cols), ``transform``, ``crs``.
    """

    lookup: PixelReader
    transform: Affine
    crs: CRS
    source: Path
    kind: str = "glt"

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.lookup.shape[:2])

    def indices(self, window: Window, swath_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """0-based swath (rows, cols) for ``window`` of the map grid, and where a pixel lands.

        Raises a one-line error when the GLT points outside the swath.
        """
        glt = np.abs(self.lookup.read(window, np.array([0, 1])).astype(np.int64))
        valid = (glt[:, :, 0] > 0) & (glt[:, :, 1] > 0)
        rows, cols = glt[:, :, 1] - 1, glt[:, :, 0] - 1
        outside = valid & ((rows >= swath_shape[0]) | (cols >= swath_shape[1]))
        if outside.any():
            r, c = np.argwhere(outside)[0]
            raise FormatError(
                f"{self.source}: GLT points outside the {swath_shape[0]} x {swath_shape[1]} swath "
                f"(map pixel {window.row + r},{window.col + c} -> swath row {rows[r, c] + 1}, col {cols[r, c] + 1}, 1-based)"
            )
        return rows, cols, valid

    def check(self, swath_shape: tuple[int, int], block_rows: int = 512) -> None:
        """Validate the whole table against the swath (cheap: two integer rasters)."""
        n_rows, n_cols = self.shape
        for row in range(0, n_rows, block_rows):
            self.indices(Window(row, 0, min(block_rows, n_rows - row), n_cols), swath_shape)


@dataclass
class LatLonGeolocation:
    """Per-pixel latitude/longitude arrays (WGS 84) of a swath, in an HDF5 product.

    :meth:`to_glt` lets GDAL's geolocation-array transformer build the lookup table onto a
    north-up EPSG:4326 grid (nearest swath pixel per map pixel), after which the swath is
    orthorectified by indexing like a GLT product.
    """

    path: Path
    latitude: str
    longitude: str
    kind: str = "lat/lon"

    def to_glt(self) -> GltGeolocation:
        import h5py
        from rasterio.warp import Resampling, reproject

        with h5py.File(self.path, "r") as handle:
            lat = np.asarray(handle[self.latitude], np.float64)
            lon = np.asarray(handle[self.longitude], np.float64)
        valid = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
        if not valid.any():
            raise FormatError(f"{self.path}: no valid latitude/longitude in {self.latitude}")
        step = _pixel_step_deg(lat, lon, self.path)
        west, north = lon[valid].min() - step / 2, lat[valid].max() + step / 2
        width = int(np.ceil((lon[valid].max() + step / 2 - west) / step - 1e-6))
        height = int(np.ceil((north - lat[valid].min() + step / 2) / step - 1e-6))
        transform = Affine(step, 0.0, west, 0.0, -step, north)
        rows, cols = np.mgrid[1:lat.shape[0] + 1, 1:lat.shape[1] + 1]
        source = np.stack([cols, rows]).astype(np.float32)  # 1-based (x, y), exact in float32
        lookup = np.zeros((2, height, width), np.float32)
        crs = CRS.from_epsg(4326)
        reproject(source, lookup, src_geoloc_array=np.stack([lon, lat]), src_crs=crs, dst_crs=crs,
                  dst_transform=transform, resampling=Resampling.nearest, src_nodata=0, dst_nodata=0)
        return GltGeolocation(ArrayReader(np.rint(lookup).astype(np.int32).transpose(1, 2, 0)), transform, crs, self.path)


def _pixel_step_deg(lat: np.ndarray, lon: np.ndarray, source: Path) -> float:
    """The median ground spacing of neighbouring swath pixels, in degrees of latitude."""
    scale = np.cos(np.deg2rad(np.nanmedian(lat)))
    steps = [np.hypot(np.diff(lon, axis=a) * scale, np.diff(lat, axis=a)).ravel() for a in (0, 1) if lat.shape[a] > 1]
    steps = np.concatenate(steps)
    steps = steps[np.isfinite(steps) & (steps > 0)]
    if steps.size == 0:
        raise FormatError(f"{source}: latitude/longitude arrays do not vary: no pixel spacing")
    return float(np.median(steps))


class OrthoReader:
    """Pixels of a swath scene on its GLT's map grid, window by window (bounded memory).

    Each output window reads only the swath rectangle its GLT entries point into.
    """

    def __init__(self, scene: Scene, geolocation: GltGeolocation, fill: float):
        self.scene, self.geolocation, self.fill = scene, geolocation, fill
        self.shape = (*geolocation.shape, scene.n_bands)
        self.dtype = scene.dtype

    def read(self, window: Window, bands: np.ndarray) -> np.ndarray:
        rows, cols, valid = self.geolocation.indices(window, self.scene.shape[:2])
        out = np.full((window.height, window.width, len(bands)), self.fill, dtype=self.dtype)
        if valid.any():
            r, c = rows[valid], cols[valid]
            source = Window(int(r.min()), int(c.min()), int(r.max() - r.min() + 1), int(c.max() - c.min() + 1))
            block = self.scene.reader.read(source, np.asarray(bands))
            out[valid] = block[r - source.row, c - source.col]
        return out


def _fill_value(scene: Scene) -> float:
    if scene.nodata is not None:
        return scene.nodata
    if scene.dtype.kind == "f":
        return float("nan")
    raise InputError(f"{scene.describe()}: integer data without a nodata value cannot mark map pixels outside the swath")


def orthorectified(scene: Scene) -> Scene:
    """``scene`` (in swath geometry, with a GLT) as a lazy scene on the GLT's map grid.

    Map pixels with no swath pixel are nodata; quality layers are orthorectified alike.
    """
    geolocation = scene.geolocation
    if isinstance(geolocation, LatLonGeolocation):
        geolocation = geolocation.to_glt()
    if not isinstance(geolocation, GltGeolocation):
        raise InputError(f"{scene.describe()}: no GLT to orthorectify with (geolocation: {getattr(geolocation, 'kind', None)})")
    geolocation.check(scene.shape[:2])
    fill = _fill_value(scene)
    masks = {}
    for name, reader in scene.masks.items():
        mask_scene = Scene(reader, nodata=0)
        masks[name] = OrthoReader(mask_scene, geolocation, 0)
    return dataclasses.replace(
        scene, reader=OrthoReader(scene, geolocation, fill), nodata=fill, crs=geolocation.crs,
        transform=geolocation.transform, masks=masks, geolocation=None,
    )

"""The scene: a lazily read hyperspectral cube and everything known about it.

Axis convention (the only one inside hsi): pixel arrays are ``(rows, cols, bands)``,
row 0 at the top (north-up for georeferenced scenes). Readers and writers in
:mod:`hsi.io` convert from and to each file's own layout; nothing else does.

A :class:`Scene` never holds its pixels unless it was built from an array: it holds a
*reader* that fetches any window and band subset on request, so scenes larger than
memory are processed window by window.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

import numpy as np
from affine import Affine
from rasterio.crs import CRS

from hsi.errors import InputError


@dataclass(frozen=True)
class Window:
    """A rectangle of pixels: top-left ``(row, col)`` and size ``(height, width)``."""

    row: int
    col: int
    height: int
    width: int

    @property
    def rows(self) -> slice:
        return slice(self.row, self.row + self.height)

    @property
    def cols(self) -> slice:
        return slice(self.col, self.col + self.width)

    def clip(self, n_rows: int, n_cols: int) -> "Window":
        """The part of this window inside a ``n_rows x n_cols`` image."""
        r0, c0 = max(self.row, 0), max(self.col, 0)
        r1, c1 = min(self.row + self.height, n_rows), min(self.col + self.width, n_cols)
        return Window(r0, c0, max(r1 - r0, 0), max(c1 - c0, 0))


class PixelReader(Protocol):
    """What a format module gives a scene: shape, dtype and windowed reads."""

    shape: tuple[int, int, int]  # (rows, cols, bands)
    dtype: np.dtype

    def read(self, window: Window, bands: np.ndarray) -> np.ndarray:
        """Return ``(window.height, window.width, len(bands))`` pixels in the file's dtype."""
        ...


class ArrayReader:
    """A reader over an in-memory ``(rows, cols, bands)`` array."""

    def __init__(self, array: np.ndarray):
        if array.ndim != 3:
            raise InputError(f"a cube must be 3-D (rows, cols, bands); got shape {array.shape}")
        self.array = array
        self.shape = tuple(int(s) for s in array.shape)
        self.dtype = array.dtype

    def read(self, window: Window, bands: np.ndarray) -> np.ndarray:
        return np.asarray(self.array[window.rows, window.cols][:, :, bands])


@dataclass
class Scene:
    """A hyperspectral cube with its spectral, radiometric and geographic metadata.

    Attributes
    ----------
    reader : the pixel source (lazy for files, see :class:`PixelReader`).
    wavelengths_nm, fwhm_nm : band centres and widths in nanometres, or None.
    bad_bands : boolean per band, True where the band should not be used (ENVI ``bbl == 0``).
    nodata : the value marking missing pixels, or None.
    band_names : one name per band.
    crs, transform : georeferencing (``rasterio.crs.CRS`` and ``affine.Affine``), or None.
    scale, offset : physical value = stored value * scale + offset; one number, or one per band
        (ENVI ``data gain values``/``data offset values``, GeoTIFF per-band scales), kept as
        a number when every band has the same.
    units : physical units of the values ("reflectance", "uW nm-1 cm-2 sr-1", ...), or None.
    metadata : anything else from the file header, kept for the writer.
    path : the file this scene was opened from, for error messages.
    masks : quality layers on the same grid (cloud, cirrus, water, ...), name -> reader of one
        band (per pixel) or one per band; nonzero = flagged. Product readers fill it.
    geolocation : for scenes in instrument geometry, the lookup that maps them to a map grid
        (:class:`hsi.io.products.glt.GltGeolocation`, or lat/lon arrays), else None.
    """

    reader: PixelReader
    wavelengths_nm: np.ndarray | None = None
    fwhm_nm: np.ndarray | None = None
    bad_bands: np.ndarray | None = None
    nodata: float | None = None
    band_names: list[str] | None = None
    crs: CRS | None = None
    transform: Affine | None = None
    scale: float | np.ndarray = 1.0
    offset: float | np.ndarray = 0.0
    units: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    masks: dict[str, PixelReader] = field(default_factory=dict)
    geolocation: Any = None

    def __post_init__(self) -> None:
        n_bands = self.shape[2]
        for name in ("wavelengths_nm", "fwhm_nm"):
            values = getattr(self, name)
            if values is None:
                continue
            values = np.asarray(values, dtype=np.float64).reshape(-1)
            if values.size != n_bands:
                raise InputError(
                    f"{self.describe()}: {values.size} {name.replace('_nm', '')} values "
                    f"for {n_bands} bands"
                )
            setattr(self, name, values)
        self.scale = self._per_band_number("scale", self.scale, n_bands)
        self.offset = self._per_band_number("offset", self.offset, n_bands)
        if self.bad_bands is not None:
            bad = np.asarray(self.bad_bands, dtype=bool).reshape(-1)
            if bad.size != n_bands:
                raise InputError(f"{self.describe()}: bad-band list has {bad.size} entries for {n_bands} bands")
            self.bad_bands = bad
        if self.band_names is not None and len(self.band_names) != n_bands:
            raise InputError(
                f"{self.describe()}: {len(self.band_names)} band names for {n_bands} bands"
            )

    def _per_band_number(self, name: str, value, n_bands: int) -> float | np.ndarray:
        """``value`` as one float, or as one float per band when the bands differ."""
        values = np.asarray(value, dtype=np.float64).reshape(-1)
        if values.size not in (1, n_bands):
            raise InputError(f"{self.describe()}: {values.size} {name} values for {n_bands} bands")
        if not np.all(np.isfinite(values)):
            raise InputError(f"{self.describe()}: {name} values must be finite numbers")
        return float(values[0]) if np.all(values == values[0]) else values

    def band_scale_offset(self, bands: Sequence[int] | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(scale, offset)`` of ``bands`` (default: all), one float64 per band."""
        index = self._band_index(bands)
        scale = np.broadcast_to(np.asarray(self.scale, dtype=np.float64), (self.n_bands,))[index]
        offset = np.broadcast_to(np.asarray(self.offset, dtype=np.float64), (self.n_bands,))[index]
        return scale, offset

    # --- construction -------------------------------------------------------------------
    @classmethod
    def from_array(cls, array: np.ndarray, **metadata: Any) -> "Scene":
        """An in-memory scene from a ``(rows, cols, bands)`` array (2-D arrays get one band)."""
        array = np.asarray(array)
        if array.ndim == 2:
            array = array[:, :, None]
        return cls(ArrayReader(array), **metadata)

    def with_array(self, array: np.ndarray, **changes: Any) -> "Scene":
        """This scene's metadata around new pixels (same band count unless ``changes`` say)."""
        return dataclasses.replace(self, reader=ArrayReader(np.asarray(array)), path=None, **changes)

    def with_reader(self, reader: PixelReader, **changes: Any) -> "Scene":
        """This scene's metadata around another pixel source."""
        return dataclasses.replace(self, reader=reader, **changes)

    def derived(
        self,
        *,
        n_bands: int | None = None,
        dtype: np.dtype | type | None = None,
        n_rows: int | None = None,
        n_cols: int | None = None,
        **changes: Any,
    ) -> "Scene":
        """A pixel-less template for an output derived from this scene (for writers).

        Keeps CRS, transform, nodata and metadata. When the band count changes, per-band
        attributes (wavelengths, FWHM, bad bands, names), units and scale/offset are reset
        unless given in ``changes``; when the grid size changes, pass a new ``transform``.
        """
        shape = (
            self.n_rows if n_rows is None else int(n_rows),
            self.n_cols if n_cols is None else int(n_cols),
            self.n_bands if n_bands is None else int(n_bands),
        )
        if shape[:2] != self.shape[:2]:  # another grid: quality layers and swath lookups no longer apply
            changes.setdefault("masks", {})
            changes.setdefault("geolocation", None)
        if shape[2] != self.n_bands:  # another quantity: per-band and radiometric attributes go
            for name in ("wavelengths_nm", "fwhm_nm", "bad_bands", "band_names", "units"):
                changes.setdefault(name, None)
            changes.setdefault("scale", 1.0)
            changes.setdefault("offset", 0.0)
        reader = EmptyReader(shape, self.dtype if dtype is None else np.dtype(dtype))
        if "nodata" not in changes and not _representable(self.nodata, reader.dtype):
            changes["nodata"] = None  # e.g. -9999 cannot mark nodata in a uint8 mask
        return dataclasses.replace(self, reader=reader, path=None, **changes)

    def select_bands(self, bands: Sequence[int] | np.ndarray) -> "Scene":
        """A lazy view of a subset of bands, with every per-band attribute subset to match."""
        index = self._band_index(bands)
        pick = lambda values: None if values is None else np.asarray(values)[index]  # noqa: E731
        return dataclasses.replace(
            self,
            reader=_BandSubsetReader(self.reader, index),
            wavelengths_nm=pick(self.wavelengths_nm),
            fwhm_nm=pick(self.fwhm_nm),
            bad_bands=pick(self.bad_bands),
            scale=self.scale if np.ndim(self.scale) == 0 else pick(self.scale),
            offset=self.offset if np.ndim(self.offset) == 0 else pick(self.offset),
            band_names=None if self.band_names is None else [self.band_names[i] for i in index],
            masks={name: _BandSubsetReader(mask, index) if mask.shape[2] == self.n_bands > 1 else mask
                   for name, mask in self.masks.items()},  # per-band quality layers follow the bands
        )

    # --- shape and access ---------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        """``(rows, cols, bands)``."""
        return tuple(self.reader.shape)

    @property
    def n_rows(self) -> int:
        return self.shape[0]

    @property
    def n_cols(self) -> int:
        return self.shape[1]

    @property
    def n_bands(self) -> int:
        return self.shape[2]

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.reader.dtype)

    @property
    def full_window(self) -> Window:
        return Window(0, 0, self.n_rows, self.n_cols)

    def describe(self) -> str:
        """How errors name this scene: its file, or 'in-memory scene'."""
        return str(self.path) if self.path is not None else "in-memory scene"

    def read(
        self,
        window: Window | None = None,
        bands: Sequence[int] | np.ndarray | None = None,
        *,
        physical: bool = False,
        dtype: np.dtype | type | None = None,
    ) -> np.ndarray:
        """Pixels of ``window`` (default: all) and ``bands`` (default: all), ``(rows, cols, bands)``.

        With ``physical=True`` the stored values are converted with ``scale``/``offset`` to
        float32 and nodata pixels become NaN, which is what most methods want.
        """
        window = self.full_window if window is None else window
        clipped = window.clip(self.n_rows, self.n_cols)
        if clipped != window:
            raise InputError(
                f"{self.describe()}: window {window} is outside the {self.n_rows} x {self.n_cols} scene"
            )
        index = self._band_index(bands)
        pixels = self.reader.read(window, index)
        if physical:
            nodata = self.nodata_mask_of(pixels)
            scale, offset = self.band_scale_offset(index)
            pixels = pixels.astype(np.float32) * scale.astype(np.float32) + offset.astype(np.float32)
            pixels[nodata] = np.nan
        if dtype is not None:
            pixels = pixels.astype(dtype, copy=False)
        return pixels

    def read_mask(self, name: str, window: Window | None = None) -> np.ndarray:
        """Quality layer ``name`` over ``window`` as booleans ``(rows, cols)`` or ``(rows, cols, bands)``."""
        if name not in self.masks:
            known = ", ".join(self.masks) or "none"
            raise InputError(f"{self.describe()}: no quality layer {name!r}; it has {known}")
        reader = self.masks[name]
        window = self.full_window if window is None else window
        values = reader.read(window, np.arange(reader.shape[2]))
        flagged = np.isfinite(values) & (values != 0) if values.dtype.kind == "f" else values != 0
        return flagged[:, :, 0] if flagged.shape[2] == 1 else flagged

    def nodata_mask_of(self, pixels: np.ndarray) -> np.ndarray:
        """True where a value read from this scene is nodata or not finite."""
        mask = ~np.isfinite(pixels) if np.issubdtype(pixels.dtype, np.floating) else np.zeros(pixels.shape, bool)
        if self.nodata is not None and not np.isnan(self.nodata):
            mask |= pixels == np.asarray(self.nodata).astype(pixels.dtype)
        return mask

    def windows(self, block_rows: int, block_cols: int | None = None) -> Iterator[Window]:
        """Row-major blocks covering the scene (edge blocks are smaller)."""
        block_cols = self.n_cols if block_cols is None else block_cols
        for row in range(0, self.n_rows, block_rows):
            for col in range(0, self.n_cols, block_cols):
                yield Window(row, col, block_rows, block_cols).clip(self.n_rows, self.n_cols)

    def block_rows_for(self, max_bytes: int, itemsize: int | None = None) -> int:
        """How many full-width rows (all bands) fit in ``max_bytes``."""
        itemsize = self.dtype.itemsize if itemsize is None else itemsize
        row_bytes = self.n_cols * self.n_bands * max(itemsize, 1)
        return int(max(1, min(self.n_rows, max_bytes // max(row_bytes, 1))))

    @property
    def pixel_size(self) -> tuple[float, float] | None:
        """Ground size of a pixel ``(x, y)`` in CRS units, or None if not georeferenced."""
        if self.transform is None:
            return None
        t = self.transform
        return (float(np.hypot(t.a, t.d)), float(np.hypot(t.b, t.e)))

    def _band_index(self, bands: Sequence[int] | np.ndarray | None) -> np.ndarray:
        if bands is None:
            return np.arange(self.n_bands)
        index = np.asarray(bands)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        index = index.astype(np.int64).reshape(-1)
        if index.size and (index.min() < -self.n_bands or index.max() >= self.n_bands):
            raise InputError(f"{self.describe()}: band index out of range 0..{self.n_bands - 1}")
        return index % self.n_bands


class EmptyReader:
    """Shape and dtype only: the pixels of an output that is still being written."""

    def __init__(self, shape: tuple[int, int, int], dtype: np.dtype):
        self.shape, self.dtype = tuple(int(s) for s in shape), np.dtype(dtype)

    def read(self, window: Window, bands: np.ndarray) -> np.ndarray:
        raise InputError("this scene is a template for an output: it has no pixels to read")


class _BandSubsetReader:
    """Reads a fixed subset of another reader's bands."""

    def __init__(self, base: PixelReader, index: np.ndarray):
        self.base, self.index = base, np.asarray(index)
        self.shape = (base.shape[0], base.shape[1], int(self.index.size))
        self.dtype = base.dtype

    def read(self, window: Window, bands: np.ndarray) -> np.ndarray:
        return self.base.read(window, self.index[bands])


def _representable(value: float | None, dtype: np.dtype) -> bool:
    """Whether ``value`` can be stored exactly in ``dtype`` (None and NaN-in-float always can)."""
    if value is None or dtype.kind == "f":
        return True
    if dtype.kind in "iu" and float(value).is_integer():
        info = np.iinfo(dtype)
        return info.min <= value <= info.max
    return dtype.kind == "b" and value in (0, 1)


class MaskedReader:
    """Physical float32 pixels of ``scene`` with NaN wherever ``mask`` is zero (or nodata).

    ``mask`` is on the same grid with one band (per pixel) or ``scene``'s band count (per
    value); nonzero means observed, the convention of :mod:`hsi.degrade.masks`.
    """

    def __init__(self, scene: "Scene", mask: "Scene"):
        from hsi.errors import InputError

        check_same_grid(scene, mask, "scene and mask")
        if mask.n_bands not in (1, scene.n_bands):
            raise InputError(
                f"{mask.describe()}: a mask needs 1 band or the scene's {scene.n_bands}; got {mask.n_bands}"
            )
        self.scene, self.mask = scene, mask
        self.shape = scene.shape
        self.dtype = np.dtype(np.float32)

    def read(self, window: Window, bands: np.ndarray) -> np.ndarray:
        pixels = self.scene.read(window, bands, physical=True)
        mask = self.mask.read(window, None if self.mask.n_bands == 1 else bands, physical=True)
        missing = ~(np.isfinite(mask) & (mask != 0))
        return np.where(missing, np.float32(np.nan), pixels)


def masked(scene: Scene, mask: Scene) -> Scene:
    """``scene`` with the pixels that ``mask`` marks missing (zero) turned to NaN, lazily."""
    return scene.with_reader(MaskedReader(scene, mask), scale=1.0, offset=0.0, nodata=float("nan"))


def check_same_grid(a: Scene, b: Scene, what: str = "inputs") -> None:
    """Raise a :class:`~hsi.errors.GridMismatchError` unless ``a`` and ``b`` share rows, cols, CRS and transform."""
    from hsi.errors import GridMismatchError

    problems = []
    if a.shape[:2] != b.shape[:2]:
        problems.append(f"size {a.shape[0]}x{a.shape[1]} vs {b.shape[0]}x{b.shape[1]}")
    if (a.crs is None) != (b.crs is None) or (a.crs is not None and a.crs != b.crs):
        problems.append(f"CRS {a.crs} vs {b.crs}")
    if a.transform is not None and b.transform is not None and not a.transform.almost_equals(b.transform):
        problems.append(f"transform {tuple(a.transform)[:6]} vs {tuple(b.transform)[:6]}")
    if problems:
        raise GridMismatchError(
            f"{what} are on different grids: {a.describe()} and {b.describe()} differ in " + "; ".join(problems)
        )

"""ENVI (.hdr + BSQ/BIL/BIP binary) through ``spectral`` (SPy).

Georeferencing comes from ``coordinate system string`` (WKT) when present, else from
a UTM ``map info``; the affine transform from ``map info``'s reference pixel, origin,
pixel size and optional ``rotation``. ``bbl`` and ``data ignore value`` map to the
scene's bad bands and nodata; wavelengths in micrometres are converted to nm, and
wavelengths missing from the header are parsed from band names ("376.44 Nanometers").
``data gain values`` / ``data offset values`` (physical = stored * gain + offset, per band;
ENVI header documentation) become the scene's per-band scale/offset, applied lazily when
pixels are read as physical values; a ``reflectance scale factor`` beside them divides both.
Writers put a per-band or offset scaling back as gain/offset values, a plain scale as the
reflectance scale factor.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from spectral.io import envi

from hsi.errors import FormatError, InputError
from hsi.io.base import LazyHandle, MemmapWriter, require_file
from hsi.io.wavelengths import nm_factor, wavelengths_from_names
from hsi.scene import Scene, Window

SUFFIXES = (".hdr",)
INTERLEAVES = ("bsq", "bil", "bip")
DATA_SUFFIXES = ("", ".img", ".dat", ".raw", ".bsq", ".bil", ".bip", ".bin")
_STANDARD_KEYS = {
    "description", "samples", "lines", "bands", "header offset", "file type", "data type", "interleave",
    "byte order", "wavelength", "wavelength units", "fwhm", "bbl", "data ignore value", "band names",
    "map info", "coordinate system string", "reflectance scale factor", "data gain values",
    "data offset values", "sensor type",
}
#: ENVI headers have no nested fields: a product label (``metadata['product']``, whose
#: ``content`` makes restore and unmix refuse flags and observation geometry) is written as
#: ``hsi product <key> = <value>`` fields and read back into ``metadata['product']``.
PRODUCT_FIELD = "hsi product "


def header_path_for(path: Path) -> Path:
    """The .hdr of an ENVI file given either the header or the binary file."""
    path = Path(path)
    if path.suffix.lower() == ".hdr":
        return path
    for candidate in (path.with_name(path.name + ".hdr"), path.with_suffix(".hdr")):
        if candidate.exists():
            return candidate
    return path.with_suffix(".hdr")


def data_path_for(header: Path) -> Path:
    """The binary file beside an ENVI header, or a clear error listing what was tried."""
    stem = header.with_suffix("")
    tried = [stem.with_name(stem.name + suffix) for suffix in DATA_SUFFIXES]
    tried += [stem.with_name(stem.name + suffix.upper()) for suffix in DATA_SUFFIXES if suffix]
    for candidate in tried:
        if candidate.is_file():
            return candidate
    raise InputError(f"{header}: ENVI header has no data file beside it (looked for {', '.join(p.name for p in tried[:8])})")


class EnviReader(LazyHandle):
    def __init__(self, header: Path, data: Path, shape, dtype):
        self.header, self.data, self.shape, self.dtype = header, data, shape, np.dtype(dtype)

    def read(self, window: Window, bands: np.ndarray) -> np.ndarray:
        if self._handle is None:
            self._handle = envi.open(str(self.header), str(self.data))
            self._handle.scale_factor = 1.0  # SPy divides by 'reflectance scale factor'; the scene applies scale itself
        block = self._handle.read_subregion(
            (window.row, window.row + window.height), (window.col, window.col + window.width), [int(b) for b in bands]
        )
        return np.asarray(block, dtype=self.dtype).reshape(window.height, window.width, len(bands))


def open_envi(path: Path) -> Scene:
    header = require_file(header_path_for(path), "ENVI header")
    data = data_path_for(header)
    try:
        image = envi.open(str(header), str(data))
    except (envi.EnviException, ValueError, KeyError) as error:
        raise FormatError(f"{header}: invalid ENVI header ({error})") from None
    meta = image.metadata
    rows, cols, bands = (int(image.nrows), int(image.ncols), int(image.nbands))
    dtype = np.dtype(image.dtype)
    interleave = str(meta.get("interleave", "")).strip().lower()
    if interleave not in INTERLEAVES:
        raise FormatError(f"{header}: 'interleave = {meta.get('interleave')}' is not one of bsq, bil, bip")
    _check_data_size(header, data, rows, cols, bands, dtype, int(meta.get("header offset", 0)))
    units = meta.get("wavelength units")
    wavelengths = _floats(meta.get("wavelength"), header, "wavelength", bands)
    fwhm = _floats(meta.get("fwhm"), header, "fwhm", bands)
    if wavelengths is not None:
        factor = nm_factor(wavelengths, units)
        wavelengths, fwhm = wavelengths * factor, None if fwhm is None else fwhm * factor
    names = meta.get("band names")
    if names is not None and len(names) != bands:
        raise FormatError(f"{header}: {len(names)} band names for {bands} bands")
    if wavelengths is None and names:
        wavelengths = wavelengths_from_names(names)
    bbl = _floats(meta.get("bbl"), header, "bbl", bands)
    nodata = meta.get("data ignore value")
    scale, offset = _scale_offset(meta, header, bands)
    crs, transform = _georeference(meta, header)
    return Scene(
        reader=EnviReader(header, data, (rows, cols, bands), dtype),
        wavelengths_nm=wavelengths,
        fwhm_nm=fwhm,
        bad_bands=None if bbl is None else bbl == 0,
        nodata=None if nodata is None else float(nodata),
        band_names=list(names) if names else None,
        crs=crs,
        transform=transform,
        scale=scale,
        offset=offset,
        units=meta.get("data units") or meta.get("sensor type"),
        metadata=_metadata(meta),
        path=header,
    )


def _metadata(meta: dict) -> dict:
    """The header's non-standard fields, with the ``hsi product ...`` fields as ``metadata['product']``."""
    metadata = {k: v for k, v in meta.items() if k not in _STANDARD_KEYS and not k.startswith(PRODUCT_FIELD)}
    product = {k[len(PRODUCT_FIELD):]: v for k, v in meta.items() if k.startswith(PRODUCT_FIELD)}
    if product:
        metadata["product"] = product
    return metadata


def _scale_offset(meta: dict, header: Path, n_bands: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-band ``(scale, offset)``: gains and offsets, divided by the reflectance scale factor."""
    gains = _floats(meta.get("data gain values"), header, "data gain values", n_bands)
    offsets = _floats(meta.get("data offset values"), header, "data offset values", n_bands)
    scale = np.ones(n_bands) if gains is None else gains
    offset = np.zeros(n_bands) if offsets is None else offsets
    factor = meta.get("reflectance scale factor")
    if factor is not None:
        try:
            factor = float(factor)
        except (TypeError, ValueError):
            raise FormatError(f"{header}: 'reflectance scale factor' is not a number ({factor!r})") from None
        if factor == 0 or not np.isfinite(factor):
            raise FormatError(f"{header}: 'reflectance scale factor' must be a finite, non-zero number; got {factor}")
        scale, offset = scale / factor, offset / factor
    if not (np.all(np.isfinite(scale)) and np.all(np.isfinite(offset))):
        raise FormatError(f"{header}: 'data gain values' / 'data offset values' must be finite numbers")
    return scale, offset


def _check_data_size(header: Path, data: Path, rows: int, cols: int, bands: int, dtype: np.dtype, offset: int) -> None:
    """The binary must hold exactly what the header describes: a short file would read past
    its end, a long one means the header's sizes (say, its band count) are wrong."""
    expected = offset + rows * cols * bands * dtype.itemsize
    actual = data.stat().st_size
    if actual != expected:
        fits = (actual - offset) / (rows * cols * dtype.itemsize)
        hint = f" (the size fits {fits:g} bands)" if actual > expected and float(fits).is_integer() else ""
        raise FormatError(
            f"{data}: data file has {actual} bytes but the header {header.name} ({rows} lines x {cols} samples x "
            f"{bands} bands of {dtype.name}) needs {expected}{hint}"
        )


def _floats(values, header: Path, key: str, n_bands: int) -> np.ndarray | None:
    if values is None:
        return None
    try:
        array = np.asarray([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        raise FormatError(f"{header}: '{key}' has non-numeric entries") from None
    if array.size != n_bands:
        raise FormatError(f"{header}: '{key}' has {array.size} values for {n_bands} bands")
    return array


def _georeference(meta: dict, header: Path) -> tuple[CRS | None, Affine | None]:
    map_info = meta.get("map info")
    crs = None
    wkt = meta.get("coordinate system string")
    if wkt:
        wkt = wkt if isinstance(wkt, str) else ",".join(wkt)
        try:
            crs = CRS.from_wkt(wkt)
        except Exception as error:  # rasterio raises CRSError; keep going with map info
            raise FormatError(f"{header}: unreadable 'coordinate system string' ({error})") from None
    if not map_info:
        return crs, None
    fields = [f.strip() for f in map_info]
    try:
        ref_x, ref_y, x0, y0, dx, dy = (float(v) for v in fields[1:7])
    except (ValueError, IndexError):
        raise FormatError(f"{header}: malformed 'map info' {{{', '.join(fields)}}}") from None
    projection = fields[0].lower()
    if crs is None and projection == "utm" and len(fields) >= 9:
        zone, hemisphere = int(float(fields[7])), fields[8].lower()
        datum = fields[9].lower() if len(fields) > 9 else "wgs-84"
        if datum.startswith("wgs-84"):
            crs = CRS.from_epsg((32600 if hemisphere.startswith("n") else 32700) + zone)
    elif crs is None and projection.startswith("geographic"):
        crs = CRS.from_epsg(4326)
    rotation = 0.0
    for field in fields[7:]:
        if field.lower().startswith("rotation="):
            rotation = float(field.split("=", 1)[1])
    # ENVI's reference pixel is 1-based and refers to the pixel's upper-left corner.
    transform = Affine.translation(x0, y0) @ Affine.rotation(-rotation) @ Affine.scale(dx, -dy) @ Affine.translation(
        -(ref_x - 1.0), -(ref_y - 1.0)
    )
    return crs, transform


def _map_info(crs: CRS | None, transform: Affine) -> list[str]:
    dx = math.hypot(transform.a, transform.d)
    dy = math.hypot(transform.b, transform.e)
    rotation = -math.degrees(math.atan2(transform.d, transform.a))
    epsg = crs.to_epsg() if crs is not None else None
    if epsg and (32601 <= epsg <= 32660 or 32701 <= epsg <= 32760):
        head = ["UTM", "1", "1", repr(transform.c), repr(transform.f), repr(dx), repr(dy), str(epsg % 100),
                "North" if epsg < 32700 else "South", "WGS-84", "units=Meters"]
    elif crs is not None and crs.is_geographic:
        head = ["Geographic Lat/Lon", "1", "1", repr(transform.c), repr(transform.f), repr(dx), repr(dy), "WGS-84", "units=Degrees"]
    else:
        head = ["Arbitrary", "1", "1", repr(transform.c), repr(transform.f), repr(dx), repr(dy), "0", "North"]
    if abs(rotation) > 1e-12:
        head.append(f"rotation={rotation!r}")
    return head


def envi_header(like: Scene, interleave: str) -> dict:
    rows, cols, bands = like.shape
    meta = {
        "lines": rows, "samples": cols, "bands": bands, "interleave": interleave, "byte order": 0,
        "description": "written by hsi",
    }
    meta.update({k: v for k, v in like.metadata.items() if isinstance(v, (str, int, float, list))})
    product = like.metadata.get("product")
    if isinstance(product, dict):
        meta.update({PRODUCT_FIELD + str(k): str(v) for k, v in product.items()})
    if like.wavelengths_nm is not None:
        meta["wavelength"] = [repr(float(v)) for v in like.wavelengths_nm]
        meta["wavelength units"] = "Nanometers"
    if like.fwhm_nm is not None:
        meta["fwhm"] = [repr(float(v)) for v in like.fwhm_nm]
    if like.bad_bands is not None:
        meta["bbl"] = ["0" if b else "1" for b in like.bad_bands]
    if like.nodata is not None:
        meta["data ignore value"] = repr(float(like.nodata))
    if like.band_names is not None:
        meta["band names"] = [str(n) for n in like.band_names]
    if np.ndim(like.scale) or np.ndim(like.offset) or like.offset != 0.0:
        scale, offset = like.band_scale_offset()
        meta["data gain values"] = [repr(float(v)) for v in scale]
        meta["data offset values"] = [repr(float(v)) for v in offset]
    elif like.scale != 1.0:
        meta["reflectance scale factor"] = repr(1.0 / like.scale)
    if like.units:
        meta["data units"] = like.units
    if like.transform is not None:
        meta["map info"] = _map_info(like.crs, like.transform)
    if like.crs is not None:
        meta["coordinate system string"] = like.crs.to_wkt()
    return meta


class EnviWriter(MemmapWriter):
    """Writes through a memory map of the temporary binary file; header renamed last."""

    def __init__(self, path: Path, like: Scene, *, temporary: Path, interleave: str = "bsq"):
        super().__init__(path, like)
        interleave = interleave.lower()
        if interleave not in INTERLEAVES:
            raise InputError(f"{path}: interleave must be bsq, bil or bip, got {interleave!r}")
        header, data = self.outputs(self.path)
        tmp_header = temporary.with_name(temporary.name + ".hdr")
        tmp_data = temporary.with_name(temporary.name + ".img")
        self._parts = [(tmp_data, data), (tmp_header, header)]
        self.path = header
        image = envi.create_image(
            str(tmp_header), envi_header(like, interleave), dtype=self.dtype, interleave=interleave,
            ext=".img", force=True,
        )
        self._map(tmp_data, lambda: image.open_memmap(interleave="bip", writable=True))  # a (rows, cols, bands) view

    @classmethod
    def outputs(cls, path: Path, **options) -> tuple[Path, Path]:
        """The header and the binary file: ``x.hdr`` -> ``x.img``; ``x.img``/``x`` -> its header."""
        path = Path(path)
        header = header_path_for(path)
        data = header.with_suffix(".img") if path.suffix.lower() == ".hdr" else path
        return header, data

"""AVIRIS-NG / AVIRIS-3 flight lines in swath geometry (ENVI) with their geometry lookup table.

Layout (JPL AVIRIS-NG / AVIRIS-3 Distribution Documents; verified here on synthetic files
only): the radiance or reflectance image ``ang<date>t<time>_<product>_img`` (ENVI, read by
:mod:`hsi.io.envi`) and, beside it, the geometric look-up table (ENVI, 2 bands: 1-based
sample and line of the swath pixel for each map pixel, 0 = none, negative = filled from a
neighbour) whose ``map info`` gives the map grid. The GLT is named ``..._glt`` after the
image's stem, or as the distribution documents list it: ``ang<date>t<time>_ort_glt``
(AVIRIS-NG) and ``AV3<date>t<time>_L1B_ORT_<version>_<hash>_GLT`` (AVIRIS-3).
Orthorectified flight lines (``map info`` on the image itself) are already on the GLT's map
grid: they are opened as ordinary ENVI files, even with a GLT beside them.

A flight line's geometry layers (``..._obs``, ``..._obs_ort``, ``..._loc``, ``..._igm``, the
GLT itself; AVIRIS-3 ``..._OBS``, ``..._LOC``) hold observation geometry (path length, view and
sun angles, slope, UTC time; longitude, latitude, elevation), not spectra: they open as such
(``ProductInfo.content``), so that restore and unmix refuse them, with their GLT where they
are in swath geometry.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from hsi.errors import FormatError
from hsi.io.envi import header_path_for, open_envi
from hsi.io.products.common import ProductInfo
from hsi.io.products.glt import GltGeolocation
from hsi.scene import Scene

NAME = re.compile(r"^(ang|av3)\d{8}t\d{6}_(.*?)_?(img|rfl|rdn)?$", re.IGNORECASE)
FLIGHT = re.compile(r"^(ang|av3)\d{8}t\d{6}", re.IGNORECASE)
#: Name tokens of a flight line's layers that hold geometry, not spectra.
GEOMETRY_LAYERS = ("obs", "loc", "igm", "glt")
#: What a flight line's spectral image holds, by the token in its name (``..._rdn_img``,
#: ``..._2rdn_img``, ``..._rfl``, ``..._corr_img``): L1B radiance in uW nm-1 cm-2 sr-1, L2 reflectance.
SPECTRAL_PRODUCTS = (("rdn", "L1B", "radiance (uW nm-1 cm-2 sr-1)"), ("rfl", "L2", "reflectance"),
                     ("corr", "L2", "reflectance"))


def _stem(path: Path) -> str:
    return path.name[:-4] if path.name.lower().endswith(".hdr") else path.name


def _sensor(path: Path) -> str:
    return "AVIRIS-3" if path.name.lower().startswith("av3") else "AVIRIS-NG"


def geometry_layer(path: Path) -> str | None:
    """``OBS``, ``LOC``, ``IGM`` or ``GLT`` when ``path`` names a flight line's geometry layer, else None."""
    stem = _stem(path)
    if not FLIGHT.match(stem):
        return None
    return next((token.upper() for token in stem.lower().split("_")[1:] if token in GEOMETRY_LAYERS), None)


def detect_geometry(path: Path) -> bool:
    """An ENVI file named as a flight line's geometry layer."""
    return path.is_file() and geometry_layer(path) is not None and header_path_for(path).exists()


def open_geometry(path: Path) -> Scene:
    """A geometry layer: an ENVI scene (with its GLT where in swath geometry) whose bands are not spectra."""
    scene = open_aviris(path) if detect(path) else open_envi(path)
    info = ProductInfo(_sensor(path), "L1B", f"L1B {geometry_layer(path)}", content="geometry")
    return dataclasses.replace(scene, metadata={**scene.metadata, "product": info.as_dict()})


def glt_path_for(path: Path) -> Path | None:
    """The ``..._glt`` lookup beside an AVIRIS image (header or binary path), if present."""
    stem = _stem(path)
    match = NAME.match(stem)
    if not match:
        return None
    base = re.sub(r"_?(img|rfl|rdn_img|rdn|corr_img|(rdn_)?(obs|loc|igm))$", "", stem, flags=re.IGNORECASE)
    flight = re.match(r"^(ang|av3)\d{8}t\d{6}", stem, re.IGNORECASE).group(0)
    candidates = [path.with_name(f"{base}_glt"), path.with_name(f"{base}_rdn_glt"), path.with_name(f"{flight}_ort_glt")]
    candidates += sorted(p.with_suffix("") for p in path.parent.glob(f"{flight}_L1B_ORT_*_GLT.hdr"))
    for candidate in candidates:
        if header_path_for(candidate).exists():
            return candidate
    return None


def spectral_product(path: Path) -> tuple[str, str] | None:
    """``(level, units)`` of a flight line's spectral image by its name, or None."""
    flight = FLIGHT.match(_stem(path))
    if not flight or geometry_layer(path) is not None:
        return None
    rest = _stem(path)[flight.end():].lower()
    return next(((level, units) for token, level, units in SPECTRAL_PRODUCTS if token in rest), None)


def _labelled(path: Path, scene: Scene, product: str) -> Scene:
    """``scene`` with the units its name says (when the header gives none) and its product label."""
    level, units = spectral_product(path) or ("L1B/L2", None)
    return dataclasses.replace(scene, units=scene.units or units, metadata={
        **scene.metadata, "product": ProductInfo(_sensor(path), level, product).as_dict()})


def detect_line(path: Path) -> bool:
    """A flight line's radiance or reflectance image on a map grid (or with no GLT found), by its name."""
    return path.is_file() and spectral_product(path) is not None and header_path_for(path).exists()


def open_line(path: Path) -> Scene:
    """An ENVI image named as a flight line's radiance or reflectance, with its units."""
    return _labelled(path, open_envi(path), f"{spectral_product(path)[0]} image")


def detect(path: Path) -> bool:
    """A swath image (no ``map info`` of its own) with its GLT beside it."""
    if not path.is_file() or glt_path_for(path) is None:
        return False
    header = header_path_for(path)
    return not header.exists() or "map info" not in header.read_text(errors="replace").lower()


def open_aviris(path: Path) -> Scene:
    scene = open_envi(path)
    glt_path = glt_path_for(path)
    glt = open_envi(glt_path)
    if glt.n_bands < 2:
        raise FormatError(f"{glt.describe()}: a GLT needs 2 bands (sample, line); it has {glt.n_bands}")
    if glt.transform is None or glt.crs is None:
        raise FormatError(f"{glt.describe()}: GLT without map info: no map grid to orthorectify onto")
    scene = _labelled(path, scene, "swath with GLT")
    return dataclasses.replace(scene, geolocation=GltGeolocation(glt.reader, glt.transform, glt.crs, glt.path))

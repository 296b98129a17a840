"""AVIRIS-NG / AVIRIS-3 flight lines in swath geometry (ENVI) with their geometry lookup table.

Layout (JPL AVIRIS-NG / AVIRIS-3 data product descriptions; verified here on synthetic
files only): the radiance or reflectance image ``ang<date>t<time>_<product>_img`` (ENVI,
read by :mod:`hsi.io.envi`) and, beside it, ``..._glt`` (ENVI, 2 bands: 1-based sample and
line of the swath pixel for each map pixel, 0 = none, negative = filled from a neighbour)
whose ``map info`` gives the map grid. Orthorectified flight lines (``map info`` on the
image itself) need nothing here: they are ordinary ENVI files.
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


def glt_path_for(path: Path) -> Path | None:
    """The ``..._glt`` lookup beside an AVIRIS image (header or binary path), if present."""
    stem = path.name[:-4] if path.name.lower().endswith(".hdr") else path.name
    match = NAME.match(stem)
    if not match:
        return None
    base = re.sub(r"_?(img|rfl|rdn_img|rdn|corr_img)$", "", stem, flags=re.IGNORECASE)
    for candidate in (path.with_name(f"{base}_glt"), path.with_name(f"{base}_rdn_glt")):
        if header_path_for(candidate).exists():
            return candidate
    return None


def detect(path: Path) -> bool:
    return path.is_file() and glt_path_for(path) is not None


def open_aviris(path: Path) -> Scene:
    scene = open_envi(path)
    glt_path = glt_path_for(path)
    glt = open_envi(glt_path)
    if glt.n_bands < 2:
        raise FormatError(f"{glt.describe()}: a GLT needs 2 bands (sample, line); it has {glt.n_bands}")
    if glt.transform is None or glt.crs is None:
        raise FormatError(f"{glt.describe()}: GLT without map info: no map grid to orthorectify onto")
    sensor = "AVIRIS-3" if path.name.lower().startswith("av3") else "AVIRIS-NG"
    return dataclasses.replace(
        scene, geolocation=GltGeolocation(glt.reader, glt.transform, glt.crs, glt.path),
        metadata={**scene.metadata, "product": ProductInfo(sensor, "L1B/L2", "swath with GLT").as_dict()},
    )

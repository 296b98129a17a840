"""DLR EnMAP L1C / L2A products: a folder (or its zip) with one file per layer.

Layout (EnMAP Level 1B/1C/2A Product Specification, EN-PCV-ICD-2009-2; checked on a real
L2A tile): ``ENMAP01-____<level>-<id>-SPECTRAL_IMAGE.TIF`` (rows, cols, bands; int16 with
nodata -32768 for L2A), ``...-METADATA.XML`` whose ``bandCharacterisation/bandID`` entries
give ``wavelengthCenterOfBand``, ``FWHMOfBand`` (nm), ``GainOfBand`` and ``OffsetOfBand``
(physical = DN * gain + offset), and one-band quality layers ``QL_QUALITY_CLOUD``,
``_CIRRUS``, ``_HAZE``, ``_SNOW``, ``_CLOUDSHADOW``, ``_TESTFLAGS`` (1 = flagged) plus
``QL_PIXELMASK`` (one band per spectral band, nonzero = defective pixel).

Without METADATA.XML a 224-band product gets DLR's nominal band centres
(:mod:`hsi.io.products.enmap_bands`; no FWHM) and, for L2A, the nominal reflectance scale
1e-4, with a warning that these are nominal; other band counts keep band indices, and L1C
radiance stays DN (its gains have no nominal value).
Bands filled entirely with nodata (the water-vapour bands of L2A) are found by the jobs
(:func:`hsi.nodata.empty_bands`) and kept out of processing.
"""

from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np

from hsi.errors import FormatError
from hsi.io.products import enmap_bands
from hsi.io.products.common import PerBandScaledReader, ProductInfo, RasterioReader, open_raster
from hsi.scene import Scene

NAME = re.compile(r"^ENMAP01-_*(L1B|L1C|L2A)-", re.IGNORECASE)
QUALITY = {"QL_QUALITY_CLOUD": "cloud", "QL_QUALITY_CIRRUS": "cirrus", "QL_QUALITY_HAZE": "haze",
           "QL_QUALITY_SNOW": "snow", "QL_QUALITY_CLOUDSHADOW": "cloud_shadow", "QL_QUALITY_TESTFLAGS": "test_flags",
           "QL_PIXELMASK": "pixel"}
IMAGE_SUFFIXES = (".TIF", ".TIFF", ".BSQ", ".BIL", ".BIP")


class _Members:
    """The files of a product folder or zip: name -> GDAL path, and text reading."""

    def __init__(self, path: Path):
        self.path = path
        if path.is_dir():
            self.names = {p.name: str(p) for p in sorted(path.iterdir()) if p.is_file()}
        else:
            try:
                with zipfile.ZipFile(path) as archive:
                    members = [m for m in archive.namelist() if not m.endswith("/")]
            except zipfile.BadZipFile as error:
                raise FormatError(f"{path}: not a readable EnMAP zip ({error})") from None
            self.names = {Path(m).name: f"/vsizip/{path.resolve()}/{m}" for m in members}
            self._zip_members = {Path(m).name: m for m in members}

    def find(self, suffix: str) -> str | None:
        """The member whose name ends with ``-<suffix>`` plus an image or XML extension."""
        for name, source in self.names.items():
            stem, ext = Path(name).stem.upper(), Path(name).suffix.upper()
            if stem.endswith("-" + suffix) and (ext in IMAGE_SUFFIXES or ext == ".XML"):
                return source
        return None

    def read_text(self, source: str) -> bytes:
        if self.path.is_dir():
            return Path(source).read_bytes()
        with zipfile.ZipFile(self.path) as archive:
            return archive.read(self._zip_members[Path(source.split("/")[-1]).name])


def detect(path: Path) -> bool:
    """An EnMAP product zip (by name), or a folder holding ``ENMAP01-...`` layer files."""
    if path.is_dir():
        return any(NAME.match(p.name) for p in path.iterdir() if p.is_file())
    return path.suffix.lower() == ".zip" and bool(NAME.match(path.name))


def band_table(xml: bytes, source: str) -> dict[str, np.ndarray]:
    """Centre wavelength, FWHM (nm), gain and offset per band from METADATA.XML, in band order."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as error:
        raise FormatError(f"{source}: METADATA.XML is not valid XML ({error})") from None
    bands = root.findall(".//bandCharacterisation/bandID")
    if not bands:
        raise FormatError(f"{source}: METADATA.XML has no bandCharacterisation/bandID entries")
    fields = {"wavelength": "wavelengthCenterOfBand", "fwhm": "FWHMOfBand", "gain": "GainOfBand", "offset": "OffsetOfBand"}
    numbers = [int(band.get("number", i + 1)) for i, band in enumerate(bands)]
    order = np.argsort(numbers)
    table = {}
    for key, tag in fields.items():
        try:
            table[key] = np.asarray([float(band.findtext(tag)) for band in bands])[order]
        except (TypeError, ValueError):
            raise FormatError(f"{source}: METADATA.XML band entries lack a numeric <{tag}>") from None
    return table


def _nominal_band_table(path: Path, level: str, n_bands: int):
    """Centres, scale, offset and units from the nominal table, with the warning that says so."""
    if n_bands != enmap_bands.N_BANDS:
        warnings.warn(f"{path}: EnMAP product without METADATA.XML and with {n_bands} bands (the nominal table has "
                      f"{enmap_bands.N_BANDS}): no wavelengths, FWHM or gains; values stay DN", stacklevel=3)
        return None, 1.0, 0.0, "DN"
    if level == "L2A":
        warnings.warn(f"{path}: EnMAP product without METADATA.XML: nominal band centres (no FWHM) and the nominal "
                      f"L2A reflectance scale {enmap_bands.L2A_REFLECTANCE_SCALE:g}", stacklevel=3)
        return enmap_bands.nominal_centres_nm(), enmap_bands.L2A_REFLECTANCE_SCALE, 0.0, "reflectance"
    warnings.warn(f"{path}: EnMAP product without METADATA.XML: nominal band centres (no FWHM); {level} radiance "
                  "gains have no nominal value, so values stay DN", stacklevel=3)
    return enmap_bands.nominal_centres_nm(), 1.0, 0.0, "DN"


def open_enmap(path: Path) -> Scene:
    members = _Members(path)
    image = members.find("SPECTRAL_IMAGE")
    if image is None:
        raise FormatError(f"{path}: EnMAP product without a SPECTRAL_IMAGE file "
                          "(L1B products keep VNIR and SWIR apart: open them as separate scenes)")
    level = NAME.match(Path(image).name).group(1).upper() if NAME.match(Path(image).name) else "unknown"
    with open_raster(image, path) as ds:
        shape, dtype, nodata = (ds.height, ds.width, ds.count), ds.dtypes[0], ds.nodata
        crs, transform = ds.crs, ds.transform
    reader = RasterioReader(image, shape, dtype)
    scene_nodata, wavelengths, fwhm, units = nodata, None, None, "DN"
    xml = members.find("METADATA")
    if xml is not None:
        table = band_table(members.read_text(xml), xml)
        if table["wavelength"].size != shape[2]:
            raise FormatError(f"{xml}: METADATA.XML describes {table['wavelength'].size} bands, "
                              f"the SPECTRAL_IMAGE has {shape[2]}")
        wavelengths, fwhm = table["wavelength"], table["fwhm"]
        if np.ptp(table["gain"]) == 0 and np.ptp(table["offset"]) == 0:
            scale, offset = float(table["gain"][0]), float(table["offset"][0])
        else:
            reader, scene_nodata = PerBandScaledReader(reader, table["gain"], table["offset"], nodata), float("nan")
            scale, offset = 1.0, 0.0
        units = "reflectance" if level == "L2A" else "radiance (mW m-2 sr-1 nm-1)"
    else:
        wavelengths, scale, offset, units = _nominal_band_table(path, level, shape[2])
    masks = {}
    for suffix, name in QUALITY.items():
        source = members.find(suffix)
        if source is None:
            continue
        with open_raster(source, path) as ds:
            if (ds.height, ds.width) != shape[:2]:
                raise FormatError(f"{source}: quality layer is {ds.height} x {ds.width}, the image {shape[0]} x {shape[1]}")
            masks[name] = RasterioReader(source, (ds.height, ds.width, ds.count), ds.dtypes[0])
    return Scene(
        reader=reader, wavelengths_nm=wavelengths, fwhm_nm=fwhm, nodata=scene_nodata, crs=crs, transform=transform,
        scale=scale, offset=offset, units=units,
        metadata={"product": ProductInfo("EnMAP", level, f"{level} SPECTRAL_IMAGE").as_dict()},
        path=path, masks=masks,
    )

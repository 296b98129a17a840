"""Spectral libraries for sparse unmixing: load (ENVI .sli/.hdr, CSV, .mat) and resample.

A library is ``spectra`` (bands, n_members) on ``wavelengths_nm`` (bands,) with ``names``.
Resampling to an image's band centres uses SPy's Gaussian band resampler. The
``endmembers.csv`` that the unmix job writes is a library too (one column per member), so
one scene's endmembers can unmix the next.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hsi.errors import FormatError, InputError
from hsi.io.wavelengths import to_nanometres

__all__ = ["SpectralLibrary", "load_library", "resample_library", "complete_members", "on_scene_bands", "bands_in_gaps"]


@dataclass
class SpectralLibrary:
    """spectra : (bands, n_members); wavelengths_nm : (bands,) or None; names : n_members strings.

    scene_bands : (bands,) the 0-based band indices of the scene the rows stand for, when the
    library has no wavelengths but says which bands it holds (the unmix job's ``endmembers.csv``
    of a scene without wavelengths); None otherwise.
    """

    spectra: np.ndarray
    wavelengths_nm: np.ndarray | None
    names: list[str]
    scene_bands: np.ndarray | None = None


#: First header cell of a CSV holding one spectrum per column (the unmix job's endmembers.csv).
_COLUMN_LAYOUT = {"wavelength_nm": "wavelengths", "wavelength": "wavelengths", "wavelengths": "wavelengths",
                  "band": "bands"}


def _numbers(path: Path, rows: list[list[str]]) -> np.ndarray:
    try:
        return np.array([[float(v) for v in row] for row in rows])
    except ValueError as error:
        raise FormatError(f"{path}: the spectra must be numbers ({error})") from None


def _from_csv_columns(path: Path, rows: list[list[str]], axis: str) -> SpectralLibrary:
    """One spectrum per column after a wavelength (nm) or scene band column, as the unmix job writes."""
    names = rows[0][1:]
    if len({len(row) for row in rows}) != 1:
        raise FormatError(f"{path}: every row needs a value per column of the header ({len(rows[0])})")
    values = _numbers(path, [row for row in rows[1:]])
    spectra, first = values[:, 1:], values[:, 0]
    if axis == "bands":
        if not np.array_equal(first, np.round(first)) or (first < 0).any():
            raise FormatError(f"{path}: the 'band' column must hold 0-based scene band indices")
        return SpectralLibrary(spectra, None, names, first.astype(int))
    return SpectralLibrary(spectra, first, names)


def _from_csv(path: Path) -> SpectralLibrary:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = [row for row in csv.reader(handle) if row]
    if len(rows) < 2:
        raise FormatError(f"{path}: a library CSV needs a wavelength header row and at least one spectrum")
    header = rows[0]
    layout = _COLUMN_LAYOUT.get(header[0].strip().lower())
    if layout is not None and len(header) > 1:
        try:
            float(header[1])
        except ValueError:  # member names across the header: one spectrum per column
            return _from_csv_columns(path, rows, layout)
    try:
        float(header[0])
        first = 0
    except ValueError:
        first = 1  # a name column ("Class", "name", ...)
    try:
        wavelengths = np.array([float(v) for v in header[first:]])
        spectra = np.array([[float(v) for v in row[first:]] for row in rows[1:]]).T
    except ValueError as error:
        raise FormatError(f"{path}: the header row must hold wavelengths (nm) and the rows numbers ({error})") from None
    names = [row[0] for row in rows[1:]] if first else [f"member_{i + 1}" for i in range(spectra.shape[1])]
    return SpectralLibrary(spectra, wavelengths, names)


def _from_envi(path: Path) -> SpectralLibrary:
    import spectral

    header = path if path.suffix.lower() == ".hdr" else path.with_suffix(".hdr")
    library = spectral.envi.open(str(header))
    spectra = np.asarray(library.spectra, dtype=np.float64).T
    wavelengths = None if library.bands.centers is None else np.asarray(library.bands.centers, float)
    if wavelengths is not None and (library.bands.band_unit or "").lower().startswith(("micro", "um", "µm")):
        wavelengths = wavelengths * 1000.0
    names = list(library.names) if library.names else [f"member_{i + 1}" for i in range(spectra.shape[1])]
    return SpectralLibrary(spectra, wavelengths, names)


#: Values at or below this are a library's "missing" sentinel (USGS splib04: -1.23e34), not reflectance.
MISSING_SENTINEL = -1e30
#: The USGS splib / HySUPP table: column 0 wavelength, 1 resolution, 2 channel, then one spectrum per column.
_TABLE_KEY, _TABLE_FIRST_MEMBER = "datalib", 3
_WAVELENGTH_KEYS = ("wavelength_nm", "wavelengths", "wavelength")
_NAME_KEYS = ("names", "material_names")


def _from_mat(path: Path, key: str | None) -> SpectralLibrary:
    """A .mat library by the layout rule of :func:`load_library` (sentinel values become NaN)."""
    from hsi.io.matlab import load_variables

    mat = load_variables(path)
    if key is None and _TABLE_KEY in mat:
        return _from_mat_table(path, mat)
    if key is None:
        arrays = {k: v for k, v in mat.items() if isinstance(v, np.ndarray) and v.ndim == 2 and v.dtype.kind in "fiu"
                  and k not in _NAME_KEYS}
        if not arrays:
            raise FormatError(f"{path}: no numeric 2-D array to use as a library (variables: {', '.join(sorted(mat))})")
        key = max(arrays, key=lambda k: arrays[k].size)
    if key not in mat:
        raise FormatError(f"{path}: no variable {key!r} (has {', '.join(sorted(mat))})")
    spectra = _missing_as_nan(np.asarray(mat[key], dtype=np.float64))
    if spectra.ndim != 2:
        raise FormatError(f"{path}: variable {key!r} must be a 2-D (bands, members) array; it is {spectra.shape}")
    wavelengths = next((np.asarray(mat[name], float).reshape(-1) for name in _WAVELENGTH_KEYS if name in mat), None)
    if wavelengths is not None:
        if len(wavelengths) != spectra.shape[0] and len(wavelengths) == spectra.shape[1]:
            spectra = spectra.T  # stored (members, bands)
        if len(wavelengths) != spectra.shape[0]:
            raise FormatError(f"{path}: {len(wavelengths)} wavelengths for a {key!r} of shape {spectra.shape}")
        wavelengths = to_nanometres(wavelengths, None)
    names = _names(mat, spectra.shape[1], 0) or [f"{key}_{i + 1}" for i in range(spectra.shape[1])]
    return SpectralLibrary(spectra, wavelengths, names)


def _from_mat_table(path: Path, mat: dict) -> SpectralLibrary:
    """``datalib`` (bands, 3 + members): wavelength (um or nm), resolution, channel, spectra."""
    table = np.asarray(mat[_TABLE_KEY])
    if table.ndim != 2 or table.dtype.kind not in "fiu" or table.shape[1] <= _TABLE_FIRST_MEMBER:
        raise FormatError(f"{path}: {_TABLE_KEY!r} must be a numeric (bands, 3 + members) table: wavelength, "
                          f"resolution, channel, then one spectrum per column; it is {table.shape} {table.dtype}")
    table = table.astype(np.float64)
    wavelengths = table[:, 0]
    if not np.isfinite(wavelengths).all() or (wavelengths <= 0).any():
        raise FormatError(f"{path}: column 0 of {_TABLE_KEY!r} must hold the band wavelengths (um or nm)")
    spectra = _missing_as_nan(table[:, _TABLE_FIRST_MEMBER:])
    n_members = spectra.shape[1]
    names = _names(mat, n_members, _TABLE_FIRST_MEMBER) or [f"member_{i + 1}" for i in range(n_members)]
    return SpectralLibrary(spectra, to_nanometres(wavelengths, None), names)


def _missing_as_nan(values: np.ndarray) -> np.ndarray:
    return np.where(values <= MISSING_SENTINEL, np.nan, values)


def _names(mat: dict, n_members: int, skip: int) -> list[str] | None:
    """Member names from ``names`` / ``material_names``: one per member, or one per column of a
    table whose first ``skip`` columns are not members; char-code rows, strings or a cell array."""
    for key in _NAME_KEYS:
        if key not in mat:
            continue
        values = np.asarray(mat[key])
        if values.dtype.kind in "iu" and values.ndim == 2:  # one row of character codes per name
            names = ["".join(map(chr, row)).strip() for row in values]
        else:
            names = [str(np.asarray(v).reshape(-1)[0]).strip() if np.size(v) else "" for v in values.reshape(-1)]
        if len(names) == n_members + skip:
            names = names[skip:]
        if len(names) == n_members:
            return names
    return None


def complete_members(library: SpectralLibrary, wavelengths_nm) -> tuple[SpectralLibrary, list[str]]:
    """The library without its members that miss a value (NaN) where the image's bands need one,
    and those members' names.

    A member is needed from the library sample just below the image's shortest band centre to
    the one just above its longest (resampling reads both); missing values outside that range
    (beyond the image's spectral range) do not matter. Without wavelengths every row is needed.
    """
    missing = ~np.isfinite(library.spectra)
    if not missing.any():
        return library, []
    rows = np.ones(library.spectra.shape[0], bool)
    if library.wavelengths_nm is not None and wavelengths_nm is not None and len(wavelengths_nm):
        source = library.wavelengths_nm
        low = source[source <= np.min(wavelengths_nm)].max(initial=source.min())
        high = source[source >= np.max(wavelengths_nm)].min(initial=source.max())
        rows = (source >= low) & (source <= high)
    keep = ~missing[rows].any(axis=0)
    dropped = [name for name, kept in zip(library.names, keep) if not kept]
    if not keep.any():
        raise InputError(f"every member of the library misses values on the image's bands ({len(dropped)} members)")
    spectra = library.spectra[:, keep]
    return SpectralLibrary(spectra, library.wavelengths_nm, [n for n, k in zip(library.names, keep) if k],
                           library.scene_bands), dropped


def load_library(path: str | Path, *, key: str | None = None) -> SpectralLibrary:
    """Read a spectral library: ENVI spectral library (.sli/.hdr), CSV or MATLAB .mat.

    CSV: a header row of wavelengths in nm (optionally after a name column), one spectrum
    per row; or, as the unmix job writes ``endmembers.csv``, a ``wavelength_nm`` (or 0-based
    scene ``band``) column followed by one named column per spectrum. ENVI: SPy's reader (wavelength units converted to nm). .mat: the variable
    ``key`` (default the largest 2-D numeric array) as (bands, members), wavelengths from a
    ``wavelengths``/``wavelength`` variable when present (else None: same grid as the image).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: spectral library not found")
    if path.is_dir():
        hint = f"; an unmix run's is {path / 'endmembers.csv'}" if (path / "endmembers.csv").is_file() else ""
        raise InputError(f"{path}: a folder, not a spectral library file{hint}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _from_csv(path)
    if suffix in (".sli", ".hdr"):
        return _from_envi(path)
    if suffix == ".mat":
        return _from_mat(path, key)
    raise FormatError(f"{path}: unknown library format {suffix!r} (use .csv, .sli/.hdr or .mat)")


#: Band centres this close (nm) are the same band (endmembers.csv writes them to 4 decimals).
_SAME_BAND_NM = 1e-3


def resample_library(library: SpectralLibrary, wavelengths_nm, fwhm_nm=None) -> SpectralLibrary:
    """The library on the image's band centres (bands outside the library's range are an error).

    A library sampled at every one of the image's centres already (within 0.001 nm) is taken
    as it is, row by row, not resampled.

    Without library wavelengths the library must already have one value per image band.

    References
    ----------
    T. Boggs, Spectral Python (SPy), ``spectral.BandResampler`` (Gaussian spectral response).
    """
    import spectral

    if wavelengths_nm is None or library.wavelengths_nm is None:
        n_bands = None if wavelengths_nm is None else len(wavelengths_nm)
        if n_bands is not None and library.spectra.shape[0] != n_bands:
            raise InputError(
                f"the library has no wavelengths and {library.spectra.shape[0]} bands, the image {n_bands}"
            )
        return library
    target = np.asarray(wavelengths_nm, float)
    order = np.argsort(library.wavelengths_nm)
    source = library.wavelengths_nm[order]
    inside = (target >= source[0]) & (target <= source[-1])
    if not inside.any():
        raise InputError(
            f"the library covers {source[0]:.0f}-{source[-1]:.0f} nm and the image {target.min():.0f}-"
            f"{target.max():.0f} nm: no wavelength overlap"
        )
    if not inside.all():
        raise InputError(
            f"{int((~inside).sum())} image bands lie outside the library's {source[0]:.0f}-{source[-1]:.0f} nm; "
            "drop those bands first"
        )
    matched = np.abs(source[:, None] - target[None, :]) <= _SAME_BAND_NM
    if matched.any(axis=0).all():
        # Already on the image's band centres (e.g. an endmembers.csv of a scene from the same
        # sensor): take those rows; a band response would smooth the spectra a second time.
        return SpectralLibrary(library.spectra[order][matched.argmax(axis=0)], target, list(library.names))
    resampler = spectral.BandResampler(source, target, None, None if fwhm_nm is None else np.asarray(fwhm_nm, float))
    spectra = np.stack([resampler(column) for column in library.spectra[order].T], axis=1)
    if not np.isfinite(spectra).all():
        # SPy leaves NaN where the response falls outside the source: fall back to linear interpolation there.
        linear = np.stack([np.interp(target, source, column) for column in library.spectra[order].T], axis=1)
        spectra = np.where(np.isfinite(spectra), spectra, linear)
    return SpectralLibrary(spectra, target, list(library.names))


def on_scene_bands(library: SpectralLibrary, bands: np.ndarray) -> np.ndarray | None:
    """The library's spectra (len(bands), n_members) on the scene bands ``bands`` (0-based), or None.

    Only for a library that names its scene bands (:attr:`SpectralLibrary.scene_bands`, an
    ``endmembers.csv`` of a scene without wavelengths); a band it lacks is an error.
    """
    if library.scene_bands is None:
        return None
    rows = {int(band): row for row, band in enumerate(library.scene_bands)}
    missing = [int(band) for band in bands if int(band) not in rows]
    if missing:
        raise InputError(f"the library holds scene bands {_ranges(library.scene_bands)}; the image uses bands "
                         f"{_ranges(missing)} too")
    return library.spectra[[rows[int(band)] for band in bands]]


def _ranges(bands) -> str:
    """``0-3, 7`` for [0, 1, 2, 3, 7]."""
    bands = sorted({int(b) for b in bands})
    runs = [[bands[0], bands[0]]]
    for band in bands[1:]:
        if band == runs[-1][1] + 1:
            runs[-1][1] = band
        else:
            runs.append([band, band])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def bands_in_gaps(library: SpectralLibrary, wavelengths_nm) -> np.ndarray:
    """Mask of the image bands that fall in a gap of the library's sampling (more than 2.5 x its
    median spacing, e.g. the water-vapour bands an endmembers.csv left out): resampling can only
    interpolate across such a gap."""
    target = np.asarray(wavelengths_nm, float)
    if library.wavelengths_nm is None or len(library.wavelengths_nm) < 3:
        return np.zeros(target.shape, bool)
    source = np.sort(library.wavelengths_nm)
    steps = np.diff(source)
    wide = np.flatnonzero(steps > 2.5 * np.median(steps))
    inside = np.zeros(target.shape, bool)
    for gap in wide:
        inside |= (target > source[gap] + _SAME_BAND_NM) & (target < source[gap + 1] - _SAME_BAND_NM)
    return inside

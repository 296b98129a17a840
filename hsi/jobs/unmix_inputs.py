"""What the unmix job takes from its inputs: the scene bands it uses and the library on them.

Bands: ``bad_bands=auto`` (the default) leaves out the header's bad-band list, or, for a scene
without one, the bands in the deep atmospheric absorption windows that are measured to be
noisy (:mod:`hsi.estimate.absorption`); ``header`` the header's list only; ``none`` no band
(bands holding only nodata are always left out). A library leaves out the image bands beyond
its wavelength range, and its members that miss values on the bands used. Endmembers and
``endmembers.csv`` are on the bands used, as with a header's bad-band list.

Units: a library in other units than the scene (reflectance x 1e4 or percent against 0-1) is
refused in one line that names the power of ten to pass as ``library_scale=`` (``auto``,
:mod:`hsi.unmix.units`); a number is the factor the library is multiplied by (1: none). The
factor and what was measured go into the report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from hsi.errors import InputError, ParameterError
from hsi.jobs.common import central_window
from hsi.scene import Scene
from hsi.unmix.library import SpectralLibrary

#: ``bad_bands=``: which bands the unmixing leaves out.
BAD_BAND_MODES = ("auto", "header", "none")
#: Side (pixels) of the central window whose noise decides the absorption bands and whose
#: brightness is compared with the library's.
CHECK_WINDOW_SIDE = 256


def usable_bands(scene: Scene, mode: str, empty: np.ndarray) -> tuple[np.ndarray, dict]:
    """``(bands, record)``: the 0-based scene bands to unmix by ``bad_bands=mode``, and what was left
    out and why (the report's ``bad_bands``); ``empty`` marks bands holding only nodata."""
    if mode not in BAD_BAND_MODES:
        raise ParameterError(f"bad_bands must be one of {', '.join(BAD_BAND_MODES)}; got {mode!r}")
    header = scene.bad_bands if mode in ("auto", "header") and scene.bad_bands is not None else None
    flagged = np.zeros(scene.n_bands, bool) if header is None else np.asarray(header, bool)
    if flagged.all():
        raise InputError(f"{scene.describe()}: every band is flagged bad")
    bands = np.flatnonzero(~flagged & ~empty)
    if bands.size == 0:
        raise InputError(f"{scene.describe()}: every band with data is flagged bad")
    record = {"mode": mode, "header": np.flatnonzero(flagged).tolist() if header is not None else None,
              "absorption": []}
    if mode == "auto" and header is None and scene.wavelengths_nm is not None:
        bands, absorption = _without_absorption_bands(scene, bands)
        record.update(absorption)
    return bands, record


def _without_absorption_bands(scene: Scene, bands: np.ndarray) -> tuple[np.ndarray, dict]:
    """``bands`` less those in an absorption window that are measured noisy, and the report's
    account of them (``absorption``: their indices; their centres, SNR and why)."""
    from hsi.estimate.absorption import ABSORPTION_WINDOWS_NM, SNR_DEFICIT_DB, absorption_bands, in_absorption_windows

    wavelengths = scene.wavelengths_nm[bands]
    if not in_absorption_windows(wavelengths).any():
        return bands, {"absorption": []}
    cube = scene.read(central_window(scene.n_rows, scene.n_cols, CHECK_WINDOW_SIDE), bands=bands, physical=True)
    flags = absorption_bands(cube, wavelengths)
    if not flags.noisy.any() or flags.noisy.all():
        return bands, {"absorption": []}
    snr = flags.snr_db[flags.noisy]
    record = {"absorption": bands[flags.noisy].tolist(), "absorption_nm": wavelengths[flags.noisy].tolist(),
              "absorption_snr_db": snr.tolist(), "other_bands_snr_db": flags.reference_snr_db,
              "why": f"no bad-band list; in the absorption windows {list(ABSORPTION_WINDOWS_NM)} nm, dead or SNR more "
                     f"than {SNR_DEFICIT_DB:g} dB below the median of the bands outside them"}
    print(f"warning: {scene.describe()} has no bad-band list: left out {int(flags.noisy.sum())} bands in the "
          f"atmospheric absorption windows, measured noisy (SNR {snr.min():.0f}-{snr.max():.0f} dB, the bands "
          f"outside the windows {flags.reference_snr_db:.0f} dB): {nm_ranges(wavelengths[flags.noisy])} "
          "(bad_bands=none keeps them)", flush=True)
    return bands[~flags.noisy], record


def nm_ranges(wavelengths_nm) -> str:
    """``1353-1418, 1804-1959 nm``: runs of adjacent band centres (a step within 1.5 x the median step)."""
    values = np.sort(np.asarray(wavelengths_nm, np.float64))
    if values.size == 1:
        return f"{values[0]:.0f} nm"
    step = 1.5 * np.median(np.diff(values))
    runs, start = [], values[0]
    for before, after in zip(values[:-1], values[1:]):
        if after - before > step:
            runs.append((start, before))
            start = after
    runs.append((start, values[-1]))
    return ", ".join(f"{a:.0f}" if a == b else f"{a:.0f}-{b:.0f}" for a, b in runs) + " nm"


def load_scene_library(cfg: DictConfig) -> SpectralLibrary:
    from hsi.unmix.library import load_library

    return load_library(Path(str(cfg.library)).expanduser())


def bands_in_library(path, library: SpectralLibrary, scene: Scene, bands: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """``bands`` less the image bands beyond the library's wavelength range (with a warning), and those."""
    if library.wavelengths_nm is None or scene.wavelengths_nm is None or not np.isfinite(library.wavelengths_nm).any():
        return bands, []
    low, high = np.nanmin(library.wavelengths_nm), np.nanmax(library.wavelengths_nm)
    wavelengths = scene.wavelengths_nm[bands]
    inside = (wavelengths >= low) & (wavelengths <= high)
    if inside.all() or not inside.any():  # no overlap at all: resample_library says so in one line
        return bands, []
    print(f"warning: {int((~inside).sum())} image bands ({nm_ranges(wavelengths[~inside])}) lie beyond {path}'s "
          f"{low:.0f}-{high:.0f} nm: left out of the unmixing", flush=True)
    return bands[inside], bands[~inside].tolist()


def scene_library(cfg: DictConfig, library: SpectralLibrary, scene: Scene, bands: np.ndarray
                  ) -> tuple[tuple[np.ndarray, list[str]], dict]:
    """``((spectra (bands used, members), names), library_units record)``: the library on the bands
    used, in the scene's units (refused before any output when they differ)."""
    wavelengths = None if scene.wavelengths_nm is None else scene.wavelengths_nm[bands]
    fwhm = None if scene.fwhm_nm is None else scene.fwhm_nm[bands]
    spectra, names = library_endmembers(cfg, library, wavelengths, fwhm, bands, scene.n_bands)
    spectra, units = library_in_scene_units(cfg, scene, bands, spectra)
    return (spectra, names), units


def library_endmembers(cfg: DictConfig, library: SpectralLibrary, wavelengths_nm, fwhm_nm, kept: np.ndarray,
                       n_scene_bands: int):
    """The spectral library resampled to the bands used: ((bands, members), names).

    Members missing values (NaN, a sentinel in the file) on those bands are left out, with a
    warning naming them.
    """
    from hsi.unmix.library import bands_in_gaps

    library, _ = _complete(cfg.library, library, wavelengths_nm)
    spectra = spectra_on_bands(cfg.library, library, wavelengths_nm, fwhm_nm, kept, n_scene_bands)
    if wavelengths_nm is not None and library.wavelengths_nm is not None:
        in_gaps = bands_in_gaps(library, wavelengths_nm)
        if in_gaps.any():
            print(f"warning: {int(in_gaps.sum())} image bands ({nm_list(wavelengths_nm[in_gaps])}) lie in gaps of "
                  f"{cfg.library}'s wavelengths: its values there are interpolated; flag them bad in the image to "
                  "leave them out", flush=True)
    if not np.isfinite(spectra).all():
        raise InputError(f"{cfg.library}: the library has missing values (NaN) on the image's bands")
    return spectra, list(library.names)


def spectra_on_bands(path, library: SpectralLibrary, wavelengths_nm, fwhm_nm, kept: np.ndarray,
                     n_scene_bands: int) -> np.ndarray:
    """A library's (or reference's) spectra on the bands used, (bands used, members).

    An ``endmembers.csv`` of a scene without wavelengths by the scene bands it names; a file
    with one value per scene band as it is; otherwise resampled to ``wavelengths_nm`` (with
    ``fwhm_nm`` when given). Every refusal is one line naming ``path``.
    """
    from hsi.unmix.library import resample_library

    if wavelengths_nm is None and library.scene_bands is not None:  # an endmembers.csv of a scene without wavelengths
        return on_scene_bands(path, library, kept)
    if (library.wavelengths_nm is None or wavelengths_nm is None) and library.spectra.shape[0] == n_scene_bands:
        return library.spectra[kept]  # nothing to resample by: one value per scene band
    if wavelengths_nm is None:
        raise InputError(f"{path}: the image has no wavelengths, so the file must hold one value per image "
                         f"band ({n_scene_bands}); it has {library.spectra.shape[0]}")
    try:
        return resample_library(library, wavelengths_nm, fwhm_nm).spectra
    except InputError as error:
        raise InputError(f"{path}: {error}") from None


def _complete(path, library: SpectralLibrary, wavelengths_nm) -> tuple[SpectralLibrary, list[str]]:
    from hsi.unmix.library import complete_members

    try:
        library, dropped = complete_members(library, wavelengths_nm)
    except InputError as error:
        raise InputError(f"{path}: {error}") from None
    if dropped:
        shown = ", ".join(dropped[:5]) + (f" and {len(dropped) - 5} more" if len(dropped) > 5 else "")
        print(f"warning: {path}: left out {len(dropped)} members with missing values on the image's bands: {shown}",
              flush=True)
    return library, dropped


def on_scene_bands(path, library: SpectralLibrary, kept: np.ndarray) -> np.ndarray:
    """The rows of a library that names the scene bands it holds (an endmembers.csv of a scene
    without wavelengths) for the bands used; a missing band is one line naming ``path``."""
    from hsi.unmix.library import on_scene_bands as rows_on_scene_bands

    try:
        return rows_on_scene_bands(library, kept)
    except InputError as error:
        raise InputError(f"{path}: {error}") from None


def nm_list(wavelengths_nm, shown: int = 4) -> str:
    """``1360, 1380, 1400, 1420, ... nm``: the first few of ``wavelengths_nm``."""
    values = [f"{w:.0f}" for w in wavelengths_nm[:shown]]
    return ", ".join(values) + (", ..." if len(wavelengths_nm) > shown else "") + " nm"


def library_in_scene_units(cfg: DictConfig, scene: Scene, bands: np.ndarray, spectra: np.ndarray
                           ) -> tuple[np.ndarray, dict]:
    """``(spectra, record)``: the library spectra (bands used, members) in the scene's units, and the
    report's ``library_units`` (the factor applied and why, what was measured).

    ``library_scale=`` a number multiplies the library by it. ``auto`` compares the library with
    the scene's central window (:func:`hsi.unmix.units.check_units`): other units are refused in
    one line naming the factor to pass, since a guessed factor could be 100x wrong on a dark
    scene (ENVI likewise asks for each file's reflectance scale factor); a large brightness
    difference within the reflectance range is said in a warning. A radiance scene is warned
    about instead: a reflectance library does not unmix radiance, whatever its scale.
    """
    from hsi.unmix.units import MISMATCH_RATIO, check_units, is_radiance

    setting = str(cfg.get("library_scale", "auto"))
    if setting != "auto":
        factor = _given_factor(setting)
        return spectra * factor, {"factor": factor, "source": f"library_scale={setting}", "scene_units": scene.units}
    record = {"factor": 1.0, "source": "auto", "scene_units": scene.units}
    if is_radiance(scene.units):
        print(f"warning: {scene.describe()} is radiance ({scene.units}): a reflectance library such as {cfg.library} "
              "cannot unmix radiance without atmospheric correction (unmix a reflectance product, or use endmembers "
              "in radiance, e.g. an unmix run's endmembers.csv of a radiance scene)", flush=True)
        record["source"] = "auto: radiance scene, units not compared"
        return spectra, record
    pixels = scene.read(central_window(scene.n_rows, scene.n_cols, CHECK_WINDOW_SIDE), bands=bands,
                        physical=True).reshape(-1, bands.size)
    pixels = pixels[np.isfinite(pixels).all(axis=1)]
    if pixels.shape[0] == 0:
        return spectra, record
    check = check_units(pixels, spectra)
    record.update(check.as_dict())
    if check.mismatch:
        raise InputError(
            f"{cfg.library}: other units than {scene.describe()}? The scene's bright pixels are {check.ratio:.3g} times "
            f"the library's typical member and {'the scene' if check.scene_bright > check.library_bright else 'the library'}"
            f"'s values reach {max(check.scene_bright, check.library_bright):.4g}, beyond 0-1 reflectance (reflectance x "
            f"1e4, percent or DN against 0-1?): pass library_scale={check.factor:g} to multiply the library by it, "
            "or library_scale=1 to use it as it is")
    if np.isfinite(check.ratio) and not 1 / MISMATCH_RATIO <= check.ratio <= MISMATCH_RATIO:
        print(f"warning: {scene.describe()}'s bright pixels are {check.ratio:.3g} times {cfg.library}'s typical member; "
              "both are within the reflectance range, so this is taken as brightness (a dark scene?), not units",
              flush=True)
    return spectra, record


def _given_factor(setting: str) -> float:
    try:
        factor = float(setting)
    except ValueError:
        raise ParameterError(f"library_scale must be auto or a positive number; got {setting!r}") from None
    if not (np.isfinite(factor) and factor > 0):
        raise ParameterError(f"library_scale must be auto or a positive number; got {setting!r}")
    return factor

"""Bands in the deep atmospheric absorption windows that are measured to be noisy.

Products with a bad-band list (EMIT ``bbl``) say which bands the atmosphere leaves without
signal; many do not (AVIRIS-NG radiance, plain ENVI or GeoTIFF exports). Water vapour absorbs
nearly all sunlight around 1380 nm and 1870 nm, and water and CO2 beyond about 2450 nm, so
the bands there hold little signal and mostly noise. A band is left out only when both hold:
it lies in one of those windows (physics) and its radiometric SNR is far below the rest of the
spectrum's (measurement: :func:`hsi.estimate.bands.flag_bands`), so a sensor or a scene that
still has signal there (a dry atmosphere, a band just at a window's edge) keeps it.

References
----------
B.-C. Gao, K. B. Heidebrecht and A. F. H. Goetz, "Derivation of scaled surface reflectances
from AVIRIS data", Remote Sens. Environ. 44, 1993 (the 1.38 um and 1.88 um water-vapour bands);
R. O. Green et al., "Imaging spectroscopy and the Airborne Visible/Infrared Imaging
Spectrometer (AVIRIS)", Remote Sens. Environ. 65, 1998.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hsi.estimate.bands import flag_bands

__all__ = ["ABSORPTION_WINDOWS_NM", "SNR_DEFICIT_DB", "AbsorptionBands", "in_absorption_windows", "absorption_bands"]

#: Deep atmospheric absorption windows (nm): water vapour at 1.38 um and 1.87 um, water and
#: CO2 beyond 2.45 um. Wide enough to hold the windows' shoulders: the noise test decides.
ABSORPTION_WINDOWS_NM = ((1330.0, 1470.0), (1770.0, 1970.0), (2450.0, float("inf")))
#: A band in a window is noisy when its SNR is this far below the median SNR of the bands
#: outside the windows: 15 dB is 5.6 times the relative noise amplitude.
SNR_DEFICIT_DB = 15.0


@dataclass
class AbsorptionBands:
    """``noisy`` (bands,): in a window and measured noisy; ``snr_db`` (bands,) per band;
    ``reference_snr_db``: the median SNR of the bands outside the windows."""

    noisy: np.ndarray
    snr_db: np.ndarray
    reference_snr_db: float


def in_absorption_windows(wavelengths_nm) -> np.ndarray:
    """Mask of the band centres inside :data:`ABSORPTION_WINDOWS_NM`."""
    wavelengths = np.asarray(wavelengths_nm, np.float64)
    inside = np.zeros(wavelengths.shape, bool)
    for low, high in ABSORPTION_WINDOWS_NM:
        inside |= (wavelengths >= low) & (wavelengths <= high)
    return inside


def absorption_bands(cube: np.ndarray, wavelengths_nm, deficit_db: float = SNR_DEFICIT_DB) -> AbsorptionBands:
    """Flag the bands of ``cube`` (rows, cols, bands; NaN = missing) that lie in an absorption
    window and are dead or more than ``deficit_db`` below the median SNR (``flag_bands``' radiometric
    SNR) of the bands outside the windows. Relative, not absolute: a scene noisy in every band
    (or pure noise) has no band noisier than its neighbours to leave out."""
    window = in_absorption_windows(wavelengths_nm)
    report = flag_bands(cube)
    snr = np.asarray(report.snr_db, np.float64)
    outside = ~window & ~report.dead & np.isfinite(snr)
    reference = float(np.median(snr[outside])) if outside.any() else float("nan")
    low = snr < (reference - deficit_db) if np.isfinite(reference) else np.zeros(snr.shape, bool)
    noisy = window & (report.dead | low)
    return AbsorptionBands(noisy, snr, reference)

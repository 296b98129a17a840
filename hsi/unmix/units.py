"""Do a spectral library and a scene share units? The power of ten between them, if not.

A library in reflectance x 1e4 (the int16 scaling of EnMAP, EMIT and most ENVI libraries),
in percent, or a scene in one of those against a library in 0-1 reflectance, leaves every
pixel 100 or 10,000 times brighter or darker than any mixture of the members: FCLS and SUnSAL
then fit garbage, and a brightness-scaled step absorbs the factor into its scale prior. Such a
mismatch is a power of ten; a real difference of brightness between scene and library (a
dark scene, a bright library) stays within about one order of magnitude, which is where the
threshold lies.

Radiance is another quantity, not another unit: a reflectance library cannot unmix radiance
without atmospheric correction, whatever its scale.
"""

from __future__ import annotations

import re

import numpy as np

__all__ = ["MISMATCH_RATIO", "brightness_ratio", "unit_factor", "is_radiance"]

#: A scene whose bright pixels are more than this many times brighter (or darker) than the
#: library's typical member is in other units. Reflectance scenes against reflectance
#: libraries stay within ~10x (water at 0.03 against soils at 0.3); units differ by 100x
#: (percent) or 1e4x (scaled integers).
MISMATCH_RATIO = 30.0
#: The scene's brightness is this percentile of its pixels' mean over bands: its bright end,
#: so that a scene mostly of water or shadow is not taken for one in other units.
SCENE_PERCENTILE = 95.0
#: Per steradian: the mark of radiance units ("W m-2 sr-1 um-1", "uW/cm^2/SR/nm").
_RADIANCE = re.compile(r"radiance|\bsr\b", re.IGNORECASE)


def brightness_ratio(pixels: np.ndarray, spectra: np.ndarray) -> float:
    """Scene brightness over library brightness on the same bands.

    pixels : (n, bands) scene pixels; spectra : (bands, members) library spectra. The scene's
    brightness is the ``SCENE_PERCENTILE`` percentile of its pixels' mean over bands; the
    library's the median of its members' means. NaN when either is not positive.
    """
    scene = float(np.percentile(np.mean(np.asarray(pixels, np.float64), axis=1), SCENE_PERCENTILE))
    library = float(np.median(np.mean(np.asarray(spectra, np.float64), axis=0)))
    if not (scene > 0 and library > 0):
        return float("nan")
    return scene / library


def unit_factor(pixels: np.ndarray, spectra: np.ndarray, ratio: float = MISMATCH_RATIO) -> float:
    """The power of ten to multiply the library by to bring it to the scene's units (1 when their
    brightness ratio is within ``[1 / ratio, ratio]`` or cannot be measured)."""
    measured = brightness_ratio(pixels, spectra)
    if not np.isfinite(measured) or 1.0 / ratio <= measured <= ratio:
        return 1.0
    return float(10.0 ** round(np.log10(measured)))


def is_radiance(units: str | None) -> bool:
    """Whether a scene's ``units`` name radiance ("radiance (W m-2 sr-1 um-1)", "uW nm-1 cm-2 sr-1")."""
    if not units:
        return False
    return bool(_RADIANCE.search(units))

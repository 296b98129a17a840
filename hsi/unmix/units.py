"""Do a spectral library and a scene share units? What tells, and what cannot.

A library in reflectance x 1e4 (the int16 scaling of EnMAP, EMIT and many ENVI libraries), in
percent or in DN, against a scene in 0-1 reflectance (or the reverse) leaves every pixel 100
or 10,000 times brighter or darker than any mixture of the members: FCLS and SUnSAL then fit
garbage, and a brightness-scaled step absorbs the factor into its scale prior.

The brightness ratio alone cannot tell units from brightness: the shipped EnMAP L2A tile (deep
water, 0-1 reflectance, bright pixels 0.005) is 0.0096 times USGS splib04's typical member
(0.54), the same ratio as a land scene against a library in percent. Reflectance is bounded,
though: 0-1 reflectance seldom exceeds 1.5 anywhere, scaled units do. So a mismatch is a
brightness ratio beyond ``MISMATCH_RATIO`` *and* values beyond the reflectance range on one
side; a large ratio with both sides in range is a dark (or bright) scene, not other units.

Radiance is another quantity, not another unit: a reflectance library cannot unmix radiance
without atmospheric correction, whatever its scale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

__all__ = ["MISMATCH_RATIO", "REFLECTANCE_MAX", "USUAL_SCALES", "UnitCheck", "check_units", "is_radiance"]

#: Scene and library brightness further apart than this (either way) is suspicious: reflectance
#: scenes against reflectance libraries are mostly within ~10x; units differ by 100x or 1e4x.
MISMATCH_RATIO = 30.0
#: Values of 0-1 reflectance stay below this (bright end: ``BRIGHT_PERCENTILE``).
REFLECTANCE_MAX = 2.0
#: The scene's brightness is this percentile of its pixels' mean over bands, so a scene mostly
#: of water or shadow is judged by its brighter pixels; the bright end of values likewise.
BRIGHT_PERCENTILE = 95.0
#: The usual scalings of reflectance: percent and scaled integers (EnMAP, EMIT, ENVI: x 1e4).
USUAL_SCALES = (1e2, 1e4)
#: Per steradian: the mark of radiance units ("W m-2 sr-1 um-1", "uW/cm^2/SR/nm").
_RADIANCE = re.compile(r"radiance|\bsr\b", re.IGNORECASE)


@dataclass
class UnitCheck:
    """ratio: scene brightness / library brightness (NaN when not measurable); scene_bright,
    library_bright: the bright end of each side's values; mismatch: other units (see module);
    factor: what the library would be multiplied by: of the usual scalings (``USUAL_SCALES``, either
    way) those that bring the side beyond the reflectance range into it, the nearest ``ratio``;
    else the power of ten nearest ``ratio``. A dark scene makes ``ratio`` itself misleading: the
    shipped EnMAP tile read without its 1e-4 scale is 96 times USGS's typical member, not 1e4."""

    ratio: float
    scene_bright: float
    library_bright: float
    mismatch: bool
    factor: float

    def as_dict(self) -> dict:
        return {"brightness_ratio": None if not np.isfinite(self.ratio) else self.ratio,
                "scene_bright_end": self.scene_bright, "library_bright_end": self.library_bright,
                "other_units": self.mismatch, "nearest_power_of_ten": self.factor}


def check_units(pixels: np.ndarray, spectra: np.ndarray) -> UnitCheck:
    """Compare scene ``pixels`` (n, bands) and library ``spectra`` (bands, members) on the same bands.

    The scene's brightness is the ``BRIGHT_PERCENTILE`` percentile of its pixels' mean over
    bands, the library's the median of its members' means.
    """
    pixels = np.asarray(pixels, np.float64)
    spectra = np.asarray(spectra, np.float64)
    scene = float(np.percentile(pixels.mean(axis=1), BRIGHT_PERCENTILE))
    library = float(np.median(spectra.mean(axis=0)))
    scene_bright = float(np.percentile(pixels, BRIGHT_PERCENTILE))
    library_bright = float(np.percentile(spectra, BRIGHT_PERCENTILE))
    ratio = scene / library if scene > 0 and library > 0 else float("nan")
    if not np.isfinite(ratio):
        return UnitCheck(ratio, scene_bright, library_bright, False, 1.0)
    beyond = not (1.0 / MISMATCH_RATIO <= ratio <= MISMATCH_RATIO)
    out_of_range = max(scene_bright, library_bright) > REFLECTANCE_MAX
    return UnitCheck(ratio, scene_bright, library_bright, bool(beyond and out_of_range),
                     _likely_factor(ratio, scene_bright, library_bright))


def _likely_factor(ratio: float, scene_bright: float, library_bright: float) -> float:
    """The library's multiplier (see :class:`UnitCheck`)."""
    if scene_bright > library_bright:  # the scene is in scaled units: the library goes up
        candidates = [f for f in USUAL_SCALES if scene_bright / f <= REFLECTANCE_MAX]
    else:
        candidates = [1 / f for f in USUAL_SCALES if library_bright / f <= REFLECTANCE_MAX]
    if not candidates:
        return float(10.0 ** round(np.log10(ratio)))
    return float(min(candidates, key=lambda f: abs(np.log10(f) - np.log10(ratio))))


def is_radiance(units: str | None) -> bool:
    """Whether a scene's ``units`` name radiance ("radiance (W m-2 sr-1 um-1)", "uW nm-1 cm-2 sr-1")."""
    return bool(units) and bool(_RADIANCE.search(units))

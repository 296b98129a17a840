"""Wavelength parsing shared by the format modules: units to nanometres, names to numbers."""

from __future__ import annotations

import re

import numpy as np

_UNIT_TO_NM = {
    "nm": 1.0, "nanometers": 1.0, "nanometer": 1.0, "nanometres": 1.0,
    "um": 1000.0, "µm": 1000.0, "micrometers": 1000.0, "micrometer": 1000.0, "micrometres": 1000.0, "microns": 1000.0, "micron": 1000.0,
    "mm": 1e6, "millimeters": 1e6,
    "cm-1": None, "wavenumber": None,
}
_NAME_PATTERN = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?)\s*(nanometers?|nm|micrometers?|microns?|um|µm)?\s*\)?\s*$", re.I)


def nm_factor(wavelengths, units: str | None) -> float:
    """Multiplier to nm. Without known units, wavelengths below 100 are taken as micrometres."""
    if units:
        factor = _UNIT_TO_NM.get(units.strip().lower())
        if factor is not None:
            return factor
    return 1000.0 if np.nanmax(np.asarray(wavelengths, dtype=np.float64)) < 100 else 1.0


def to_nanometres(values, units: str | None) -> np.ndarray:
    """Convert wavelengths to nm (see :func:`nm_factor`)."""
    values = np.asarray(values, dtype=np.float64)
    return values * nm_factor(values, units)


def wavelengths_from_names(names: list[str]) -> np.ndarray | None:
    """Parse names like "376.44 Nanometers" or "0.55 um"; None unless every name parses."""
    parsed = []
    for name in names:
        match = _NAME_PATTERN.match(str(name))
        if not match:
            return None
        parsed.append(to_nanometres([float(match.group(1))], match.group(2))[0])
    return np.asarray(parsed) if parsed else None

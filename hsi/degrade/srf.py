"""Spectral response functions (SRF): synthesise MS / PAN bands from a hyperspectral cube.

An SRF matrix ``R`` is ``(n_out, bands)``: row ``k`` holds the weights of output band ``k``
on the cube's bands, normalised to sum to 1, so a flat spectrum of value ``v`` gives ``v``
in every synthetic band. The synthetic image is ``cube @ R.T`` (``(rows, cols, n_out)``),
the spectral degradation of HS/MS fusion and of simulated pansharpening pairs.

Weights are the response sampled at the cube's band centres (the cube's own band widths
are ignored, i.e. contiguous, roughly even sampling is assumed). Presets in
:data:`SENSOR_SRF` are **approximations**: each band is described by the band edges of the
sensor's public specification and modelled as a Gaussian whose FWHM spans the edges (MS
bands) or as a box between the edges (PAN bands); measured SRF tables differ in their
shoulders and out-of-band response.

References
----------
N. Yokoya, C. Grohnfeldt, J. Chanussot, "Hyperspectral and multispectral data fusion: a
comparative review of the recent literature", IEEE Geosci. Remote Sens. Mag. 5(2):29-56, 2017
(SRF-based synthesis of MS images from HS data).
L. Loncan et al., "Hyperspectral pansharpening: a review", IEEE Geosci. Remote Sens. Mag.
3(3):27-46, 2015 (PAN synthesised from HS bands).
DigitalGlobe, "WorldView-2 data sheet" (band edges); Space Imaging / GeoEye, "IKONOS imagery
products guide" (band edges); DigitalGlobe, "QuickBird imagery products" (band edges);
ESA, "Sentinel-2 User Handbook" / S2-A MSI spectral response (COPE-GSEG-EOPG-TN-15-0007)
(central wavelengths and bandwidths).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from hsi.arrays import as_tensor, like_input
from hsi.errors import InputError, ParameterError

__all__ = ["SensorSRF", "SENSOR_SRF", "sensor_srf", "gaussian_srf", "box_srf", "srf_matrix", "synthesize"]

_FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


@dataclass(frozen=True)
class SensorSRF:
    """Approximate spectral bands of one sensor product.

    Attributes
    ----------
    name : canonical key in :data:`SENSOR_SRF`.
    band_names : one name per output band.
    lower_nm, upper_nm : band edges in nanometres (public specification).
    shape : ``"gaussian"`` (FWHM = ``upper - lower``, centred between the edges) or ``"box"``.
    source : where the edges come from.
    """

    name: str
    band_names: tuple[str, ...]
    lower_nm: tuple[float, ...]
    upper_nm: tuple[float, ...]
    shape: str
    source: str

    @property
    def centers_nm(self) -> np.ndarray:
        return (np.asarray(self.lower_nm) + np.asarray(self.upper_nm)) / 2.0

    @property
    def fwhm_nm(self) -> np.ndarray:
        return np.asarray(self.upper_nm) - np.asarray(self.lower_nm)

    def matrix(self, wavelengths_nm: Any, shape: str | None = None) -> np.ndarray:
        """``(n_out, bands)`` SRF matrix on the given band centres (see :func:`srf_matrix`)."""
        shape = self.shape if shape is None else shape
        if shape == "gaussian":
            return gaussian_srf(wavelengths_nm, self.centers_nm, self.fwhm_nm, names=self.band_names, sensor=self.name)
        if shape == "box":
            return box_srf(wavelengths_nm, self.lower_nm, self.upper_nm, names=self.band_names, sensor=self.name)
        raise ParameterError(f"shape must be 'gaussian' or 'box'; got {shape!r}")


def _from_center(name: str, bands: Sequence[tuple[str, float, float]], source: str) -> SensorSRF:
    """Build a Gaussian preset from (band, centre, bandwidth) triples."""
    return SensorSRF(
        name,
        tuple(b for b, _, _ in bands),
        tuple(c - w / 2 for _, c, w in bands),
        tuple(c + w / 2 for _, c, w in bands),
        "gaussian",
        source,
    )


def _from_edges(name: str, bands: Sequence[tuple[str, float, float]], shape: str, source: str) -> SensorSRF:
    return SensorSRF(name, tuple(b for b, _, _ in bands), tuple(lo for _, lo, _ in bands),
                     tuple(hi for _, _, hi in bands), shape, source)


_WV2 = "DigitalGlobe WorldView-2 data sheet band edges"
_IKONOS = "IKONOS imagery products guide band edges"
_QB = "DigitalGlobe QuickBird data sheet band edges"
_S2 = "ESA Sentinel-2A MSI central wavelength / bandwidth (Sentinel-2 User Handbook)"

SENSOR_SRF: dict[str, SensorSRF] = {
    entry.name: entry
    for entry in (
        _from_edges(
            "WV2_MS",
            [("coastal", 400, 450), ("blue", 450, 510), ("green", 510, 580), ("yellow", 585, 625),
             ("red", 630, 690), ("red_edge", 705, 745), ("nir1", 770, 895), ("nir2", 860, 1040)],
            "gaussian", _WV2,
        ),
        _from_edges("WV2_PAN", [("pan", 450, 800)], "box", _WV2),
        _from_edges(
            "IKONOS_MS",
            [("blue", 445, 516), ("green", 506, 595), ("red", 632, 698), ("nir", 757, 853)],
            "gaussian", _IKONOS,
        ),
        _from_edges("IKONOS_PAN", [("pan", 526, 929)], "box", _IKONOS),
        _from_edges(
            "QB_MS",
            [("blue", 450, 520), ("green", 520, 600), ("red", 630, 690), ("nir", 760, 900)],
            "gaussian", _QB,
        ),
        _from_edges("QB_PAN", [("pan", 450, 900)], "box", _QB),
        _from_center(
            "S2_10m", [("B2", 492.4, 66), ("B3", 559.8, 36), ("B4", 664.6, 31), ("B8", 832.8, 106)], _S2
        ),
        _from_center(
            "S2_20m",
            [("B5", 704.1, 15), ("B6", 740.5, 15), ("B7", 782.8, 20), ("B8A", 864.7, 21),
             ("B11", 1613.7, 91), ("B12", 2202.4, 175)],
            _S2,
        ),
        _from_edges("PAN_generic", [("pan", 450, 900)], "box", "a generic broad PAN, 450-900 nm"),
    )
}
"""Approximate SRF presets: WV2_MS (8), WV2_PAN, IKONOS_MS (4), IKONOS_PAN, QB_MS (4), QB_PAN,
S2_10m (B2, B3, B4, B8), S2_20m (B5, B6, B7, B8A, B11, B12), PAN_generic (450-900 nm box).
MS bands are Gaussians spanning the published edges; PAN bands are boxes."""


def sensor_srf(name: str | SensorSRF) -> SensorSRF:
    """Look a preset up by name, ignoring case and ``-``/``_``/space (``"wv2-ms"`` works)."""
    if isinstance(name, SensorSRF):
        return name
    wanted = "".join(ch for ch in str(name).lower() if ch.isalnum())
    for key, entry in SENSOR_SRF.items():
        if "".join(ch for ch in key.lower() if ch.isalnum()) == wanted:
            return entry
    raise ParameterError(f"unknown spectral response {name!r}; known: {sorted(SENSOR_SRF)}")


# --- matrices -----------------------------------------------------------------------------
def _wavelengths(wavelengths_nm: Any) -> np.ndarray:
    values = np.asarray(wavelengths_nm, dtype=np.float64).reshape(-1)
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise InputError(f"wavelengths_nm must be finite band centres in nm; got {wavelengths_nm!r}")
    return values


def _check_coverage(wavelengths: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                    names: Sequence[str] | None, sensor: str | None) -> None:
    """Each band's nominal interval must lie within the cube's spectral range (up to one
    band spacing) and contain at least one cube band."""
    ordered = np.unique(wavelengths)
    spacing = float(np.median(np.diff(ordered))) if ordered.size > 1 else 0.0
    first, last = ordered[0] - spacing, ordered[-1] + spacing
    missing = []
    for k, (lo, hi) in enumerate(zip(lower, upper)):
        inside = np.any((wavelengths >= lo) & (wavelengths <= hi))
        if lo < first or hi > last or not inside:
            label = names[k] if names is not None else f"#{k}"
            missing.append(f"{label!r} ({lo:.0f}-{hi:.0f} nm)")
    if missing:
        owner = f" of {sensor}" if sensor else ""
        raise InputError(
            f"the cube's wavelengths ({ordered[0]:.0f}-{ordered[-1]:.0f} nm, {ordered.size} bands) "
            f"do not cover spectral band(s){owner}: {', '.join(missing)}; "
            "use a sensor within the cube's range or give your own SRF matrix"
        )


def _normalised(weights: np.ndarray) -> np.ndarray:
    return weights / weights.sum(axis=1, keepdims=True)


def gaussian_srf(
    wavelengths_nm: Any,
    centers_nm: Any,
    fwhm_nm: Any,
    *,
    names: Sequence[str] | None = None,
    sensor: str | None = None,
) -> np.ndarray:
    """Gaussian spectral responses sampled at the cube's band centres.

    Parameters
    ----------
    wavelengths_nm : ``(bands,)`` band centres of the cube, nm.
    centers_nm, fwhm_nm : ``(n_out,)`` centre and full width at half maximum of each output
        band, nm (a scalar FWHM applies to all).
    names, sensor : only used in error messages.

    Returns
    -------
    srf : ``(n_out, bands)`` float64, each row summing to 1.

    Raises
    ------
    InputError : when a band's ``centre +- FWHM / 2`` is not covered by the cube's wavelengths.

    References
    ----------
    Yokoya et al., IEEE GRSM 2017.
    """
    wavelengths = _wavelengths(wavelengths_nm)
    centers = np.asarray(centers_nm, dtype=np.float64).reshape(-1)
    fwhm = np.broadcast_to(np.asarray(fwhm_nm, dtype=np.float64).reshape(-1), centers.shape).copy()
    if centers.size == 0 or not np.all(np.isfinite(centers)) or not np.all(fwhm > 0):
        raise ParameterError(f"centers_nm must be finite and fwhm_nm positive; got {centers_nm!r}, {fwhm_nm!r}")
    _check_coverage(wavelengths, centers - fwhm / 2, centers + fwhm / 2, names, sensor)
    sigma = fwhm * _FWHM_TO_SIGMA
    weights = np.exp(-0.5 * ((wavelengths[None, :] - centers[:, None]) / sigma[:, None]) ** 2)
    return _normalised(weights)


def box_srf(
    wavelengths_nm: Any,
    lower_nm: Any,
    upper_nm: Any,
    *,
    names: Sequence[str] | None = None,
    sensor: str | None = None,
) -> np.ndarray:
    """Box (flat) spectral responses: equal weight on the cube bands between the edges.

    Parameters
    ----------
    wavelengths_nm : ``(bands,)`` band centres of the cube, nm.
    lower_nm, upper_nm : ``(n_out,)`` band edges, nm (inclusive).

    Returns
    -------
    srf : ``(n_out, bands)`` float64, each row summing to 1.

    References
    ----------
    Loncan et al., IEEE GRSM 2015 (PAN synthesised by averaging HS bands).
    """
    wavelengths = _wavelengths(wavelengths_nm)
    lower = np.asarray(lower_nm, dtype=np.float64).reshape(-1)
    upper = np.asarray(upper_nm, dtype=np.float64).reshape(-1)
    if lower.shape != upper.shape or lower.size == 0 or not np.all(upper > lower):
        raise ParameterError(f"need lower_nm < upper_nm, one pair per band; got {lower_nm!r}, {upper_nm!r}")
    _check_coverage(wavelengths, lower, upper, names, sensor)
    weights = ((wavelengths[None, :] >= lower[:, None]) & (wavelengths[None, :] <= upper[:, None])).astype(np.float64)
    return _normalised(weights)


def srf_matrix(srf: str | SensorSRF, wavelengths_nm: Any, shape: str | None = None) -> np.ndarray:
    """The ``(n_out, bands)`` matrix of a preset on a cube's wavelengths.

    ``shape`` overrides the preset's band shape (``"gaussian"`` or ``"box"``).
    """
    return sensor_srf(srf).matrix(wavelengths_nm, shape)


def synthesize(
    cube: np.ndarray | torch.Tensor,
    wavelengths_nm: Any,
    srf: str | SensorSRF | np.ndarray | torch.Tensor,
) -> np.ndarray | torch.Tensor:
    """Synthesise multispectral / panchromatic bands from a hyperspectral cube.

    Parameters
    ----------
    cube : ``(rows, cols, bands)``, numpy or torch.
    wavelengths_nm : ``(bands,)`` band centres in nm (may be None when ``srf`` is a matrix).
    srf : a preset name / :class:`SensorSRF` (see :data:`SENSOR_SRF`), or an ``(n_out, bands)``
        matrix used as given (normalise its rows yourself).

    Returns
    -------
    synthetic : ``(rows, cols, n_out)``, same kind as ``cube``.

    Raises
    ------
    InputError : the cube's wavelengths do not cover a preset band (the message names it).

    References
    ----------
    Yokoya et al., IEEE GRSM 2017; Loncan et al., IEEE GRSM 2015.
    """
    tensor = as_tensor(cube, name="cube", ndim=3)
    n_bands = tensor.shape[2]
    if isinstance(srf, (str, SensorSRF)):
        if wavelengths_nm is None:
            raise InputError("wavelengths_nm are needed to apply a sensor's spectral response")
        wavelengths = _wavelengths(wavelengths_nm)
        if wavelengths.size != n_bands:
            raise InputError(f"{wavelengths.size} wavelengths for a cube with {n_bands} bands")
        matrix = sensor_srf(srf).matrix(wavelengths)
    else:
        matrix = srf.detach().cpu().numpy() if isinstance(srf, torch.Tensor) else np.asarray(srf, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != n_bands:
            raise ParameterError(f"srf matrix must be (n_out, {n_bands}); got shape {matrix.shape}")
    weights = torch.as_tensor(matrix, dtype=tensor.dtype, device=tensor.device)
    return like_input(torch.tensordot(tensor, weights, dims=([2], [1])), cube)

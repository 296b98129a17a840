"""Sensor MTF blur, Gaussian blur and decimation: the spatial half of Wald's protocol.

A pansharpening method is evaluated at reduced resolution by degrading both the MS
(or HS) cube and the PAN image by the pansharpening ratio, then fusing them and comparing
with the original MS cube (Wald et al. 1997). The degradation filter should match the
sensor's modulation transfer function (MTF): Aiazzi et al. (2006) model each band's MTF
as a Gaussian fixed by its amplitude at the Nyquist frequency of the low-resolution grid,
the *Nyquist gain* ``G``. This module holds those gains per sensor (:data:`SENSOR_MTF`),
builds the matching kernels (:func:`mtf_kernel`) and applies them (:func:`mtf_blur`,
:func:`degrade_resolution`, :func:`degrade_pan`).

Kernel design. On the high-resolution grid the low-resolution Nyquist frequency is
``f_N = 1 / (2 * ratio)`` cycles per pixel. A continuous Gaussian of standard deviation
``s`` pixels has the response ``exp(-2 pi^2 s^2 f^2)``, so ``s = ratio * sqrt(-2 ln G) / pi``.
Sampling and truncating that Gaussian to ``size`` taps changes its response slightly
(noticeably for ``G`` near 1 where ``s`` is below a pixel), so :func:`mtf_kernel_1d`
solves for the ``s`` at which the *sampled, truncated, unit-sum* kernel has exactly the
gain ``G`` at ``f_N``. Vivone's toolbox instead designs the Gaussian in the frequency
domain and windows it with a Kaiser window (``fwind1``); both give a unit-DC Gaussian low
pass with the prescribed Nyquist gain, ours is separable (an outer product of two 1-D
kernels), which makes the blur a pair of 1-D convolutions.

Decimation keeps one pixel in ``ratio`` along each axis starting at ``offset``; the default
``ratio // 2`` (the pixel nearest the centre of each ``ratio x ratio`` block) reproduces
MATLAB ``imresize(..., 1/ratio, 'nearest')`` used by the toolbox.

References
----------
B. Aiazzi, L. Alparone, S. Baronti, A. Garzelli, M. Selva, "MTF-tailored multiscale fusion of
high-resolution MS and Pan imagery", Photogramm. Eng. Remote Sens. 72(5):591-596, 2006.
G. Vivone, L. Alparone, J. Chanussot, M. Dalla Mura, A. Garzelli, G. Licciardi, R. Restaino,
L. Wald, "A critical comparison among pansharpening algorithms", IEEE TGRS 53(5):2565-2586, 2015.
G. Vivone, M. Dalla Mura, A. Garzelli, R. Restaino, G. Scarpa, M. O. Ulfarsson, L. Alparone,
J. Chanussot, "A new benchmark based on recent advances in multispectral pansharpening:
revisiting pansharpening with classical and emerging pansharpening methods", IEEE Geosci.
Remote Sens. Mag. 9(1):53-81, 2021.
L. Wald, T. Ranchin, M. Mangolini, "Fusion of satellite images of different spatial
resolutions: assessing the quality of resulting images", Photogramm. Eng. Remote Sens.
63(6):691-699, 1997.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import brentq

from hsi.arrays import as_tensor, like_input, positive_int
from hsi.degrade.padding import check_padding, pad_indices
from hsi.errors import InputError, ParameterError

__all__ = [
    "SensorMTF",
    "SENSOR_MTF",
    "sensor_mtf",
    "mtf_kernel_1d",
    "mtf_kernel",
    "mtf_blur",
    "gaussian_blur",
    "decimate",
    "degrade_resolution",
    "degrade_pan",
]

_TOOLBOX_2015 = "Vivone et al. 2015 toolbox (MTF.m / MTF_PAN.m), after Aiazzi et al. 2006"
_TOOLBOX_2021 = "Vivone et al. 2021 toolbox (MTF.m, sensor 'PHR1B')"
_GENERIC_PAN = "assumed: toolbox default for an unknown PAN sensor (MTF_PAN.m 'none' = 0.15)"
_GENERIC_HS = "assumed: hyperspectral pansharpening toolbox default (MTF.m 'none' = 0.3)"


@dataclass(frozen=True)
class SensorMTF:
    """Nyquist gains of one sensor's MTF.

    Attributes
    ----------
    name : canonical key in :data:`SENSOR_MTF`.
    ms_gains : one gain per MS band in the sensor's band order, or a single gain used for
        every band (hyperspectral and generic entries, whose band count varies).
    pan_gain : Nyquist gain of the PAN channel (at the PAN/MS ratio), or None without a PAN.
    ratio : nominal PAN/MS pixel-size ratio (4 for the VHR sensors, 6 for PRISMA), or None.
    band_names : MS band names in order, when ``ms_gains`` is per band.
    source : where the numbers come from.
    """

    name: str
    ms_gains: tuple[float, ...]
    pan_gain: float | None
    ratio: int | None
    band_names: tuple[str, ...] | None
    source: str

    def gains(self, n_bands: int) -> np.ndarray:
        """The MS Nyquist gain of each of ``n_bands`` bands, shape ``(n_bands,)``."""
        if len(self.ms_gains) == 1:
            return np.full(int(n_bands), self.ms_gains[0])
        if n_bands != len(self.ms_gains):
            raise ParameterError(
                f"sensor {self.name!r} has {len(self.ms_gains)} MS bands {self.band_names}, "
                f"but the cube has {n_bands}; pass per-band gains instead "
                f"(e.g. SENSOR_MTF[{self.name!r}].ms_gains subset to your bands)"
            )
        return np.asarray(self.ms_gains, dtype=np.float64)


_BGRN = ("blue", "green", "red", "nir")
_WV_8 = ("coastal", "blue", "green", "yellow", "red", "red_edge", "nir1", "nir2")

SENSOR_MTF: dict[str, SensorMTF] = {
    entry.name: entry
    for entry in (
        SensorMTF("QB", (0.34, 0.32, 0.30, 0.22), 0.15, 4, _BGRN, _TOOLBOX_2015),
        SensorMTF("IKONOS", (0.26, 0.28, 0.29, 0.28), 0.17, 4, _BGRN, _TOOLBOX_2015),
        SensorMTF("GeoEye1", (0.23, 0.23, 0.23, 0.23), 0.16, 4, _BGRN, _TOOLBOX_2015),
        SensorMTF("WV2", (0.35,) * 7 + (0.27,), 0.11, 4, _WV_8, _TOOLBOX_2015),
        SensorMTF(
            "WV3", (0.325, 0.355, 0.360, 0.350, 0.365, 0.360, 0.335, 0.315), 0.14, 4, _WV_8,
            _TOOLBOX_2015,
        ),
        SensorMTF("Pleiades", (0.285, 0.285, 0.29, 0.285), 0.15, 4, _BGRN, f"MS: {_TOOLBOX_2021}; PAN: {_GENERIC_PAN}"),
        SensorMTF("PRISMA", (0.3,), 0.15, 6, None, f"HS: {_GENERIC_HS}; PAN: {_GENERIC_PAN}"),
        SensorMTF("EnMAP", (0.3,), None, None, None, f"HS: {_GENERIC_HS}; EnMAP has no PAN"),
        SensorMTF("generic", (0.3,), 0.15, None, None, "toolbox defaults for an unknown sensor"),
    )
}
"""Nyquist gains per sensor (keys: QB, IKONOS, GeoEye1, WV2, WV3, Pleiades, PRISMA, EnMAP, generic).

QuickBird, IKONOS, GeoEye-1, WorldView-2/3 MS and PAN gains are those of Vivone et al.'s
pansharpening toolbox (2015), from Aiazzi et al. (2006) and the sensors' on-orbit MTF
reports. Pleiades (PHR1B) MS gains come from the 2021 toolbox. The PRISMA, EnMAP, Pleiades
PAN and generic values are *assumed* defaults (0.3 MS/HS, 0.15 PAN), not measured values:
each entry's ``source`` says which. Look names up with :func:`sensor_mtf` to accept aliases.
"""

_ALIASES = {
    "qb": "QB", "quickbird": "QB",
    "ikonos": "IKONOS", "ik": "IKONOS",
    "geoeye1": "GeoEye1", "ge1": "GeoEye1", "geoeye": "GeoEye1",
    "wv2": "WV2", "worldview2": "WV2",
    "wv3": "WV3", "worldview3": "WV3",
    "pleiades": "Pleiades", "phr1b": "Pleiades", "phr1a": "Pleiades", "phr": "Pleiades",
    "prisma": "PRISMA",
    "enmap": "EnMAP",
    "generic": "generic", "none": "generic",
}


def sensor_mtf(name: str | SensorMTF) -> SensorMTF:
    """Look up a sensor's MTF gains by name, ignoring case, spaces, ``-`` and ``_``.

    ``"WorldView-2"``, ``"wv2"`` and ``"WV2"`` all give ``SENSOR_MTF["WV2"]``.
    """
    if isinstance(name, SensorMTF):
        return name
    key = "".join(ch for ch in str(name).lower() if ch.isalnum())
    if key not in _ALIASES:
        raise ParameterError(f"unknown sensor {name!r}; known sensors: {sorted(SENSOR_MTF)}")
    return SENSOR_MTF[_ALIASES[key]]


# --- kernels ------------------------------------------------------------------------------
def _check_gain(nyquist_gain: float, name: str = "nyquist_gain") -> float:
    gain = float(nyquist_gain)
    if not 0.0 < gain < 1.0:
        raise ParameterError(f"{name} must be in (0, 1) (MTF amplitude at Nyquist); got {nyquist_gain}")
    return gain


def _check_ratio(ratio: float) -> float:
    value = float(ratio)
    if not value > 1.0 or not math.isfinite(value):
        raise ParameterError(f"ratio must be a resolution ratio > 1 (e.g. 4); got {ratio}")
    return value


def _check_size(size: int) -> int:
    if int(size) != size or size < 3 or size % 2 == 0:
        raise ParameterError(f"size must be an odd integer >= 3 (kernel taps); got {size}")
    return int(size)


def _sampled_gaussian(sigma: float, size: int) -> np.ndarray:
    taps = np.arange(size) - size // 2
    kernel = np.exp(-0.5 * (taps / sigma) ** 2)
    return kernel / kernel.sum()


def _response(kernel: np.ndarray, frequency: float) -> float:
    """Frequency response of a symmetric unit-sum 1-D kernel (cycles per sample)."""
    taps = np.arange(kernel.size) - kernel.size // 2
    return float(np.sum(kernel * np.cos(2.0 * np.pi * frequency * taps)))


@functools.lru_cache(maxsize=256)
def _mtf_kernel_1d_cached(gain: float, ratio: float, size: int) -> np.ndarray:
    nyquist = 0.5 / ratio
    sigma_max = size / 6.0  # keep +-3 sigma inside the window
    if _response(_sampled_gaussian(sigma_max, size), nyquist) > gain:
        raise ParameterError(
            f"a {size}-tap kernel cannot reach Nyquist gain {gain} at ratio {ratio}: "
            f"increase size (about {2 * math.ceil(3 * ratio * math.sqrt(-2 * math.log(gain)) / math.pi) + 1} taps)"
        )
    sigma = brentq(
        lambda s: _response(_sampled_gaussian(s, size), nyquist) - gain, 1e-3, sigma_max, xtol=1e-12
    )
    kernel = _sampled_gaussian(sigma, size)
    kernel.setflags(write=False)
    return kernel


def mtf_kernel_1d(nyquist_gain: float, ratio: float, size: int = 41) -> np.ndarray:
    """1-D Gaussian whose response at the low-resolution Nyquist frequency is ``nyquist_gain``.

    Parameters
    ----------
    nyquist_gain : MTF amplitude at ``f = 1 / (2 * ratio)`` cycles per high-resolution pixel,
        in (0, 1).
    ratio : high- to low-resolution pixel-size ratio (> 1; need not be an integer here).
    size : odd number of taps (41 as in the toolbox).

    Returns
    -------
    kernel : ``(size,)`` float64, symmetric, sums to 1; its discrete-time Fourier transform
        at ``1 / (2 * ratio)`` equals ``nyquist_gain`` to solver precision (~1e-10).

    References
    ----------
    Aiazzi et al., PE&RS 2006 (MTF-matched Gaussian); Vivone et al., IEEE TGRS 2015.
    """
    kernel = _mtf_kernel_1d_cached(_check_gain(nyquist_gain), _check_ratio(ratio), _check_size(size))
    return kernel.copy()


def mtf_kernel(nyquist_gain: float, ratio: float, size: int = 41) -> np.ndarray:
    """2-D MTF-matched Gaussian kernel, ``(size, size)`` float64 summing to 1.

    The outer product of :func:`mtf_kernel_1d` with itself: its 2-D frequency response at
    ``(1 / (2 * ratio), 0)`` and ``(0, 1 / (2 * ratio))`` cycles per pixel equals
    ``nyquist_gain``. Use it for FFT-domain operators; :func:`mtf_blur` applies the same
    filter separably.

    References
    ----------
    Aiazzi et al., PE&RS 2006; Vivone et al., IEEE TGRS 2015.
    """
    kernel_1d = mtf_kernel_1d(nyquist_gain, ratio, size)
    return np.outer(kernel_1d, kernel_1d)


def _gaussian_kernel_1d(sigma_px: float, size: int | None) -> np.ndarray:
    if size is None:
        size = 2 * max(1, math.ceil(4.0 * sigma_px)) + 1
    return _sampled_gaussian(sigma_px, _check_size(size))


# --- filtering ----------------------------------------------------------------------------
def _separable_filter(cube: torch.Tensor, kernels: np.ndarray, padding: str) -> torch.Tensor:
    """Filter each band of a ``(rows, cols, bands)`` tensor with its own symmetric 1-D kernel
    along rows and columns. ``kernels`` is ``(bands, size)`` with odd ``size``."""
    n_rows, n_cols, n_bands = cube.shape
    half = kernels.shape[1] // 2
    weights = torch.as_tensor(kernels, dtype=cube.dtype, device=cube.device)
    images = cube.permute(2, 0, 1).unsqueeze(0)  # (1, bands, rows, cols)
    images = images.index_select(2, pad_indices(n_rows, half, half, padding).to(cube.device))
    images = images.index_select(3, pad_indices(n_cols, half, half, padding).to(cube.device))
    if cube.dtype == torch.float64:
        # torch's grouped (depthwise) convolution has no fast float64 kernel on CPU: 41 taps over
        # a 1,280 x 1,280 x 8 cube took ~10x the float32 time; the FFT gives the same sums (to 1e-14).
        images = _valid_filter_fft(_valid_filter_fft(images[0], weights, dim=1), weights, dim=2)[None]
    else:
        images = F.conv2d(images, weights.view(n_bands, 1, -1, 1), groups=n_bands)
        images = F.conv2d(images, weights.view(n_bands, 1, 1, -1), groups=n_bands)
    return images[0].permute(1, 2, 0).contiguous()


def _valid_filter_fft(images: torch.Tensor, weights: torch.Tensor, dim: int) -> torch.Tensor:
    """``F.conv2d``'s 'valid' correlation of (bands, rows, cols) ``images`` with each band's 1-D
    ``weights`` (bands, size) along ``dim`` (1 or 2), computed with real FFTs."""
    lines = images.movedim(dim, -1)
    size = weights.shape[1]
    length = 1 << (lines.shape[-1] + size - 2).bit_length()
    spectrum = torch.fft.rfft(lines, length) * torch.fft.rfft(weights.flip(-1), length)[:, None, :]
    return torch.fft.irfft(spectrum, length)[..., size - 1 : lines.shape[-1]].movedim(-1, dim)


def _per_band(values: Any, n_bands: int, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size == 1:
        return np.full(n_bands, array[0])
    if array.size != n_bands:
        raise ParameterError(f"{name} must be a scalar or one value per band ({n_bands}); got {array.size} values")
    return array


def _filter_bands(cube: Any, kernel_of: Any, values: Any, name: str, padding: str) -> Any:
    tensor = as_tensor(cube, name="cube", ndim=(2, 3))
    flat = tensor.ndim == 2
    if flat:
        tensor = tensor.unsqueeze(-1)
    per_band = _per_band(values, tensor.shape[2], name)
    unique = {value: kernel_of(value) for value in np.unique(per_band)}
    size = max(kernel.size for kernel in unique.values())
    kernels = np.zeros((per_band.size, size))
    for band, value in enumerate(per_band):
        kernel = unique[value]
        start = (size - kernel.size) // 2
        kernels[band, start : start + kernel.size] = kernel
    result = _separable_filter(tensor, kernels, check_padding(padding))
    return like_input(result[..., 0] if flat else result, cube)


def mtf_blur(
    cube: np.ndarray | torch.Tensor,
    nyquist_gains: float | Sequence[float] | np.ndarray,
    ratio: float,
    *,
    size: int = 41,
    padding: str = "symmetric",
) -> np.ndarray | torch.Tensor:
    """Blur each band with the Gaussian matching its MTF gain at the low-resolution Nyquist.

    Parameters
    ----------
    cube : ``(rows, cols, bands)`` or a single ``(rows, cols)`` image, numpy or torch.
    nyquist_gains : one gain in (0, 1) for every band, or one per band.
    ratio : high- to low-resolution pixel-size ratio (> 1).
    size : odd kernel length (taps per axis).
    padding : border extension, ``"symmetric"`` (default, edge repeated), ``"reflect"``,
        ``"replicate"`` (the toolbox's ``imfilter(..., 'replicate')``) or ``"circular"``.

    Returns
    -------
    blurred : same shape and kind as ``cube`` (integers become float32).

    References
    ----------
    Aiazzi et al., PE&RS 2006; Vivone et al., IEEE TGRS 2015.
    """
    ratio = _check_ratio(ratio)
    size = _check_size(size)

    def kernel_of(gain: float) -> np.ndarray:
        return mtf_kernel_1d(_check_gain(gain, "nyquist_gains"), ratio, size)

    return _filter_bands(cube, kernel_of, nyquist_gains, "nyquist_gains", padding)


def gaussian_blur(
    cube: np.ndarray | torch.Tensor,
    sigma_px: float | Sequence[float] | np.ndarray,
    *,
    size: int | None = None,
    padding: str = "symmetric",
) -> np.ndarray | torch.Tensor:
    """Isotropic Gaussian blur of each band (a sampled, unit-sum Gaussian PSF).

    Parameters
    ----------
    cube : ``(rows, cols, bands)`` or ``(rows, cols)``, numpy or torch.
    sigma_px : standard deviation in pixels (> 0), scalar or one per band.
    size : odd kernel length; default ``2 * ceil(4 * sigma) + 1``.
    padding : see :func:`mtf_blur`.

    Returns
    -------
    blurred : same shape and kind as ``cube``.

    References
    ----------
    The Gaussian PSF of the HS/MS fusion literature, e.g. Q. Wei, N. Dobigeon, J.-Y. Tourneret,
    "Fast fusion of multi-band images based on solving a Sylvester equation", IEEE TIP 2015.
    """

    def kernel_of(sigma: float) -> np.ndarray:
        if not sigma > 0 or not math.isfinite(sigma):
            raise ParameterError(f"sigma_px must be positive pixels; got {sigma}")
        return _gaussian_kernel_1d(float(sigma), size)

    return _filter_bands(cube, kernel_of, sigma_px, "sigma_px", padding)


# --- decimation ---------------------------------------------------------------------------
def decimate(
    cube: np.ndarray | torch.Tensor,
    ratio: int,
    offset: int | tuple[int, int] | None = None,
) -> np.ndarray | torch.Tensor:
    """Keep one pixel in ``ratio`` along rows and columns (no filtering).

    Parameters
    ----------
    cube : ``(rows, cols, bands)`` or ``(rows, cols)``, numpy or torch.
    ratio : positive integer decimation factor.
    offset : index of the first kept row/column, an int or ``(row, col)``, each in
        ``[0, ratio)``; default ``ratio // 2`` (MATLAB ``imresize(..., 1/ratio, 'nearest')``).

    Returns
    -------
    decimated : ``(ceil((rows - row_offset) / ratio), ceil((cols - col_offset) / ratio)[, bands])``,
        same kind and dtype as ``cube`` (a view for numpy).

    References
    ----------
    Wald et al., PE&RS 1997; Vivone et al., IEEE TGRS 2015.
    """
    ratio = positive_int(ratio, "ratio")
    if cube.ndim not in (2, 3):
        raise InputError(f"cube must be (rows, cols[, bands]); got shape {tuple(cube.shape)}")
    if offset is None:
        offset = ratio // 2
    row_offset, col_offset = (offset, offset) if np.ndim(offset) == 0 else tuple(offset)
    for value in (row_offset, col_offset):
        if int(value) != value or not 0 <= value < ratio:
            raise ParameterError(f"offset must be integers in [0, ratio={ratio}); got {offset}")
    return cube[int(row_offset) :: ratio, int(col_offset) :: ratio]


def _gains_from(mtf: Any, n_bands: int) -> np.ndarray:
    if isinstance(mtf, (str, SensorMTF)):
        return sensor_mtf(mtf).gains(n_bands)
    return _per_band(mtf, n_bands, "mtf")


def degrade_resolution(
    cube: np.ndarray | torch.Tensor,
    ratio: int,
    mtf: str | SensorMTF | float | Sequence[float] = "generic",
    *,
    offset: int | tuple[int, int] | None = None,
    size: int = 41,
    padding: str = "symmetric",
) -> np.ndarray | torch.Tensor:
    """MTF blur then decimation of an MS/HS cube: the reduced-resolution step of Wald's protocol.

    Parameters
    ----------
    cube : ``(rows, cols, bands)`` (or ``(rows, cols)``), numpy or torch.
    ratio : integer resolution ratio (4 for the VHR sensors, 6 for PRISMA).
    mtf : a sensor name or :class:`SensorMTF` (its MS gains, see :data:`SENSOR_MTF`), or
        Nyquist gains (scalar or per band).
    offset, size, padding : see :func:`decimate` and :func:`mtf_blur`.

    Returns
    -------
    low_res : ``(ceil(rows / ratio), ceil(cols / ratio), bands)`` for the default offset with
        rows and cols multiples of ``ratio``; same kind as ``cube``.

    References
    ----------
    Wald et al., PE&RS 1997; Aiazzi et al., PE&RS 2006; Vivone et al., IEEE TGRS 2015.
    """
    ratio = positive_int(ratio, "ratio")
    n_bands = 1 if cube.ndim == 2 else cube.shape[-1]
    blurred = mtf_blur(cube, _gains_from(mtf, n_bands), ratio, size=size, padding=padding)
    return decimate(blurred, ratio, offset)


def degrade_pan(
    pan: np.ndarray | torch.Tensor,
    ratio: int,
    mtf: str | SensorMTF | float = "generic",
    *,
    offset: int | tuple[int, int] | None = None,
    size: int = 41,
    padding: str = "symmetric",
) -> np.ndarray | torch.Tensor:
    """MTF blur then decimation of a PAN image with the sensor's PAN Nyquist gain.

    Parameters
    ----------
    pan : ``(rows, cols)`` or ``(rows, cols, 1)``, numpy or torch.
    ratio : integer resolution ratio.
    mtf : a sensor name / :class:`SensorMTF` (uses ``pan_gain``) or a Nyquist gain.
    offset, size, padding : see :func:`decimate` and :func:`mtf_blur`.

    Returns
    -------
    low_res : the PAN at ``1 / ratio`` resolution, same dimensionality and kind as ``pan``.

    References
    ----------
    Wald et al., PE&RS 1997; Vivone et al., IEEE TGRS 2015 (``MTF_PAN``).
    """
    if isinstance(mtf, (str, SensorMTF)):
        entry = sensor_mtf(mtf)
        if entry.pan_gain is None:
            raise ParameterError(f"sensor {entry.name!r} has no PAN channel (no PAN MTF gain)")
        gain = entry.pan_gain
    else:
        gain = float(mtf)
    return degrade_resolution(pan, ratio, gain, offset=offset, size=size, padding=padding)

"""Multi-resolution-analysis (MRA) pansharpening.

Every MRA method extracts the PAN's high frequencies ``P - P_L`` with a low-pass ``P_L`` and
injects them into the interpolated MS: additively, ``F_k = MS~_k + g_k (P_k - P_k,L)``, or
multiplicatively (high-pass modulation, HPM), ``F_k = MS~_k * P_k / P_k,L``. ``P_k`` is the PAN
equalised to band ``k`` (mean of ``MS~_k``, deviation scaled so that its low-pass matches
``MS~_k``'s). The low-pass is, per method: a box of the ratio's width (HPF, SFIM), the sensor
MTF followed by decimation and re-interpolation, i.e. one level of a generalised Laplacian
pyramid (MTF-GLP family), or the B3-spline undecimated wavelet (AWLP).

Inputs and outputs as in :mod:`hsi.pansharpen.cs`: ``ms`` (rows, cols, bands) at low
resolution, ``pan`` (ratio*rows, ratio*cols); result (ratio*rows, ratio*cols, bands).
``sensor`` names the MTF model of :data:`hsi.degrade.mtf.SENSOR_MTF` (default ``"generic"``:
Nyquist gain 0.3 for every band).

Injection gains (``injection``): ``"unit"`` (``g_k`` = the equalisation scale, the classical
choice), or ``"regression"`` (``g_k = cov(MS~_k, P_L) / var(P_L)``, the context-based
decision gains of Aiazzi et al. 2007, which shrink or flip the injection for bands that do
not follow the PAN: hyperspectral bands outside the PAN's spectral response). MTF-GLP-FS
(:func:`mtf_glp_fs`) regresses its gains at full scale instead.

References
----------
G. Vivone et al., "A critical comparison among pansharpening algorithms", IEEE TGRS 53(5), 2015.
B. Aiazzi, L. Alparone, S. Baronti, A. Garzelli, M. Selva, "MTF-tailored multiscale fusion of
high-resolution MS and Pan imagery", PE&RS 72(5), 2006.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from hsi.arrays import Array, like_input
from hsi.degrade.mtf import decimate, mtf_blur, sensor_mtf
from hsi.degrade.resample import upsample
from hsi.errors import ParameterError
from hsi.pansharpen.band_stats import band_means, band_stds
from hsi.pansharpen.pair import prepare

_INJECTIONS = ("unit", "regression")
#: Nyquist gain of the Gaussian the 2021 toolbox measures the PAN's spread on (``LPfilterGauss``).
_TOOLBOX_EQUALISATION_GAIN = 0.3


def ms_nyquist_gains(sensor: str | None, n_bands: int) -> np.ndarray:
    """Per-band MS Nyquist gains of ``sensor`` (None: the generic model)."""
    return sensor_mtf(sensor or "generic").gains(n_bands)


def _filter_separable(planes: torch.Tensor, taps: np.ndarray, dilation: int = 1) -> torch.Tensor:
    """Filter (bands, rows, cols) planes with the same symmetric 1-D kernel along both axes."""
    half = (len(taps) // 2) * dilation
    weight = torch.as_tensor(taps, dtype=planes.dtype, device=planes.device)
    batch = planes[:, None]
    mode = "reflect" if min(planes.shape[1:]) > half else "replicate"
    batch = F.pad(batch, (half, half, half, half), mode=mode)
    batch = F.conv2d(batch, weight.view(1, 1, -1, 1), dilation=(dilation, 1))
    batch = F.conv2d(batch, weight.view(1, 1, 1, -1), dilation=(1, dilation))
    return batch[:, 0]


def box_lowpass(image: torch.Tensor, ratio: int) -> torch.Tensor:
    """A (rows, cols) image averaged over a ``ratio``-wide box centred on each pixel.

    Even ratios use ``ratio + 1`` taps with half-weight ends so that the box stays centred.
    """
    taps = np.ones(ratio + 1 - ratio % 2)
    if ratio % 2 == 0:
        taps[0] = taps[-1] = 0.5
    return _filter_separable(image[None], taps / taps.sum())[0]


def glp_lowpass(pan: torch.Tensor, gains: np.ndarray, ratio: int) -> torch.Tensor:
    """One GLP level of the PAN for each MS band: MTF blur (band's gain), decimate, interpolate.

    Returns (rows, cols, bands): the PAN's content visible at the MS resolution through each
    band's MTF.
    """
    stacked = pan[:, :, None].expand(-1, -1, len(gains))
    low = decimate(mtf_blur(stacked, gains, ratio), ratio)
    return upsample(low, ratio)


_B3_SPLINE = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def undecimated_wavelet_lowpass(image: torch.Tensor, levels: int) -> torch.Tensor:
    """Approximation of a (rows, cols) image as the reference toolbox computes it.

    The toolbox (``LPfilterPlusDec``, ``AWLP``) takes ``levels`` of MATLAB's non-decimated
    wavelet transform with the B3-spline pair (analysis and synthesis filters both
    ``sqrt(2) [1 4 6 4 1] / 16``), zeroes the details and inverts it. That transform does not
    dilate its filters between levels, so each level filters by the B3 spline twice (analysis,
    then synthesis): the low-pass is the B3 spline convolved with itself ``2 * levels`` times,
    a binomial filter whose Nyquist gain at ratio 4 (two levels) is ``cos(pi / 8)^16 = 0.28``,
    close to the generic MS MTF (0.3). The dilated "a trous" starlet of Otazu et al.'s paper
    (one B3 spline per level, dilated by ``2**level``) has 0.18 there and so treats more of the
    MS's own band as detail.
    """
    taps = _B3_SPLINE
    for _ in range(2 * levels - 1):
        taps = np.convolve(taps, _B3_SPLINE)
    return _filter_separable(image[None], taps)[0]


def _equalisation(ms_up: torch.Tensor, pan: torch.Tensor, pan_low: torch.Tensor):
    """Scale ``a_k`` and offset ``b_k`` so that ``a_k P + b_k`` matches band k's mean and deviation
    (the deviation measured on the low-pass ``pan_low``, (rows, cols) or (rows, cols, bands))."""
    low_std = pan_low.std(dim=(0, 1), correction=0)
    scale = band_stds(ms_up) / low_std.clamp_min(torch.finfo(ms_up.dtype).tiny)
    offset = band_means(ms_up) - scale * pan.mean()
    return scale, offset


def _gains(injection: str, ms_up: torch.Tensor, pan_low: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    if injection == "unit":
        return scale
    if injection == "regression":
        low = pan_low if pan_low.ndim == 3 else pan_low[:, :, None].expand_as(ms_up)
        variance = low.var(dim=(0, 1), correction=0).clamp_min(torch.finfo(ms_up.dtype).tiny)
        centred_ms = ms_up - band_means(ms_up)
        centred_low = low - band_means(low)
        return (centred_ms * centred_low).mean(dim=(0, 1)) / variance
    raise ParameterError(f"injection must be one of {_INJECTIONS}; got {injection!r}")


def _additive(ms_up, pan, pan_low, injection):
    scale, _ = _equalisation(ms_up, pan, pan_low)
    gains = _gains(injection, ms_up, pan_low, scale)
    detail = pan[:, :, None] - (pan_low if pan_low.ndim == 3 else pan_low[:, :, None])
    return ms_up + gains * detail


def _modulation_floor(ms_up: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
    """The least equalised low-pass HPM divides by, per band: ``rho_k * mean(MS~_k)``.

    ``rho_k = min(P_k,L) / mean(P_k,L)`` is how dark the PAN's own low-pass gets relative to its
    mean. Moment matching (or regression) fits ``a_k P + b_k`` globally; where the PAN-to-band
    relation is not affine (vegetation bright in the PAN, dark in red) a negative ``b_k`` drives
    the equalised low-pass through zero and the ratio blows up (+-1e6 on the 11-bit WV2 pair at
    full scale). The floor keeps the band's low-pass no darker, relative to its mean, than the
    PAN's is, so the relative contrast injected at the darkest pixels is amplified at most as
    much as the equalisation amplifies it on average (``a_k mean(P) / mean(MS~_k)``).
    """
    dark_fraction = low.amin(dim=(0, 1)) / band_means(low)
    floor = dark_fraction * band_means(ms_up)
    tiny = torch.finfo(ms_up.dtype).eps * ms_up.abs().amax().clamp_min(1.0)
    return floor.clamp_min(tiny)


def _modulation(ms_up, pan, pan_low, scale, offset):
    """HPM: ``MS~_k * (a_k P + b_k) / (a_k P_L + b_k)``, written as the additive injection it is,
    ``MS~_k + MS~_k a_k (P - P_L) / (a_k P_L + b_k)`` (Vivone et al. 2015, HPM gains), so that the
    denominator can be held above :func:`_modulation_floor` without injecting anything where
    the PAN has no detail (``P = P_L`` gives ``MS~_k`` whatever the floor)."""
    low = pan_low if pan_low.ndim == 3 else pan_low[:, :, None].expand_as(ms_up)
    detail = scale * (pan[:, :, None] - low)
    equalised_low = scale * low + offset
    return ms_up + ms_up * detail / torch.maximum(equalised_low, _modulation_floor(ms_up, low))


def hpf(ms: Array, pan: Array, *, ratio: int | None = None, sensor: str | None = None, injection: str = "unit") -> Array:
    """High-pass filtering: box low-pass of the ratio's width, additive injection.

    References
    ----------
    P. S. Chavez Jr., S. C. Sides, J. A. Anderson, PE&RS 57(3), 1991; Vivone et al., TGRS 2015.
    """
    pair = prepare(ms, pan, ratio)
    ms_up = upsample(pair.ms, pair.ratio)
    pan_low = box_lowpass(pair.pan, pair.ratio)
    return like_input(_additive(ms_up, pair.pan, pan_low, injection), pair.ms_input)


def sfim(ms: Array, pan: Array, *, ratio: int | None = None, sensor: str | None = None) -> Array:
    """Smoothing-filter-based intensity modulation: box low-pass, multiplicative injection.

    References
    ----------
    J. G. Liu, "Smoothing filter-based intensity modulation: a spectral preserve image fusion
    technique for improving spatial details", Int. J. Remote Sens. 21(18), 2000.
    """
    pair = prepare(ms, pan, ratio)
    ms_up = upsample(pair.ms, pair.ratio)
    pan_low = box_lowpass(pair.pan, pair.ratio)
    scale, offset = _equalisation(ms_up, pair.pan, pan_low)
    return like_input(_modulation(ms_up, pair.pan, pan_low, scale, offset), pair.ms_input)


def mtf_glp(
    ms: Array, pan: Array, *, ratio: int | None = None, sensor: str | None = None, injection: str = "unit"
) -> Array:
    """MTF-matched generalised Laplacian pyramid, additive injection.

    ``injection="regression"`` gives MTF-GLP-CBD (Aiazzi et al. 2007).

    References
    ----------
    Aiazzi et al., PE&RS 72(5), 2006; B. Aiazzi, S. Baronti, F. Lotti, M. Selva, "A comparison
    between global and context-adaptive pansharpening of multispectral images", IEEE GRSL 6(2), 2009.
    """
    pair = prepare(ms, pan, ratio)
    ms_up = upsample(pair.ms, pair.ratio)
    pan_low = glp_lowpass(pair.pan, ms_nyquist_gains(sensor, pair.ms.shape[2]), pair.ratio)
    return like_input(_additive(ms_up, pair.pan, pan_low, injection), pair.ms_input)


def mtf_glp_hpm(ms: Array, pan: Array, *, ratio: int | None = None, sensor: str | None = None) -> Array:
    """MTF-GLP with high-pass modulation: ``F_k = MS~_k * P_k / P_k,L``.

    The PAN is equalised as in the 2021 reference toolbox (``MTF_GLP_HPM.m``, Vivone et al.,
    GRSM 2021): its deviation measured on the PAN blurred by a Gaussian of Nyquist gain 0.3
    (``LPfilterGauss``), the same for every band and sensor. The 2015 toolbox measured it on the
    PAN itself (0.013 / 0.018 lower reduced-resolution Q2n on WV2 / IKONOS); hsi measured it on
    each band's MTF-GLP low-pass (within 0.0004 Q2n of the 2021 definition on both pairs).
    The ratio is guarded as :func:`_modulation_floor` says.

    References
    ----------
    B. Aiazzi, L. Alparone, S. Baronti, A. Garzelli, M. Selva, "An MTF-based spectral distortion
    minimizing model for pan-sharpening of very high resolution multispectral images of urban
    areas", 2nd GRSS/ISPRS Joint Workshop on Remote Sensing and Data Fusion over Urban Areas, 2003.
    """
    pair = prepare(ms, pan, ratio)
    ms_up = upsample(pair.ms, pair.ratio)
    pan_low = glp_lowpass(pair.pan, ms_nyquist_gains(sensor, pair.ms.shape[2]), pair.ratio)
    scale, offset = _equalisation(ms_up, pair.pan, mtf_blur(pair.pan[:, :, None], _TOOLBOX_EQUALISATION_GAIN, pair.ratio))
    return like_input(_modulation(ms_up, pair.pan, pan_low, scale, offset), pair.ms_input)


def mtf_glp_hpm_r(ms: Array, pan: Array, *, ratio: int | None = None, sensor: str | None = None) -> Array:
    """MTF-GLP-HPM with the PAN equalised by regression (HPM-R).

    Each band's PAN is ``a_k P + b_k`` with ``(a_k, b_k)`` the least-squares fit of ``MS~_k`` on
    the low-pass PAN ``P_k,L``, instead of moment matching.

    References
    ----------
    G. Vivone, R. Restaino, J. Chanussot, "A regression-based high-pass modulation pansharpening
    approach", IEEE GRSL 15(2), 2018.
    """
    pair = prepare(ms, pan, ratio)
    ms_up = upsample(pair.ms, pair.ratio)
    pan_low = glp_lowpass(pair.pan, ms_nyquist_gains(sensor, pair.ms.shape[2]), pair.ratio)
    variance = pan_low.var(dim=(0, 1), correction=0).clamp_min(torch.finfo(ms_up.dtype).tiny)
    centred_low = pan_low - band_means(pan_low)
    scale = ((ms_up - band_means(ms_up)) * centred_low).mean(dim=(0, 1)) / variance
    offset = band_means(ms_up) - scale * band_means(pan_low)
    return like_input(_modulation(ms_up, pair.pan, pan_low, scale, offset), pair.ms_input)


def awlp(ms: Array, pan: Array, *, ratio: int | None = None, sensor: str | None = None) -> Array:
    """Additive wavelet luminance proportional: wavelet details injected in proportion to each
    band's share of the intensity, ``F_k = MS~_k + (MS~_k / mean_j MS~_j) (P_k - P_k,L)``.

    The low-pass is the reference toolbox's: ``ceil(log2(ratio))`` levels of the non-decimated
    B3-spline wavelet transform, details zeroed (:func:`undecimated_wavelet_lowpass`), not the
    paper's dilated starlet, whose extra smoothing gave higher ERGAS on both real pairs (5.07 vs
    5.06 on WV2, 2.29 vs 2.24 on IKONOS; its Q2n was 0.004 higher on WV2, 0.001 lower on IKONOS). The PAN is equalised to each band by moment matching, its deviation measured on
    that low-pass (the toolbox measures it on a bicubic reduce-and-expand of the PAN, another
    low-pass; on the WV2 and IKONOS pairs that scored lower Q2n and higher ERGAS).

    References
    ----------
    X. Otazu, M. Gonzalez-Audicana, O. Fors, J. Nunez, "Introduction of sensor spectral response
    into image fusion methods. Application to wavelet-based methods", IEEE TGRS 43(10), 2005.
    G. Vivone et al., "A new benchmark based on recent advances in multispectral pansharpening",
    IEEE GRSM 9(1), 2021 (toolbox ``AWLP.m``).
    """
    pair = prepare(ms, pan, ratio)
    ms_up = upsample(pair.ms, pair.ratio)
    levels = max(1, math.ceil(math.log2(pair.ratio)))
    pan_low = undecimated_wavelet_lowpass(pair.pan, levels)
    scale, _ = _equalisation(ms_up, pair.pan, pan_low)
    detail = (pair.pan - pan_low)[:, :, None] * scale
    return like_input(ms_up + luminance_shares(ms_up) * detail, pair.ms_input)


def luminance_shares(ms_up: torch.Tensor) -> torch.Tensor:
    """Each band's share of the luminance, ``MS~_k / mean_j MS~_j``, of radiances that cannot be negative.

    AWLP's ratio (toolbox ``AWLP.m``: ``MS~_k ./ (mean + eps)``) assumes non-negative bands, so
    that each share lies in ``[0, bands]``. The 23-tap interpolation rings below zero next to
    saturated or sharp edges (on the WV2 pair, whose MS is positive, ``MS~`` and its band mean go
    negative there), where the ratio to a near-zero mean explodes (the fused range at full
    resolution: ``bench_results/pansharpen_s6``, table ``full``, columns ``min`` / ``max``). The shares are taken of the radiance the interpolation cannot make
    negative, ``max(MS~_k, 0)``, which bounds them by the number of bands; a pixel with no
    positive band has no luminance to share and gets equal shares (plain additive injection).
    """
    radiance = ms_up.clamp_min(0.0)
    luminance = radiance.mean(dim=2, keepdim=True)
    dark = luminance <= torch.finfo(ms_up.dtype).tiny
    return torch.where(dark, torch.ones_like(radiance), radiance / torch.where(dark, torch.ones_like(luminance), luminance))


def mtf_glp_fs(ms: Array, pan: Array, *, ratio: int | None = None, sensor: str | None = None) -> Array:
    """MTF-GLP with injection gains regressed at full scale (MTF-GLP-FS).

    ``F_k = MS~_k + g_k (P - P_k,L)`` with the raw PAN (no equalisation) and
    ``g_k = cov(MS~_k, P) / cov(P_k,L, P)``: the slope of the model ``MS~_k = g_k P_k,L + e``
    estimated with the full-resolution PAN as the regressor's instrument, so the gains come
    from the PAN's own scale rather than from a reduced-scale copy of the pair (as in the
    toolbox's ``MTF_GLP_FS.m``, which this follows step by step).

    References
    ----------
    G. Vivone, R. Restaino, J. Chanussot, "Full scale regression-based injection coefficients
    for panchromatic sharpening", IEEE TIP 27(7), 2018.
    """
    pair = prepare(ms, pan, ratio)
    ms_up = upsample(pair.ms, pair.ratio)
    pan_low = glp_lowpass(pair.pan, ms_nyquist_gains(sensor, pair.ms.shape[2]), pair.ratio)
    centred_pan = (pair.pan - pair.pan.mean())[:, :, None]
    with_ms = ((ms_up - band_means(ms_up)) * centred_pan).mean(dim=(0, 1))
    with_low = ((pan_low - band_means(pan_low)) * centred_pan).mean(dim=(0, 1))
    tiny = torch.finfo(ms_up.dtype).tiny
    gains = with_ms / torch.where(with_low.abs() > tiny, with_low, torch.full_like(with_low, tiny))
    return like_input(ms_up + gains * (pair.pan[:, :, None] - pan_low), pair.ms_input)

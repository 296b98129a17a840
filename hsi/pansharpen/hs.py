"""Hyperspectral pansharpening: band-by-band MRA with injection gains fitted per band.

A PAN covers part of a hyperspectral cube's range only (e.g. 400-700 nm for PRISMA and a cube
out to 2500 nm): bands outside its response do not share its details, and can even show them
with the opposite contrast (vegetation is dark in the red and bright in the near infrared).
Unit or moment-matched gains then inject wrong details. Here each band's gain is the
least-squares slope of *its own* high frequencies on the PAN's, measured one scale down
where both are known: at the HS grid, the high-pass of band ``k`` (band minus its MTF low-pass)
is regressed on the high-pass of the PAN degraded to that grid. Bands that do not follow the
PAN get gains near zero (or negative when their contrast is inverted); this assumes the
relation between band and PAN details is the same at the two scales (the scale-invariance
hypothesis behind Wald's protocol).

References
----------
G. Vivone, R. Restaino, J. Chanussot, "Full scale regression-based injection coefficients for
panchromatic sharpening", IEEE TIP 27(7), 2018 (regression-based injection gains).
L. Loncan et al., "Hyperspectral pansharpening: a review", IEEE GRSM 3(3), 2015.
B. Aiazzi et al., "MTF-tailored multiscale fusion of high-resolution MS and Pan imagery", PE&RS 72(5), 2006.
"""

from __future__ import annotations

import torch

from hsi.arrays import Array, like_input
from hsi.degrade.mtf import degrade_pan, mtf_blur
from hsi.degrade.resample import upsample
from hsi.pansharpen.mra import glp_lowpass, ms_nyquist_gains
from hsi.pansharpen.pair import prepare


def detail_regression_gains(ms: torch.Tensor, pan: torch.Tensor, ratio: int, sensor: str | None = None) -> torch.Tensor:
    """Per-band injection gains from the regression of band details on PAN details at the MS scale.

    Parameters
    ----------
    ms : (rows, cols, bands) low-resolution cube.
    pan : (ratio*rows, ratio*cols) PAN.
    ratio : integer PAN/MS scale.
    sensor : MTF model (see :data:`hsi.degrade.mtf.SENSOR_MTF`), default generic.

    Returns
    -------
    (bands,) gains ``<HP(ms_k), HP(p)> / <HP(p), HP(p)>`` where ``p`` is the PAN degraded to the
    MS grid through the MS's (mean) MTF and ``HP(x) = x - mtf_blur(x)``.
    """
    gains = ms_nyquist_gains(sensor, ms.shape[2])
    # the PAN is seen through the MS's MTF so that both sides of the regression share one blur
    pan_gain = float(gains.mean())
    pan_low = degrade_pan(pan, ratio, pan_gain)
    ms_detail = ms - mtf_blur(ms, gains, ratio)
    pan_detail = pan_low - mtf_blur(pan_low, pan_gain, ratio)
    energy = (pan_detail * pan_detail).sum().clamp_min(torch.finfo(ms.dtype).tiny)
    return (ms_detail * pan_detail[:, :, None]).sum(dim=(0, 1)) / energy


def mtf_glp_hs(ms: Array, pan: Array, *, ratio: int | None = None, sensor: str | None = None) -> Array:
    """MTF-GLP for hyperspectral cubes with detail-regression gains (:func:`detail_regression_gains`).

    ``F_k = HS~_k + g_k (P - P_k,L)`` with ``P_k,L`` the PAN's GLP low-pass through band ``k``'s MTF.
    Also suited to MS cubes whose bands extend past the PAN's response.

    References
    ----------
    See the module docstring.
    """
    pair = prepare(ms, pan, ratio)
    ms_up = upsample(pair.ms, pair.ratio)
    pan_low = glp_lowpass(pair.pan, ms_nyquist_gains(sensor, pair.ms.shape[2]), pair.ratio)
    gains = detail_regression_gains(pair.ms, pair.pan, pair.ratio, sensor)
    fused = ms_up + gains * (pair.pan[:, :, None] - pan_low)
    return like_input(fused, pair.ms_input)

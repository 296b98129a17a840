"""Hyperspectral + multispectral fusion by coupled non-negative matrix factorisation (CNMF).

The high-resolution HS cube ``Z`` (bands_h, n pixels) is modelled as ``W H``: endmembers
``W`` (bands_h, K) and abundances ``H`` (K, n). The HS image is ``Z`` blurred by the HS MTF
and decimated (``Y_h ~ W (H S)``), the MS image is ``Z`` seen through the spectral response
``R`` (``Y_m ~ (R W) H``). CNMF alternates two NMF unmixings that share their factors:
the HS unmixing gives the endmembers, the MS unmixing (endmembers ``R W``) the high-resolution
abundances, each initialising the other, with Lee-Seung multiplicative updates and the
abundance sum-to-one constraint imposed softly by an augmented row (weight ``delta``).

References
----------
N. Yokoya, T. Yairi, A. Iwasaki, "Coupled nonnegative matrix factorization unmixing for
hyperspectral and multispectral data fusion", IEEE TGRS 50(2), 2012.
D. D. Lee, H. S. Seung, "Algorithms for non-negative matrix factorization", NIPS 2001.
"""

from __future__ import annotations

import numpy as np
import torch

from hsi.arrays import Array, as_tensor, infer_ratio, like_input
from hsi.degrade.mtf import degrade_resolution
from hsi.degrade.resample import toolbox_tensor, upsample
from hsi.errors import InputError, ParameterError
from hsi.pansharpen.pair import fuses_multiband

_EPS = 1e-12


def successive_projection(pixels: torch.Tensor, n_endmembers: int) -> torch.Tensor:
    """Indices of ``n_endmembers`` near-pure columns of ``pixels`` (bands, n) by the successive projection algorithm.

    References
    ----------
    M. C. U. Araujo et al., "The successive projections algorithm for variable selection in
    spectroscopic multicomponent analysis", Chemometr. Intell. Lab. Syst. 57(2), 2001.
    """
    residual = pixels.clone()
    chosen = []
    for _ in range(n_endmembers):
        index = int(torch.argmax((residual * residual).sum(dim=0)))
        chosen.append(index)
        direction = residual[:, index : index + 1]
        direction = direction / direction.norm().clamp_min(_EPS)
        residual = residual - direction @ (direction.T @ residual)
    return torch.as_tensor(chosen)


def _augment(matrix: torch.Tensor, delta: float) -> torch.Tensor:
    """Append a row of ``delta`` (sum-to-one of the abundances, Yokoya et al. eq. 10)."""
    return torch.cat([matrix, torch.full((1, matrix.shape[1]), delta, dtype=matrix.dtype, device=matrix.device)])


def _update_abundances(data, endmembers, abundances, n_iter, delta):
    data_a, endmembers_a = _augment(data, delta), _augment(endmembers, delta)
    for _ in range(n_iter):
        abundances = abundances * (endmembers_a.T @ data_a) / (endmembers_a.T @ endmembers_a @ abundances + _EPS)
    return abundances


def _update_both(data, endmembers, abundances, n_iter, delta, update_endmembers=True):
    data_a = _augment(data, delta)
    for _ in range(n_iter):
        if update_endmembers:
            endmembers = endmembers * (data @ abundances.T) / (endmembers @ abundances @ abundances.T + _EPS)
        endmembers_a = _augment(endmembers, delta)
        abundances = abundances * (endmembers_a.T @ data_a) / (endmembers_a.T @ endmembers_a @ abundances + _EPS)
    return endmembers, abundances


def estimate_srf(hs: torch.Tensor, ms_low: torch.Tensor) -> torch.Tensor:
    """Non-negative spectral response (ms_bands, hs_bands) fitting ``ms_low ~ R hs`` pixel by pixel.

    ``hs`` (bands_h, n) and ``ms_low`` (bands_m, n) on the same (HS) grid; projected gradient.
    """
    gram = hs @ hs.T
    rhs = ms_low @ hs.T
    step = 1.0 / torch.linalg.matrix_norm(gram, ord=2).clamp_min(_EPS)
    response = torch.linalg.lstsq(gram, rhs.T).solution.T.clamp_min(0)
    for _ in range(500):
        response = (response - step * (response @ gram - rhs)).clamp_min(0)
    return response


def coupled_nmf(
    hs: Array,
    ms: Array,
    srf: Array | None = None,
    *,
    ratio: int | None = None,
    n_endmembers: int = 20,
    n_outer: int = 3,
    n_inner: int = 200,
    hs_mtf: float = 0.3,
    delta: float = 0.1,
    device: torch.device | str | None = None,
) -> Array:
    """Fuse a low-resolution HS cube with a high-resolution MS cube (CNMF).

    Parameters
    ----------
    hs : (rows, cols, bands_h) hyperspectral cube, non-negative.
    ms : (ratio*rows, ratio*cols, bands_m) multispectral cube of the same ground, non-negative.
    srf : (bands_m, bands_h) spectral response of the MS bands on the HS bands; None estimates it
        by non-negative regression of the MS (degraded to the HS grid) on the HS.
    ratio : integer scale (inferred from the shapes).
    n_endmembers : number of endmembers K (at most the number of HS pixels).
    n_outer, n_inner : alternations between the two unmixings, and multiplicative updates in each.
    hs_mtf : Nyquist gain of the HS MTF used for the spatial degradation ``S``.
    delta : weight of the sum-to-one rows (Yokoya et al. use a small value).
    device : torch device (default: the input's).

    Returns
    -------
    (ratio*rows, ratio*cols, bands_h) fused cube, numpy for numpy input.

    References
    ----------
    N. Yokoya, T. Yairi, A. Iwasaki, IEEE TGRS 50(2), 2012.
    """
    hs_t = toolbox_tensor(hs, "hs")
    if device is not None:
        hs_t = hs_t.to(device)
    ms_t = as_tensor(ms, dtype=hs_t.dtype, device=hs_t.device)
    if hs_t.ndim != 3 or ms_t.ndim != 3:
        raise InputError(f"hs and ms must be (rows, cols, bands) cubes; got {tuple(hs_t.shape)} and {tuple(ms_t.shape)}")
    r = infer_ratio(tuple(hs_t.shape[:2]), tuple(ms_t.shape[:2]), ratio)
    rows, cols, bands_h = hs_t.shape
    if not 1 <= n_endmembers <= rows * cols:
        raise ParameterError(f"n_endmembers must be in [1, {rows * cols}] (HS pixels); got {n_endmembers}")
    if bool((hs_t < 0).any()) or bool((ms_t < 0).any()):
        raise InputError("hs and ms must be non-negative (CNMF factorises them into non-negative parts)")
    y_h = hs_t.reshape(-1, bands_h).T
    y_m = ms_t.reshape(-1, ms_t.shape[2]).T
    if srf is None:
        response = estimate_srf(y_h, degrade_resolution(ms_t, r, hs_mtf).reshape(-1, ms_t.shape[2]).T)
    else:
        response = as_tensor(srf, dtype=hs_t.dtype, device=hs_t.device)
        if tuple(response.shape) != (ms_t.shape[2], bands_h):
            raise ParameterError(f"srf must be (ms bands, hs bands) = {(ms_t.shape[2], bands_h)}; got {tuple(response.shape)}")
    endmembers = y_h[:, successive_projection(y_h, n_endmembers)].clamp_min(_EPS)
    abundances_h = torch.full((n_endmembers, y_h.shape[1]), 1.0 / n_endmembers, dtype=hs_t.dtype, device=hs_t.device)
    endmembers, abundances_h = _update_both(y_h, endmembers, abundances_h, n_inner, delta)
    # the MS abundances start from the interpolated HS ones: with few MS bands (a PAN: one) the MS
    # unmixing alone is underdetermined, and multiplicative updates stay near their start
    start = upsample(abundances_h.T.reshape(rows, cols, n_endmembers), r).reshape(-1, n_endmembers).T
    abundances_m = start.clamp_min(1e-3 / n_endmembers).contiguous()
    for _ in range(n_outer):
        # MS unmixing: endmembers R W (refined), high-resolution abundances
        _, abundances_m = _update_both(y_m, (response @ endmembers).clamp_min(_EPS), abundances_m, n_inner, delta)
        # HS unmixing: abundances S(H_m) start it; endmembers refined with them
        degraded = degrade_resolution(abundances_m.T.reshape(rows * r, cols * r, -1), r, hs_mtf)
        abundances_h = degraded.reshape(-1, n_endmembers).T.clamp_min(_EPS)
        endmembers, _ = _update_both(y_h, endmembers, abundances_h, n_inner, delta, update_endmembers=True)
    fused = (endmembers @ abundances_m).T.reshape(rows * r, cols * r, bands_h)
    return like_input(fused, hs)


@fuses_multiband
def cnmf(
    ms: Array,
    pan: Array,
    *,
    ratio: int | None = None,
    sensor: str | None = None,
    n_endmembers: int = 20,
    n_outer: int = 3,
    n_inner: int = 200,
    delta: float = 0.1,
    device: torch.device | str | None = None,
) -> Array:
    """CNMF with the pansharpening signature: ``ms`` the low-resolution HS/MS cube, ``pan`` the
    high-resolution image, one band (a PAN) or several (an MS cube: HS + MS fusion).

    Parameters
    ----------
    ms : (rows, cols, bands) low-resolution cube.
    pan : (ratio*rows, ratio*cols) PAN or (ratio*rows, ratio*cols, bands_m) high-resolution cube.
    ratio : integer scale (inferred from the shapes).
    sensor : MTF model of the low-resolution cube (mean Nyquist gain; default generic 0.3).
    n_endmembers : at most the number of low-resolution pixels; cut to it on small inputs.
    n_outer, n_inner, delta, device : see :func:`coupled_nmf`.

    Returns
    -------
    (ratio*rows, ratio*cols, bands) fused cube, numpy for numpy input. When an input has
    negative values (noise around zero), both are shifted by one common offset, as NMF needs
    non-negative data, and the result shifted back.

    References
    ----------
    N. Yokoya, T. Yairi, A. Iwasaki, "Coupled nonnegative matrix factorization unmixing for
    hyperspectral and multispectral data fusion", IEEE TGRS 50(2), 2012.
    """
    from hsi.pansharpen.mra import ms_nyquist_gains

    low = toolbox_tensor(ms, "ms")
    if device is not None:
        low = low.to(device)
    high = as_tensor(pan, dtype=low.dtype, device=low.device)
    if low.ndim == 2:
        low = low[:, :, None]
    if high.ndim == 2:
        high = high[:, :, None]
    if low.ndim != 3 or high.ndim != 3:
        raise InputError(f"ms must be (rows, cols, bands) and pan (rows, cols[, bands]); got {tuple(low.shape)}, {tuple(high.shape)}")
    r = infer_ratio(tuple(low.shape[:2]), tuple(high.shape[:2]), ratio)
    # a common offset keeps every value positive without changing the relative geometry
    floor = torch.minimum(low.amin(), high.amin()).clamp_max(0)
    hs_mtf = float(ms_nyquist_gains(sensor, low.shape[2]).mean())
    k = min(int(n_endmembers), low.shape[0] * low.shape[1])
    fused = coupled_nmf(low - floor, high - floor, None, ratio=r, n_endmembers=k, n_outer=n_outer, n_inner=n_inner,
                        hs_mtf=hs_mtf, delta=delta)
    return like_input(fused + floor, ms)

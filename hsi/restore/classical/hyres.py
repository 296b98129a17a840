"""HyRes: low-rank (SVD) subspace plus SURE-tuned wavelet shrinkage of the eigen-images."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from hsi.arrays import as_tensor, like_input, per_band
from hsi.errors import InputError, ParameterError
from hsi.estimate.noise import estimate_noise_regression
from hsi.restore.classical.wavelets import dwt_matrix, level_of_index, sure_soft_threshold


def _pad_to_multiple(cube: torch.Tensor, multiple: int) -> torch.Tensor:
    rows, cols, _ = cube.shape
    pad_r, pad_c = (-rows) % multiple, (-cols) % multiple
    if pad_r == 0 and pad_c == 0:
        return cube
    mode = "reflect" if pad_r < rows and pad_c < cols else "replicate"
    padded = F.pad(cube.permute(2, 0, 1)[None], (0, pad_c, 0, pad_r), mode=mode)
    return padded[0].permute(1, 2, 0)


def hyres(
    cube: torch.Tensor | np.ndarray,
    *,
    noise_std: torch.Tensor | np.ndarray | None = None,
    levels: int = 4,
    max_rank: int | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor | np.ndarray:
    """HyRes-type restoration: whiten, SVD, SURE soft-thresholding of each eigen-image's wavelets.

    The noise-whitened cube is expressed in its singular vectors; each eigen-image is
    transformed by an orthonormal 2-D wavelet basis (periodic Daubechies-4, separable,
    ``levels`` levels) and its detail coefficients are soft-thresholded with the threshold
    that minimises Stein's unbiased risk estimate, one threshold per eigen-image and scale
    (the paper uses one per eigen-image). The approximation coefficients of an eigen-image
    are kept unless SURE says zeroing them is better, which, with an all-zero detail
    threshold, discards the eigen-image: the rank is chosen automatically.

    Parameters
    ----------
    cube : (rows, cols, bands).
    noise_std : (bands,) noise standard deviation, cube units; multiple-regression estimate
        (HySime) when None.
    levels : wavelet decomposition levels (reduced for small images).
    max_rank : most eigen-images considered (default all bands).

    Returns
    -------
    The restored cube, same shape and kind.

    References
    ----------
    B. Rasti, M. O. Ulfarsson and P. Ghamisi, "Automatic hyperspectral image restoration
    using sparse and low-rank modeling", IEEE Geosci. Remote Sens. Lett. 14(12):2335-2339, 2017.
    """
    if int(levels) < 1:
        raise ParameterError(f"levels must be >= 1; got {levels}")
    x = as_tensor(cube, name="cube", ndim=3, device=device)
    if not bool(torch.isfinite(x).all()):
        raise InputError("cube contains NaN or infinite values; fill them first (lrtv_inpaint, hsi.restore.classical.inpaint)")
    rows, cols, n_bands = x.shape
    levels = int(max(1, min(levels, int(np.log2(max(min(rows, cols), 2))) - 2)))
    work = x.to(torch.float64)
    if noise_std is None:
        _, noise_cov = estimate_noise_regression(work.reshape(-1, n_bands))
        sigma = noise_cov.diagonal().sqrt()
    else:
        sigma = per_band(noise_std, n_bands, device=x.device, dtype=torch.float64)
    sigma = sigma.clamp_min(sigma.max() * 1e-6 + torch.finfo(torch.float64).tiny)
    white = _pad_to_multiple(work / sigma, 2 ** levels)
    prow, pcol, _ = white.shape
    pixels = white.reshape(-1, n_bands)
    _, vecs = torch.linalg.eigh(pixels.T @ pixels)
    rank = n_bands if max_rank is None else int(min(max_rank, n_bands))
    basis = vecs.flip(-1)[:, :rank]
    eigen = (pixels @ basis).T.reshape(rank, prow, pcol)
    w_rows = dwt_matrix(prow, levels, torch.float64, x.device)
    w_cols = dwt_matrix(pcol, levels, torch.float64, x.device)
    coefs = w_rows @ eigen @ w_cols.T  # (rank, prow, pcol), unit noise (orthonormal maps)
    scale = torch.maximum(
        level_of_index(prow, levels, x.device)[:, None].expand(prow, pcol),
        level_of_index(pcol, levels, x.device)[None, :].expand(prow, pcol),
    )
    scale = torch.where(
        (level_of_index(prow, levels, x.device)[:, None] == 0) & (level_of_index(pcol, levels, x.device)[None, :] == 0),
        torch.zeros_like(scale),
        scale.clamp_min(1),
    )
    flat = coefs.reshape(rank, -1)
    flat_scale = scale.reshape(-1)
    out = flat.clone()
    detail_risk = torch.zeros(rank, dtype=torch.float64, device=x.device)
    detail_zero_risk = torch.zeros(rank, dtype=torch.float64, device=x.device)
    for lev in range(1, levels + 1):
        sel = flat_scale == lev
        band = flat[:, sel]
        threshold, risk = sure_soft_threshold(band)
        out[:, sel] = torch.sign(band) * (band.abs() - threshold[:, None]).clamp_min(0)
        detail_risk += risk
        detail_zero_risk += (band ** 2).sum(1) - band.shape[1]
    approx = flat[:, flat_scale == 0]
    n_approx = approx.shape[1]
    # Keep the eigen-image's coarse part unless dropping the whole eigen-image has lower risk.
    drop = ((approx ** 2).sum(1) - n_approx + detail_zero_risk) < (n_approx + detail_risk)
    out[drop] = 0
    denoised = w_rows.T @ out.reshape(rank, prow, pcol) @ w_cols
    restored = (denoised.reshape(rank, -1).T @ basis.T).reshape(prow, pcol, n_bands)[:rows, :cols]
    return like_input((restored * sigma).to(x.dtype), cube)

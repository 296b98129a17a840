"""Inpainting of missing pixels (NaN) with a low-rank spectral model and TV eigen-images."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from hsi.arrays import as_tensor, like_input, per_band
from hsi.errors import InputError, ParameterError
from hsi.estimate.noise import estimate_noise_regression
from hsi.estimate.subspace import hysime
from hsi.restore.classical.fasthyde import MAX_RANK
from hsi.restore.classical.tv import tv_prox


def _gaussian_kernel(sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    radius = max(1, int(np.ceil(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    return kernel / kernel.sum()


def _blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (n, rows, cols), zero padding (normalised convolution)."""
    kernel = _gaussian_kernel(min(sigma, max(images.shape[-2:]) / 3), images.dtype, images.device)
    r = kernel.numel() // 2
    x = images[:, None]
    x = F.conv2d(F.pad(x, (0, 0, r, r)), kernel.reshape(1, 1, -1, 1))
    x = F.conv2d(F.pad(x, (r, r, 0, 0)), kernel.reshape(1, 1, 1, -1))
    return x[:, 0]


def normalized_convolution_fill(images: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """Fill unobserved entries of (n, rows, cols) images by multi-scale normalised convolution.

    Each missing entry takes the Gaussian-weighted mean of the observed entries at the finest
    scale (sigma = 1, 2, 4, ... pixels) where they carry at least 5 % of the kernel's weight
    inside the image; entries with no observation within the image's size take the mean of
    their image's observed entries (0 when none). ``observed`` is a boolean of the images' shape.
    """
    weight = observed.to(images.dtype)
    values = torch.where(observed, images, torch.zeros_like(images))
    filled = values.clone()
    done = observed.clone()
    tiny = torch.finfo(images.dtype).tiny
    coverage_of = torch.ones_like(images[:1])
    sigma = 1.0
    while not bool(done.all()) and sigma <= max(images.shape[-2:]):
        den = _blur(weight, sigma)
        ready = (den > 0.05 * _blur(coverage_of, sigma)) & ~done
        filled = torch.where(ready, _blur(values, sigma) / den.clamp_min(tiny), filled)
        done = done | ready
        sigma *= 2
    mean = values.sum(dim=(-2, -1), keepdim=True) / weight.sum(dim=(-2, -1), keepdim=True).clamp_min(1)
    return torch.where(done, filled, mean.expand_as(filled))


def _subspace(pixels: torch.Tensor, complete: torch.Tensor, rank: int | None, max_rank: int) -> torch.Tensor:
    """Orthonormal (bands, k) basis: HySime on the complete pixels, or on all pre-filled ones."""
    n_bands = pixels.shape[-1]
    if int(complete.sum()) > 2 * n_bands:
        pixels = pixels[complete]
    pixels = pixels.to(torch.float64)
    if rank is None:
        noise, noise_cov = estimate_noise_regression(pixels)
        _, basis = hysime(pixels, noise, noise_cov)
        basis = basis[:, :max_rank]
    else:
        _, vecs = torch.linalg.eigh(pixels.T @ pixels)
        basis = vecs.flip(-1)[:, : int(rank)]
    return basis


def _noise_std(cube: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """Per-band noise from the complete pixels (multiple regression), or a robust floor."""
    n_bands = cube.shape[-1]
    pixels = cube.reshape(-1, n_bands)
    complete = observed.reshape(-1, n_bands).all(dim=1)
    if int(complete.sum()) > 2 * n_bands:
        _, cov = estimate_noise_regression(pixels[complete].to(torch.float64))
        std = cov.diagonal().sqrt().to(cube.dtype)
    else:
        std = torch.full((n_bands,), float("nan"), dtype=cube.dtype, device=cube.device)
    scale = torch.nan_to_num(torch.nanmean(pixels.abs(), dim=0), nan=1.0)
    floor = 1e-3 * scale.clamp_min(torch.finfo(cube.dtype).tiny)
    return torch.where(torch.isfinite(std), std, floor).clamp_min(floor)


def lrtv_inpaint(
    cube: torch.Tensor | np.ndarray,
    *,
    noise_std: torch.Tensor | np.ndarray | None = None,
    rank: int | None = None,
    tv_weight: float = 1.0,
    n_iter: int = 20,
    tv_iter: int = 5,
    max_rank: int = MAX_RANK,
    device: torch.device | str | None = None,
) -> torch.Tensor | np.ndarray:
    """Fill missing entries (NaN) of a cube and denoise it: low rank + TV, solved by FISTA.

    In the noise-whitened domain the cube is ``X = Z E^T`` with ``E`` (bands, k) an
    orthonormal spectral basis (HySime on the complete pixels) and ``Z`` the k
    eigen-images, found by

    ``min_Z 0.5 || M . (Y - Z E^T) ||^2 + tv_weight * sum_i TV(Z_i)``

    where ``M`` marks the observed entries (any pattern: whole pixels, per-band gaps,
    lines). Accelerated proximal gradient (FISTA, step 1: the data term's gradient is
    1-Lipschitz), the TV proximal map by Chambolle's algorithm, started from a multi-scale
    normalised-convolution fill of the eigen-images so that large gaps converge in few
    iterations (each band is filled that way, then projected). Observed entries are also denoised (TV weight in noise standard deviations).

    Parameters
    ----------
    cube : (rows, cols, bands) with NaN where data are missing; numpy or torch.
    noise_std : (bands,) noise standard deviation, cube units; non-finite or non-positive
        values (or None) are replaced by the multiple-regression estimate on complete pixels,
        and given values are floored at half the median of that estimate.
    rank : subspace dimension, or None for HySime (at most ``max_rank``).
    tv_weight : TV weight in noise standard deviations.
    n_iter, tv_iter : FISTA iterations and Chambolle iterations per proximal step.

    Returns
    -------
    The completed cube, all finite, same shape and kind.

    References
    ----------
    L. Zhuang and J. M. Bioucas-Dias, "Fast hyperspectral image denoising and inpainting
    based on low-rank and sparse representations", IEEE JSTARS 11(3):730-742, 2018
    (subspace inpainting); W. He, H. Zhang, L. Zhang and H. Shen, "Total-variation-
    regularized low-rank matrix factorization for hyperspectral image restoration", IEEE
    TGRS 54(1):178-188, 2016; A. Beck and M. Teboulle, "A fast iterative shrinkage-
    thresholding algorithm for linear inverse problems", SIAM J. Imaging Sci. 2(1), 2009.
    """
    if not tv_weight >= 0:
        raise ParameterError(f"tv_weight must be >= 0 (noise standard deviations); got {tv_weight}")
    if int(n_iter) < 0 or int(tv_iter) < 1:
        raise ParameterError(f"n_iter must be >= 0 and tv_iter >= 1; got {n_iter}, {tv_iter}")
    if rank is not None and int(rank) < 1:
        raise ParameterError(f"rank must be a positive integer or None; got {rank}")
    x = as_tensor(cube, name="cube", ndim=3, device=device)
    rows, cols, n_bands = x.shape
    observed = torch.isfinite(x)
    if not bool(observed.any()):
        raise InputError("cube has no finite value to inpaint from")
    estimated = _noise_std(x, observed)
    if noise_std is None:
        sigma = estimated
    else:
        given = per_band(noise_std, n_bands, device=x.device, dtype=x.dtype)
        # Wavelet estimates from sparse data can undershoot by orders of magnitude: floor them.
        sigma = torch.where(torch.isfinite(given) & (given > 0), given.clamp_min(0.5 * float(estimated.median())), estimated)
    white = x / sigma
    mask = observed.to(x.dtype)
    data = torch.where(observed, white, torch.zeros_like(white))
    # Start: every band filled by normalised convolution, projected on the subspace.
    prefilled = normalized_convolution_fill(data.permute(2, 0, 1), observed.permute(2, 0, 1)).permute(1, 2, 0)
    pixel_complete = observed.all(dim=2)
    basis = _subspace(prefilled.reshape(-1, n_bands), pixel_complete.reshape(-1),
                      None if rank is None else min(int(rank), n_bands), int(max_rank)).to(x.dtype)
    k = basis.shape[1]
    coefs = (prefilled @ basis).permute(2, 0, 1)  # (k, rows, cols)
    if bool(pixel_complete.all()) and int(n_iter) > 0:
        coefs = tv_prox(coefs.permute(1, 2, 0), torch.full((k,), float(tv_weight), dtype=x.dtype, device=x.device),
                        int(tv_iter) * 4).permute(2, 0, 1)
        n_iter = 0
    z = coefs.permute(1, 2, 0)  # (rows, cols, k)
    momentum, t = z, 1.0
    weight = torch.full((k,), float(tv_weight), dtype=x.dtype, device=x.device)
    for _ in range(int(n_iter)):
        gradient = ((mask * (momentum @ basis.T - data)) @ basis)
        z_next = tv_prox(momentum - gradient, weight, int(tv_iter))
        t_next = (1 + np.sqrt(1 + 4 * t * t)) / 2
        momentum = z_next + (t - 1) / t_next * (z_next - z)
        z, t = z_next, t_next
    restored = (z @ basis.T) * sigma
    return like_input(restored, cube)

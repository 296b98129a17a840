"""Robust low-rank + total variation + sparse restoration for mixed noise (LRTV-type)."""

from __future__ import annotations

import numpy as np
import torch

from hsi.arrays import as_tensor, like_input, per_band
from hsi.errors import InputError, ParameterError
from hsi.estimate.noise import noise_std_per_band
from hsi.restore.classical.lowrank import leading_basis, robust_factorize, robust_sigma, soft
from hsi.restore.classical.tv import tv_prox


def lrtv(
    cube: torch.Tensor | np.ndarray,
    *,
    noise_std: torch.Tensor | np.ndarray | None = None,
    rank: int | None = None,
    sparse_threshold: float = 3.0,
    tv_weight: float = 1.0,
    n_iter: int = 1,
    factor_iter: int = 10,
    tv_iter: int = 40,
    device: torch.device | str | None = None,
) -> torch.Tensor | np.ndarray:
    """Mixed-noise removal: low-rank spectra, band-wise TV images, sparse outliers.

    Model ``Y = X + S + N``: ``X`` low rank (its spectra span few directions) and piecewise
    smooth band by band (small total variation), ``S`` sparse (impulses, stripes, dead
    lines: large but rare, band-specific), ``N`` Gaussian, independent per band. In the
    noise-whitened domain:

    1. the rank ``r`` is the number of leading eigen-images with spatial structure along both
       axes (column stripes and dead lines are structured along one axis only);
    2. ``X = Z E^T`` is fitted with a robust loss (least squares for residuals under one noise
       standard deviation, l1 beyond: the sparse part ``S`` is what the l1 part absorbs), by
       alternating per-pixel coefficients and per-band loadings
       (:func:`~hsi.restore.classical.lowrank.robust_factorize`);
    3. each band of the fit gets the TV proximal map with weight ``tv_weight`` times its
       remaining noise (wavelet MAD).

    With ``n_iter > 1`` the residual beyond ``sparse_threshold`` robust standard deviations
    is removed as ``S`` and steps 2-3 are repeated.

    Parameters
    ----------
    cube : (rows, cols, bands).
    noise_std : (bands,) Gaussian noise standard deviation, cube units; robust wavelet MAD
        estimate (insensitive to sparse outliers) when None.
    rank : subspace dimension ``r``, chosen from the data when None.
    sparse_threshold : l1 weight of the sparse part, in noise standard deviations.
    tv_weight : TV weight in units of the residual noise after projection.
    n_iter : outer rounds; factor_iter : robust factorisation sweeps; tv_iter : Chambolle iterations.

    Returns
    -------
    The restored cube ``X``, same shape and kind as ``cube``.

    References
    ----------
    W. He, H. Zhang, L. Zhang and H. Shen, "Total-variation-regularized low-rank matrix
    factorization for hyperspectral image restoration", IEEE TGRS 54(1):178-188, 2016;
    H. Zhang, W. He, L. Zhang, H. Shen and Q. Yuan, "Hyperspectral image restoration using
    low-rank matrix recovery", IEEE TGRS 52(8):4729-4743, 2014.
    """
    for name, value in (("sparse_threshold", sparse_threshold), ("tv_weight", tv_weight)):
        if not value >= 0:
            raise ParameterError(f"{name} must be >= 0; got {value}")
    if int(n_iter) < 1 or int(tv_iter) < 1:
        raise ParameterError(f"n_iter and tv_iter must be >= 1; got {n_iter}, {tv_iter}")
    if rank is not None and int(rank) < 1:
        raise ParameterError(f"rank must be >= 1; got {rank}")
    x = as_tensor(cube, name="cube", ndim=3, device=device)
    if not bool(torch.isfinite(x).all()):
        raise InputError("cube contains NaN or infinite values; use lrtv_inpaint (hsi.restore.classical.inpaint) for missing pixels")
    if noise_std is None:
        sigma = robust_sigma(x)
    else:
        sigma = per_band(noise_std, x.shape[2], device=x.device, dtype=x.dtype)
        sigma = sigma.clamp_min(sigma.max() * 1e-3 + torch.finfo(x.dtype).tiny)
    white = x / sigma
    rows, cols, n_bands = white.shape
    # The rank test compares lag-1 correlations along rows and along columns, so column
    # stripes and dead lines (correlated along one axis only) do not inflate the rank.
    basis = leading_basis(white, rank)
    for _ in range(int(n_iter)):
        fit = robust_factorize(white.reshape(-1, n_bands), basis, n_iter=factor_iter).reshape(white.shape)
        residual_noise = torch.nan_to_num(noise_std_per_band(fit))
        estimate = tv_prox(fit, tv_weight * residual_noise, int(tv_iter))
        # Next round: fit the low-rank model to the TV-regularised data where it is an outlier-free
        # explanation of the observation (residual within the sparse threshold).
        outlier = soft(white - estimate, sparse_threshold * gaussian_scale(white - estimate).clamp_max(1.0))
        white = white - outlier
        basis = leading_basis(white, basis.shape[1])
    return like_input(estimate * sigma, cube)


def gaussian_scale(residual: torch.Tensor, quantile: float = 0.25) -> torch.Tensor:
    """Per-band standard deviation of the Gaussian part of a residual with many outliers.

    The wavelet MAD over-estimates the noise of bands where most pixels are impulses (it
    breaks down past 50 % outliers); the lower ``quantile`` of ``|residual|`` divided by the
    same quantile of ``|N(0, 1)|`` stays right while fewer than ``1 - quantile`` of the
    pixels are outliers. ``residual`` (rows, cols, bands); returns (bands,).
    """
    flat = residual.reshape(-1, residual.shape[-1]).abs()
    k = max(1, int(quantile * flat.shape[0]))
    normal_quantile = float(torch.special.ndtri(torch.tensor(0.5 + quantile / 2, dtype=torch.float64)))
    return flat.kthvalue(k, dim=0).values / normal_quantile

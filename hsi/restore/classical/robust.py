"""Mixed-noise removal: robust low-rank outlier removal, destriping, then subspace denoising."""

from __future__ import annotations

import numpy as np
import torch

from hsi.arrays import as_tensor, like_input, per_band
from hsi.errors import InputError, ParameterError
from hsi.estimate.stripe_direction import destriping_angle
from hsi.restore.classical.destripe import destripe
from hsi.restore.classical.fasthyde import fasthyde
from hsi.restore.classical.lowrank import leading_basis, robust_factorize, robust_sigma
from hsi.restore.classical.lrtv import gaussian_scale


def _robust_fit(cube: torch.Tensor, sigma: torch.Tensor, basis: torch.Tensor, n_iter: int) -> torch.Tensor:
    """Low-rank fit of (rows, cols, bands) with the Huber-like loss, in the ``sigma``-whitened domain."""
    white = cube / sigma
    fit = robust_factorize(white.reshape(-1, white.shape[2]), basis, n_iter=n_iter)
    return fit.reshape(cube.shape) * sigma


def robust_fasthyde(
    cube: torch.Tensor | np.ndarray,
    *,
    noise_std: torch.Tensor | np.ndarray | None = None,
    rank: int | None = None,
    sparse_threshold: float = 3.0,
    factor_iter: int = 10,
    destriping: bool = True,
    angle_deg: float | str = "auto",
    device: torch.device | str | None = None,
) -> torch.Tensor | np.ndarray:
    """Remove mixed noise: Gaussian (any level per band) + impulses + dead lines + stripes.

    Model ``Y = X + S + N`` with ``X`` low rank, ``S`` sparse (impulses, dead lines, stripes)
    and ``N`` Gaussian, independent per band:

    1. a low-rank fit ``Z E^T`` with an l1-type (Huber) loss, whitened by the wavelet noise
       estimate; the rank counts eigen-images structured along both axes, so column stripes
       and dead lines do not raise it (:func:`~hsi.restore.classical.lowrank.leading_basis`);
    2. the Gaussian level of each band re-estimated from the fit's residual by a lower
       quantile (:func:`~hsi.restore.classical.lrtv.gaussian_scale`: the wavelet MAD breaks
       down on bands with many impulses), and the robust fit repeated in that whitening;
    3. entries further than ``sparse_threshold`` standard deviations from the fit are
       outliers (``S``) and take the fit's value;
    4. offsets left by stripes are removed along their direction
       (:func:`~hsi.restore.classical.destripe.destripe`): the columns in swath geometry, the
       rotated track on an orthorectified product (measured on the cleaned cube, where
       impulses no longer draw lines: :func:`~hsi.estimate.stripe_direction.destriping_angle`);
    5. the result is denoised by FastHyDe (:func:`~hsi.restore.classical.fasthyde.fasthyde`).

    Parameters
    ----------
    cube : (rows, cols, bands), numpy or torch, finite values.
    noise_std : (bands,) first noise estimate, cube units (wavelet MAD when None); step 2
        refines it.
    rank : dimension of the robust fit; from the spatial structure when None.
    sparse_threshold : outlier threshold in Gaussian standard deviations.
    factor_iter : sweeps of the robust factorisation.
    destriping : run step 4.
    angle_deg : direction of the stripes in step 4, degrees from the columns in (-90, 90]
        (:func:`~hsi.restore.classical.destripe.destripe`), or ``"auto"``: measured on the
        cleaned cube; columns when no stripes at an angle are found.

    Returns
    -------
    The restored cube, same shape and kind.

    References
    ----------
    L. Zhuang and M. K. Ng, "Hyperspectral mixed noise removal by l1-norm-based subspace
    representation", IEEE JSTARS 13:1143-1157, 2020 (L1HyMixDe: robust subspace, then a
    spatial denoiser on the eigen-images); H. Zhang, W. He, L. Zhang, H. Shen and Q. Yuan,
    "Hyperspectral image restoration using low-rank matrix recovery", IEEE TGRS 52(8), 2014;
    Q. Ke and T. Kanade, "Robust L1 norm factorization in the presence of outliers and missing
    data", CVPR 2005; L. Zhuang and J. M. Bioucas-Dias, IEEE JSTARS 11(3), 2018 (FastHyDe).
    """
    if not sparse_threshold > 0:
        raise ParameterError(f"sparse_threshold must be > 0 (standard deviations); got {sparse_threshold}")
    if int(factor_iter) < 1:
        raise ParameterError(f"factor_iter must be >= 1; got {factor_iter}")
    if angle_deg != "auto" and (isinstance(angle_deg, (str, bool)) or not -90.0 < float(angle_deg) <= 90.0):
        raise ParameterError(f"angle_deg must be 'auto' or degrees from the columns in (-90, 90]; got {angle_deg!r}")
    if rank is not None and int(rank) < 1:
        raise ParameterError(f"rank must be a positive integer or None; got {rank}")
    x = as_tensor(cube, name="cube", ndim=3, device=device)
    if not bool(torch.isfinite(x).all()):
        raise InputError("cube contains NaN or infinite values; fill them first (lrtv_inpaint)")
    n_bands = x.shape[2]
    if noise_std is None:
        sigma = robust_sigma(x)
    else:
        sigma = per_band(noise_std, n_bands, device=x.device, dtype=x.dtype)
        sigma = torch.nan_to_num(sigma)
    floor = sigma.max() * 1e-3 + torch.finfo(x.dtype).tiny
    sigma = sigma.clamp_min(floor)
    basis = leading_basis(x / sigma, rank)
    fit = _robust_fit(x, sigma, basis, int(factor_iter))
    # Step 2: the Gaussian level from the residual, then the fit again on a cleaner subspace.
    sigma = gaussian_scale(x - fit).clamp_min(floor)
    outliers = (x - fit).abs() > sparse_threshold * sigma
    basis = leading_basis(torch.where(outliers, fit, x) / sigma, basis.shape[1])
    fit = _robust_fit(x, sigma, basis, int(factor_iter))
    cleaned = torch.where((x - fit).abs() > sparse_threshold * sigma, fit, x)
    if destriping:
        angle = destriping_angle(cleaned) if angle_deg == "auto" else float(angle_deg)
        cleaned = destripe(cleaned, angle_deg=angle)
    return like_input(fasthyde(cleaned), cube)

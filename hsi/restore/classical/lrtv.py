"""Robust low-rank + total variation + sparse restoration for mixed noise (LRTV-type)."""

from __future__ import annotations

import numpy as np
import torch

from hsi.errors import InputError, ParameterError
from hsi.estimate._arrays import like_input, to_tensor
from hsi.estimate.noise import noise_std_per_band
from hsi.restore.classical.lowrank import leading_basis, median_filter_3x3, project, robust_sigma, soft
from hsi.restore.classical.tv import tv_prox


def lrtv(
    cube: torch.Tensor | np.ndarray,
    *,
    noise_std: torch.Tensor | np.ndarray | None = None,
    rank: int | None = None,
    sparse_threshold: float = 3.0,
    tv_weight: float = 1.0,
    n_iter: int = 8,
    tv_iter: int = 40,
    device: torch.device | str | None = None,
) -> torch.Tensor | np.ndarray:
    """Mixed-noise removal: low-rank spectra, band-wise TV images, sparse outliers.

    Model ``Y = X + S + N``: ``X`` low rank (its spectra span few directions) and piecewise
    smooth band by band (small total variation), ``S`` sparse (impulses, stripes, dead
    lines: large but rare, band-specific), ``N`` Gaussian, independent per band. In the
    noise-whitened domain the objective ``0.5 ||Y - X - S||^2 + lambda ||S||_1 + tau sum_b
    TV(X_b)`` with ``rank(X) <= r`` is decreased by alternating its blocks: ``S`` by soft
    thresholding (``lambda = sparse_threshold``, in noise standard deviations), ``X`` by
    projecting ``Y - S`` on its leading eigen-directions then applying the band-wise TV
    proximal map (weight ``tv_weight`` times the noise left after projection, wavelet MAD).
    The alternation starts from a 3 x 3 median filter, which is blind to impulses and
    dead lines. The rank is chosen from the spatial structure of the eigen-images when not
    given.

    Parameters
    ----------
    cube : (rows, cols, bands).
    noise_std : (bands,) Gaussian noise standard deviation, cube units; robust wavelet MAD
        estimate (insensitive to sparse outliers) when None.
    rank : subspace dimension ``r``, chosen from the data when None.
    sparse_threshold : l1 weight of the sparse part, in noise standard deviations.
    tv_weight : TV weight in units of the residual noise after projection.
    n_iter, tv_iter : alternations, and Chambolle iterations in each TV step.

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
    x, was_numpy = to_tensor(cube, name="cube", ndim=3, device=device)
    if not bool(torch.isfinite(x).all()):
        raise InputError("cube contains NaN or infinite values; use lowrank_inpaint for missing pixels")
    if noise_std is None:
        sigma = robust_sigma(x)
    else:
        sigma, _ = to_tensor(noise_std, name="noise_std", ndim=1, device=x.device, dtype=x.dtype)
        if sigma.numel() != x.shape[2]:
            raise InputError(f"noise_std must have one value per band ({x.shape[2]}); got {sigma.numel()}")
        sigma = sigma.clamp_min(sigma.max() * 1e-3 + torch.finfo(x.dtype).tiny)
    white = x / sigma
    estimate = median_filter_3x3(white)
    for _ in range(int(n_iter)):
        sparse = soft(white - estimate, sparse_threshold)
        target = white - sparse
        low_rank = project(target, leading_basis(target, rank))
        residual_noise = torch.nan_to_num(noise_std_per_band(low_rank))
        estimate = tv_prox(low_rank, tv_weight * residual_noise, int(tv_iter))
    return like_input(estimate * sigma, was_numpy)

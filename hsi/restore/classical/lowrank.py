"""Shared pieces of the low-rank methods: whitening, rank from spatial structure, projection."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from hsi.restore.classical.fasthyde import MAX_RANK, SPATIAL_Z, spatial_rank_test


def median_filter_3x3(cube: torch.Tensor) -> torch.Tensor:
    """Band-wise 3 x 3 median of (rows, cols, bands), borders replicated."""
    x = F.pad(cube.permute(2, 0, 1)[None], (1, 1, 1, 1), mode="replicate")[0]
    windows = x.unfold(1, 3, 1).unfold(2, 3, 1)  # (bands, rows, cols, 3, 3)
    return windows.reshape(*windows.shape[:3], 9).median(dim=-1).values.permute(1, 2, 0)


def leading_basis(cube: torch.Tensor, rank: int | None, max_rank: int = MAX_RANK) -> torch.Tensor:
    """Orthonormal basis (bands, r) of the cube's leading eigen-directions (uncentred).

    With ``rank`` None, keeps the leading directions (up to ``max_rank``) whose eigen-images
    are spatially structured (:func:`hsi.restore.classical.fasthyde.spatial_rank_test`),
    which assumes the cube is noise-whitened (unit noise per band).
    """
    n_bands = cube.shape[-1]
    pixels = cube.reshape(-1, n_bands).to(torch.float64)
    _, vecs = torch.linalg.eigh(pixels.T @ pixels)
    vecs = vecs.flip(-1).to(cube.dtype)
    if rank is not None:
        return vecs[:, : int(min(rank, n_bands))]
    leading = vecs[:, : min(int(max_rank), n_bands)]
    keep = spatial_rank_test(cube[None], leading, SPATIAL_Z)
    keep[0] = True
    return leading[:, keep]


def project(cube: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Orthogonal projection of every pixel of (rows, cols, bands) onto span(basis)."""
    return (cube @ basis) @ basis.T


def soft(values: torch.Tensor, threshold: torch.Tensor | float) -> torch.Tensor:
    """Soft thresholding (the proximal map of the l1 norm)."""
    return torch.sign(values) * (values.abs() - threshold).clamp_min(0)


def robust_sigma(cube: torch.Tensor) -> torch.Tensor:
    """Wavelet MAD noise per band, floored so that whitening never divides by zero."""
    from hsi.estimate.noise import noise_std_per_band

    sigma = noise_std_per_band(cube)
    floor = torch.nan_to_num(sigma).max() * 1e-3 + torch.finfo(cube.dtype).eps * float(np.nanmax(np.abs(cube.cpu().numpy())) + 1)
    return torch.nan_to_num(sigma, nan=float(floor)).clamp_min(floor)

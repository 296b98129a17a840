"""Shared pieces of the low-rank methods: whitening, rank from spatial structure, robust factorisation."""

from __future__ import annotations

import numpy as np
import torch

from hsi.restore.classical.fasthyde import MAX_RANK, SPATIAL_Z, spatial_rank_test


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


def soft(values: torch.Tensor, threshold: torch.Tensor | float) -> torch.Tensor:
    """Soft thresholding (the proximal map of the l1 norm)."""
    return torch.sign(values) * (values.abs() - threshold).clamp_min(0)


def robust_sigma(cube: torch.Tensor) -> torch.Tensor:
    """Wavelet MAD noise per band, floored so that whitening never divides by zero."""
    from hsi.estimate.noise import noise_std_per_band

    sigma = noise_std_per_band(cube)
    floor = torch.nan_to_num(sigma).max() * 1e-3 + torch.finfo(cube.dtype).eps * float(np.nanmax(np.abs(cube.cpu().numpy())) + 1)
    return torch.nan_to_num(sigma, nan=float(floor)).clamp_min(floor)


def robust_factorize(
    pixels: torch.Tensor, basis: torch.Tensor, n_iter: int = 10, delta: float = 1.0
) -> torch.Tensor:
    """Low-rank fit ``Z E^T`` of (n, bands) pixels with a robust (Huber-like) loss.

    Alternates per-pixel coefficients ``Z`` and per-band loadings ``E`` (starting from
    ``basis`` (bands, r)), each a batched weighted least-squares solve with iteratively
    reweighted l1 weights ``1 / max(|residual|, delta)``: residuals below ``delta`` (noise
    standard deviations, data whitened) are fitted in least squares, larger ones (impulses,
    stripes, dead lines) in l1, so a band whose pixels are mostly outliers still gets the
    loadings of its clean pixels. Returns the (n, bands) fit.

    References
    ----------
    Q. Ke and T. Kanade, "Robust L1 norm factorization in the presence of outliers and
    missing data by alternative convex programming", CVPR 2005.
    """
    loadings = basis
    coefs = pixels @ loadings
    rank = loadings.shape[1]
    ridge = 1e-6 * torch.eye(rank, dtype=pixels.dtype, device=pixels.device)
    for _ in range(int(n_iter)):
        weight = 1.0 / (pixels - coefs @ loadings.T).abs().clamp_min(delta)
        gram = torch.einsum("br,nb,bs->nrs", loadings, weight, loadings) + ridge
        rhs = torch.einsum("br,nb->nr", loadings, weight * pixels)
        coefs = _solve(gram, rhs)
        weight = 1.0 / (pixels - coefs @ loadings.T).abs().clamp_min(delta)
        gram = torch.einsum("nr,nb,ns->brs", coefs, weight, coefs) + ridge
        rhs = torch.einsum("nr,nb->br", coefs, weight * pixels)
        loadings = _solve(gram, rhs)
    return coefs @ loadings.T


def _solve(gram: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """Batched ``gram^-1 rhs`` by LU; the minimum-norm (pseudo-inverse) solution where a system is
    singular in floating point (the fixed ridge is lost beside very large values, e.g. a band of
    observation geometry in metres), instead of stopping the whole fit."""
    solution, info = torch.linalg.solve_ex(gram, rhs)
    bad = (info != 0) | ~torch.isfinite(solution).all(dim=-1)
    if bool(bad.any()):
        solution[bad] = (torch.linalg.pinv(gram[bad]) @ rhs[bad].unsqueeze(-1)).squeeze(-1)
    return solution

"""Correntropy-based robust NMF (CENMF): noisy bands are down-weighted by half-quadratic weights."""

from __future__ import annotations

import torch

from hsi.arrays import Array, positive_float
from hsi.unmix.blind import nmf_multiplicative

__all__ = ["nmf_correntropy", "correntropy_band_weights"]


def correntropy_band_weights(residual: torch.Tensor, kernel_scale: float = 1.0) -> torch.Tensor:
    """Half-quadratic weights of the correntropy loss, one per band, normalised to mean 1.

    ``w_l = exp(-||e_l||^2 / (2 sigma^2))`` with ``e_l`` the residual of band ``l`` over all
    pixels and the kernel width ``sigma^2 = kernel_scale * median_l ||e_l||^2`` (a robust,
    scale-free width: a typical band gets ``exp(-1/2)``, a band with 10x its residual energy
    gets ``exp(-5)``).

    Parameters
    ----------
    residual : (bands, n_pixels) ``X - M S``.
    kernel_scale : multiplier of the kernel width (> 0).

    Returns
    -------
    (bands,) weights, mean 1.
    """
    return _kernel_weights(residual.pow(2).sum(dim=1), kernel_scale)


def _kernel_weights(energy: torch.Tensor, kernel_scale: float) -> torch.Tensor:
    """``exp(-energy / (2 sigma^2))``, ``sigma^2 = kernel_scale * median(energy)``, mean 1."""
    sigma2 = kernel_scale * energy.median().clamp_min(1e-300)
    weights = torch.exp(-energy / (2 * sigma2))
    return weights / weights.mean().clamp_min(1e-300)


def nmf_correntropy(
    pixels: Array,
    n_endmembers: int,
    rng=None,
    *,
    kernel_scale: float = 1.0,
    sparsity: float | None = None,
    sparsity_scale: float = 0.01,
    delta: float = 2.0,
    max_iter: int = 1000,
    tol: float = 1e-6,
    device=None,
):
    """Blind unmixing robust to noisy bands by maximising a band-wise correntropy (CENMF).

    Maximises ``sum_l exp(-||x_l - m_l S||^2 / (2 sigma^2))`` over the band rows ``x_l`` of
    ``X`` (bands, n), with non-negative ``M``, sum-to-one (augmented row) and an L1/2
    sparsity term on ``S``. Half-quadratic optimisation turns this into a band-weighted
    least squares whose weights (:func:`correntropy_band_weights`) are recomputed from the
    residual every 10 iterations: bands that the low-rank mixture cannot explain (stripes,
    water vapour, dead detectors) stop steering the abundances. Starts from VCA + FCLS;
    returns the final iterate.

    Parameters
    ----------
    pixels : (n_pixels, bands) non-negative data (negative values are clamped to 0).
    n_endmembers : k.
    rng : seed / numpy Generator / torch Generator (VCA's random directions).
    kernel_scale : correntropy kernel width relative to the median band residual energy.
    sparsity, sparsity_scale : L1/2 weight, as in :func:`hsi.unmix.blind.nmf_sparse.nmf_l12`.
    delta : sum-to-one row weight relative to the RMS pixel norm.
    max_iter, tol : iteration cap and stopping tolerance (see ``nmf_l12``).
    device : torch device (default: the input's).

    Returns
    -------
    endmembers : (bands, k); abundances : (n_pixels, k). numpy for numpy input.

    References
    ----------
    Y. Wang, C. Pan, S. Xiang and F. Zhu, "Robust hyperspectral unmixing with correntropy-
    based metric", IEEE Transactions on Image Processing 24(11), 4027-4040, 2015.
    R. He, W.-S. Zheng and B.-G. Hu, "Maximum correntropy criterion for robust face
    recognition", IEEE TPAMI 33(8), 2011 (half-quadratic optimisation of correntropy).
    """
    kernel_scale = positive_float(kernel_scale, "kernel_scale")
    task = nmf_multiplicative.setup(pixels, n_endmembers, sparsity=sparsity, sparsity_scale=sparsity_scale, delta=delta,
                        max_iter=max_iter, tol=tol, device=device)
    # Before any fit, the bands' noise (regression estimate) shows the corrupted ones:
    # the same correntropy kernel on it weighs VCA's and FCLS's view of the data.
    n_pixels = task.pixels.shape[0]
    endmembers, abundances = nmf_multiplicative.noise_weighted_init(
        task.pixels, n_endmembers, rng, lambda noise: _kernel_weights(noise * n_pixels, kernel_scale))
    return nmf_multiplicative.solve(
        task, endmembers, abundances, penalty_gradient=nmf_multiplicative.l12_penalty(task.sparsity),
        band_weights=lambda residual: correntropy_band_weights(residual, kernel_scale),
    )

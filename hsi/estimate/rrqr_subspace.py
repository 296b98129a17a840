"""Low-rank reduction of a cube to a few *reduced images* by SVD and rank-revealing QR.

A hyperspectral cube ``X`` (pixels x bands) lives close to a ``k``-dimensional subspace
spanned by the rows of a basis ``W`` (``k x bands``), e.g. its leading right singular vectors.
Rank-revealing (column-pivoted) QR of ``W`` picks ``k`` well-conditioned bands ``p``; then
``X ~= X[:, p] E`` with the coefficient matrix ``E = W[:, p]^{-1} W`` (``E[:, p] = I``).
The reduced image ``A = X[:, p]`` is a set of real bands (bounded, natural-image-like
statistics), which is what the self-supervised ``dds2m`` generator models; ``E`` carries the spectra.

With noise of standard deviation ``s_b`` in band ``b`` (``Sigma = diag(s^2)``), the reduced
image is estimated from all bands by weighted least squares,
``A_obs = Y Sigma^-1 E^T (E Sigma^-1 E^T)^-1``, whose per-pixel noise covariance is
``C = (E Sigma^-1 E^T)^-1`` (``k x k``): the guidance in the reverse process uses that exact
Gaussian model instead of the per-band one.

References
----------
L. Pang, X. Rui, L. Cui, H. Wang, D. Meng, X. Cao, "HIR-Diff: unsupervised hyperspectral image
restoration via improved diffusion models", CVPR 2024 (SVD + RRQR reduced image and
coefficient matrix). M. Gu, S. C. Eisenstat, "Efficient algorithms for computing a strong
rank-revealing QR factorization", SIAM J. Sci. Comput. 17(4), 1996. L. Zhuang, J. M.
Bioucas-Dias, "Fast hyperspectral image denoising and inpainting based on low-rank and sparse
representations", IEEE JSTARS 2018 (noise-whitened subspace).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch

from hsi.errors import InputError, ParameterError


@dataclass(frozen=True)
class Subspace:
    """Band selection and coefficients of a rank-``k`` representation ``X ~= X[:, band_index] @ coefficients``.

    band_index : (k,) selected bands, in pivot order (most informative first).
    coefficients : (k, bands) float64 coefficient matrix ``E``.
    noise_std : (bands,) noise standard deviation per band used for the weighting (cube units).
    """

    band_index: np.ndarray
    coefficients: np.ndarray
    noise_std: np.ndarray

    @property
    def rank(self) -> int:
        return int(self.band_index.size)

    def reduced_noise_cov(self) -> np.ndarray:
        """``(k, k)`` per-pixel noise covariance of the weighted least-squares reduced image."""
        e = self.coefficients
        return np.linalg.inv((e / self.noise_std**2) @ e.T)

    def reduce(self, cube: torch.Tensor) -> torch.Tensor:
        """Weighted least-squares reduced image of ``cube`` ``(..., bands) -> (..., k)``."""
        e = self.coefficients
        weighted = (e / self.noise_std**2)  # E Sigma^-1, (k, bands)
        projector = weighted.T @ np.linalg.inv(weighted @ e.T)  # (bands, k)
        return cube @ torch.as_tensor(projector, dtype=cube.dtype, device=cube.device)

    def expand(self, reduced: torch.Tensor) -> torch.Tensor:
        """The cube ``(..., bands)`` represented by a reduced image ``(..., k)``."""
        return reduced @ torch.as_tensor(self.coefficients, dtype=reduced.dtype, device=reduced.device)


def rrqr_subspace(pixels: np.ndarray | torch.Tensor, rank: int, noise_std: np.ndarray | None = None) -> Subspace:
    """Fit a :class:`Subspace` of dimension ``rank`` to ``(n_pixels, bands)`` samples.

    The basis is the leading right singular vectors of the noise-whitened pixels (bands divided
    by their noise ``noise_std``), mapped back to the original band space; the bands are picked
    by ``scipy.linalg.qr(basis, pivoting=True)``.

    Parameters
    ----------
    pixels : (n_pixels, bands), finite values.
    rank : subspace dimension ``k`` (1 <= k <= bands).
    noise_std : (bands,) noise standard deviation per band; None means equal noise.

    References
    ----------
    Pang et al., CVPR 2024 (HIR-Diff); Gu & Eisenstat, SIAM J. Sci. Comput. 1996.
    """
    y = np.asarray(pixels.detach().cpu() if isinstance(pixels, torch.Tensor) else pixels, dtype=np.float64)
    if y.ndim != 2 or not np.isfinite(y).all():
        raise InputError(f"pixels must be a finite (n_pixels, bands) array; got shape {y.shape}")
    n_bands = y.shape[1]
    if not 1 <= int(rank) <= min(n_bands, y.shape[0]):
        raise ParameterError(f"rank must be in 1..{min(n_bands, y.shape[0])} (bands, pixels); got {rank}")
    rank = int(rank)
    sigma = np.ones(n_bands) if noise_std is None else np.asarray(noise_std, dtype=np.float64).reshape(-1)
    if sigma.size != n_bands or not np.all(sigma > 0):
        raise ParameterError(f"noise_std must hold {n_bands} positive values; got {sigma.size} values, min {sigma.min()}")
    whitened = y / sigma
    _, _, vt = np.linalg.svd(whitened, full_matrices=False)
    basis = vt[:rank] * sigma  # rows span the signal subspace in band space
    _, _, pivots = scipy.linalg.qr(basis, pivoting=True, mode="economic")
    selected = np.asarray(pivots[:rank])
    coefficients = np.linalg.solve(basis[:, selected], basis)
    return Subspace(band_index=selected, coefficients=coefficients, noise_std=sigma)


def select_rank(pixels: np.ndarray, noise_std: np.ndarray, max_rank: int) -> int:
    """Signal-subspace dimension by HySime on noise-whitened pixels, at least 1 and at most ``max_rank``.

    References
    ----------
    J. M. Bioucas-Dias, J. M. P. Nascimento, "Hyperspectral subspace identification", IEEE TGRS 2008.
    """
    from hsi.estimate.noise import estimate_noise_regression
    from hsi.estimate.subspace import hysime

    whitened = np.asarray(pixels, dtype=np.float64) / noise_std
    noise, noise_cov = estimate_noise_regression(whitened)
    k, _ = hysime(whitened, noise, noise_cov)
    return int(min(max(k, 1), max(int(max_rank), 1), whitened.shape[1]))


@dataclass(frozen=True)
class ChannelScaling:
    """Affine map of each reduced channel to about ``[-1, 1]``: ``z = 2 (a - low) / (high - low) - 1``.

    Channels are normalised one by one so the generator sees the same range whatever the sensor,
    units or band choice (low/high are robust percentiles of the scene's reduced image).
    """

    low: np.ndarray
    high: np.ndarray

    @classmethod
    def fit(cls, reduced: np.ndarray | torch.Tensor, percentiles: tuple[float, float] = (0.5, 99.5)) -> "ChannelScaling":
        """From samples ``(..., k)`` of the reduced image."""
        values = np.asarray(reduced.detach().cpu() if isinstance(reduced, torch.Tensor) else reduced, dtype=np.float64)
        values = values.reshape(-1, values.shape[-1])
        low, high = np.percentile(values, percentiles, axis=0)
        span = np.maximum(high - low, 1e-6 * np.maximum(np.abs(high), 1e-12))
        return cls(low=low, high=low + span)

    @property
    def gain(self) -> np.ndarray:
        """``dz / da`` per channel."""
        return 2.0 / (self.high - self.low)

    def normalise(self, reduced: torch.Tensor) -> torch.Tensor:
        low = torch.as_tensor(self.low, dtype=reduced.dtype, device=reduced.device)
        gain = torch.as_tensor(self.gain, dtype=reduced.dtype, device=reduced.device)
        return (reduced - low) * gain - 1.0

    def denormalise(self, normalised: torch.Tensor) -> torch.Tensor:
        low = torch.as_tensor(self.low, dtype=normalised.dtype, device=normalised.device)
        gain = torch.as_tensor(self.gain, dtype=normalised.dtype, device=normalised.device)
        return (normalised + 1.0) / gain + low

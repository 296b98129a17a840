"""FastHyDe's noise-whitened eigen-images, each scaled to the range a single-channel prior knows.

Whitening each band by its noise level and projecting on the orthonormal signal subspace
(:func:`hsi.restore.classical.fasthyde.subspace_stats`) gives ``k`` eigen-images whose noise
is white with unit variance, each independent of the others. Each is then centred and
scaled so that its *signal* has standard deviation ``signal_std`` (0.45: the median spread of
the prior's training images under :func:`hsi.nn.diffusion_prior.normalise`); its noise level becomes ``sigma_i = signal_std / s_i``,
with ``s_i`` the eigen-image's signal standard deviation. So every eigen-image gets its own
noise level (the leading one a tiny one, the last ones a large one), and ``k`` is whatever
the scene's subspace test gives, never rounded to a channel group.

References
----------
L. Zhuang, J. M. Bioucas-Dias, "Fast hyperspectral image denoising and inpainting based on
low-rank and sparse representations", IEEE JSTARS 11(3), 2018.
"""

from __future__ import annotations

import numpy as np
import torch

from hsi.errors import InputError, TooFewPixelsError
from hsi.restore.classical.fasthyde import SubspaceStats, subspace_stats

#: Eigen-images whose signal standard deviation (whitened units) falls below this are treated as this weak.
MIN_SIGNAL_STD = 0.05


class EigenImages:
    """Scene-wide whitening, subspace and per-eigen-image scaling; maps cubes to images and back.

    Parameters
    ----------
    k : subspace dimension; None = from the data (FastHyDe's spatial test on blocks, HySime
        on scattered pixels when the blocks hold missing values).
    signal_std : standard deviation the signal of each eigen-image is scaled to.
    max_rank : most eigen-images kept when ``k`` is None (the leading ones): bounds the work,
        since every eigen-image costs denoiser calls; None = no bound.
    """

    def __init__(self, k: int | None = None, signal_std: float = 0.45, max_rank: int | None = None):
        self.k, self.signal_std = k, float(signal_std)
        self.max_rank = None if max_rank is None else int(max_rank)
        self.stats: SubspaceStats | None = None
        self.offset: torch.Tensor | None = None  # (k,) whitened units
        self.scale: torch.Tensor | None = None  # (k,) whitened units per normalised unit

    def fit(self, blocks: np.ndarray) -> "EigenImages":
        """Statistics from ``(n, rows, cols, bands)`` blocks (non-finite values are missing)."""
        blocks = np.asarray(blocks, dtype=np.float32)
        if blocks.ndim != 4:
            raise InputError(f"blocks must be (n, rows, cols, bands); got shape {blocks.shape}")
        complete = np.isfinite(blocks).all(axis=(1, 2, 3))
        if complete.any():
            sample = torch.from_numpy(blocks[complete])
        else:  # scattered missing pixels (inpainting): the complete pixels, without their layout
            pixels = blocks.reshape(-1, blocks.shape[-1])
            sample = torch.from_numpy(pixels[np.isfinite(pixels).all(axis=1)])
        if sample.reshape(-1, blocks.shape[-1]).shape[0] <= blocks.shape[-1]:
            raise TooFewPixelsError(f"only {sample.reshape(-1, blocks.shape[-1]).shape[0]} complete pixels for "
                             f"{blocks.shape[-1]} bands: cannot fit a subspace")
        stats = subspace_stats(sample, k=self.k).to("cpu", torch.float64)
        if self.k is None and self.max_rank is not None and stats.k > self.max_rank:  # leading directions first
            stats = SubspaceStats(stats.noise_std, stats.basis[:, : self.max_rank], stats.gain)
        self.stats = stats
        coefficients = (sample.reshape(-1, sample.shape[-1]).double() / self.stats.noise_std) @ self.stats.basis
        self.offset = coefficients.mean(0)
        # Unit-variance noise: what the eigen-image varies beyond it is signal.
        signal = (coefficients.var(0) - 1).clamp_min(MIN_SIGNAL_STD ** 2).sqrt()
        self.scale = signal / self.signal_std
        return self

    @property
    def n_images(self) -> int:
        return self._fitted().k

    @property
    def n_bands(self) -> int | None:
        """Bands of the fitted scene (None before ``fit``)."""
        return None if self.stats is None else int(self.stats.basis.shape[0])

    @property
    def sigma(self) -> torch.Tensor:
        """``(k,)`` noise standard deviation of each normalised eigen-image."""
        self._fitted()
        return 1.0 / self.scale

    @property
    def noise_std(self) -> np.ndarray:
        return self._fitted().noise_std.numpy()

    def _fitted(self) -> SubspaceStats:
        if self.stats is None:
            raise InputError("call fit(blocks) before mapping tiles to eigen-images")
        return self.stats

    def to_images(self, cubes: torch.Tensor) -> torch.Tensor:
        """``(n, rows, cols, bands)`` float64 cubes -> ``(n, k, rows, cols)`` normalised eigen-images."""
        stats = self._fitted()
        coefficients = (cubes / stats.noise_std.to(cubes.device)) @ stats.basis.to(cubes.device)
        normalised = (coefficients - self.offset.to(cubes.device)) / self.scale.to(cubes.device)
        return normalised.permute(0, 3, 1, 2).contiguous()

    def to_cubes(self, images: torch.Tensor) -> torch.Tensor:
        """``(n, k, rows, cols)`` normalised eigen-images -> ``(n, rows, cols, bands)`` float64 cubes."""
        stats = self._fitted()
        device = images.device
        coefficients = images.double().permute(0, 2, 3, 1) * self.scale.to(device) + self.offset.to(device)
        return (coefficients @ stats.basis.to(device).T) * stats.noise_std.to(device)

"""Restoration methods as tile functions: statistics from the whole scene, work per tile.

The tiling engine only sees ``fn(batch) -> batch``. These adapters first ``fit`` global
statistics on a bounded sample of the scene (see :func:`hsi.tiling.sample_blocks`) so that
every tile is restored with the same noise levels and subspace: no seams from tile-wise
estimates, and results that do not depend on the tile size.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from hsi.estimate.noise import noise_std_per_band, noise_std_spectral


def map_tiles(fn: Callable[[np.ndarray], np.ndarray], batch: np.ndarray) -> np.ndarray:
    """``fn`` on each tile of ``batch``, written into one float32 array (no list + stack copy)."""
    out = None
    for i, tile in enumerate(batch):
        result = np.asarray(fn(tile), dtype=np.float32)
        if out is None:
            out = np.empty((len(batch),) + result.shape, np.float32)
        out[i] = result
    return out


def _nan_free(blocks: np.ndarray) -> np.ndarray:
    return blocks[np.isfinite(blocks).all(axis=(1, 2, 3))] if not np.isfinite(blocks).all() else blocks


class CubeMethodTiles:
    """Apply ``method(cube, noise_std=...)`` to each tile with the scene-wide noise per band.

    ``method`` is a plain cube function (usually a ``functools.partial`` from a Hydra
    config); the noise is the median over sampled blocks of the wavelet MAD estimate, or,
    when too few complete 2 x 2 pixel cells are observed for it (heavily masked scenes),
    the spectral second-difference estimate over the observed pixels.
    """

    #: Fewer complete 2 x 2 cells than this (over all blocks) switch to the spectral estimate.
    MIN_CELLS = 1000

    def __init__(self, method: Callable, pass_noise_std: bool = True):
        self.method = method
        self.pass_noise_std = pass_noise_std
        self.noise_std: np.ndarray | None = None

    def fit(self, blocks: np.ndarray) -> "CubeMethodTiles":
        finite = np.isfinite(blocks).all(axis=3)
        rows, cols = (blocks.shape[1] // 2) * 2, (blocks.shape[2] // 2) * 2
        cells = finite[:, :rows:2, :cols:2] & finite[:, 1:rows:2, :cols:2] & finite[:, :rows:2, 1:cols:2] & finite[:, 1:rows:2, 1:cols:2]
        if cells.sum() >= self.MIN_CELLS:
            per_block = np.stack([np.asarray(noise_std_per_band(b)) for b in blocks])
            self.noise_std = np.nanmedian(per_block, axis=0).astype(np.float32)
        else:
            observed = blocks.reshape(-1, blocks.shape[3])[finite.reshape(-1)]
            self.noise_std = np.asarray(noise_std_spectral(observed), dtype=np.float32)
        return self

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        options = {"noise_std": self.noise_std} if self.pass_noise_std and self.noise_std is not None else {}
        return map_tiles(lambda tile: self.method(tile, **options), batch)


class SubspaceDenoiserTiles:
    """FastHyDe with one signal subspace and noise model for the whole scene.

    References
    ----------
    L. Zhuang and J. M. Bioucas-Dias, "Fast hyperspectral image denoising and inpainting
    based on low-rank and sparse representations", IEEE JSTARS 11(3), 2018.
    """

    def __init__(self, k: int | None = None, noise_model: str = "gaussian", **denoiser_options):
        self.k, self.noise_model, self.denoiser_options = k, noise_model, denoiser_options
        self.stats = None

    @property
    def noise_std(self) -> np.ndarray | None:
        return None if self.stats is None else self.stats.noise_std.cpu().numpy()

    def fit(self, blocks: np.ndarray) -> "SubspaceDenoiserTiles":
        from hsi.restore.classical.fasthyde import subspace_stats

        self.stats = subspace_stats(torch.from_numpy(_nan_free(blocks)), k=self.k, noise_model=self.noise_model)
        return self

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        from hsi.restore.classical.fasthyde import apply

        return map_tiles(lambda tile: apply(tile, self.stats, **self.denoiser_options), batch)


class Upsample:
    """Bicubic (or bilinear / nearest) super-resolution baseline, per band."""

    def __init__(self, scale: int = 4, mode: str = "bicubic"):
        self.scale, self.mode = int(scale), mode
        self.noise_std = None

    def fit(self, blocks: np.ndarray) -> "Upsample":
        return self

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)))
        options = {} if self.mode == "nearest" else {"align_corners": False}
        y = torch.nn.functional.interpolate(x, scale_factor=self.scale, mode=self.mode, **options)
        return y.numpy().transpose(0, 2, 3, 1)

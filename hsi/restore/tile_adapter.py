"""Adapters from restoration methods to the tiling runner: statistics from the whole scene, work per tile.

The tiling engine only sees ``fn(batch) -> batch``. These adapters first ``fit`` global
statistics on a bounded sample of the scene (see :func:`hsi.tiling.sampling.sample_blocks`) so that
every tile is restored with the same noise levels and subspace: no seams from tile-wise
estimates, and results that do not depend on the tile size.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from hsi.errors import ParameterError
from hsi.estimate.noise import noise_std_from_blocks
from hsi.restore.classical.fasthyde import (apply, back_project, denoise_eigen_images, denoiser_alignment,
                                            denoiser_margin, denoiser_support, project, subspace_stats)


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
    config); the noise is estimated once from the sampled blocks
    (:func:`hsi.estimate.noise.noise_std_from_blocks`).
    """

    def __init__(self, method: Callable, pass_noise_std: bool = True):
        self.method = method
        self.pass_noise_std = pass_noise_std
        self.noise_std: np.ndarray | None = None

    def fit(self, blocks: np.ndarray) -> "CubeMethodTiles":
        self.noise_std = noise_std_from_blocks(blocks)
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
        self.stats = subspace_stats(torch.from_numpy(_nan_free(blocks)), k=self.k, noise_model=self.noise_model)
        return self

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return map_tiles(lambda tile: apply(tile, self.stats, **self.denoiser_options), batch)

    def plan(self) -> "SubspacePlan":
        """The fitted method as three streamed steps (:func:`hsi.tiling.subspace_stream.run_subspace`)."""
        if self.stats is None:
            raise ParameterError("fasthyde must be fitted on the scene (fit(blocks)) before it is planned")
        return SubspacePlan(self.stats, self.denoiser_options)


class SubspacePlan:
    """FastHyDe's steps on numpy arrays, picklable: project, denoise eigen-images, back-project.

    ``support`` and ``alignment`` say how denoising tiles must be cut for the untiled result
    (:func:`hsi.restore.classical.fasthyde.denoiser_support`); ``margin`` is the cheaper
    default margin (:func:`~hsi.restore.classical.fasthyde.denoiser_margin`). Eigen-images are denoised one
    at a time (BM3D needs about 2 kB per pixel of one image at once); with
    ``shared_groups`` they are matched jointly, so all at once.
    """

    def __init__(self, stats, denoiser_options: dict):
        self.stats, self.denoiser_options = stats, dict(denoiser_options)
        self.k = stats.k
        self.support = denoiser_support(**self.denoiser_options)
        self.margin = denoiser_margin(**self.denoiser_options)
        self.alignment = denoiser_alignment(**self.denoiser_options)

    def project(self, pixels: np.ndarray) -> np.ndarray:
        return project(torch.from_numpy(pixels), self.stats).numpy()

    def back_project(self, coefficients: np.ndarray) -> np.ndarray:
        return back_project(torch.from_numpy(coefficients), self.stats).numpy()

    def denoise(self, images: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(images))
        if self.denoiser_options.get("shared_groups"):
            return denoise_eigen_images(x, **self.denoiser_options).numpy()
        out = np.empty(x.shape, images.dtype)
        for i in range(x.shape[0]):
            out[i] = denoise_eigen_images(x[i:i + 1], **self.denoiser_options).numpy()
        return out


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


def _as_tile_method(step):
    """A step with ``fit(blocks)``; plain cube functions get the scene-wide noise wrapper."""
    if hasattr(step, "fit"):
        return step
    if not callable(step):
        raise ParameterError(f"every step must be a method object or a cube function; got {type(step).__name__}")
    return CubeMethodTiles(step)


class Sequential:
    """Run restoration steps one after the other on each batch of tiles.

    Each step is either an object with ``fit(blocks) -> self`` and ``__call__(batch) ->
    batch`` (``batch`` (n, rows, cols, bands) float32) or a plain ``f(cube, noise_std=...)``
    cube function. ``fit`` fits the first step on the sampled blocks, then each next step
    on the blocks as restored by the steps before it. ``scale`` is the product of the
    steps' scales (super-resolution steps carry one); ``noise_std`` is the first step's
    estimate.

    Example (``conf/method/fasthyde_bicubic.yaml``): subspace denoising then bicubic
    upsampling, the classical baseline for noisy super-resolution.
    """

    def __init__(self, steps: Sequence[Callable]):
        steps = list(steps)
        if not steps:
            raise ParameterError("steps must hold at least one method; got an empty list")
        self.steps = [_as_tile_method(step) for step in steps]
        self.scale = int(np.prod([int(getattr(step, "scale", 1) or 1) for step in self.steps]))

    @property
    def noise_std(self):
        return getattr(self.steps[0], "noise_std", None)

    def fit(self, blocks: np.ndarray) -> "Sequential":
        for index, step in enumerate(self.steps):
            step.fit(blocks)
            if index + 1 < len(self.steps):
                blocks = np.asarray(step(blocks), dtype=np.float32)
        return self

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        for step in self.steps:
            batch = np.asarray(step(batch), dtype=np.float32)
        return batch

"""Adapters from restoration methods to the tiling runner: statistics from the whole scene, work per tile.

The tiling engine only sees ``fn(batch) -> batch``. These adapters first ``fit`` global
statistics on a bounded sample of the scene (see :func:`hsi.tiling.sampling.sample_blocks`) so that
every tile is restored with the same noise levels and subspace: no seams from tile-wise
estimates, and results that do not depend on the tile size.
"""

from __future__ import annotations

import functools

from typing import Callable, Sequence

import numpy as np
import torch

from hsi.errors import InputError, ParameterError
from hsi.estimate.noise import noise_std_from_blocks
from hsi.restore.classical.fasthyde import back_project, project, subspace_stats
from hsi.restore.eigen_denoisers import BM3DEigenDenoiser, ScaledEigenDenoiser, SureChoiceEigenDenoiser


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


class DestripeTiles(CubeMethodTiles):
    """Destriping (:func:`hsi.restore.classical.destripe.destripe`) of each tile along the
    scene's stripe direction.

    ``angle_deg="auto"`` measures the direction on the sampled blocks
    (:func:`hsi.estimate.stripe_direction.stripe_direction`): stripes found at an angle to the
    columns (an orthorectified product's rotated track) are removed along it, anything else
    along the columns, as before; a number fixes the angle. ``options`` go to ``destripe``.
    """

    def __init__(self, angle_deg: float | str = "auto", **options):
        from hsi.restore.classical.destripe import destripe

        if angle_deg != "auto" and not isinstance(angle_deg, (int, float)):
            raise ParameterError(f"angle_deg must be 'auto' or degrees from the columns; got {angle_deg!r}")
        super().__init__(functools.partial(destripe, **options))
        self.angle_setting = angle_deg
        self.angle_deg = 0.0 if angle_deg == "auto" else float(angle_deg)

    def fit(self, blocks: np.ndarray) -> "DestripeTiles":
        super().fit(blocks)
        if self.angle_setting == "auto":
            from hsi.estimate.stripe_direction import BLOCKS_MAX_VALUES, destriping_angle

            self.angle_deg = destriping_angle(blocks, max_values=BLOCKS_MAX_VALUES)
        return self

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return map_tiles(lambda tile: self.method(tile, noise_std=self.noise_std, angle_deg=self.angle_deg), batch)


def eigen_denoiser(denoiser, model=None, device: str | None = "auto", signal_std: float = 0.45,
                   precision: str = "float32", **bm3d_options):
    """The eigen-image denoiser a config names: ``bm3d`` (with ``bm3d_options``), ``prior``
    (the diffusion prior ``model`` on ``device`` in ``precision``, scaled scene-wide to ``signal_std``), ``sure``
    (per eigen-image, BM3D or the prior, whichever has the lower SURE on the scene), an
    eigen-image denoiser object (:mod:`hsi.restore.eigen_denoisers`) or any object with
    ``denoise(images, sigma)`` (scaled like the prior)."""
    if bm3d_options and denoiser != "bm3d":
        raise ParameterError(f"{', '.join(sorted(bm3d_options))}: BM3D settings, but denoiser={denoiser!r}")
    if denoiser == "bm3d":
        return BM3DEigenDenoiser(**bm3d_options)
    if denoiser in ("prior", "sure"):
        from hsi.restore.diffusion.denoisers import PriorDenoiser

        network = PriorDenoiser(model, device)
        network.prior.set_precision(precision)
        prior = ScaledEigenDenoiser(network, signal_std=signal_std)
        return prior if denoiser == "prior" else SureChoiceEigenDenoiser({"bm3d": BM3DEigenDenoiser(), "prior": prior})
    if isinstance(denoiser, str):
        raise ParameterError(f"denoiser must be bm3d, prior, sure or a config with a _target_; got {denoiser!r}")
    if callable(getattr(denoiser, "fit", None)) and hasattr(denoiser, "margin"):
        return denoiser
    return ScaledEigenDenoiser(denoiser, signal_std=signal_std)


class SubspaceDenoiserTiles:
    """FastHyDe with one signal subspace, noise model and eigen-image denoiser for the whole scene.

    Parameters
    ----------
    k : subspace dimension; None = from the data.
    noise_model : ``gaussian`` | ``poisson_gaussian``.
    denoiser : the 2-D denoiser of the whitened eigen-images: ``bm3d`` (FastHyDe's; the extra
        keyword settings go to it), ``prior`` (the diffusion prior's one-step Tweedie estimate,
        each eigen-image scaled scene-wide to the prior's range, :class:`~hsi.restore.eigen_denoisers.ScaledEigenDenoiser`)
        ``sure`` (per eigen-image, whichever of the two has the lower SURE on the fit sample,
        :class:`~hsi.restore.eigen_denoisers.SureChoiceEigenDenoiser`) or an object (a nested
        ``_target_``), see :func:`eigen_denoiser`.
    model, device, signal_std : the prior's folder (None = the shipped one), where it runs, and
        the spread each eigen-image's signal is scaled to (``denoiser=prior``).
    precision : the prior network's arithmetic, ``float32``, ``bfloat16`` or ``auto``
        (:meth:`hsi.nn.diffusion_prior.DiffusionPrior.set_precision`; the SURE choice always runs float32).

    References
    ----------
    L. Zhuang and J. M. Bioucas-Dias, "Fast hyperspectral image denoising and inpainting
    based on low-rank and sparse representations", IEEE JSTARS 11(3), 2018.
    """

    def __init__(self, k: int | None = None, noise_model: str = "gaussian", denoiser="bm3d", model=None,
                 device: str | None = "auto", signal_std: float = 0.45, precision: str = "float32", **denoiser_options):
        self.k, self.noise_model = k, noise_model
        self.eigen = eigen_denoiser(denoiser, model, device, signal_std, precision, **denoiser_options)
        self.stats = None

    @property
    def noise_std(self) -> np.ndarray | None:
        return None if self.stats is None else self.stats.noise_std.cpu().numpy()

    def fit(self, blocks: np.ndarray) -> "SubspaceDenoiserTiles":
        sample = torch.from_numpy(_nan_free(blocks))
        self.stats = subspace_stats(sample, k=self.k, noise_model=self.noise_model)
        n, rows, cols, bands = sample.shape
        coefficients = project(sample.reshape(-1, bands), self.stats.to("cpu", sample.dtype))
        self.eigen.fit(coefficients.reshape(n, rows, cols, -1).permute(0, 3, 1, 2).contiguous())
        return self

    def denoiser_report(self) -> dict:
        """The eigen-image denoiser and, when scaled, each eigen-image's noise level (the job's report)."""
        return {"k": None if self.stats is None else self.stats.k, **self.eigen.describe()}

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return map_tiles(self._restore, batch)

    def _restore(self, tile: np.ndarray) -> np.ndarray:
        """Project, denoise the eigen-images, back-project one ``(rows, cols, bands)`` tile."""
        rows, cols, n_bands = tile.shape
        if self.stats.basis.shape[0] != n_bands:
            raise InputError(f"tile has {n_bands} bands but the statistics were fitted on {self.stats.basis.shape[0]}")
        x = torch.from_numpy(np.ascontiguousarray(tile))
        stats = self.stats.to(x.device, x.dtype)
        images = project(x.reshape(-1, n_bands), stats).T.reshape(-1, rows, cols)
        denoised = self.eigen.denoise(images.contiguous())
        return back_project(denoised.reshape(-1, rows * cols).T, stats).reshape(rows, cols, n_bands).numpy()

    def plan(self) -> "SubspacePlan":
        """The fitted method as three streamed steps (:func:`hsi.tiling.subspace_stream.run_subspace`)."""
        if self.stats is None:
            raise ParameterError("fasthyde must be fitted on the scene (fit(blocks)) before it is planned")
        return SubspacePlan(self.stats, self.eigen)


class SubspacePlan:
    """FastHyDe's steps on numpy arrays, picklable: project, denoise eigen-images, back-project.

    ``tile``, ``margin``, ``support`` and ``alignment`` are the eigen-image denoiser's
    (:mod:`hsi.restore.eigen_denoisers`): how the streamed path cuts its denoising tiles;
    :meth:`groups` says which eigen-images go to which of its denoisers, each cut its own way.
    """

    def __init__(self, stats, eigen):
        self.stats, self.eigen = stats, eigen
        self.k = stats.k
        self.tile, self.support, self.margin, self.alignment = eigen.tile, eigen.support, eigen.margin, eigen.alignment

    def project(self, pixels: np.ndarray) -> np.ndarray:
        return project(torch.from_numpy(pixels), self.stats).numpy()

    def back_project(self, coefficients: np.ndarray) -> np.ndarray:
        return back_project(torch.from_numpy(coefficients), self.stats).numpy()

    def groups(self) -> list:
        """``(index, denoiser)`` pairs: the eigen-images each denoiser restores (None: all ``k``)."""
        parts = getattr(self.eigen, "parts", None)
        return parts() if callable(parts) else [(None, self.eigen)]

    def denoise(self, images: np.ndarray, index=None) -> np.ndarray:
        """``(m, rows, cols)`` eigen-images (``index``: which of the ``k``; None = all) -> denoised."""
        return self.eigen.denoise(torch.from_numpy(np.ascontiguousarray(images)), index).numpy()


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

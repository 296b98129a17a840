"""The diffusion restorers as tile functions for the restore job: ``fit(blocks)`` then ``obj(batch)``.

``fit`` estimates, once for the whole scene, the noise per band and the subspace; ``__call__``
restores a batch of tiles in that common subspace, so every tile is treated alike and the
output has no seams from tile-wise statistics. Only final iterates are returned (no ground
truth is ever consulted to pick an iterate or a parameter).

- :class:`DiffusionRestorer` (``method=diffusion``): denoising of FastHyDe's whitened
  eigen-images (:mod:`hsi.restore.diffusion.eigen_domain`) by a posterior estimator
  (:mod:`hsi.restore.diffusion.estimators`) with any denoiser (:mod:`hsi.restore.diffusion.denoisers`).
- :class:`PnPRestorer` (``method=pnp``, ``diffusion_sr``, ``diffusion_inpaint``): plug-and-play
  HQS super-resolution and inpainting of those eigen-images (:mod:`hsi.restore.diffusion.pnp`),
  inpainting optionally warm-started (:mod:`hsi.restore.diffusion.warm_start`).
- :class:`SubspaceFit` + :class:`SubspaceRestorer`: the SVD + RRQR reduced images and the
  common tile frame, which the self-supervised ``dds2m`` also uses.

References
----------
L. Zhuang, J. M. Bioucas-Dias, "Fast hyperspectral image denoising and inpainting based on
low-rank and sparse representations", IEEE JSTARS 2018. K. Zhang et al., "Plug-and-play image
restoration with deep denoiser prior", IEEE TPAMI 2022. L. Pang et al., "HIR-Diff", CVPR 2024.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hsi.arrays import as_bool_tensor, as_tensor, like_input
from hsi.errors import InputError, ParameterError, TooFewPixelsError
from hsi.estimate.noise import noise_std_from_blocks
from hsi.estimate.rrqr_subspace import ChannelScaling, Subspace, rrqr_subspace, select_rank
from hsi.restore.diffusion.denoisers import make_denoiser, resolve_device
from hsi.restore.diffusion.eigen_domain import EigenImages
from hsi.restore.diffusion.estimators import ESTIMATORS, posterior_mean, posterior_sample, tweedie
from hsi.restore.diffusion.guidance import BlurDecimation, ChannelNoise, Denoising, Inpainting
from hsi.restore.diffusion.pnp import hqs

TASKS = ("denoise", "destripe", "inpaint", "sr")
FIT_PIXELS = 100_000


def scene_noise_std(blocks: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """Noise standard deviation per band (:func:`hsi.estimate.noise.noise_std_from_blocks`), float64.

    Floored at 1e-3 of the largest observed magnitude: the guidance divides by it.
    """
    estimate = noise_std_from_blocks(blocks)
    floor = 1e-3 * max(float(np.nanmax(np.abs(pixels))), 1e-12)
    return np.maximum(estimate, floor).astype(np.float64)


class SubspaceFit:
    """Scene-wide statistics: noise per band, subspace, channel scaling; fitted on sampled blocks."""

    def __init__(self, rank: int | None, max_rank: int, noise_std=None, seed: int = 0):
        self.rank, self.max_rank, self.known_noise_std = rank, max_rank, noise_std
        self.seed = int(seed)
        self.noise_std: np.ndarray | None = None
        self.subspace: Subspace | None = None
        self.scaling: ChannelScaling | None = None

    @property
    def n_bands(self) -> int | None:
        """Bands of the fitted scene (None before ``fit``)."""
        return None if self.subspace is None else int(self.subspace.coefficients.shape[1])

    def fit(self, blocks: np.ndarray) -> "SubspaceFit":
        rng = np.random.default_rng(self.seed)
        blocks = np.asarray(blocks, dtype=np.float32)
        if blocks.ndim != 4:
            raise InputError(f"blocks must be (n, rows, cols, bands); got shape {blocks.shape}")
        pixels = blocks.reshape(-1, blocks.shape[-1])
        pixels = pixels[np.isfinite(pixels).all(axis=1)]
        if pixels.shape[0] <= blocks.shape[-1]:
            raise TooFewPixelsError(f"only {pixels.shape[0]} complete pixels for {blocks.shape[-1]} bands: cannot fit a subspace")
        if pixels.shape[0] > FIT_PIXELS:
            pixels = pixels[rng.choice(pixels.shape[0], FIT_PIXELS, replace=False)]
        if self.known_noise_std is not None:
            self.noise_std = np.broadcast_to(np.asarray(self.known_noise_std, np.float64), (blocks.shape[-1],)).copy()
        else:
            self.noise_std = scene_noise_std(blocks, pixels)
        rank = self.rank or select_rank(pixels, self.noise_std, self.max_rank)
        self.subspace = rrqr_subspace(pixels, rank, self.noise_std)
        self.scaling = ChannelScaling.fit(self.subspace.reduce(torch.from_numpy(pixels.astype(np.float64))))
        return self

    def normalised_noise(self) -> ChannelNoise:
        gain = self.scaling.gain
        return ChannelNoise(self.subspace.reduced_noise_cov() * np.outer(gain, gain))

    def to_images(self, batch: torch.Tensor) -> torch.Tensor:
        """``(n, rows, cols, bands)`` cubes -> ``(n, k, rows, cols)`` normalised reduced images."""
        return self.scaling.normalise(self.subspace.reduce(batch)).permute(0, 3, 1, 2).contiguous()

    def to_cubes(self, images: torch.Tensor) -> torch.Tensor:
        return self.subspace.expand(self.scaling.denormalise(images.permute(0, 2, 3, 1)))


class SubspaceRestorer:
    """Common frame of the subspace restorers: scene-wide ``fit``, tile batches through ``__call__``.

    Subclasses set ``self.stats`` (:class:`SubspaceFit` or
    :class:`~hsi.restore.diffusion.eigen_domain.EigenImages`), ``task``, ``scale``, ``blur_sigma``,
    ``nyquist_gain``, ``seed``, ``device`` and implement :meth:`restore_images` on normalised
    reduced images.
    """

    task: str
    scale: int
    stats: SubspaceFit

    def _common(self, task: str, scale: int, blur_sigma, nyquist_gain: float, seed: int, device) -> None:
        if task not in TASKS:
            raise ParameterError(f"task must be one of {TASKS}; got {task!r}")
        if task == "sr" and (int(scale) != scale or int(scale) < 2):
            raise ParameterError(f"scale must be an integer >= 2 for task='sr'; got {scale}")
        self.task, self.scale = task, int(scale) if task == "sr" else 1
        self.device = resolve_device(device)
        self.blur_sigma = None if blur_sigma is None else float(blur_sigma)
        self.nyquist_gain, self.seed = float(nyquist_gain), int(seed)

    @property
    def noise_std(self) -> np.ndarray | None:
        """``(bands,)`` noise standard deviation per band used (estimated or given), after ``fit``."""
        return self.stats.noise_std

    def fit(self, blocks: np.ndarray) -> "SubspaceRestorer":
        """Scene-wide noise per band, subspace and scaling from ``(n, rows, cols, bands)`` blocks."""
        self.stats.fit(blocks)
        return self

    def observation(self, mask: torch.Tensor | None):
        """The observation model of the task (``mask`` ``(n, 1, rows, cols)`` True where observed)."""
        if self.task == "sr":
            return BlurDecimation(self.scale, blur_sigma=self.blur_sigma, nyquist_gain=self.nyquist_gain)
        if mask is not None:
            return Inpainting(mask)
        return Denoising()

    def restore_images(self, observation, images: torch.Tensor, generator: torch.Generator,
                       start: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        raise NotImplementedError

    def start_for(self, cubes: torch.Tensor, observed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(images, levels)`` to start from for ``(n, rows, cols, bands)`` tiles (missing as 0), or None."""
        return None

    def __call__(self, batch: np.ndarray | torch.Tensor, mask: np.ndarray | torch.Tensor | None = None):
        """Restore ``(n, rows, cols, bands)`` tiles -> ``(n, rows * scale, cols * scale, bands)`` (same kind).

        Pixels with a non-finite value (NaN nodata) are missing and filled (all tasks but ``sr``);
        ``mask`` ``(n, rows, cols)``, True where observed, marks more. The output is finite.
        """
        n_bands = self.stats.n_bands
        if n_bands is None:
            raise ParameterError("call fit(blocks) before restoring tiles")
        cubes = as_tensor(batch, name="batch", dtype=torch.float64, device=self.device)
        if cubes.ndim != 4 or cubes.shape[-1] != n_bands:
            raise InputError(f"batch must be (n, rows, cols, {n_bands}); got {tuple(cubes.shape)}")
        observed = torch.isfinite(cubes).all(dim=-1)
        if mask is not None:
            observed = observed & as_bool_tensor(mask, self.device)
        cubes = torch.where(torch.isfinite(cubes), cubes, torch.zeros((), dtype=cubes.dtype, device=cubes.device))
        pixel_mask = None if bool(observed.all()) or self.task == "sr" else observed[:, None]
        images = self.stats.to_images(cubes).float()
        if pixel_mask is not None:
            images = images * pixel_mask
        generator = torch.Generator(device=self.device).manual_seed(self.seed)
        start = None if pixel_mask is None else self.start_for(cubes, observed)
        restored = self.restore_images(self.observation(pixel_mask), images, generator, start)
        result = self.stats.to_cubes(restored.double()).float()
        return like_input(result, batch)


class DiffusionRestorer(SubspaceRestorer):
    """Denoising of FastHyDe's whitened eigen-images by a posterior estimator (``method=diffusion``).

    Each eigen-image is scaled to the prior's range with its own noise level
    (:class:`~hsi.restore.diffusion.eigen_domain.EigenImages`), then estimated on its own.

    Parameters
    ----------
    denoiser : ``prior`` (the single-channel diffusion prior, ``model``), ``bm3d``, or a
        denoiser object (a nested ``_target_`` in the config).
    model : the prior's folder or file; None = the shipped ``models/hsi-prior-1ch``.
    estimator : ``tweedie`` (one denoiser call at the matched level), ``mean`` (average of
        ``samples`` reverse-diffusion samples started at the matched level) or ``sample``
        (one such sample).
    samples : samples averaged by ``estimator=mean``.
    n_steps, final_ratio, stochasticity, guidance_weight : the sampler's settings
        (:func:`hsi.restore.diffusion.estimators.posterior_sample`).
    k : subspace dimension; None = FastHyDe's (from the data).
    signal_std : spread each eigen-image's signal is scaled to (the prior's range).
    task : ``denoise`` | ``destripe`` (treated as denoising).
    seed : seeds the samplers (each call restarts from it, so tiles are reproducible).
    device : ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
    """

    def __init__(self, denoiser="prior", model: str | Path | None = None, estimator: str = "tweedie",
                 samples: int = 8, n_steps: int = 10, final_ratio: float = 0.05, stochasticity: float = 1.0,
                 guidance_weight: float = 0.0, k: int | None = None, signal_std: float = 0.45,
                 task: str = "denoise", seed: int = 0, device: str | None = "auto"):
        if task not in ("denoise", "destripe"):
            raise ParameterError(f"method diffusion denoises (task denoise or destripe); got task={task!r}: "
                                 "use diffusion_sr, diffusion_inpaint or pnp")
        if estimator not in ESTIMATORS:
            raise ParameterError(f"estimator must be one of {', '.join(ESTIMATORS)}; got {estimator!r}")
        self._common(task, 1, None, 0.3, seed, device)
        self.denoiser = make_denoiser(denoiser, model, device)
        self.estimator, self.samples = estimator, int(samples)
        self.sampler = dict(n_steps=int(n_steps), final_ratio=float(final_ratio), stochasticity=float(stochasticity),
                            guidance_weight=float(guidance_weight))
        self.stats = EigenImages(k, signal_std)

    def restore_images(self, observation, images: torch.Tensor, generator: torch.Generator, start=None) -> torch.Tensor:
        if isinstance(observation, Inpainting):  # nodata pixels: filled from their neighbours first
            images = observation.initial(images)
        sigma = self.stats.sigma.to(images.device, images.dtype)
        if self.estimator == "tweedie":
            return tweedie(self.denoiser, images, sigma)
        if self.estimator == "sample":
            return posterior_sample(self.denoiser, images, sigma, generator=generator, **self.sampler)
        return posterior_mean(self.denoiser, images, sigma, samples=self.samples, generator=generator, **self.sampler)


class PnPRestorer(SubspaceRestorer):
    """Plug-and-play HQS super-resolution or inpainting of whitened eigen-images with any denoiser.

    The subspace comes from the observation itself: for ``sr`` the low-resolution cube's
    (blur + decimation act on each band alike, so they commute with the spectral projection),
    for ``inpaint`` the observed pixels'. Each eigen-image is restored on its own by
    :func:`hsi.restore.diffusion.pnp.hqs`, the denoiser's level falling from ``start_sigma`` to
    the eigen-image's own noise level.

    Parameters
    ----------
    task : ``sr`` or ``inpaint`` (NaN pixels, or the ``mask`` argument, are missing).
    tasks : the tasks this configuration may be built for (``task`` must be one of them).
    denoiser, model, device : as :class:`DiffusionRestorer`.
    scale : super-resolution factor (``sr``).
    blur_sigma : Gaussian PSF in high-resolution pixels; None = the sensor MTF with
        ``nyquist_gain`` (:func:`hsi.degrade.mtf.degrade_resolution`).
    nyquist_gain : MTF gain at the low-resolution Nyquist frequency.
    iterations, start_sigma, prior_weight, min_sigma, level_ratio, final_data_step : HQS settings
        (:func:`hsi.restore.diffusion.pnp.hqs`).
    warm_start : inpainting: None (start from a neighbour fill at ``start_sigma``), or an object
        that gives each tile a complete start and per-eigen-image first levels
        (:class:`~hsi.restore.diffusion.warm_start.HoldOutWarmStart`; a nested ``_target_``);
        those levels are capped at ``start_sigma``.
    cg_iterations : conjugate-gradient iterations of each super-resolution data step.
    k, signal_std : as :class:`DiffusionRestorer`.
    max_rank : most eigen-images restored when ``k`` is None (the leading ones; each costs
        ``iterations`` denoiser calls).
    seed : unused by HQS itself (deterministic); kept for the common frame.
    """

    def __init__(self, task: str = "sr", tasks=("sr", "inpaint"), denoiser="prior", model: str | Path | None = None,
                 scale: int = 4, blur_sigma: float | None = None, nyquist_gain: float = 0.3, iterations: int = 8,
                 start_sigma: float = 0.4, prior_weight: float = 1.0, min_sigma: float = 0.0, cg_iterations: int = 8,
                 level_ratio: float | None = None, final_data_step: bool = False, warm_start=None,
                 k: int | None = None,
                 max_rank: int | None = None, signal_std: float = 0.45, seed: int = 0, device: str | None = "auto"):
        allowed = tuple(tasks)
        if task not in allowed or task not in ("sr", "inpaint"):
            raise ParameterError(f"plug-and-play restoration does task sr or inpaint (this config: {', '.join(allowed)}); got task={task!r}")
        self._common(task, scale, blur_sigma, nyquist_gain, seed, device)
        self.denoiser = make_denoiser(denoiser, model, device)
        if warm_start is not None and not callable(warm_start):
            raise ParameterError(f"warm_start must be None or callable (cubes, observed, to_images); got {type(warm_start).__name__}")
        self.options = dict(iterations=int(iterations), start_sigma=float(start_sigma), prior_weight=float(prior_weight),
                            min_sigma=float(min_sigma), level_ratio=None if level_ratio is None else float(level_ratio),
                            final_data_step=bool(final_data_step))
        self.starter = warm_start
        self.cg_iterations = int(cg_iterations)
        self.stats = EigenImages(k, signal_std, max_rank)

    def observation(self, mask: torch.Tensor | None):
        if self.task == "sr":
            return BlurDecimation(self.scale, blur_sigma=self.blur_sigma, nyquist_gain=self.nyquist_gain,
                                  cg_iterations=self.cg_iterations)
        return super().observation(mask)

    def start_for(self, cubes: torch.Tensor, observed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        if self.starter is None or self.task != "inpaint":
            return None
        return self.starter(cubes, observed, self.stats.to_images)

    def restore_images(self, observation, images: torch.Tensor, generator: torch.Generator, start=None) -> torch.Tensor:
        if isinstance(observation, Denoising):  # inpainting a tile with nothing missing: a mask of ones
            observation = Inpainting(torch.ones_like(images[:, :1], dtype=torch.bool))
        sigma = self.stats.sigma.to(images.device, images.dtype)
        options = dict(self.options)
        if start is None:
            return hqs(self.denoiser, observation, images, sigma, **options)
        initial, levels = start  # (n, k, rows, cols), (n, k): each tile runs on its own levels
        ceiling = options.pop("start_sigma")
        return torch.cat([
            hqs(self.denoiser, Inpainting(observation.mask[i : i + 1]), images[i : i + 1], sigma,
                initial=initial[i : i + 1].to(images.dtype),
                start_sigma=levels[i].to(images.dtype).clamp(max=ceiling).clamp_min(1e-6), **options)
            for i in range(images.shape[0])])

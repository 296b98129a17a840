"""Diffusion restoration as a tile function for the restore job: ``fit(blocks)`` then ``obj(batch)``.

``fit`` estimates, once for the whole scene, the noise per band, the subspace (SVD + RRQR)
and the normalisation of the reduced images; ``__call__`` restores a batch of tiles in that
common subspace, so every tile is treated alike and the output has no seams from tile-wise
statistics. Only the final iterate of the reverse process is returned (no ground truth is
ever consulted to pick an iterate or a parameter).

References
----------
L. Pang et al., "HIR-Diff: unsupervised hyperspectral image restoration via improved diffusion
models", CVPR 2024. Y. Zhu et al., "Denoising diffusion models for plug-and-play image
restoration", CVPR Workshops 2023. L. Zhuang, J. M. Bioucas-Dias, "Fast hyperspectral image
denoising and inpainting based on low-rank and sparse representations", IEEE JSTARS 2018.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hsi.arrays import as_bool_tensor, as_tensor, like_input
from hsi.errors import InputError, ParameterError
from hsi.estimate.noise import noise_std_from_blocks
from hsi.estimate.rrqr_subspace import ChannelScaling, Subspace, rrqr_subspace, select_rank
from hsi.restore.diffusion.guidance import BlurDecimation, ChannelNoise, Denoising, Inpainting
from hsi.settings import MODELS_DIR

DEFAULT_MODEL = MODELS_DIR / "hsi-diffusion-prior-small"
TASKS = ("denoise", "destripe", "inpaint", "sr")
FIT_PIXELS = 100_000


def resolve_device(device: str | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def scene_noise_std(blocks: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """Noise standard deviation per band (:func:`hsi.estimate.noise.noise_std_from_blocks`), float64.

    Floored at 1e-3 of the largest observed magnitude: the guidance divides by it.
    """
    estimate = noise_std_from_blocks(blocks)
    floor = 1e-3 * max(float(np.nanmax(np.abs(pixels))), 1e-12)
    return np.maximum(estimate, floor).astype(np.float64)


class SubspaceFit:
    """Scene-wide statistics: noise per band, subspace, channel scaling; fitted on sampled blocks."""

    def __init__(self, rank: int | None, multiple: int, max_rank: int, noise_std=None):
        self.rank, self.multiple, self.max_rank, self.known_noise_std = rank, multiple, max_rank, noise_std
        self.noise_std: np.ndarray | None = None
        self.subspace: Subspace | None = None
        self.scaling: ChannelScaling | None = None

    def fit(self, blocks: np.ndarray, rng: np.random.Generator) -> "SubspaceFit":
        blocks = np.asarray(blocks, dtype=np.float32)
        if blocks.ndim != 4:
            raise InputError(f"blocks must be (n, rows, cols, bands); got shape {blocks.shape}")
        pixels = blocks.reshape(-1, blocks.shape[-1])
        pixels = pixels[np.isfinite(pixels).all(axis=1)]
        if pixels.shape[0] <= blocks.shape[-1]:
            raise InputError(f"only {pixels.shape[0]} complete pixels for {blocks.shape[-1]} bands: cannot fit a subspace")
        if pixels.shape[0] > FIT_PIXELS:
            pixels = pixels[rng.choice(pixels.shape[0], FIT_PIXELS, replace=False)]
        if self.known_noise_std is not None:
            self.noise_std = np.broadcast_to(np.asarray(self.known_noise_std, np.float64), (blocks.shape[-1],)).copy()
        else:
            self.noise_std = scene_noise_std(blocks, pixels)
        rank = self.rank or select_rank(pixels, self.noise_std, self.multiple, self.max_rank)
        if rank % self.multiple:
            raise ParameterError(f"rank must be a multiple of the prior's {self.multiple} channels; got {rank}")
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

    Subclasses set ``self.stats`` (:class:`SubspaceFit`), ``task``, ``scale``, ``blur_sigma``,
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
        self.stats.fit(blocks, np.random.default_rng(self.seed))
        return self

    def observation(self, mask: torch.Tensor | None):
        """The observation model of the task (``mask`` ``(n, 1, rows, cols)`` True where observed)."""
        if self.task == "sr":
            return BlurDecimation(self.scale, blur_sigma=self.blur_sigma, nyquist_gain=self.nyquist_gain)
        if mask is not None:
            return Inpainting(mask)
        return Denoising()

    def restore_images(self, observation, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, batch: np.ndarray | torch.Tensor, mask: np.ndarray | torch.Tensor | None = None):
        """Restore ``(n, rows, cols, bands)`` tiles -> ``(n, rows * scale, cols * scale, bands)`` (same kind).

        Pixels with a non-finite value (NaN nodata) are missing and filled (all tasks but ``sr``);
        ``mask`` ``(n, rows, cols)``, True where observed, marks more. The output is finite.
        """
        if self.stats.subspace is None:
            raise ParameterError("call fit(blocks) before restoring tiles")
        cubes = as_tensor(batch, name="batch", dtype=torch.float64, device=self.device)
        n_bands = self.stats.subspace.coefficients.shape[1]
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
        restored = self.restore_images(self.observation(pixel_mask), images, generator)
        result = self.stats.to_cubes(restored.double()).float()
        return like_input(result, batch)


class DiffusionRestorer(SubspaceRestorer):
    """Guided diffusion restoration of tiles with a trained subspace-image prior.

    Parameters
    ----------
    model : the prior: a path (folder, or ``<name>.json``/``<name>.safetensors``), a loaded
        :class:`~hsi.nn.diffusion_prior.DiffusionPrior`, or None = the shipped
        ``models/hsi-diffusion-prior-small``.
    task : ``denoise`` | ``destripe`` (treated as denoising) | ``inpaint`` (NaN pixels, or the
        ``mask`` argument, are missing) | ``sr`` (noisy super-resolution by ``scale``).
    scale : super-resolution factor (``sr`` only).
    blur_sigma : Gaussian PSF of the blur before decimation, in high-resolution pixels (``sr``);
        None uses the sensor MTF with ``nyquist_gain`` instead.
    nyquist_gain : MTF gain at the low-resolution Nyquist when ``blur_sigma`` is None (0.3 = generic sensor).
    rank : subspace dimension (a multiple of the prior's channels); None = HySime, rounded up.
    max_rank : upper bound of the automatic rank.
    noise_std : known noise standard deviation (scalar or per band, cube units); None = estimated.
    n_steps, schedule, guidance_weight, stochasticity, start_relative, start_noise_min, tv_weight:
        see :class:`hsi.restore.diffusion.sampler.SamplerSettings`.
    sr_start_noise, inpaint_start_noise : start levels (normalised units) when the initial
        guess is blurry (``sr``) or filled-in (``inpaint``).
    seed : seeds the sampler (each call restarts from it, so tiles are restored reproducibly).
    device : ``auto`` (CUDA when available), ``cpu`` or ``cuda``.

    Raises
    ------
    InputError : the prior is missing or its weights fail the checksum.
    """

    def __init__(self, model: str | Path | None = None, task: str = "denoise", scale: int = 4,
                 blur_sigma: float | None = None, nyquist_gain: float = 0.3, rank: int | None = None,
                 max_rank: int = 9, noise_std=None, n_steps: int = 20, schedule: str = "exponential",
                 guidance_weight: float = 1.0, stochasticity: float = 0.5, start_relative: float = 2.0,
                 start_noise_min: float = 0.1, tv_weight: float = 0.0, sr_start_noise: float = 0.15,
                 inpaint_start_noise: float = 0.15, seed: int = 0, device: str | None = "auto"):
        from hsi.nn.diffusion_prior import load_prior
        from hsi.restore.diffusion.sampler import SamplerSettings

        self._common(task, scale, blur_sigma, nyquist_gain, seed, device)
        self.settings = SamplerSettings(n_steps=int(n_steps), schedule=schedule, guidance_weight=float(guidance_weight),
                                        stochasticity=float(stochasticity), start_relative=float(start_relative),
                                        start_noise_min=float(start_noise_min), tv_weight=float(tv_weight))
        self.settings.check()
        if isinstance(model, torch.nn.Module):
            self.prior = model.to(self.device)
        else:
            self.prior = load_prior(DEFAULT_MODEL if model in (None, "") else Path(str(model)), device=self.device)
        self.start_noise = {"sr": float(sr_start_noise), "inpaint": float(inpaint_start_noise)}.get(task)
        self.stats = SubspaceFit(rank, self.prior.channels, int(max_rank), noise_std)

    def restore_images(self, observation, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        from hsi.restore.diffusion.sampler import guided_ddim

        start = self.start_noise if isinstance(observation, (BlurDecimation, Inpainting)) else None
        return guided_ddim(self.prior, observation, images, self.stats.normalised_noise(), self.settings,
                           generator=generator, start_noise=start)

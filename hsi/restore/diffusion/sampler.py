"""Guided DDIM sampling: the reverse diffusion process with a data-consistency step at each timestep.

Each step (Zhu et al. 2023, the plug-and-play form of DDRM's projection):

1. the prior predicts the clean image ``x0_hat = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)``;
2. a proximal step pulls ``x0_hat`` towards the data, with the prior's weight
   ``rho_t = guidance_weight / sigma_t^2`` (``sigma_t^2 = (1 - a_t) / a_t``): loose at high noise,
   tight at low noise (:mod:`hsi.restore.diffusion.guidance`);
3. DDIM moves to the next timestep from the corrected ``x0``, re-using the implied noise
   direction and adding fresh noise in proportion ``stochasticity`` (0: deterministic DDIM).

The result is the **final iterate** (the corrected ``x0`` of the last step). No iterate and no
parameter is chosen by comparing with a clean reference: hsi never looks at ground truth.
Given the same ``generator`` state, the result is bit-for-bit repeatable on one device.

References
----------
J. Song, C. Meng, S. Ermon, "Denoising diffusion implicit models", ICLR 2021. B. Kawar, M. Elad,
S. Ermon, J. Song, "Denoising diffusion restoration models", NeurIPS 2022. Y. Zhu et al.,
"Denoising diffusion models for plug-and-play image restoration", CVPR Workshops 2023.
L. Pang et al., "HIR-Diff", CVPR 2024.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hsi.errors import ParameterError
from hsi.restore.diffusion.guidance import ChannelNoise, tv_gradient
from hsi.restore.diffusion.schedules import noise_levels, start_timestep, timesteps


@dataclass
class SamplerSettings:
    """Knobs of :func:`guided_ddim` (defaults chosen on generated scenes, never on benchmark ground truth).

    n_steps : reverse steps (10-50).
    schedule : ``exponential`` | ``uniform`` timestep spacing.
    start_noise : noise level ``sigma_t`` the reverse process starts from, in multiples of the
        observation's noise rms (``start_relative``) and at least ``start_noise_min`` (normalised units).
    guidance_weight : the prior's precision is ``guidance_weight / sigma_t^2`` in the proximal step.
    stochasticity : share of fresh noise in each DDIM move (0 deterministic, 1 DDPM-like).
    clip : the prior's clean estimate is clipped to ``[-clip, clip]`` (images normalised to about [-1, 1]).
    tv_weight : step of one smoothed total-variation descent applied to the prior's estimate
        before the data step, scaled by ``sigma_t`` (HIR-Diff's TV guidance; 0 = off).
    """

    n_steps: int = 20
    schedule: str = "exponential"
    start_relative: float = 2.0
    start_noise_min: float = 0.1
    guidance_weight: float = 1.0
    stochasticity: float = 0.5
    clip: float = 2.0
    tv_weight: float = 0.0

    def check(self) -> None:
        if not 1 <= int(self.n_steps) <= 1000:
            raise ParameterError(f"n_steps must be in 1..1000; got {self.n_steps}")
        if not 0.0 <= float(self.stochasticity) <= 1.0:
            raise ParameterError(f"stochasticity must be in [0, 1]; got {self.stochasticity}")
        if not float(self.guidance_weight) > 0 or not float(self.start_relative) > 0:
            raise ParameterError(f"guidance_weight and start_relative must be > 0; got "
                                 f"{self.guidance_weight}, {self.start_relative}")
        if not float(self.tv_weight) >= 0:
            raise ParameterError(f"tv_weight must be >= 0; got {self.tv_weight}")


def _grouped(prior, images: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``(n, g * c, h, w) -> (n * g, c, h, w)`` for a prior of ``c`` channels."""
    c = prior.channels
    n, k, h, w = images.shape
    if k % c:
        raise ParameterError(f"the subspace rank ({k}) must be a multiple of the prior's {c} channels")
    return images.reshape(n * (k // c), c, h, w), n


def _predict_clean(prior, x: torch.Tensor, t: int) -> torch.Tensor:
    grouped, n = _grouped(prior, x)
    with torch.no_grad():
        clean, _ = prior.predict_clean(grouped, t)
    return clean.reshape(n, -1, *clean.shape[-2:])


def guided_ddim(
    prior,
    observation,
    observed: torch.Tensor,
    noise: ChannelNoise,
    settings: SamplerSettings | None = None,
    generator: torch.Generator | None = None,
    start_noise: float | None = None,
) -> torch.Tensor:
    """Restore normalised subspace images from an observation by guided reverse diffusion.

    Parameters
    ----------
    prior : a :class:`hsi.nn.diffusion_prior.DiffusionPrior` (``c`` channels).
    observation : an observation model from :mod:`hsi.restore.diffusion.guidance`.
    observed : ``(n, k, rows_obs, cols_obs)`` normalised observation, ``k`` a multiple of ``c``.
    noise : the observation noise across the ``k`` channels.
    settings : :class:`SamplerSettings`.
    generator : source of the initial and per-step noise (on the tensors' device).
    start_noise : overrides the start level (normalised units), e.g. larger for super-resolution.

    Returns
    -------
    ``(n, k, rows, cols)`` restored normalised images on the output grid, the final iterate.
    """
    settings = settings or SamplerSettings()
    settings.check()
    device, dtype = observed.device, observed.dtype
    alphas = prior.alphas_cumprod.to(device=device, dtype=torch.float64)
    sigmas = noise_levels(alphas)
    level = start_noise if start_noise is not None else max(settings.start_relative * noise.rms, settings.start_noise_min)
    steps = timesteps(start_timestep(alphas, level), settings.n_steps, settings.schedule)
    white_observed = noise.rotate(observed)
    variance = noise.variance_tensor(observed)

    def randn(shape):
        return torch.randn(shape, generator=generator, device=device, dtype=dtype)

    start = observation.initial(observed)
    a0 = alphas[int(steps[0])]
    x = a0.sqrt().to(dtype) * start + (1 - a0).sqrt().to(dtype) * randn(start.shape)
    clean = start
    for i, t in enumerate(steps):
        t = int(t)
        estimate = _predict_clean(prior, x, t).clamp(-settings.clip, settings.clip)
        if settings.tv_weight > 0:
            estimate = estimate - settings.tv_weight * min(float(sigmas[t]), 1.0) * tv_gradient(estimate)
        rho = settings.guidance_weight / float(sigmas[t]) ** 2
        clean = noise.unrotate(observation.proximal(noise.rotate(estimate), white_observed, variance, rho))
        if i + 1 == len(steps):
            break
        a_t, a_next = alphas[t].to(dtype), alphas[int(steps[i + 1])].to(dtype)
        direction = (x - a_t.sqrt() * clean) / (1 - a_t).sqrt()
        zeta = float(settings.stochasticity)
        x = a_next.sqrt() * clean + (1 - a_next).sqrt() * (np.sqrt(1 - zeta) * direction + np.sqrt(zeta) * randn(x.shape))
    return clean


def sample_prior(prior, shape: tuple[int, int, int, int], n_steps: int = 50,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Unconditional DDIM samples ``(n, c, rows, cols)`` from the prior (diffusers ``DDIMScheduler``)."""
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler.from_config(prior.scheduler.config)
    scheduler.set_timesteps(int(n_steps))
    device = prior.alphas_cumprod.device
    x = torch.randn(shape, generator=generator, device=device)
    for t in scheduler.timesteps:
        with torch.no_grad():
            eps = prior.predict_noise(x, int(t))
        x = scheduler.step(eps, t, x, eta=0.0).prev_sample
    return x

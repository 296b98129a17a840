"""Posterior estimators for denoising images with a denoiser: Tweedie, one posterior sample, mean of samples.

All three see the noisy images ``y = x + sigma * n`` (``sigma`` known per image) and a
denoiser ``D(z, s)`` (:mod:`hsi.restore.diffusion.denoisers`), in the variance-exploding form
of diffusion (Karras et al. 2022): the state at noise level ``s`` is ``z = x + s * n``, and a
diffusion prior's ``D(z, s)`` is its posterior mean ``E[x | z]`` (Tweedie's formula).

- :func:`tweedie`: ``D(y, sigma)``, the posterior mean in one step, since ``y`` *is* the
  diffusion state at the matched level ``s = sigma`` (Kadkhodaie & Simoncelli 2021).
- :func:`posterior_sample`: ancestral reverse diffusion started at that matched state,
  ``z = y`` at ``s = sigma``, down a geometric ladder of levels to ``final_ratio * sigma``;
  with an exact prior this draws from ``p(x | y)`` with no guidance at all. ``guidance_weight``
  > 0 adds a proximal pull of each clean estimate towards ``y`` (DiffPIR's data step), which
  keeps an imperfect prior from drifting. The result is the last clean estimate.
- :func:`posterior_mean`: the average of ``samples`` such samples (final iterates only): the
  Monte-Carlo posterior mean, which has a lower mean squared error than any single sample.

Nothing here looks at a clean reference.

References
----------
T. Karras, M. Aittala, T. Aila, S. Laine, "Elucidating the design space of diffusion-based
generative models", NeurIPS 2022. Z. Kadkhodaie, E. P. Simoncelli, "Stochastic solutions for
linear inverse problems using the prior implicit in a denoiser", NeurIPS 2021. B. Efron,
"Tweedie's formula and selection bias", JASA 2011. Y. Zhu et al., "Denoising diffusion models
for plug-and-play image restoration", CVPR Workshops 2023 (DiffPIR).
"""

from __future__ import annotations

import numpy as np
import torch

from hsi.errors import ParameterError
from hsi.restore.diffusion.denoisers import Denoiser

ESTIMATORS = ("tweedie", "sample", "mean")


def _per_channel(sigma: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """``(k,)`` levels -> ``(n * k,)``, matching ``images (n, k, rows, cols)`` flattened."""
    return sigma.to(images.dtype).to(images.device).repeat(images.shape[0])


def _denoise(denoiser: Denoiser, images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``D`` on ``(n, k, rows, cols)`` images with ``(n, k)`` levels, each image on its own."""
    n, k, rows, cols = images.shape
    return denoiser.denoise(images.reshape(n * k, rows, cols), sigma.reshape(n * k)).reshape(n, k, rows, cols)


def tweedie(denoiser: Denoiser, images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """One-step posterior mean ``D(y, sigma)`` of ``(n, k, rows, cols)`` images, ``sigma`` ``(k,)``."""
    return _denoise(denoiser, images, _per_channel(sigma, images).reshape(images.shape[:2]))


def noise_ladder(sigma: torch.Tensor, n_steps: int, final_ratio: float) -> torch.Tensor:
    """``(n_steps, k)`` levels, geometric from ``sigma`` to ``final_ratio * sigma`` per image."""
    if int(n_steps) < 1 or not 0 < float(final_ratio) <= 1:
        raise ParameterError(f"n_steps must be >= 1 and final_ratio in (0, 1]; got {n_steps}, {final_ratio}")
    ratios = torch.as_tensor(np.geomspace(1.0, float(final_ratio), int(n_steps)), dtype=sigma.dtype, device=sigma.device)
    return ratios[:, None] * sigma[None, :]


def posterior_sample(denoiser: Denoiser, images: torch.Tensor, sigma: torch.Tensor, *, n_steps: int = 10,
                     final_ratio: float = 0.05, stochasticity: float = 1.0, guidance_weight: float = 0.0,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """One reverse-diffusion sample per image, started at the matched state ``z = y``.

    Parameters
    ----------
    denoiser : ``D(z, s)``.
    images : ``(n, k, rows, cols)`` noisy images.
    sigma : ``(k,)`` their noise standard deviations.
    n_steps : levels on the ladder (denoiser calls).
    final_ratio : last level as a fraction of ``sigma``.
    stochasticity : 1 = ancestral (DDPM) steps, 0 = deterministic (DDIM) steps.
    guidance_weight : prior precision ``guidance_weight / s^2`` against the data in a proximal
        step on each clean estimate; 0 = none (exact posterior sampling for an exact prior).
    generator : source of the fresh noise.

    Returns
    -------
    ``(n, k, rows, cols)``: the final clean estimate.
    """
    if not 0 <= float(stochasticity) <= 1 or float(guidance_weight) < 0:
        raise ParameterError(f"stochasticity must be in [0, 1] and guidance_weight >= 0; got {stochasticity}, {guidance_weight}")
    n, k = images.shape[:2]
    levels = noise_ladder(sigma.to(images.dtype).to(images.device), n_steps, final_ratio)
    noise_var = levels[0].reshape(1, k, 1, 1) ** 2
    state = images
    for step, level in enumerate(levels):
        s = level.reshape(1, k, 1, 1)
        clean = _denoise(denoiser, state, level.expand(n, k))
        if guidance_weight > 0:
            rho = float(guidance_weight) / s ** 2
            clean = (images / noise_var + rho * clean) / (1 / noise_var + rho)
        if step + 1 == len(levels):
            return clean
        s_next = levels[step + 1].reshape(1, k, 1, 1)
        fresh = float(stochasticity) * s_next * (1 - (s_next / s) ** 2).clamp_min(0).sqrt()
        kept = (s_next ** 2 - fresh ** 2).clamp_min(0).sqrt()
        noise = torch.randn(state.shape, generator=generator, device=state.device, dtype=state.dtype)
        state = clean + kept * (state - clean) / s + fresh * noise
    return state  # not reached


def posterior_mean(denoiser: Denoiser, images: torch.Tensor, sigma: torch.Tensor, *, samples: int = 8,
                   generator: torch.Generator | None = None, **sampler) -> torch.Tensor:
    """The average of ``samples`` :func:`posterior_sample` draws (all drawn in one batch)."""
    if int(samples) < 1:
        raise ParameterError(f"samples must be >= 1; got {samples}")
    n = images.shape[0]
    repeated = images.repeat(int(samples), 1, 1, 1)
    drawn = posterior_sample(denoiser, repeated, sigma, generator=generator, **sampler)
    return drawn.reshape(int(samples), n, *images.shape[1:]).mean(0)

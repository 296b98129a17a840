"""Continuous diffusion timesteps and the noise level they stand for.

A DDPM forward step gives ``x_t = sqrt(a_t) x + sqrt(1 - a_t) n``; dividing by ``sqrt(a_t)`` shows
that ``x_t`` is ``x + sigma_t n`` scaled, with ``sigma_t = sqrt((1 - a_t) / a_t)`` (the
variance-exploding view of Song et al. 2021). So a denoiser for ``y = x + sigma n`` is the network
at the timestep whose ``sigma_t`` equals ``sigma``, fed ``sqrt(a_t) y``. Timesteps here are
real numbers: ``log sigma_t`` is interpolated linearly between the schedule's integer steps, so
every noise level between ``sigma_0`` and ``sigma_{T-1}`` has its own timestep, and the
``UNet2DModel``'s sinusoidal time embedding takes the fractional value as it is.

Training (:mod:`hsi.train.module`) and inference (:meth:`hsi.nn.diffusion_prior.DiffusionPrior.denoise`)
both go through these functions, so they agree on what a timestep means.

References
----------
J. Ho, A. Jain, P. Abbeel, "Denoising diffusion probabilistic models", NeurIPS 2020.
Y. Song et al., "Score-based generative modeling through stochastic differential equations", ICLR 2021.
T. Karras et al., "Elucidating the design space of diffusion-based generative models", NeurIPS 2022
(training noise levels drawn log-uniformly / log-normally where they matter).
"""

from __future__ import annotations

import torch


def log_sigmas(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """``log sigma_t = 0.5 log((1 - a_t) / a_t)`` at the integer timesteps (increasing in ``t``)."""
    alpha_bar = alphas_cumprod.double()
    return (0.5 * (torch.log1p(-alpha_bar) - torch.log(alpha_bar))).float()


def sigma_at(alphas_cumprod: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """Noise level ``sigma_t`` of real-valued timesteps (clamped to ``[0, T - 1]``)."""
    table = log_sigmas(alphas_cumprod).to(timesteps.device)
    t = timesteps.float().clamp(0, table.numel() - 1)
    low = t.floor().long().clamp(max=table.numel() - 2)
    weight = t - low
    return torch.exp(table[low] * (1 - weight) + table[low + 1] * weight)


def alpha_bar_at(alphas_cumprod: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """``a_t = 1 / (1 + sigma_t^2)`` of real-valued timesteps (equal to the table at integers)."""
    return 1.0 / (1.0 + sigma_at(alphas_cumprod, timesteps) ** 2)


def timestep_of(alphas_cumprod: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The real timestep with ``sigma_t == sigma``, clamped to ``[0, T - 1]`` outside the schedule's range."""
    table = log_sigmas(alphas_cumprod).to(sigma.device)
    target = torch.log(sigma.float().clamp_min(1e-12)).clamp(table[0], table[-1])
    high = torch.searchsorted(table, target.contiguous()).clamp(1, table.numel() - 1)
    low = high - 1
    weight = (target - table[low]) / (table[high] - table[low])
    return low.float() + weight.clamp(0, 1)

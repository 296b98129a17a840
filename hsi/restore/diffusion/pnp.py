"""Plug-and-play restoration by half-quadratic splitting (HQS) with any denoiser.

For ``y = H x + n`` (``H``: blur + decimation, or a pixel mask; ``n`` white with standard
deviation ``sigma_y`` per image) HQS alternates, for a fixed number of iterations,

    x_i = argmin_x ||y - H x||^2 / (2 sigma_y^2) + (lambda / (2 s_i^2)) ||x - z_{i-1}||^2   (data step)
    z_i = D(x_i, s_i)                                                                     (denoiser step)

with the denoiser's level ``s_i`` decreasing geometrically from ``start_sigma`` to the
measured noise ``sigma_y`` (Zhang et al.'s DPIR schedule). The data steps are the proximal
operators of :mod:`hsi.restore.diffusion.guidance` (conjugate gradients for blur +
decimation, closed form for the mask). The result is the last ``z`` (or, with
``final_data_step``, one more data step at the last level, which gives the observed pixels of
noise-free data back): a fixed schedule, never stopped by looking at a reference.

Two ways to set the schedule: ``iterations`` levels per image from one ``start_sigma``
(DPIR), or, with ``level_ratio``, levels falling by that factor per iteration from each
image's own first level (a warm start's error, :mod:`hsi.restore.diffusion.warm_start`) to its
own last: an image whose start is already close to its noise level gets few iterations, and
images that are done leave the denoiser's batch.

References
----------
K. Zhang, Y. Li, W. Zuo, L. Zhang, L. Van Gool, R. Timofte, "Plug-and-play image restoration
with deep denoiser prior", IEEE TPAMI 44(10), 2022 (DPIR). S. V. Venkatakrishnan, C. A. Bouman,
B. Wohlberg, "Plug-and-play priors for model based reconstruction", GlobalSIP 2013.
D. Geman, C. Yang, "Nonlinear image recovery with half-quadratic regularization", IEEE TIP 4(7), 1995.
"""

from __future__ import annotations

import numpy as np
import torch

from hsi.errors import ParameterError
from hsi.restore.diffusion.denoisers import Denoiser


def hqs_levels(start_sigma: float | torch.Tensor, sigma: torch.Tensor, iterations: int, min_sigma: float = 0.0) -> torch.Tensor:
    """``(iterations, k)`` denoiser levels, geometric from ``max(start_sigma, sigma_k)`` down to ``max(sigma_k, min_sigma)``.

    ``start_sigma``: one level or one per image. ``min_sigma`` keeps the last levels inside the
    range a denoiser was trained for when the data are (nearly) noise-free: the diffusion prior's
    schedule starts at about 0.01 of the image range, and a denoiser asked for less than it knows
    returns its input's artefacts.
    """
    start_sigma = torch.as_tensor(start_sigma, dtype=sigma.dtype, device=sigma.device)
    if int(iterations) < 1 or not bool((start_sigma > 0).all()) or not float(min_sigma) >= 0:
        raise ParameterError(f"iterations must be >= 1, start_sigma > 0 and min_sigma >= 0; "
                             f"got {iterations}, {start_sigma.tolist()}, {min_sigma}")
    sigma = sigma.clamp_min(float(min_sigma)) if float(min_sigma) > 0 else sigma
    start = torch.maximum(sigma, start_sigma)
    fractions = torch.as_tensor(np.linspace(0.0, 1.0, int(iterations)), dtype=sigma.dtype, device=sigma.device)
    return torch.exp(torch.log(start)[None] + fractions[:, None] * (torch.log(sigma) - torch.log(start))[None])


def hqs_levels_by_ratio(start: torch.Tensor, end: torch.Tensor, ratio: float) -> torch.Tensor:
    """``(steps, k)`` levels, image ``i``'s falling geometrically from ``start_i`` to ``end_i`` by about ``ratio`` per step.

    Image ``i`` takes ``ceil(log(start_i / end_i) / log(1 / ratio)) + 1`` steps (1 when it starts
    at its end); rows past its last step hold 0 (no denoiser call).
    """
    if not 0 < float(ratio) < 1:
        raise ParameterError(f"level_ratio must be in (0, 1); got {ratio}")
    start = torch.maximum(start, end)
    steps = (torch.log(start / end) / -np.log(float(ratio))).ceil().long() + 1
    index = torch.arange(int(steps.max()), device=start.device)[:, None]
    fraction = (index / (steps - 1).clamp_min(1)[None]).to(start.dtype)
    levels = torch.exp(torch.log(start)[None] + fraction * (torch.log(end) - torch.log(start))[None])
    return torch.where(index < steps[None], levels, torch.zeros((), dtype=start.dtype, device=start.device))


def hqs(denoiser: Denoiser, observation, observed: torch.Tensor, sigma: torch.Tensor, *, iterations: int = 8,
        start_sigma: float | torch.Tensor = 0.4, prior_weight: float = 1.0, min_sigma: float = 0.0,
        initial: torch.Tensor | None = None, level_ratio: float | None = None,
        final_data_step: bool = False) -> torch.Tensor:
    """Plug-and-play HQS restoration of ``(n, k, rows, cols)`` observed images.

    Parameters
    ----------
    denoiser : ``D(z, s)`` (:mod:`hsi.restore.diffusion.denoisers`).
    observation : :class:`~hsi.restore.diffusion.guidance.BlurDecimation` or
        :class:`~hsi.restore.diffusion.guidance.Inpainting` (``initial``, ``proximal``).
    observed : ``(n, k, rows_obs, cols_obs)`` observation (missing pixels of inpainting as 0).
    sigma : ``(k,)`` its noise standard deviation per image (> 0).
    iterations : data + denoiser steps (when ``level_ratio`` is None).
    start_sigma : first denoiser level (same units as the images), one or ``(k,)``.
    prior_weight : ``lambda``, the weight of the denoiser's estimate in the data step.
    min_sigma : floor of the denoiser's levels (:func:`hqs_levels`); the data step keeps ``sigma``.
    initial : ``(n, k, rows, cols)`` estimate to start from; None = ``observation.initial(observed)``.
    level_ratio : None = ``iterations`` levels (:func:`hqs_levels`); else the levels of
        :func:`hqs_levels_by_ratio` from ``start_sigma`` to ``max(sigma, min_sigma)``.
    final_data_step : end with a data step at the last level instead of the denoiser's output.

    Returns
    -------
    ``(n, k, rows, cols)`` on the output grid: the last denoiser output (or data step).
    """
    if not float(prior_weight) > 0:
        raise ParameterError(f"prior_weight must be > 0; got {prior_weight}")
    n, k = observed.shape[:2]
    sigma = sigma.to(observed.device, observed.dtype)
    variance = sigma.reshape(1, k, 1, 1) ** 2
    start = torch.as_tensor(start_sigma, dtype=sigma.dtype, device=sigma.device).expand(k)
    end = sigma.clamp_min(float(min_sigma))
    if level_ratio is None:
        levels = hqs_levels(start, sigma, iterations, min_sigma)
    else:
        levels = hqs_levels_by_ratio(start, end, level_ratio)
    estimate = observation.initial(observed) if initial is None else initial.to(observed.device, observed.dtype).clone()
    rows, cols = estimate.shape[2:]
    for level in levels:
        active = (level > 0).nonzero()[:, 0]
        rho = float(prior_weight) / level.clamp_min(1e-30).reshape(1, k, 1, 1) ** 2
        data = observation.proximal(estimate[:, active], observed[:, active], variance[:, active], rho[:, active])
        denoised = denoiser.denoise(data.reshape(n * active.numel(), rows, cols), level[active].repeat(n))
        estimate[:, active] = denoised.reshape(n, active.numel(), rows, cols)
    if final_data_step:
        estimate = observation.proximal(estimate, observed, variance, float(prior_weight) / end.reshape(1, k, 1, 1) ** 2)
    return estimate

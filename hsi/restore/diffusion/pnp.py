"""Plug-and-play restoration by half-quadratic splitting (HQS) with any denoiser.

For ``y = H x + n`` (``H``: blur + decimation, or a pixel mask; ``n`` white with standard
deviation ``sigma_y`` per image) HQS alternates, for a fixed number of iterations,

    x_i = argmin_x ||y - H x||^2 / (2 sigma_y^2) + (lambda / (2 s_i^2)) ||x - z_{i-1}||^2   (data step)
    z_i = D(x_i, s_i)                                                                     (denoiser step)

with the denoiser's level ``s_i`` decreasing geometrically from ``start_sigma`` to the
measured noise ``sigma_y`` (Zhang et al.'s DPIR schedule). The data steps are the proximal
operators of :mod:`hsi.restore.diffusion.guidance` (conjugate gradients for blur +
decimation, closed form for the mask). The result is the last ``z``: a fixed number of
iterations, never stopped by looking at a reference.

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


def hqs_levels(start_sigma: float, sigma: torch.Tensor, iterations: int, min_sigma: float = 0.0) -> torch.Tensor:
    """``(iterations, k)`` denoiser levels, geometric from ``max(start_sigma, sigma_k)`` down to ``max(sigma_k, min_sigma)``.

    ``min_sigma`` keeps the last levels inside the range a denoiser was trained for when the
    data are (nearly) noise-free: the diffusion prior's schedule starts at about 0.01 of the
    image range, and a denoiser asked for less than it knows returns its input's artefacts.
    """
    if int(iterations) < 1 or not float(start_sigma) > 0 or not float(min_sigma) >= 0:
        raise ParameterError(f"iterations must be >= 1, start_sigma > 0 and min_sigma >= 0; "
                             f"got {iterations}, {start_sigma}, {min_sigma}")
    sigma = sigma.clamp_min(float(min_sigma)) if float(min_sigma) > 0 else sigma
    start = sigma.clamp_min(float(start_sigma))
    fractions = torch.as_tensor(np.linspace(0.0, 1.0, int(iterations)), dtype=sigma.dtype, device=sigma.device)
    return torch.exp(torch.log(start)[None] + fractions[:, None] * (torch.log(sigma) - torch.log(start))[None])


def hqs(denoiser: Denoiser, observation, observed: torch.Tensor, sigma: torch.Tensor, *, iterations: int = 8,
        start_sigma: float = 0.4, prior_weight: float = 1.0, min_sigma: float = 0.0) -> torch.Tensor:
    """Plug-and-play HQS restoration of ``(n, k, rows, cols)`` observed images.

    Parameters
    ----------
    denoiser : ``D(z, s)`` (:mod:`hsi.restore.diffusion.denoisers`).
    observation : :class:`~hsi.restore.diffusion.guidance.BlurDecimation` or
        :class:`~hsi.restore.diffusion.guidance.Inpainting` (``initial``, ``proximal``).
    observed : ``(n, k, rows_obs, cols_obs)`` observation (missing pixels of inpainting as 0).
    sigma : ``(k,)`` its noise standard deviation per image (> 0).
    iterations : data + denoiser steps.
    start_sigma : first denoiser level (same units as the images).
    prior_weight : ``lambda``, the weight of the denoiser's estimate in the data step.
    min_sigma : floor of the denoiser's levels (:func:`hqs_levels`); the data step keeps ``sigma``.

    Returns
    -------
    ``(n, k, rows, cols)`` on the output grid: the last denoiser output.
    """
    if not float(prior_weight) > 0:
        raise ParameterError(f"prior_weight must be > 0; got {prior_weight}")
    n, k = observed.shape[:2]
    sigma = sigma.to(observed.device, observed.dtype)
    variance = sigma.reshape(1, k, 1, 1) ** 2
    levels = hqs_levels(start_sigma, sigma, iterations, min_sigma)
    estimate = observation.initial(observed)
    rows, cols = estimate.shape[2:]
    for level in levels:
        rho = float(prior_weight) / level.reshape(1, k, 1, 1) ** 2
        data = observation.proximal(estimate, observed, variance, rho)
        estimate = denoiser.denoise(data.reshape(n * k, rows, cols), level.repeat(n)).reshape(n, k, rows, cols)
    return estimate

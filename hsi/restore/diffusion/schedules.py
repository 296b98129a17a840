"""Which diffusion timesteps the reverse process visits, and where it starts.

Restoration does not start from pure noise: the observation already holds the image up to
its noise (or blur), so the reverse process starts at the timestep whose noise level
``sigma_t = sqrt((1 - a_t) / a_t)`` (in units of the normalised image) is a few times the
observation's, and visits timesteps spaced *exponentially*: most steps at low noise, where
the detail is decided, which lets 10-50 steps do the work of hundreds of uniform ones.

References
----------
L. Pang et al., "HIR-Diff: unsupervised hyperspectral image restoration via improved
diffusion models", CVPR 2024 (exponential noise schedule for fewer steps). H. Chung, B. Sim,
J. C. Ye, "Come-closer-diffuse-faster", CVPR 2022 (starting the reverse process from a
noised observation). J. Song, C. Meng, S. Ermon, "Denoising diffusion implicit models", ICLR 2021.
"""

from __future__ import annotations

import numpy as np
import torch

from hsi.errors import ParameterError

SCHEDULES = ("exponential", "uniform")


def noise_levels(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """``sigma_t = sqrt((1 - a_t) / a_t)`` per training timestep (noise-to-signal ratio)."""
    a = alphas_cumprod.double()
    return ((1 - a) / a).sqrt()


def start_timestep(alphas_cumprod: torch.Tensor, noise_level: float) -> int:
    """The first timestep whose ``sigma_t`` reaches ``noise_level`` (clipped to the schedule)."""
    if not noise_level > 0:
        raise ParameterError(f"start noise level must be positive; got {noise_level}")
    sigmas = noise_levels(alphas_cumprod)
    above = torch.nonzero(sigmas >= float(noise_level))
    return int(above[0]) if above.numel() else int(sigmas.numel() - 1)


def timesteps(t_start: int, n_steps: int, kind: str = "exponential") -> np.ndarray:
    """Strictly decreasing integer timesteps from ``t_start`` to 0 (at most ``n_steps`` of them).

    ``exponential``: ``t_i + 1`` geometric between ``t_start + 1`` and 1 (dense near 0);
    ``uniform``: evenly spaced (DDIM's usual choice).
    """
    if kind not in SCHEDULES:
        raise ParameterError(f"schedule must be one of {SCHEDULES}; got {kind!r}")
    if int(n_steps) < 1 or int(t_start) < 0:
        raise ParameterError(f"n_steps must be >= 1 and t_start >= 0; got {n_steps}, {t_start}")
    if kind == "exponential":
        values = np.geomspace(t_start + 1, 1, int(n_steps)) - 1
    else:
        values = np.linspace(t_start, 0, int(n_steps))
    steps = np.unique(np.round(values).astype(np.int64))[::-1]
    return steps

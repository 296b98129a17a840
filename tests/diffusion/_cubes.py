"""Small cubes, an exact Gaussian-prior denoiser and a tiny untrained prior shared by the diffusion tests."""

from __future__ import annotations

import numpy as np
import torch


def clean_cube(size: int = 32, seed: int = 3) -> np.ndarray:
    """A noise-free generated scene ``(size, size, 106)`` float32 in [0, 1] (hsi.sample_scene)."""
    from hsi.sample_scene import make_sample_scene

    return make_sample_scene(n_rows=size, n_cols=size, seed=seed, noise_sigma=0.0, bad_band_sigma=0.0).cube


class GaussianPriorDenoiser:
    """The exact posterior mean for pixels drawn i.i.d. from ``N(0, tau^2)``: ``tau^2 / (tau^2 + s^2) z``."""

    def __init__(self, tau: float = 0.5):
        self.tau = tau

    def denoise(self, images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        s = torch.as_tensor(sigma, dtype=images.dtype).reshape(-1, *([1] * (images.ndim - 1)))
        return images * self.tau ** 2 / (self.tau ** 2 + s ** 2)


def tiny_prior(channels: int = 3):
    """A randomly initialised 2-level prior (a few thousand weights): fast, knows nothing."""
    from diffusers import DDPMScheduler

    from hsi.nn.unet import build_unet
    from hsi.nn.diffusion_prior import DiffusionPrior

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        unet = build_unet(channels, 16, (8, 8), layers_per_block=1, norm_num_groups=4)
    return DiffusionPrior(unet.eval().requires_grad_(False), DDPMScheduler(num_train_timesteps=1000))


def psnr(reference: np.ndarray, estimate: np.ndarray) -> float:
    from hsi.metrics.quality import mpsnr

    return float(mpsnr(reference, estimate))

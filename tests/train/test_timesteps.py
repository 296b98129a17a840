"""Training timesteps land where the prior is used: sigma_t log-uniform over sigma_range, a share anywhere."""

import math

import torch

from hsi.nn.noise_levels import sigma_at
from hsi.train.module import draw_timesteps


def test_sigma_range_draws_are_log_uniform_with_a_uniform_share():
    from diffusers import DDPMScheduler

    alphas_cumprod = DDPMScheduler(num_train_timesteps=1000).alphas_cumprod.float()
    t = draw_timesteps(20000, alphas_cumprod, torch.Generator().manual_seed(0), sigma_range=(0.01, 1.0),
                       uniform_fraction=0.1, power=1.0)
    sigma = sigma_at(alphas_cumprod, t)
    inside = (sigma >= 0.0099) & (sigma <= 1.0001)
    # the uniform share lands in [0.01, 1] for about 26 % of the schedule; the rest is outside
    assert 0.90 < inside.float().mean().item() < 0.95
    logs = torch.log10(sigma[inside])
    histogram = torch.histc(logs, bins=4, min=-2, max=0) / inside.sum()
    assert torch.all((histogram - 0.25).abs() < 0.03), histogram  # log-uniform: equal mass per decade half
    assert t.dtype == torch.float32 and t.min() >= 0 and t.max() <= 999


def test_power_draws_are_integer_timesteps():
    from diffusers import DDPMScheduler

    alphas_cumprod = DDPMScheduler(num_train_timesteps=1000).alphas_cumprod.float()
    t = draw_timesteps(5000, alphas_cumprod, torch.Generator().manual_seed(0), sigma_range=None,
                       uniform_fraction=0.0, power=2.0)
    assert t.dtype == torch.long
    assert math.isclose((t < 250).float().mean().item(), 0.5, abs_tol=0.03)  # T u^2 < T/4 when u < 1/2

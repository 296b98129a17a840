"""Real timesteps <-> noise levels: the schedule's own values at integers, exact inverses between."""

import torch

from hsi.nn.noise_levels import alpha_bar_at, sigma_at, timestep_of


def _schedule():
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=1000).alphas_cumprod


def test_integer_timesteps_give_the_schedule():
    alphas_cumprod = _schedule()
    t = torch.tensor([0.0, 1.0, 250.0, 999.0])
    assert torch.allclose(alpha_bar_at(alphas_cumprod, t), alphas_cumprod[t.long()].float(), rtol=1e-5)


def test_timestep_of_inverts_sigma_at_and_clamps():
    alphas_cumprod = _schedule()
    sigma = torch.tensor([0.02, 0.05, 0.1, 0.2, 0.4, 1.0, 3.0])
    t = timestep_of(alphas_cumprod, sigma)
    assert torch.all(t[1:] > t[:-1]) and t.dtype == torch.float32
    assert torch.allclose(sigma_at(alphas_cumprod, t), sigma, rtol=1e-4)
    # outside the schedule: t = 0 below sigma_0 (about 0.01), T - 1 above sigma_{T-1}
    ends = timestep_of(alphas_cumprod, torch.tensor([1e-4, 0.0, 1e4]))
    assert ends.tolist() == [0.0, 0.0, 999.0]

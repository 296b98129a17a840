"""The posterior estimators against an exact Gaussian prior, where every error is known in closed form.

For ``x ~ N(0, tau^2)`` and ``y = x + sigma n`` the posterior mean has error variance
``e = tau^2 sigma^2 / (tau^2 + sigma^2)``, an exact posterior sample ``2 e``, and the mean of
``N`` samples ``(1 + 1 / N) e``.
"""

import pytest
import torch

from hsi.errors import ParameterError
from hsi.restore.diffusion.estimators import posterior_mean, posterior_sample, tweedie
from tests.diffusion._cubes import GaussianPriorDenoiser

SIGMA = torch.tensor([0.1, 0.5, 2.0], dtype=torch.float64)  # one level per eigen-image


@pytest.fixture(scope="module")
def problem():
    g = torch.Generator().manual_seed(0)
    clean = 0.5 * torch.randn(2, 3, 96, 96, generator=g, dtype=torch.float64)
    noisy = clean + SIGMA.reshape(1, 3, 1, 1) * torch.randn(clean.shape, generator=g, dtype=torch.float64)
    optimum = 0.25 * SIGMA ** 2 / (0.25 + SIGMA ** 2)
    return clean, noisy, optimum


def relative_error(estimate, clean, optimum):
    return ((estimate - clean) ** 2).mean(dim=(0, 2, 3)) / optimum


def test_tweedie_at_the_matched_level_is_the_posterior_mean(problem):
    clean, noisy, optimum = problem
    ratio = relative_error(tweedie(GaussianPriorDenoiser(), noisy, SIGMA), clean, optimum)
    assert torch.all((ratio - 1).abs() < 0.05)


def test_samples_spread_like_the_posterior_and_their_mean_recovers_its_error(problem):
    clean, noisy, optimum = problem
    g = torch.Generator().manual_seed(1)
    one = relative_error(posterior_sample(GaussianPriorDenoiser(), noisy, SIGMA, n_steps=20, generator=g), clean, optimum)
    mean = relative_error(posterior_mean(GaussianPriorDenoiser(), noisy, SIGMA, samples=8, n_steps=20, generator=g),
                          clean, optimum)
    assert torch.all(one > 1.6) and torch.all(one < 2.1)  # an exact sample: 2 (a few steps under-disperse)
    assert torch.all(mean < 1.2) and torch.all(mean < one - 0.5)  # 8 samples: 1.125


def test_sampling_is_repeatable_from_the_generator_and_checks_its_settings(problem):
    _, noisy, _ = problem
    first = posterior_sample(GaussianPriorDenoiser(), noisy, SIGMA, generator=torch.Generator().manual_seed(3))
    again = posterior_sample(GaussianPriorDenoiser(), noisy, SIGMA, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first, again)
    with pytest.raises(ParameterError, match="samples"):
        posterior_mean(GaussianPriorDenoiser(), noisy, SIGMA, samples=0)
    with pytest.raises(ParameterError, match="stochasticity"):
        posterior_sample(GaussianPriorDenoiser(), noisy, SIGMA, stochasticity=2.0)

"""SVD + RRQR reduction and the reverse-process timesteps."""

import numpy as np
import torch

from hsi.estimate.rrqr_subspace import rrqr_subspace
from hsi.restore.diffusion.schedules import timesteps


def test_rrqr_represents_a_low_rank_cube_exactly():
    rng = np.random.default_rng(0)
    pixels = rng.uniform(size=(500, 4)) @ rng.uniform(size=(4, 30))
    subspace = rrqr_subspace(pixels, 4)
    assert np.allclose(subspace.coefficients[:, subspace.band_index], np.eye(4))
    rebuilt = subspace.expand(subspace.reduce(torch.from_numpy(pixels))).numpy()
    assert np.abs(rebuilt - pixels).max() < 1e-9


def test_reduction_lowers_the_noise_as_predicted():
    rng = np.random.default_rng(1)
    clean = rng.uniform(size=(20000, 3)) @ rng.uniform(size=(3, 60))
    sigma = 0.05
    noisy = clean + sigma * rng.standard_normal(clean.shape)
    subspace = rrqr_subspace(noisy, 3, noise_std=np.full(60, sigma))
    error = (subspace.reduce(torch.from_numpy(noisy)) - subspace.reduce(torch.from_numpy(clean))).numpy()
    predicted = np.sqrt(np.diag(subspace.reduced_noise_cov()))
    assert np.allclose(error.std(axis=0), predicted, rtol=0.05)
    assert predicted.max() < sigma  # least squares over 60 bands beats any single band


def test_exponential_timesteps_are_dense_near_zero():
    steps = timesteps(400, 20, "exponential")
    assert steps[0] == 400 and steps[-1] == 0 and np.all(np.diff(steps) < 0)
    assert np.sum(steps < 40) > np.sum(timesteps(400, 20, "uniform") < 40)

"""FastHyDe's whitened eigen-images, scaled one by one: exact round trip and the noise level each one gets."""

import numpy as np
import pytest
import torch

from hsi.errors import InputError
from hsi.restore.diffusion.eigen_domain import EigenImages
from tests.diffusion._cubes import clean_cube


@pytest.fixture(scope="module")
def scene():
    cube = clean_cube(48, seed=5).astype(np.float64)
    sigma_per_band = np.linspace(0.01, 0.05, cube.shape[2])  # band-dependent noise
    noise = np.random.default_rng(0).normal(size=cube.shape) * sigma_per_band
    return cube, noise


def test_each_eigen_image_carries_the_noise_level_it_is_given(scene):
    cube, noise = scene
    domain = EigenImages().fit((cube + noise)[None].astype(np.float32))
    assert domain.n_images >= 2 and np.allclose(domain.noise_std, np.linspace(0.01, 0.05, cube.shape[2]), rtol=0.2)
    noisy_images = domain.to_images(torch.from_numpy(cube + noise)[None])
    clean_images = domain.to_images(torch.from_numpy(cube)[None])
    measured = (noisy_images - clean_images).std(dim=(0, 2, 3))
    assert torch.allclose(measured, domain.sigma, rtol=0.1)
    assert domain.sigma[0] < domain.sigma[-1]  # the leading eigen-image is the cleanest
    assert 0.3 < float(clean_images[0, 0].std()) < 0.6  # scaled to the prior's spread (signal_std 0.45)


def test_cubes_come_back_as_their_projection_on_the_subspace(scene):
    cube, noise = scene
    domain = EigenImages().fit((cube + noise)[None].astype(np.float32))
    noisy = torch.from_numpy(cube + noise)[None]
    once = domain.to_cubes(domain.to_images(noisy))
    twice = domain.to_cubes(domain.to_images(once))
    assert torch.allclose(once, twice, atol=1e-5)  # a projection: idempotent (float32 basis)
    assert float(((once[0].numpy() - cube) ** 2).mean()) < 0.2 * float((noise ** 2).mean())


def test_scattered_missing_pixels_fit_on_the_complete_ones_and_unfitted_use_is_refused(scene):
    cube, noise = scene
    holed = (cube + noise).astype(np.float32)
    holed[np.random.default_rng(1).random(cube.shape[:2]) < 0.8] = np.nan
    assert EigenImages().fit(holed[None]).n_images >= 2
    with pytest.raises(InputError, match="fit"):
        EigenImages().to_images(torch.from_numpy(cube)[None])

"""Guided diffusion restoration of small cubes: denoising, super-resolution, inpainting."""

import numpy as np
import pytest
import torch

from hsi.restore.diffusion.restorer import DEFAULT_MODEL, DiffusionRestorer
from tests.diffusion._cubes import clean_cube, psnr, tiny_prior


@pytest.fixture(scope="module")
def cube():
    return clean_cube(32)


def restorer_with(prior, **options) -> DiffusionRestorer:
    return DiffusionRestorer(model=prior, device="cpu", n_steps=5, **options)


def test_denoising_gains_over_the_noisy_input(cube):
    noisy = cube + np.random.default_rng(0).normal(0, 0.05, cube.shape).astype(np.float32)
    restorer = restorer_with(tiny_prior()).fit(noisy[None])
    restored = restorer(noisy[None])[0]
    assert restored.shape == cube.shape and np.isfinite(restored).all()
    assert psnr(cube, restored) > psnr(cube, noisy) + 6  # the data-consistent subspace alone gives this
    # repeatable: each call restarts from the seed
    assert np.array_equal(restored, restorer(noisy[None])[0])


def test_super_resolution_returns_scale_times_larger_tiles(cube):
    from hsi.degrade.mtf import decimate, gaussian_blur

    cube = clean_cube(48)
    low = np.asarray(decimate(gaussian_blur(cube, 1.0), 4)) + np.random.default_rng(1).normal(0, 10 / 255, (12, 12, 106))
    restorer = restorer_with(tiny_prior(), task="sr", scale=4, blur_sigma=1.0).fit(low[None].astype(np.float32))
    restored = restorer(np.stack([low, low]).astype(np.float32))
    assert restorer.scale == 4 and restored.shape == (2, 48, 48, 106) and np.isfinite(restored).all()
    # data consistency: blurring and decimating the result gives back the observation up to its noise
    again = np.asarray(decimate(gaussian_blur(restored[0], 1.0), 4))
    assert np.sqrt(np.mean((again - low) ** 2)) < 1.2 * 10 / 255


def test_inpainting_fills_missing_pixels_and_keeps_the_observed_ones(cube):
    rng = np.random.default_rng(2)
    observed = cube + rng.normal(0, 0.01, cube.shape).astype(np.float32)
    missing = rng.random(cube.shape[:2]) < 0.8
    observed[missing] = np.nan
    restorer = restorer_with(tiny_prior(), task="inpaint").fit(observed[None])
    restored = restorer(observed[None])[0]
    assert np.isfinite(restored).all()
    # an untrained prior cannot guess the gaps, but the data term holds the observed pixels
    assert np.sqrt(np.mean((restored[~missing] - cube[~missing]) ** 2)) < 0.01


@pytest.mark.skipif(not DEFAULT_MODEL.with_suffix(".json").is_file(), reason="shipped prior not built yet")
def test_shipped_prior_denoises_a_small_cube(cube):
    noisy = cube + np.random.default_rng(0).normal(0, 0.1, cube.shape).astype(np.float32)
    restorer = DiffusionRestorer(device="cpu", n_steps=10).fit(noisy[None])
    restored = restorer(noisy[None])[0]
    assert np.isfinite(restored).all()
    assert psnr(cube, restored) > psnr(cube, noisy) + 10


@pytest.mark.slow
@pytest.mark.skipif(not DEFAULT_MODEL.with_suffix(".json").is_file(), reason="shipped prior not built yet")
def test_shipped_prior_adds_to_the_subspace_projection_and_beats_bicubic():
    """On a generated scene not used in training (seed 101): the prior's own contribution."""
    from hsi.degrade.mtf import decimate, gaussian_blur

    cube = clean_cube(64, seed=101)
    rng = np.random.default_rng(1)
    noisy = cube + rng.normal(0, 50 / 255, cube.shape).astype(np.float32)
    restorer = DiffusionRestorer(device="cpu").fit(noisy[None])
    projected = restorer.stats.to_cubes(restorer.stats.to_images(torch.from_numpy(noisy[None]).double()))[0].numpy()
    assert psnr(cube, restorer(noisy[None])[0]) > psnr(cube, projected) + 1.5

    low = (np.asarray(decimate(gaussian_blur(cube, 1.0), 4)) + rng.normal(0, 10 / 255, (16, 16, 106))).astype(np.float32)
    bicubic = torch.nn.functional.interpolate(torch.from_numpy(low.transpose(2, 0, 1))[None], scale_factor=4,
                                              mode="bicubic", align_corners=False)[0].numpy().transpose(1, 2, 0)
    sr = DiffusionRestorer(device="cpu", task="sr", blur_sigma=1.0).fit(low[None])
    assert psnr(cube, sr(low[None])[0]) > psnr(cube, bicubic) + 1

"""The diffusion restorers on small generated cubes: denoising estimators and plug-and-play SR / inpainting."""

import numpy as np
import pytest
import torch

from hsi.errors import ParameterError
from hsi.restore.diffusion.restorer import DiffusionRestorer, PnPRestorer
from tests.diffusion._cubes import GaussianPriorDenoiser, clean_cube, psnr


@pytest.fixture(scope="module")
def cube():
    return clean_cube(48, seed=101)


def test_tweedie_with_bm3d_is_fasthyde(cube):
    """The same whitened eigen-images, each denoised by BM3D at its own level: FastHyDe up to the scaling."""
    from hsi.restore.tile_adapter import SubspaceDenoiserTiles

    noisy = (cube + np.random.default_rng(0).normal(0, 30 / 255, cube.shape)).astype(np.float32)
    restored = DiffusionRestorer(denoiser="bm3d", device="cpu").fit(noisy[None])(noisy[None])[0]
    fasthyde = SubspaceDenoiserTiles().fit(noisy[None])(noisy[None])[0]
    assert abs(psnr(cube, restored) - psnr(cube, fasthyde)) < 0.05
    assert psnr(cube, restored) > psnr(cube, noisy) + 10


def test_estimators_run_on_tiles_reproducibly_and_fill_nodata(cube):
    noisy = (cube + np.random.default_rng(1).normal(0, 0.05, cube.shape)).astype(np.float32)
    holed = noisy.copy()
    holed[5:8, 10:12] = np.nan
    for estimator in ("mean", "sample"):
        restorer = DiffusionRestorer(denoiser=GaussianPriorDenoiser(), estimator=estimator, samples=2, n_steps=3,
                                     device="cpu").fit(noisy[None])
        restored = restorer(np.stack([noisy, holed]))
        assert restored.shape == (2, *cube.shape) and np.isfinite(restored).all()
        assert np.array_equal(restored, restorer(np.stack([noisy, holed])))  # each call restarts from the seed
        assert psnr(cube, restored[0]) > psnr(cube, noisy) + 6


def test_settings_are_checked_with_the_accepted_values():
    with pytest.raises(ParameterError, match="estimator must be one of"):
        DiffusionRestorer(denoiser="bm3d", estimator="mode")
    with pytest.raises(ParameterError, match="diffusion_sr"):
        DiffusionRestorer(denoiser="bm3d", task="sr")
    with pytest.raises(ParameterError, match="sr or inpaint"):
        PnPRestorer(task="denoise", denoiser="bm3d")
    with pytest.raises(ParameterError, match="this config: sr"):
        PnPRestorer(task="inpaint", tasks=["sr"], denoiser="bm3d")


def test_pnp_super_resolution_with_bm3d_beats_denoise_then_bicubic_and_fits_the_data(cube):
    from hsi.degrade.mtf import degrade_resolution
    from hsi.restore.tile_adapter import SubspaceDenoiserTiles, Upsample

    rng = np.random.default_rng(2)
    low = (np.asarray(degrade_resolution(cube, 4, 0.3)) + rng.normal(0, 10 / 255, (12, 12, cube.shape[2]))).astype(np.float32)
    restorer = PnPRestorer(task="sr", denoiser="bm3d", device="cpu").fit(low[None])
    restored = restorer(low[None])[0]
    assert restorer.scale == 4 and restored.shape == cube.shape and np.isfinite(restored).all()
    baseline = Upsample(4)(SubspaceDenoiserTiles().fit(low[None])(low[None]))[0]
    assert psnr(cube, restored) > psnr(cube, baseline) + 1.5
    again = np.asarray(degrade_resolution(restored, 4, 0.3))
    assert np.sqrt(np.mean((again - low) ** 2)) < 1.2 * 10 / 255  # consistent with the observation up to its noise


def test_pnp_inpainting_with_bm3d_keeps_the_observed_pixels_and_beats_the_neighbour_fill(cube):
    from hsi.restore.diffusion.guidance import Inpainting

    rng = np.random.default_rng(3)
    observed = cube + rng.normal(0, 0.005, cube.shape).astype(np.float32)
    missing = rng.random(cube.shape[:2]) < 0.8
    observed[missing] = np.nan
    restorer = PnPRestorer(task="inpaint", denoiser="bm3d", device="cpu").fit(observed[None])
    restored = restorer(observed[None])[0]
    assert np.isfinite(restored).all()
    assert np.sqrt(np.mean((restored[~missing] - cube[~missing]) ** 2)) < 0.01
    mask = torch.from_numpy(~missing)[None, None]
    filled = Inpainting(mask).initial(torch.from_numpy(np.nan_to_num(observed).transpose(2, 0, 1))[None])
    assert psnr(cube, restored) > psnr(cube, filled[0].numpy().transpose(1, 2, 0)) + 1


def test_hqs_levels_fall_geometrically_to_the_floor_on_noise_free_data():
    from hsi.restore.diffusion.pnp import hqs_levels

    sigma = torch.tensor([1e-4, 0.5])
    levels = hqs_levels(1.0, sigma, 5, min_sigma=0.02)
    assert torch.allclose(levels[0], torch.tensor([1.0, 1.0])) and torch.allclose(levels[-1], torch.tensor([0.02, 0.5]))
    assert bool((levels[1:] < levels[:-1]).all())
    assert torch.allclose(hqs_levels(1.0, sigma, 5)[-1], sigma)  # no floor: down to the measured noise
    with pytest.raises(ParameterError, match="min_sigma >= 0"):
        hqs_levels(1.0, sigma, 5, min_sigma=-1)

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


def test_hqs_levels_by_ratio_give_each_image_its_own_number_of_steps():
    from hsi.restore.diffusion.pnp import hqs_levels_by_ratio

    start, end = torch.tensor([0.5, 0.1, 0.01]), torch.tensor([0.02, 0.05, 0.02])
    levels = hqs_levels_by_ratio(start, end, 0.5)
    steps = (levels > 0).sum(0)
    assert steps.tolist() == [6, 2, 1]  # ceil(log2(25)) + 1, ceil(log2(2)) + 1, a start below its end: one step
    for i, n in enumerate(steps.tolist()):
        assert torch.isclose(levels[0, i], torch.maximum(start[i], end[i])) and torch.isclose(levels[n - 1, i], end[i])
        assert bool((levels[1:n, i] / levels[: n - 1, i] >= 0.5 - 1e-6).all())  # never faster than the ratio
    with pytest.raises(ParameterError, match="level_ratio"):
        hqs_levels_by_ratio(start, end, 1.5)


def _holed(cube, missing_fraction, seed):
    rng = np.random.default_rng(seed)
    missing = rng.random(cube.shape[:2]) < missing_fraction
    holed = cube.copy()
    holed[missing] = np.nan
    return holed, missing


def test_hold_out_level_tracks_the_fill_s_true_error_at_the_missing_pixels(cube):
    """The level comes from observed pixels only, yet follows the error the fill makes where nothing was seen."""
    from hsi.restore.classical.inpaint import lrtv_inpaint
    from hsi.restore.diffusion.eigen_domain import EigenImages
    from hsi.restore.diffusion.warm_start import HoldOutWarmStart

    holed, missing = _holed(cube, 0.8, 4)
    stats = EigenImages(max_rank=8).fit(holed[None])
    starter = HoldOutWarmStart(lrtv_inpaint, holdout_fraction=0.15, level_factor=1.0)
    observed = torch.from_numpy(~missing)[None]
    start, levels = starter(torch.from_numpy(np.nan_to_num(holed).astype(np.float64))[None], observed, stats.to_images)
    truth = stats.to_images(torch.from_numpy(cube.astype(np.float64))[None])
    true_error = (start - truth)[0][:, torch.from_numpy(missing)].pow(2).mean(1).sqrt()
    assert start.shape == truth.shape and levels.shape == (1, stats.n_images)
    levels = levels[0]
    ratio = levels / true_error
    assert bool((ratio > 0.5).all()) and bool((ratio < 2.0).all()), ratio
    assert torch.allclose(HoldOutWarmStart(lrtv_inpaint, holdout_fraction=0.15, level_factor=2.0)(
        torch.from_numpy(np.nan_to_num(holed).astype(np.float64))[None], observed, stats.to_images)[1][0], 2 * levels)


def test_warm_started_pnp_inpainting_improves_on_its_start_and_gives_observed_pixels_back():
    """lrtv_inpaint's fill, then HQS from levels its hold-out error implies: better than the fill, observed pixels exact."""
    from hsi.restore.classical.inpaint import lrtv_inpaint
    from hsi.restore.diffusion.warm_start import HoldOutWarmStart

    cube = clean_cube(32, seed=101)
    holed, missing = _holed(cube, 0.8, 5)
    restorer = PnPRestorer(task="inpaint", denoiser="bm3d", device="cpu", start_sigma=1.0, prior_weight=0.3,
                           min_sigma=0.02, level_ratio=0.88, final_data_step=True,
                           warm_start=HoldOutWarmStart(lrtv_inpaint)).fit(holed[None])
    restored = restorer(holed[None])[0]
    assert np.isfinite(restored).all()
    assert np.abs(restored[~missing] - cube[~missing]).max() < 1e-3  # noise-free data: the data step keeps them
    assert psnr(cube, restored) > psnr(cube, lrtv_inpaint(holed)) + 1.0


def test_warm_start_passes_a_tile_with_nothing_observed():
    """A nodata tile in the batch: finite output, and the other tile restored as if alone."""
    from hsi.restore.classical.inpaint import lrtv_inpaint
    from hsi.restore.diffusion.warm_start import HoldOutWarmStart

    cube = clean_cube(24, seed=7)
    holed, _ = _holed(cube, 0.5, 6)
    restorer = PnPRestorer(task="inpaint", denoiser=GaussianPriorDenoiser(), device="cpu", start_sigma=1.0, min_sigma=0.02,
                           level_ratio=0.5, final_data_step=True, warm_start=HoldOutWarmStart(lrtv_inpaint)).fit(holed[None])
    restored = restorer(np.stack([holed, np.full_like(holed, np.nan)]))
    assert restored.shape == (2, *cube.shape) and np.isfinite(restored).all()
    assert np.allclose(restored[0], restorer(holed[None])[0], atol=1e-6)  # the empty tile beside it changes nothing


def test_a_warm_started_tile_is_restored_as_if_alone_whatever_its_batch_mates():
    """Each tile gets its own hold-out levels and hidden pixels: batching two tiles changes neither."""
    from hsi.restore.classical.inpaint import lrtv_inpaint
    from hsi.restore.diffusion.warm_start import HoldOutWarmStart

    first, second = (_holed(clean_cube(24, seed=seed), 0.7, seed)[0] for seed in (11, 12))
    restorer = PnPRestorer(task="inpaint", denoiser=GaussianPriorDenoiser(), device="cpu", start_sigma=1.0, min_sigma=0.02,
                           level_ratio=0.5, final_data_step=True,
                           warm_start=HoldOutWarmStart(lrtv_inpaint)).fit(np.stack([first, second]))
    together = restorer(np.stack([first, second]))
    assert np.allclose(together[0], restorer(first[None])[0], atol=1e-6)
    assert np.allclose(together[1], restorer(second[None])[0], atol=1e-6)

"""Noise, subspace and bad-band estimation against known answers."""

import numpy as np
import pytest
import torch

from hsi.degrade.noise import stripes
from hsi.estimate import estimate_noise_regression, hfc, hysime, noise_std_per_band
from hsi.estimate.bands import flag_bands
from hsi.sample_scene import make_sample_scene


def _low_rank_pixels(rng, n_pixels=4000, bands=60, rank=5):
    """Smooth endmember spectra mixed with Dirichlet abundances: a rank-``rank`` signal."""
    grid = np.linspace(0, 1, bands)
    centres = rng.uniform(0, 1, rank)
    endmembers = np.stack([0.3 + 0.5 * np.exp(-((grid - c) / 0.25) ** 2) for c in centres], axis=1)
    abundances = rng.dirichlet(np.ones(rank), n_pixels)
    return abundances @ endmembers.T


def test_regression_noise_recovers_per_band_sigma():
    rng = np.random.default_rng(0)
    clean = _low_rank_pixels(rng)
    sigma = rng.uniform(0.002, 0.02, clean.shape[1])
    noisy = clean + rng.normal(size=clean.shape) * sigma
    _, cov = estimate_noise_regression(noisy)
    estimated = np.sqrt(np.diag(cov))
    # Regressing on noisy bands slightly inflates the low-noise bands (errors in variables).
    assert np.allclose(estimated, sigma, rtol=0.1, atol=0.0015)


def test_wavelet_noise_recovers_sigma_on_smooth_image():
    rng = np.random.default_rng(1)
    rows, cols = np.mgrid[0:128, 0:128] / 128.0
    clean = np.stack([np.sin(3 * rows + b) * np.cos(2 * cols) for b in range(4)], axis=-1)
    sigma = np.array([0.01, 0.02, 0.05, 0.1])
    estimated = noise_std_per_band(torch.as_tensor(clean + rng.normal(size=clean.shape) * sigma))
    assert isinstance(estimated, torch.Tensor)
    assert np.allclose(estimated.numpy(), sigma, rtol=0.1)


def test_hysime_finds_the_signal_subspace_dimension():
    rng = np.random.default_rng(2)
    noisy = _low_rank_pixels(rng, rank=5) + rng.normal(scale=0.002, size=(4000, 60))
    noise, cov = estimate_noise_regression(noisy)
    k, basis = hysime(noisy, noise, cov)
    assert k == 5
    assert basis.shape == (60, 5)


@pytest.mark.parametrize("whitened", [False, True], ids=["hfc", "nwhfc"])
def test_virtual_dimensionality_counts_sources(whitened):
    rng = np.random.default_rng(3)
    noisy = _low_rank_pixels(rng, rank=4) + rng.normal(scale=0.002, size=(4000, 60))
    assert hfc(noisy, noise_whitened=whitened) in (3, 4, 5)


def test_flag_bands_finds_dead_noisy_and_striped_bands_and_nothing_else():
    sample = make_sample_scene(seed=0)
    cube = sample.cube.astype(np.float64)
    clean_report = flag_bands(cube)
    assert clean_report.noise_method == "regression"
    assert not clean_report.dead.any() and not clean_report.striped.any()
    # Noisy flags agree with the true radiometric SNR except within 1.5 dB of the threshold.
    true_snr = 10 * np.log10((cube ** 2).mean(axis=(0, 1)) / sample.sigma_per_band ** 2)
    clear = np.abs(true_snr - 20.0) > 1.5
    assert np.array_equal(clean_report.noisy[clear], (true_snr < 20.0)[clear])
    assert 0 < clean_report.noisy.sum() < 20
    damaged = stripes(cube, [30, 20], np.random.default_rng(0), amplitude=0.2 * cube.std()).cube
    damaged[:, :, 10] = 0.25  # dead: constant
    damaged[:, :, 60] += np.random.default_rng(1).normal(scale=cube[:, :, 60].mean(), size=cube.shape[:2])
    report = flag_bands(damaged)
    assert np.flatnonzero(report.dead).tolist() == [10]
    expected_noisy = clean_report.noisy.copy()
    expected_noisy[[10, 60]] = [False, True]
    assert np.array_equal(report.noisy, expected_noisy)
    assert np.flatnonzero(report.striped).tolist() == [20, 30]


def test_flag_bands_on_few_pixels_uses_spectral_differences():
    cube = make_sample_scene(seed=0).cube[:8, :8].astype(np.float64)
    before = flag_bands(cube)
    cube[:, :, 40] += np.random.default_rng(0).normal(scale=cube[:, :, 40].mean(), size=(8, 8))
    report = flag_bands(cube)
    assert report.noise_method == "spectral_difference"
    assert not before.noisy[40] and report.noisy[40]
    assert before.noisy.sum() < 20


def test_spectral_noise_estimate_recovers_sigma_per_pixel():
    from hsi.estimate import noise_std_spectral

    rng = np.random.default_rng(4)
    clean = _low_rank_pixels(rng, n_pixels=3000, bands=80)
    noisy = clean + rng.normal(scale=0.01, size=clean.shape)
    estimated = noise_std_spectral(noisy)
    assert np.allclose(np.median(estimated), 0.01, rtol=0.1)


def test_method_noise_on_a_heavily_masked_scene_is_sensible():
    from hsi.restore.tile_adapter import CubeMethodTiles

    rng = np.random.default_rng(5)
    cube = make_sample_scene(seed=0).cube.astype(np.float32)
    noisy = cube + rng.normal(scale=0.01, size=cube.shape).astype(np.float32)
    noisy[rng.uniform(size=cube.shape[:2]) < 0.8] = np.nan
    fitted = CubeMethodTiles(lambda c, noise_std: c).fit(noisy[None]).noise_std
    assert np.all(np.isfinite(fitted))
    assert 0.005 < np.median(fitted) < 0.02


def test_block_noise_is_one_estimate_shared_by_the_restore_adapters_and_the_diffusion_restorer():
    from hsi.estimate.noise import noise_std_from_blocks
    from hsi.restore.diffusion.restorer import scene_noise_std
    from hsi.restore.tile_adapter import CubeMethodTiles

    rng = np.random.default_rng(6)
    clean = make_sample_scene(seed=1, noise_sigma=0.0, bad_band_sigma=0.0).cube.astype(np.float32)
    noisy = clean + rng.normal(scale=0.01, size=clean.shape).astype(np.float32)
    blocks = np.stack([noisy[:64, :64], noisy[32:, 32:]])
    estimate = noise_std_from_blocks(blocks)
    assert estimate.dtype == np.float32 and estimate.shape == (clean.shape[2],)
    assert abs(np.median(estimate) - 0.01) < 0.0015
    assert np.array_equal(CubeMethodTiles(lambda c, noise_std: c).fit(blocks).noise_std, estimate)
    pixels = blocks.reshape(-1, blocks.shape[-1])
    floor = 1e-3 * float(np.abs(pixels).max())
    assert np.array_equal(scene_noise_std(blocks, pixels), np.maximum(estimate, floor).astype(np.float64))


def _mixture_cube(n_materials, seed, *, coloured_noise=False, brightness=0.0, rows=64, cols=64, bands=80, sigma=0.004):
    """Patchy mixtures of ``n_materials`` smooth spectra (abundances: softmax of smooth random fields),
    optionally with a smooth per-pixel brightness factor and with noise correlated between
    neighbouring bands whose level rises threefold across the range (coloured noise)."""
    from scipy.ndimage import gaussian_filter, gaussian_filter1d

    rng = np.random.default_rng(seed)
    grid = np.linspace(0, 1, bands)
    endmembers = np.stack([0.15 + sum(0.3 * rng.uniform(0.3, 1) * np.exp(-((grid - c) ** 2) / 0.01)
                                      for c in rng.uniform(0, 1, 3)) for _ in range(n_materials)], axis=1)
    fields = np.stack([gaussian_filter(rng.standard_normal((rows, cols)), 4) for _ in range(n_materials)], axis=-1)
    abundances = np.exp(8 * fields)
    abundances /= abundances.sum(axis=-1, keepdims=True)
    clean = abundances @ endmembers.T
    if brightness:
        field = gaussian_filter(rng.standard_normal((rows, cols)), 6)
        clean = clean * np.exp(brightness * field / field.std())[..., None]
    noise = rng.standard_normal(clean.shape)
    if coloured_noise:
        noise = gaussian_filter1d(noise, 2.0, axis=2)
        noise = noise / noise.std() * (0.5 + 1.5 * grid)
    return clean + sigma * noise


@pytest.mark.parametrize("coloured", [False, True], ids=["white", "coloured"])
@pytest.mark.parametrize("brightness", [0.0, 0.3], ids=["fixed", "brightness"])
@pytest.mark.parametrize("n_materials", [3, 6])
def test_mnf_dimension_counts_the_materials_under_coloured_noise_and_brightness_changes(n_materials, brightness,
                                                                                           coloured):
    from hsi.estimate import mnf_dimension, shift_differences

    cube = _mixture_cube(n_materials, seed=n_materials, coloured_noise=coloured, brightness=brightness)
    pixels = cube.reshape(-1, cube.shape[2])
    assert mnf_dimension(pixels, shift_differences(cube)) == n_materials
    assert mnf_dimension(torch.as_tensor(pixels), shift_differences(torch.as_tensor(cube))) == n_materials


def test_regression_based_counts_fail_where_the_noise_is_coloured_and_mnf_does_not():
    """Noise correlated between neighbouring bands is partly predicted by the other bands, so
    HySime's regression noise estimate misses it and counts noise as signal; NWHFC over-counts
    too. Differences of neighbouring pixels see the whole noise covariance."""
    from hsi.estimate import mnf_dimension, shift_differences

    cube = _mixture_cube(4, seed=0, coloured_noise=True)
    pixels = cube.reshape(-1, cube.shape[2])
    noise, cov = estimate_noise_regression(pixels)
    assert hysime(pixels, noise, cov)[0] > 10
    assert hfc(pixels, noise_whitened=True) > 6
    assert mnf_dimension(pixels, shift_differences(cube)) == 4


def test_mnf_dimension_finds_nothing_in_pure_noise_and_refuses_too_few_pixels():
    from hsi.errors import TooFewPixelsError
    from hsi.estimate import mnf_dimension, shift_differences

    noise = np.random.default_rng(5).standard_normal((64, 64, 40))
    assert mnf_dimension(noise.reshape(-1, 40), shift_differences(noise)) == 0
    small = noise[:5, :5]
    with pytest.raises(TooFewPixelsError, match="more pixels than bands"):
        mnf_dimension(small.reshape(-1, 40), shift_differences(small))


def test_shift_differences_pair_right_and_lower_neighbours_and_skip_fill_values():
    from hsi.estimate import shift_differences

    cube = np.arange(12, dtype=np.float64).reshape(3, 4, 1) * np.ones(2)
    differences = shift_differences(cube)
    assert differences.shape == (3 * 3 + 2 * 4, 2)
    assert set(np.unique(differences[:, 0])) == {1.0, 4.0}
    cube[1, 1, 1] = np.nan  # a fill value ends the four pairs it belongs to, no more
    assert shift_differences(cube).shape == (17 - 4, 2)


def test_column_stripe_test_takes_no_fill_hole_for_stripes():
    """Half the columns of a smooth scene are their window's running median, fine structure 0 by
    construction; a misfit spread taken over them was near 0, and 14 of 60 random nodata holes in
    the shipped sample flagged a band (2 of 60 now). Six of those holes (row, col, height, width),
    each of which flagged a band before, flag none."""
    from hsi.io import open_scene
    from hsi.jobs.common import ensure_sample

    base = open_scene(ensure_sample()).read(physical=True).astype(np.float64)
    assert not flag_bands(base).striped.any()
    for row, col, height, width in ((42, 0, 11, 26), (51, 62, 16, 31), (16, 20, 22, 20), (26, 31, 27, 25),
                                    (33, 62, 14, 8), (17, 4, 29, 30)):
        cube = base.copy()
        cube[row:row + height, col:col + width] = np.nan
        assert not flag_bands(cube).striped.any(), (row, col, height, width)


def _quantised_blocks(rng, sigma_dn, floor_dn=None, step=1e-4):
    """Two 64 x 64 blocks of a smooth 4-band reflectance field plus Gaussian noise of ``sigma_dn``
    steps per band, stored as int16 counts of ``step`` (EnMAP L2A: 1e-4); ``floor_dn``: the last
    band clipped there, as the L2A processor clips its dark SWIR bands."""
    rows, cols = np.mgrid[0:128, 0:128] / 128.0
    signal_dn = np.stack([200 + 100 * np.sin(3 * rows + b) * np.cos(2 * cols) for b in range(4)], axis=-1)
    if floor_dn is not None:  # a dark band: about 80 % of it below the floor
        signal_dn[..., 3] = -60 + 200 * np.clip(rows * cols - 0.5, 0, None)
    counts = np.round(signal_dn + rng.normal(size=signal_dn.shape) * sigma_dn)
    if floor_dn is not None:
        counts[..., 3] = np.maximum(counts[..., 3], floor_dn)
    cube = (counts * step).astype(np.float32)
    return np.stack([cube[:64, :64], cube[64:, 64:]])


def test_block_noise_leaves_out_a_clip_level_and_never_reads_zero_on_a_band_that_varies():
    """EnMAP L2A's band 224 sits at its clip floor (-30 x 1e-4) on 86 % of the pixels: the wavelet
    detail of those cells is exactly 0, and the estimate read 0 (a band taken as noise-free)."""
    from hsi.estimate.noise import clip_levels, noise_std_from_blocks

    rng = np.random.default_rng(7)
    blocks = _quantised_blocks(rng, sigma_dn=np.array([3.0, 3.0, 3.0, 3.0]), floor_dn=-30)
    assert (blocks[..., 3] == np.float32(-30e-4)).mean() > 0.7
    levels = clip_levels(blocks.reshape(-1, 4))
    assert np.isnan(levels[:3]).all() and levels[3] == np.float32(-30e-4)
    estimate = noise_std_from_blocks(blocks)
    assert np.allclose(estimate, 3e-4, rtol=0.25)  # the clipped band: the noise of its measured pixels

    # noise finer than the quantisation: most 2 x 2 cells are flat, the median detail is 0; the
    # band still carries the rounding error, step / sqrt(12)
    fine = _quantised_blocks(rng, sigma_dn=np.array([3.0, 3.0, 3.0, 0.05]))
    fine[..., 3] = np.round(fine[..., 3] * 1e4 / 50) * 50e-4  # coarse steps of 50 counts
    estimate = noise_std_from_blocks(fine)
    assert np.allclose(estimate[:3], 3e-4, rtol=0.25)
    assert estimate[3] == pytest.approx(50e-4 / np.sqrt(12), rel=1e-3)


def test_block_noise_keeps_impulses_that_saturate_a_band_scattered():
    """Salt-and-pepper noise sets a third of a band to 0 or 1: a pile-up like a clip floor, but
    scattered, and those pixels are the band's noise. bench restore's complex case lost 1.5 dB on
    Samson when they were left out (the band looked clean to the denoiser's whitening)."""
    from hsi.estimate.noise import clip_levels, clustered_levels, noise_std_from_blocks

    rng = np.random.default_rng(3)
    rows, cols = np.mgrid[0:128, 0:128] / 128.0
    clean = np.stack([0.4 + 0.2 * np.sin(3 * rows + b) * np.cos(2 * cols) for b in range(4)], axis=-1)
    noisy = clean + rng.normal(scale=0.01, size=clean.shape)
    hit = rng.random(clean.shape[:2]) < 0.35
    noisy[..., 3] = np.where(hit, 0.0, noisy[..., 3])  # a third of band 3 at 0
    blocks = np.stack([noisy[:64, :64], noisy[64:, 64:]]).astype(np.float32)
    levels = clip_levels(blocks.reshape(-1, 4))
    assert levels[3] == 0.0  # it piles up as a clip level would ...
    assert np.isnan(clustered_levels(blocks, levels)).all()  # ... but is scattered: kept
    estimate = noise_std_from_blocks(blocks)
    assert estimate[3] > 5 * estimate[:3].max()  # the impulses count as the band's noise
    # the EnMAP-like floor covers a region: still a clip level
    floor = _quantised_blocks(rng, sigma_dn=np.array([3.0, 3.0, 3.0, 3.0]), floor_dn=-30)
    assert clustered_levels(floor, clip_levels(floor.reshape(-1, 4)))[3] == np.float32(-30e-4)

"""Noise models (hsi.degrade.noise): statistics, truth records, seeding, numpy/torch parity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hsi.degrade import (
    complex_noise,
    dead_lines,
    gaussian_noise,
    impulse_noise,
    noniid_gaussian_noise,
    poisson_gaussian_noise,
    stripes,
)
from hsi.errors import InputError, ParameterError


@pytest.fixture
def clean():
    """A (64, 64, 24) cube in [0, 1] (min 0 and max 1 exactly, as after min-max normalisation)."""
    cube = np.random.default_rng(10).random((64, 64, 24)).astype(np.float32)
    cube[0, 0, 0], cube[0, 1, 0] = 0.0, 1.0
    return cube


def test_gaussian_noise_sigma_within_5_percent(clean):
    sigma = 30 / 255
    noisy = gaussian_noise(clean, sigma, np.random.default_rng(0))
    assert noisy.shape == clean.shape and noisy.dtype == np.float32
    residual = noisy - clean
    assert residual.std() == pytest.approx(sigma, rel=0.05)
    assert abs(residual.mean()) < 0.05 * sigma
    # Per-band sigma vector.
    sigmas = np.linspace(0.01, 0.2, clean.shape[2])
    residual = gaussian_noise(clean, sigmas, np.random.default_rng(0)) - clean
    np.testing.assert_allclose(residual.std(axis=(0, 1)), sigmas, rtol=0.05)


def test_noniid_gaussian_sigma_per_band(clean):
    result = noniid_gaussian_noise(clean, np.random.default_rng(1))
    sigma = result.sigma_per_band
    assert sigma.shape == (clean.shape[2],)
    assert np.all(sigma >= 10 / 255) and np.all(sigma <= 70 / 255)
    assert sigma.std() > 0.02  # really different per band
    measured = (result.cube - clean).std(axis=(0, 1))
    np.testing.assert_allclose(measured, sigma, rtol=0.05)


def test_poisson_gaussian_variance_follows_signal():
    levels = np.array([0.05, 0.2, 0.8])
    cube = np.broadcast_to(levels, (96, 96, 3)).copy()
    peak, read = 200.0, 0.01
    result = poisson_gaussian_noise(cube, peak, np.random.default_rng(2), read_sigma=read)
    expected = np.sqrt(levels / peak + read**2)
    np.testing.assert_allclose((result.cube - cube).std(axis=(0, 1)), expected, rtol=0.05)
    np.testing.assert_allclose(result.sigma_per_band, expected, rtol=1e-9)
    assert abs((result.cube - cube).mean()) < 0.01  # unbiased


def test_impulse_fraction_values_and_bands(clean):
    bands = [1, 5, 9]
    result = impulse_noise(clean, 0.2, bands, np.random.default_rng(3))
    mask = result.impulse_mask
    assert mask.dtype == bool and mask.shape == clean.shape
    np.testing.assert_array_equal(result.impulse_bands, bands)
    assert mask[:, :, bands].mean() == pytest.approx(0.2, abs=0.01)
    other = np.setdiff1d(np.arange(clean.shape[2]), bands)
    assert not mask[:, :, other].any()
    np.testing.assert_array_equal(result.cube[~mask], clean[~mask])
    hit = result.cube[mask]
    assert np.all((hit == 0.0) | (hit == 1.0))
    assert (hit == 1.0).mean() == pytest.approx(0.5, abs=0.03)


def test_stripes_are_column_constant_offsets_on_chosen_bands(clean):
    bands = [0, 7, 8]
    result = stripes(clean, bands, np.random.default_rng(4), n_stripes=6, amplitude=0.25)
    offset = result.cube - clean
    mask = result.stripe_mask
    other = np.setdiff1d(np.arange(clean.shape[2]), bands)
    assert np.all(offset[:, :, other] == 0) and not mask[:, :, other].any()
    for band in bands:
        columns = np.flatnonzero(mask[0, :, band])
        assert columns.size == 6
        assert np.all(mask[:, columns, band])  # whole columns
        # One constant offset per striped column, within the amplitude.
        np.testing.assert_allclose(offset[:, columns, band], offset[:1, columns, band].repeat(64, 0), atol=1e-6)
        assert np.all(np.abs(offset[0, columns, band]) <= 0.25)
        assert np.all(offset[:, ~mask[0, :, band], band] == 0)


def test_stripe_count_from_fraction_range(clean):
    result = stripes(clean, None, np.random.default_rng(5))  # 5% .. 15% of 64 columns
    counts = result.stripe_mask[0].sum(axis=0)
    assert counts.min() >= 3 and counts.max() <= 9


def test_dead_lines_are_zero_columns(clean):
    result = dead_lines(clean, [2, 3], np.random.default_rng(6), n_lines=4)
    mask = result.dead_line_mask
    assert np.all(result.cube[mask] == 0)
    assert mask[0, :, 2].sum() == 4 and np.all(mask[:, :, 2] == mask[:1, :, 2])
    assert not mask[:, :, [0, 1, 4]].any()
    np.testing.assert_array_equal(result.cube[~mask], clean[~mask])


def test_complex_noise_recipe(clean):
    result = complex_noise(clean, np.random.default_rng(7))
    n_group = clean.shape[2] // 3
    groups = [result.impulse_bands, result.stripe_bands, result.dead_line_bands]
    assert all(g.size == n_group for g in groups)
    assert np.unique(np.concatenate(groups)).size == 3 * n_group  # disjoint thirds
    assert np.all(result.cube[result.dead_line_mask] == 0)
    impulse_share = result.impulse_mask[:, :, result.impulse_bands].mean(axis=(0, 1))
    assert np.all(np.min(np.abs(impulse_share[:, None] - np.array([0.1, 0.3, 0.5, 0.7])), axis=1) < 0.03)
    # Gaussian noise on every band, measured away from the sparse corruptions.
    clean_part = ~result.corrupted_mask
    for band in range(clean.shape[2]):
        keep = clean_part[:, :, band]
        measured = (result.cube[:, :, band] - clean[:, :, band])[keep].std()
        assert measured == pytest.approx(result.sigma_per_band[band], rel=0.06)


def test_seeded_reproducibility(clean):
    first = complex_noise(clean, np.random.default_rng(11)).cube
    again = complex_noise(clean, np.random.default_rng(11)).cube
    other = complex_noise(clean, np.random.default_rng(12)).cube
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    tensor = torch.from_numpy(clean)
    t1 = complex_noise(tensor, torch.Generator().manual_seed(5)).cube
    t2 = complex_noise(tensor, torch.Generator().manual_seed(5)).cube
    t3 = complex_noise(tensor, torch.Generator().manual_seed(6)).cube
    assert torch.equal(t1, t2) and not torch.equal(t1, t3)


@pytest.mark.parametrize(
    "degrade",
    [
        lambda x, rng: gaussian_noise(x, 0.1, rng),
        lambda x, rng: noniid_gaussian_noise(x, rng).cube,
        lambda x, rng: poisson_gaussian_noise(x, 50.0, rng, read_sigma=0.01).cube,
        lambda x, rng: impulse_noise(x, 0.3, None, rng).cube,
        lambda x, rng: stripes(x, [1, 2], rng).cube,
        lambda x, rng: dead_lines(x, [3], rng).cube,
        lambda x, rng: complex_noise(x, rng).cube,
    ],
)
def test_numpy_torch_parity(clean, degrade):
    from_numpy = degrade(clean, np.random.default_rng(21))
    from_torch = degrade(torch.from_numpy(clean), np.random.default_rng(21))
    assert isinstance(from_numpy, np.ndarray) and isinstance(from_torch, torch.Tensor)
    np.testing.assert_allclose(from_torch.numpy(), from_numpy, atol=1e-6)
    with_torch_rng = degrade(torch.from_numpy(clean), torch.Generator().manual_seed(1))
    assert isinstance(with_torch_rng, torch.Tensor) and with_torch_rng.shape == clean.shape


def test_bad_inputs_raise_parameter_error(clean):
    rng = np.random.default_rng(0)
    with pytest.raises(ParameterError, match="rng"):
        gaussian_noise(clean, 0.1, 0)
    with pytest.raises(ParameterError, match="sigma"):
        gaussian_noise(clean, -0.1, rng)
    with pytest.raises(InputError, match="cube must be 3-D"):  # the array, not a setting, is wrong
        gaussian_noise(clean[0], 0.1, rng)
    with pytest.raises(ParameterError, match="fraction"):
        impulse_noise(clean, 1.5, None, rng)
    with pytest.raises(ParameterError, match="bands"):
        stripes(clean, [99], rng)
    with pytest.raises(ParameterError, match="n_lines"):
        dead_lines(clean, [0], rng, n_lines=1000)
    with pytest.raises(ParameterError, match="band_fraction"):
        complex_noise(clean, rng, band_fraction=0.5)
    with pytest.raises(ParameterError, match="peak"):
        poisson_gaussian_noise(clean, 0.0, rng)


@pytest.mark.gpu
def test_cuda_tensors_and_cuda_generator(clean):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from hsi.degrade import degrade_resolution, random_pixel_mask, synthesize

    cube = torch.from_numpy(clean).cuda()
    result = complex_noise(cube, torch.Generator(device="cuda").manual_seed(0))
    assert result.cube.is_cuda and result.impulse_mask.is_cuda
    on_cpu = complex_noise(clean, np.random.default_rng(3)).cube
    on_gpu = complex_noise(cube, np.random.default_rng(3)).cube
    np.testing.assert_allclose(on_gpu.cpu().numpy(), on_cpu, atol=1e-5)
    low = degrade_resolution(cube, 4, 0.3)
    np.testing.assert_allclose(low.cpu().numpy(), degrade_resolution(clean, 4, 0.3), atol=1e-5)
    assert random_pixel_mask((8, 8), 0.5, torch.Generator(device="cuda").manual_seed(0)).is_cuda
    assert synthesize(cube, np.linspace(400, 900, clean.shape[2]), "PAN_generic").is_cuda

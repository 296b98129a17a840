"""Observation masks (hsi.degrade.masks): True = observed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hsi.degrade import apply_mask, block_mask, random_band_pixel_mask, random_pixel_mask, stripe_mask
from hsi.errors import ParameterError


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.9, 1.0])
def test_random_pixel_mask_exact_missing_fraction(fraction):
    mask = random_pixel_mask((40, 30), fraction, np.random.default_rng(0))
    assert mask.shape == (40, 30) and mask.dtype == bool
    assert (~mask).sum() == round(fraction * 1200)


def test_random_band_pixel_mask_per_band_and_independent():
    mask = random_band_pixel_mask((32, 32, 6), 0.4, np.random.default_rng(1))
    assert mask.shape == (32, 32, 6)
    np.testing.assert_array_equal((~mask).sum(axis=(0, 1)), np.full(6, round(0.4 * 1024)))
    assert not np.array_equal(mask[..., 0], mask[..., 1])


def test_stripe_mask_whole_lines():
    mask = stripe_mask((20, 50), 0.2, np.random.default_rng(2))
    dead_columns = ~mask.all(axis=0)
    assert dead_columns.sum() == 10
    assert np.all(~mask[:, dead_columns]) and np.all(mask[:, ~dead_columns])
    rows = stripe_mask((20, 50, 3), 0.25, np.random.default_rng(2), axis=0)
    assert rows.shape == (20, 50, 3)
    for band in range(3):
        dead_rows = ~rows[:, :, band].all(axis=1)
        assert dead_rows.sum() == 5 and np.all(~rows[dead_rows, :, band])


def test_block_mask_blocks_and_bounds():
    mask = block_mask((30, 40), 5, 1, np.random.default_rng(3))
    missing = np.argwhere(~mask)
    assert len(missing) == 25
    assert np.ptp(missing[:, 0]) == 4 and np.ptp(missing[:, 1]) == 4  # one 5x5 block
    many = block_mask((30, 40, 2), (4, 6), 8, np.random.default_rng(3))
    assert many.shape == (30, 40, 2)
    assert 0 < (~many[..., 0]).sum() <= 8 * 24


def test_masks_seeded_and_torch_generator():
    a = random_pixel_mask((16, 16), 0.5, np.random.default_rng(4))
    b = random_pixel_mask((16, 16), 0.5, np.random.default_rng(4))
    c = random_pixel_mask((16, 16), 0.5, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    t1 = stripe_mask((8, 16, 2), 0.25, torch.Generator().manual_seed(0))
    t2 = stripe_mask((8, 16, 2), 0.25, torch.Generator().manual_seed(0))
    assert isinstance(t1, torch.Tensor) and t1.dtype == torch.bool and torch.equal(t1, t2)
    assert isinstance(block_mask((8, 8), 2, 3, torch.Generator().manual_seed(1)), torch.Tensor)


def test_apply_mask_fill_broadcast_and_kind(small_cube):
    mask = random_pixel_mask(small_cube.shape[:2], 0.5, np.random.default_rng(6))
    masked = apply_mask(small_cube, mask)
    assert np.all(masked[~mask] == 0)
    np.testing.assert_array_equal(masked[mask], small_cube[mask])
    with_nan = apply_mask(torch.from_numpy(small_cube), torch.from_numpy(mask), fill=float("nan"))
    assert isinstance(with_nan, torch.Tensor) and torch.isnan(with_nan[torch.from_numpy(~mask)]).all()
    per_band = random_band_pixel_mask(small_cube.shape, 0.2, np.random.default_rng(6))
    assert np.all(apply_mask(small_cube, per_band, fill=-1)[~per_band] == -1)
    with pytest.raises(ParameterError, match="mask"):
        apply_mask(small_cube, mask[:-1])


def test_bad_mask_parameters():
    rng = np.random.default_rng(0)
    with pytest.raises(ParameterError, match="missing_fraction"):
        random_pixel_mask((4, 4), 1.5, rng)
    with pytest.raises(ParameterError, match="shape"):
        random_pixel_mask((4, 4, 2), 0.5, rng)
    with pytest.raises(ParameterError, match="block_size"):
        block_mask((4, 4), 5, 1, rng)
    with pytest.raises(ParameterError, match="axis"):
        stripe_mask((4, 4), 0.5, rng, axis=2)

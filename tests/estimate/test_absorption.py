"""Absorption-window bands measured noisy: the sample's water-vapour bands found without its bad-band list."""

import numpy as np
import pytest

from hsi.estimate.absorption import absorption_bands, in_absorption_windows
from hsi.sample_scene import make_sample_scene


@pytest.mark.parametrize("seed, shape", [(1, (40, 36)), (3, (20, 20))])
def test_the_sample_scenes_water_vapour_bands_are_found_without_its_list(seed, shape):
    sample = make_sample_scene(n_rows=shape[0], n_cols=shape[1], seed=seed)
    flags = absorption_bands(sample.cube, sample.wavelengths_nm)
    np.testing.assert_array_equal(flags.noisy, sample.bad_bands)  # 13 bands, 1360-1440 and 1800-1940 nm
    # the windows' shoulders (1340, 1460, 1780, 1960 nm) and 2460-2500 nm still hold signal: kept
    shoulders = in_absorption_windows(sample.wavelengths_nm) & ~sample.bad_bands
    assert shoulders.sum() == 7 and not flags.noisy[shoulders].any()


def test_a_scene_noisy_in_every_band_loses_no_band(rng):
    # relative, not absolute: pure noise has no band noisier than its neighbours
    wavelengths = np.linspace(400, 2500, 106)
    flags = absorption_bands(rng.uniform(0.1, 0.5, (30, 30, 106)), wavelengths)
    assert not flags.noisy.any()


def test_bands_outside_the_windows_are_never_flagged():
    sample = make_sample_scene(n_rows=30, n_cols=30, seed=2)
    cube = sample.cube.copy()
    cube[..., 10] = np.random.default_rng(0).normal(0, 1, cube.shape[:2])  # 600 nm: pure noise, but no window
    flags = absorption_bands(cube, sample.wavelengths_nm)
    assert not flags.noisy[10] and np.array_equal(flags.noisy, sample.bad_bands)

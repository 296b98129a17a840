"""Noise diagnosis: each synthetic noise type is recognised as the model its physics implies."""

import numpy as np
import pytest
import torch

from hsi.degrade.noise import complex_noise, dead_lines, gaussian_noise, impulse_noise, noniid_gaussian_noise, stripes
from hsi.estimate.diagnosis import diagnose_noise
from hsi.sample_scene import make_sample_scene


@pytest.fixture(scope="module")
def clean():
    """A noise-free synthetic 96 x 96 x 106 scene (fields, roads, a river), scaled to [0, 1]."""
    cube = make_sample_scene(n_rows=96, n_cols=96, noise_sigma=0.0, bad_band_sigma=0.0).to_scene().read()
    return (cube / cube.max()).astype(np.float32)


def _blocks(cube):
    """The cube as four 48 x 48 blocks, the way the restore job samples a scene."""
    return np.stack([cube[r : r + 48, c : c + 48] for r in (0, 48) for c in (0, 48)])


def _noisy(case, clean, rng):
    bands = clean.shape[2]
    every_third = np.arange(0, bands, 3)
    if case == "iid":
        return gaussian_noise(clean, 20 / 255, rng)
    if case == "noniid":
        return noniid_gaussian_noise(clean, rng).cube
    if case == "stripes":
        return stripes(gaussian_noise(clean, 10 / 255, rng), None, rng).cube
    if case == "impulse":
        return impulse_noise(gaussian_noise(clean, 10 / 255, rng), 0.1, every_third, rng).cube
    if case == "dead_lines":
        return dead_lines(gaussian_noise(clean, 10 / 255, rng), every_third, rng).cube
    return complex_noise(clean, rng).cube


@pytest.mark.parametrize(
    "case, model",
    [("iid", "gaussian"), ("noniid", "gaussian"), ("stripes", "stripes"), ("impulse", "mixed"),
     ("dead_lines", "mixed"), ("complex", "mixed_stripes")],
)
def test_each_noise_type_gets_the_model_of_its_physics(case, model, clean):
    diagnosis = diagnose_noise(_blocks(np.asarray(_noisy(case, clean, np.random.default_rng(5)), dtype=np.float32)))
    assert diagnosis.model == model, diagnosis.reasons


def test_measures_separate_iid_from_band_dependent_noise_and_find_the_corrupted_bands(clean):
    rng = np.random.default_rng(6)
    iid = diagnose_noise(_blocks(gaussian_noise(clean, 20 / 255, rng)))
    assert iid.iid and iid.impulse_fraction < 1e-3 and not iid.striped_bands
    assert np.allclose(np.median(iid.noise_std_per_band), 20 / 255, rtol=0.15)
    noniid = diagnose_noise(_blocks(noniid_gaussian_noise(clean, rng).cube))
    assert not noniid.iid
    corrupted = np.arange(0, clean.shape[2], 3)
    impulses = impulse_noise(gaussian_noise(clean, 10 / 255, rng), 0.1, corrupted, rng).cube
    found = diagnose_noise(_blocks(impulses)).impulse_fraction_per_band
    others = np.setdiff1d(np.arange(clean.shape[2]), corrupted)
    assert np.median(found[corrupted]) > 0.03 and np.median(found[others]) < 1e-3


def test_too_little_data_defaults_to_gaussian():
    diagnosis = diagnose_noise(np.full((1, 4, 4, 10), np.nan, dtype=np.float32))
    assert diagnosis.model == "gaussian" and diagnosis.reasons


def test_integer_data_with_noise_of_a_few_steps_is_not_taken_for_impulses(clean):
    """Quantised data whose noise is about one step (DN = 1,000 x reflectance, noise of 1 DN): most
    residuals are 0 or 1 step, which a low quantile cannot resolve; impulses are still found."""
    rng = np.random.default_rng(8)
    counts = np.round(clean * 1_000 + rng.normal(0.0, 1.0, clean.shape)).astype(np.float32)
    assert diagnose_noise(_blocks(counts)).model == "gaussian"
    corrupted = impulse_noise(counts, 0.1, np.arange(0, clean.shape[2], 3), rng).cube
    assert diagnose_noise(_blocks(np.asarray(corrupted, dtype=np.float32))).model.startswith("mixed")


def test_the_median_network_gives_torchs_lower_median_of_8_with_ties():
    from hsi.estimate.diagnosis import _lower_median_of_8

    generator = torch.Generator().manual_seed(0)
    for high in (3, 10_000):  # many ties, few ties
        values = [torch.randint(0, high, (40, 30, 20), generator=generator).to(torch.float32) for _ in range(8)]
        assert torch.equal(_lower_median_of_8(values), torch.stack(values, dim=-1).median(dim=-1).values)


def test_the_quantisation_step_is_the_smallest_gap_of_every_band_that_needs_it():
    from hsi.estimate.diagnosis import _quantisation_step

    rng = np.random.default_rng(0)
    bands = torch.as_tensor(np.stack([
        rng.normal(size=20_000),                    # float noise: large low, no full sort needed
        np.round(rng.normal(scale=3, size=20_000)),  # integer DN with noise over few steps
        np.full(20_000, 7.0),                        # constant: step 0
        np.r_[np.zeros(19_999), 0.25],               # one value off: only the whole band shows the gap
    ]).astype(np.float32))
    low = torch.tensor([0.1, 0.5, 0.0, 0.0])
    gaps = bands.sort(dim=1).values.diff(dim=1)
    exact = torch.where(gaps > 0, gaps, torch.full_like(gaps, float("inf"))).amin(dim=1)
    exact = torch.where(torch.isfinite(exact), exact, torch.zeros_like(exact))
    step = _quantisation_step(bands, low)
    assert torch.equal(step[1:], exact[1:])
    assert (low[0] <= 2 * step[0]) == (low[0] <= 2 * exact[0])  # the first band's decision is the same
    assert step[0] >= exact[0]


def test_a_scene_with_fill_values_is_diagnosed_like_the_same_scene_without(clean):
    """Fill values cut the sample into small clean sub-blocks (16 x 16, or 8 x 8 between fill lines).
    Before: one zero per column from the column-median removal dragged the noise scale of a
    16-row block down by 60 % and a single 8 x 8 block's scale was too unsteady, so plain
    Gaussian noise read as 3.5 % impulses and ``restore`` chose the robust model."""
    from hsi.nodata import clean_blocks

    noisy = np.asarray(gaussian_noise(clean, 10 / 255, np.random.default_rng(9)), dtype=np.float32)
    whole = diagnose_noise(noisy[None])
    assert whole.model == "gaussian" and whole.impulse_fraction < 1e-3
    block = noisy.copy()
    block[10:30, 20:40] = np.nan  # a 20 x 20 hole: the sample becomes 16 x 16 sub-blocks
    lines = noisy.copy()
    lines[15::16] = np.nan  # a fill line every 16 rows: 8 x 8 sub-blocks
    for holed, side in ((block, 16), (lines, 8)):
        blocks = clean_blocks(holed[None])
        assert blocks.shape[1] == side
        diagnosis = diagnose_noise(blocks)
        assert diagnosis.model == "gaussian", diagnosis.reasons
        assert diagnosis.impulse_fraction < 1e-3
    corrupted = np.asarray(impulse_noise(noisy, 0.1, np.arange(0, clean.shape[2], 3), np.random.default_rng(9)).cube, np.float32)
    corrupted[10:30, 20:40] = np.nan
    assert diagnose_noise(clean_blocks(corrupted[None])).model == "mixed"

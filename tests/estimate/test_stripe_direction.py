"""The stripe direction: stripes at an angle to the columns (orthorectified products) are found."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from hsi.degrade.noise import gaussian_noise, stripes
from hsi.estimate.diagnosis import diagnose_noise
from hsi.estimate.stripe_direction import MIN_CONTRAST, stripe_direction
from hsi.sample_scene import make_sample_scene


@pytest.fixture(scope="module")
def clean():
    """A 96 x 96 x 53 synthetic scene (fields, roads, a river; every other band) with its own mild noise."""
    return make_sample_scene(n_rows=96, n_cols=96).to_scene().read(physical=True)[:, :, ::2].astype(np.float64)


@pytest.mark.parametrize("angle", [0.0, -13.0, 30.0, 75.0])
def test_the_angle_of_band_specific_stripes_is_recovered(clean, angle):
    striped = stripes(clean, np.arange(0, clean.shape[2], 3), np.random.default_rng(1), amplitude=0.05,
                      angle_deg=angle).cube
    found = stripe_direction(striped)
    assert found.found and found.contrast > 10 * MIN_CONTRAST
    assert abs(found.angle_deg - angle) <= 0.5
    assert found.along_columns == (angle == 0.0)


def test_no_direction_is_found_without_stripes(clean):
    for sigma in (0.0, 0.03):
        noisy = clean if sigma == 0 else gaussian_noise(clean, sigma, np.random.default_rng(2))
        found = stripe_direction(noisy)
        assert not found.found and found.contrast < 1.5


def test_fill_is_no_data_for_the_direction(clean):
    """A nodata hole and the fill corners of a rotated map grid: left out, not lines."""
    rows, cols = np.mgrid[0:96, 0:96]
    outside = (rows + cols < 30) | (rows - cols > 70)  # corners of a rotated swath
    holed = clean.copy()
    holed[outside] = np.nan
    holed[40:60, 50:70] = np.nan
    assert not stripe_direction(holed).found
    striped = stripes(clean, np.arange(1, clean.shape[2], 2), np.random.default_rng(3), amplitude=0.05,
                      angle_deg=-13.0).cube
    striped[np.isnan(holed)] = np.nan
    found = stripe_direction(striped)
    assert found.found and abs(found.angle_deg + 13.0) <= 0.5


def test_restores_diagnosis_finds_stripes_at_an_angle(clean):
    """The column test cannot see stripes at 13 deg: the diagnosis now says where they run, and
    that the scene is striped (auto's robust branch destripes along them)."""
    noisy = gaussian_noise(clean, 0.01, np.random.default_rng(4))
    angled = stripes(noisy, np.arange(0, clean.shape[2], 3), np.random.default_rng(5), amplitude=0.05,
                     angle_deg=-13.0).cube
    blocks = np.stack([angled[r:r + 48, c:c + 48] for r in (0, 48) for c in (0, 48)])
    diagnosis = diagnose_noise(blocks)
    direction = diagnosis.as_dict()["stripe_direction"]
    assert direction["found"] and abs(direction["angle_deg_from_columns"] + 13.0) <= 0.5
    assert any("deg to the columns" in reason for reason in diagnosis.reasons) and diagnosis.model == "mixed_stripes"
    plain = diagnose_noise(np.stack([noisy[r:r + 48, c:c + 48] for r in (0, 48) for c in (0, 48)]))
    assert not plain.stripe_direction.found and plain.model == "gaussian"



def _diagonally_correlated_noise(shape, rng, length=4):
    """White noise averaged over ``length`` diagonal neighbours: correlated along 45 deg over a few
    pixels, as the AVIRIS-NG radiance crop's band-specific residual is (0.38 at one diagonal step)."""
    rows, cols, bands = shape
    white = rng.standard_normal((rows + length, cols + length, bands))
    return sum(white[k:k + rows, k:k + cols] for k in range(length)) / np.sqrt(length)


def test_noise_correlated_over_a_few_pixels_along_a_direction_is_not_stripes():
    """Before, the plain line energy took such noise for stripes at 45 deg (contrast 4.6 on the
    AVIRIS-NG crop); the lines' first and last thirds share no stripe offset, so no direction."""
    noise = _diagonally_correlated_noise((64, 64, 60), np.random.default_rng(7))
    found = stripe_direction(noise)
    assert not found.found and found.contrast < 0.5 * MIN_CONTRAST
    striped = stripes(noise, None, np.random.default_rng(8), amplitude=2.0, angle_deg=30.0).cube
    found = stripe_direction(striped)
    assert found.found and abs(found.angle_deg - 30.0) <= 0.5


@pytest.mark.parametrize("shape", [(25, 30), (40, 40), (64, 48)])
def test_no_direction_on_small_stripe_free_scenes(shape):
    """Scenes too short for lines (25 x 30) are not measured; stripe-free ones that are, are not found."""
    for seed in range(3):
        scene = make_sample_scene(n_rows=shape[0], n_cols=shape[1], seed=seed).to_scene().read(physical=True)
        assert not stripe_direction(scene.astype(np.float64)).found
    assert not stripe_direction(np.random.default_rng(9).standard_normal(shape + (80,))).found
    if shape == (25, 30):
        assert stripe_direction(scene.astype(np.float64)).contrast == 0.0


def test_the_aviris_ng_crop_has_no_stripe_direction(shared_data):
    """It had 45.3 deg (contrast 4.6): noise correlated along the diagonal (no map rotation in
    its header), on a 25 x 30 crop whose lines are too short to tell it from stripes."""
    from hsi.io import open_scene

    aviris = open_scene(shared_data / "aviris_ng" / "ang20160910t185702_2rdn_img").read(physical=True)
    assert not stripe_direction(np.asarray(aviris, np.float64)).found


@pytest.mark.slow
def test_the_enmap_tile_keeps_its_stripe_direction(shared_data):
    from hsi.io import open_scene

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tile's missing METADATA.XML
        enmap = open_scene(shared_data / "satellite" / "enmap_l2a_hyspecnet").read(physical=True)
    found = stripe_direction(np.asarray(enmap, np.float64))
    assert found.found and abs(found.angle_deg + 12.9) <= 0.3 and found.contrast > 20 * MIN_CONTRAST


def test_stripes_at_an_angle_with_impulses_take_the_robust_branch_with_destriping(clean):
    """Before, impulses + stripes at an angle stayed ``mixed`` (robust_fasthyde without destriping,
    since it destriped columns only); it now destripes along the measured direction."""
    noisy = gaussian_noise(clean, 0.01, np.random.default_rng(10))
    angled = stripes(noisy, np.arange(0, clean.shape[2], 3), np.random.default_rng(11), amplitude=0.05,
                     angle_deg=-13.0).cube
    rng = np.random.default_rng(12)
    hit = rng.random(angled.shape) < 0.01
    angled[hit] = rng.choice([0.0, 1.0], size=int(hit.sum()))
    diagnosis = diagnose_noise(np.stack([angled[r:r + 48, c:c + 48] for r in (0, 48) for c in (0, 48)]))
    assert diagnosis.model == "mixed_stripes" and diagnosis.stripe_direction.found
    assert any("deg to the columns" in reason for reason in diagnosis.reasons)

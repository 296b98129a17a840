"""Scene samples for scene-wide statistics: uniform valid pixels, spatial blocks."""

import numpy as np
import pytest

from hsi.errors import InputError
from hsi.scene import Scene
from hsi.tiling.sampling import sample_blocks, sample_pixels


def _scene_with_holes(rows=60, cols=40, bands=3):
    values = np.arange(rows * cols, dtype=np.float32).reshape(rows, cols, 1) * np.ones(bands, np.float32)
    values[::7, :, 1] = np.nan  # every 7th row has a NaN band: those pixels are not valid
    return Scene.from_array(values), values


def test_sample_pixels_draws_only_valid_pixels_from_the_whole_scene_in_bounded_number():
    scene, values = _scene_with_holes()
    pixels = sample_pixels(scene, np.arange(3), 500, np.random.default_rng(0), block_rows=8)
    assert pixels.shape == (500, 3) and np.isfinite(pixels).all()
    rows = pixels[:, 0] // 40
    assert not np.any(rows % 7 == 0)  # no pixel of a row holding NaN
    assert rows.min() < 10 and rows.max() > 50  # drawn from the top and the bottom alike
    assert len(np.unique(pixels[:, 0])) == 500  # without replacement
    again = sample_pixels(scene, np.arange(3), 500, np.random.default_rng(0), block_rows=8)
    assert np.array_equal(pixels, again)


def test_sample_pixels_returns_every_valid_pixel_when_fewer_are_asked_than_exist_and_refuses_all_nodata():
    scene, values = _scene_with_holes(rows=10, cols=10)
    everything = sample_pixels(scene, np.array([0, 2]), 10_000, np.random.default_rng(1), block_rows=3)
    assert everything.shape == (100, 2)  # band 1 (with NaN) not read: every pixel is valid
    empty = Scene.from_array(np.full((4, 4, 2), np.nan, np.float32))
    with pytest.raises(InputError, match="no valid pixel"):
        sample_pixels(empty, np.arange(2), 10, np.random.default_rng(0), block_rows=2)


def test_sample_blocks_reads_whole_small_scenes_and_blocks_of_large_ones():
    values = np.random.default_rng(2).random((40, 40, 3)).astype(np.float32)
    whole = sample_blocks(Scene.from_array(values), n_pixels=10_000, size=16)
    assert whole.shape == (1, 40, 40, 3)
    np.testing.assert_array_equal(whole[0], values)
    blocks = sample_blocks(Scene.from_array(np.ones((200, 200, 2), np.float32)), n_pixels=1024, size=16,
                           rng=np.random.default_rng(0))
    assert blocks.shape == (4, 16, 16, 2)


def test_neighbour_pairs_are_adjacent_valid_pixels_from_the_whole_scene():
    from hsi.tiling.sampling import sample_neighbour_pairs

    scene, values = _scene_with_holes()  # band 0 holds the pixel's index row * 40 + col
    first, second = sample_neighbour_pairs(scene, np.arange(3), 800, np.random.default_rng(0), block_rows=8)
    assert first.shape == second.shape == (800, 3)
    assert np.isfinite(first).all() and np.isfinite(second).all()  # no pair touching a row with NaN
    step = second[:, 0] - first[:, 0]
    assert set(np.unique(step)) == {1.0, 40.0}  # right-hand and lower neighbours, both kinds drawn
    right = step == 1.0
    assert np.all(first[right, 0] // 40 == second[right, 0] // 40)  # a right neighbour is on the same row
    rows = first[:, 0] // 40
    assert rows.min() < 10 and rows.max() > 50
    assert len(np.unique(first[:, 0] * 2 + (step == 40))) == 800  # without replacement

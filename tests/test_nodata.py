"""Nodata semantics: empty bands found, statistics from clean neighbourhoods, one fill value tolerated."""

from __future__ import annotations

import numpy as np

from hsi.cli import main
from hsi.io import open_scene, save_scene
from hsi.nodata import clean_blocks, empty_bands
from hsi.sample_scene import make_sample_scene
from hsi.scene import Scene


def test_empty_bands_are_the_all_nodata_ones(rng):
    cube = rng.random((30, 20, 6)).astype(np.float32)
    cube[:, :, [1, 4]] = -9999.0
    cube[3, 3] = -9999.0  # a fill pixel is not an empty band
    np.testing.assert_array_equal(empty_bands(Scene.from_array(cube, nodata=-9999.0)),
                                  [False, True, False, False, True, False])


def test_clean_blocks_keep_every_clean_neighbourhood(rng):
    blocks = rng.random((1, 32, 32, 3)).astype(np.float32)
    blocks[0, 5, 5, 1] = np.nan
    clean = clean_blocks(blocks)
    assert np.isfinite(clean).all()
    assert clean.shape[1:] == (16, 16, 3) and clean.shape[0] == 3  # only the one 16 x 16 holding the NaN goes


def test_restore_on_a_small_scene_with_one_fill_value(tmp_path):
    scene = make_sample_scene(n_rows=40, n_cols=36).to_scene()
    cube = scene.read().astype(np.float32)
    cube[10, 12] = -9999.0
    source = save_scene(scene.with_array(cube, nodata=-9999.0, scale=1.0, offset=0.0), tmp_path / "one_fill.tif")
    out = tmp_path / "restored.tif"
    assert main(["restore", f"input={source}", f"output={out}", "progress=false", "quicklook=false"]) == 0
    restored = open_scene(out).read()
    assert (restored[10, 12] == -9999.0).all()
    others = np.delete(restored.reshape(-1, restored.shape[2]), 10 * 36 + 12, axis=0)
    assert np.isfinite(others).all() and (others != -9999.0).all()
    assert np.abs(others - np.delete(cube.reshape(-1, cube.shape[2]), 10 * 36 + 12, axis=0)).mean() < 0.05


def test_empty_bands_on_a_large_scene_come_from_patches(rng):
    cube = rng.random((200, 150, 4)).astype(np.float32)
    cube[:, :, 2] = np.nan
    cube[:50] = np.nan  # a fill stripe
    found = empty_bands(Scene.from_array(cube), max_pixels=1000)  # forces the patch path
    np.testing.assert_array_equal(found, [False, False, True, False])

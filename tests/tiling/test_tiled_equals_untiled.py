"""Tiled results equal untiled ones; seams of a convolution are bounded; SR grids scale."""

import numpy as np
import pytest
import torch
from affine import Affine

from hsi.io import open_scene, save_scene
from hsi.scene import Scene
from hsi.tiling import TiledRunner, run_tiled, run_tiled_array, tile_starts


def plus_one(batch):
    return batch + 1.0


def box_blur_3x3(batch):
    padded = np.pad(batch, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    h, w = batch.shape[1:3]
    return sum(padded[:, i:i + h, j:j + w] for i in range(3) for j in range(3)) / 9.0


def nearest_x2(batch):
    return batch.repeat(2, axis=1).repeat(2, axis=2)


def band_mean(batch):
    return batch.mean(axis=3, keepdims=True)


@pytest.mark.parametrize("shape", [(37, 53, 5), (8, 9, 3), (64, 64, 2)])
@pytest.mark.parametrize("tile,overlap", [(16, 4), (100, 10), (7, 3)])
@pytest.mark.parametrize("blend", ["hann", "gaussian", "constant"])
def test_pointwise_function_tiled_equals_untiled(rng, shape, tile, overlap, blend):
    cube = rng.normal(size=shape).astype(np.float32)
    out = run_tiled_array(plus_one, cube, tile=tile, overlap=overlap, blend=blend, batch_size=3)
    assert out.shape == shape
    assert np.max(np.abs(out - (cube + 1))) < 1e-6


def test_band_reducing_function_changes_band_count(rng):
    cube = rng.normal(size=(30, 20, 6)).astype(np.float32)
    out = run_tiled_array(band_mean, cube, tile=8, overlap=2)
    assert out.shape == (30, 20, 1) and np.allclose(out[..., 0], cube.mean(axis=2), atol=1e-6)


def test_local_operator_with_context_is_exact(rng):
    cube = rng.normal(size=(41, 35, 3)).astype(np.float32)
    untiled = box_blur_3x3(cube[None])[0]
    tiled = run_tiled_array(box_blur_3x3, cube, tile=12, overlap=4, context=1)
    assert np.max(np.abs(tiled - untiled)) < 1e-6


def test_convolution_without_context_has_bounded_seams(rng):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 5, padding=2, padding_mode="reflect"), torch.nn.ReLU(),
                              torch.nn.Conv2d(8, 4, 5, padding=2, padding_mode="reflect"))
    cube = rng.normal(size=(48, 48, 4)).astype(np.float32)
    with torch.no_grad():
        untiled = net(torch.from_numpy(cube.transpose(2, 0, 1))[None])[0].numpy().transpose(1, 2, 0)
    rms = lambda a: float(np.sqrt(np.mean((a - untiled) ** 2)) / untiled.std())  # noqa: E731
    hard_seams = rms(run_tiled_array(net, cube, tile=16, overlap=0))
    blended = rms(run_tiled_array(net, cube, tile=16, overlap=8, blend="hann"))
    assert blended < 0.5 * hard_seams and blended < 0.1, (blended, hard_seams)
    # With context >= the receptive-field radius (4) tiles are exact away from the scene border,
    # where a two-layer net's per-layer reflect padding cannot be reproduced by padding the input.
    exact = run_tiled_array(net, cube, tile=16, overlap=0, context=4)
    assert np.max(np.abs(exact - untiled)[4:-4, 4:-4]) < 1e-5


@pytest.mark.parametrize("shape", [(48, 48, 4), (37, 21, 4), (30, 17, 4)])
def test_context_from_inside_the_scene_is_exact_at_the_border_too(rng, shape):
    """edges="inside": a border tile takes its context from inside the scene, so a net that pads each
    layer itself (which no padding of the input reproduces) is exact everywhere, odd shapes and a side
    shorter than tile + 2 x context included; reflect-padding the input is not, at the border."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 5, padding=2, padding_mode="zeros"), torch.nn.ReLU(),
                              torch.nn.Conv2d(8, 4, 5, padding=2, padding_mode="reflect"))
    cube = rng.normal(size=shape).astype(np.float32)
    with torch.no_grad():
        untiled = net(torch.from_numpy(cube.transpose(2, 0, 1))[None])[0].numpy().transpose(1, 2, 0)
    inside = run_tiled_array(net, cube, tile=16, overlap=4, context=4, edges="inside", batch_size=3)
    assert np.max(np.abs(inside - untiled)) < 1e-5
    reflected = run_tiled_array(net, cube, tile=16, overlap=4, context=4, batch_size=3)
    assert np.max(np.abs(reflected - untiled)) > 1e-2


@pytest.mark.parametrize("shape,tile,overlap", [((37, 53, 2), 16, 4), ((8, 9, 2), 100, 10), ((64, 30, 2), 7, 3)])
@pytest.mark.parametrize("edges", ["reflect", "inside"])
def test_observe_sees_every_pixel_exactly_once_as_read(rng, shape, tile, overlap, edges):
    """observe= gets each tile's owned part with its pixels as read (NaN kept, before any fill): over a
    run the parts cover the scene once, however the tiles overlap."""
    cube = rng.normal(size=shape).astype(np.float32)
    cube[3, 2] = np.nan
    seen, values = np.zeros(shape[:2], int), np.zeros(shape, np.float32)

    def observe(window, pixels):
        seen[window.rows, window.cols] += 1
        values[window.rows, window.cols] = pixels

    run_tiled_array(plus_one, cube, tile=tile, overlap=overlap, context=2, edges=edges, batch_size=2, observe=observe)
    assert (seen == 1).all()
    np.testing.assert_array_equal(values, cube)


def test_super_resolution_scales_grid_and_transform(tmp_path, rng):
    cube = rng.normal(size=(13, 11, 2)).astype(np.float32)
    scene = open_scene(save_scene(Scene.from_array(cube, transform=Affine(30, 0, 1000, 0, -30, 2000)), tmp_path / "a.tif"))
    summary = run_tiled(nearest_x2, scene, tmp_path / "sr.tif", tile=8, overlap=2, scale=2, progress=False)
    out = open_scene(summary["output"])
    assert out.shape == (26, 22, 2) and out.transform == Affine(15, 0, 1000, 0, -15, 2000)
    assert np.max(np.abs(out.read() - nearest_x2(cube[None])[0])) < 1e-6


def test_nodata_pixels_stay_nodata_and_do_not_leak(tmp_path, rng):
    cube = rng.uniform(size=(20, 20, 3)).astype(np.float32)
    cube[5:8, 5:8] = -9999
    scene = Scene.from_array(cube, nodata=-9999.0)
    summary = run_tiled(box_blur_3x3, scene, tmp_path / "o.tif", tile=8, overlap=2, progress=False)
    out = open_scene(summary["output"]).read()
    assert np.all(out[5:8, 5:8] == -9999)
    assert np.all(np.abs(out[np.ones((20, 20), bool) & ~np.pad(np.ones((5, 5), bool), ((4, 11), (4, 11)))]) < 2)


def fill_nan_with_seven(batch):
    return np.where(np.isnan(batch), np.float32(7.0), batch)


def test_inpainting_mode_hands_nans_to_the_function_and_writes_its_fill(tmp_path, rng):
    from hsi.scene import masked

    cube = rng.uniform(size=(30, 30, 4)).astype(np.float32)
    mask = (rng.uniform(size=(30, 30, 1)) > 0.3).astype(np.uint8)
    scene = masked(Scene.from_array(cube), Scene.from_array(mask))
    summary = run_tiled(fill_nan_with_seven, scene, tmp_path / "o.tif", tile=12, overlap=4, progress=False,
                        fill_missing=False, keep_nodata=False)
    out = open_scene(summary["output"]).read()
    observed = mask[:, :, 0].astype(bool)
    assert np.allclose(out[~observed], 7.0, atol=1e-6)
    assert np.allclose(out[observed], cube[observed], atol=1e-6)


def test_mask_on_another_grid_is_a_clear_error(rng):
    from hsi.errors import GridMismatchError
    from hsi.scene import masked

    with pytest.raises(GridMismatchError, match="scene and mask"):
        masked(Scene.from_array(np.zeros((10, 10, 3))), Scene.from_array(np.ones((10, 12, 1))))


def test_wrong_output_shape_is_a_clear_error(rng):
    with pytest.raises(Exception, match="tile function returned shape"):
        run_tiled_array(lambda b: b[:, :-1], rng.normal(size=(10, 10, 2)).astype(np.float32), tile=8, overlap=2)


def test_tile_starts_cover_and_end_at_the_border():
    starts = tile_starts(100, 32, 8)
    assert starts[0] == 0 and starts[-1] == 68 and all(b - a <= 24 for a, b in zip(starts, starts[1:]))
    assert tile_starts(10, 32, 8) == [0]


def test_runner_is_picklable_for_dask():
    import pickle

    runner = pickle.loads(pickle.dumps(TiledRunner(plus_one, tile=8, overlap=2)))
    assert runner.tile == 8


def test_tiles_through_an_executor_equal_tiles_run_here(rng):
    from concurrent.futures import ThreadPoolExecutor

    cube = rng.uniform(size=(50, 45, 3)).astype(np.float32)
    here = run_tiled_array(box_blur_3x3, cube, tile=16, overlap=4, context=1, batch_size=2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        there = run_tiled_array(box_blur_3x3, cube, tile=16, overlap=4, context=1, batch_size=2, executor=pool)
    assert np.array_equal(here, there)


@pytest.mark.slow
def test_restore_job_spreads_tiles_over_a_dask_cluster(tmp_path):
    from hsi.cli import main

    out = tmp_path / "r.tif"
    assert main(["restore", f"output={out}", "scheduler=local", "workers=2", "tiling.tile=64", "tiling.overlap=8",
                 "quicklook=false", "progress=false"]) == 0
    assert open_scene(out).shape == (96, 96, 106)


@pytest.mark.parametrize("length", [256, 300, 512, 1024, 2048, 4000])
def test_balanced_tiles_keep_the_work_per_pixel_flat(length):
    from hsi.tiling import TileGrid

    grid = TileGrid(length, length, 256, 32)
    starts = grid.row_starts
    assert grid.tile_rows <= 256 and starts[0] == 0 and starts[-1] + grid.tile_rows == length
    assert all(32 <= a + grid.tile_rows - b for a, b in zip(starts, starts[1:]))  # overlap at least as asked
    assert len(grid) * grid.tile_rows * grid.tile_cols / length**2 < 1.35  # was 2.25 at 512

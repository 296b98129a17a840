"""FastHyDe streamed over a scene: eigen-image tiles equal the untiled denoiser, the whole
streamed restoration equals the untiled one, nodata stays nodata, memory stays bounded, resume is exact."""

import functools
import tracemalloc

import numpy as np
import pytest
import torch

from hsi.io import open_scene
from hsi.restore.classical.bm3d import bm3d
from hsi.restore.classical.fasthyde import apply, denoiser_alignment, denoiser_margin, denoiser_support
from hsi.restore.tile_adapter import SubspaceDenoiserTiles
from hsi.scene import Scene, Window
from hsi.tiling.runner import output_template
from hsi.tiling.subspace_stream import denoise_in_tiles, eigen_tiles, run_subspace

SMALL = dict(patch=4, radius=5, step=2)  # a small BM3D, so that tests tile it many times quickly


def _cube(rng, rows, cols, bands, sigma=0.05):
    """Smooth abundances of three spectra plus white noise."""
    y, x = np.mgrid[0:rows, 0:cols] / 9.0
    fields = np.stack([np.sin(y) * np.cos(x), np.cos(0.7 * y + 0.3 * x), np.sin(0.5 * x) ** 2], axis=-1)
    spectra = rng.uniform(0.2, 1.0, size=(3, bands))
    clean = (fields @ spectra).astype(np.float32)
    return clean + rng.normal(scale=sigma, size=clean.shape).astype(np.float32)


def _fitted(cube, **options):
    return SubspaceDenoiserTiles(k=3, **options).fit(cube[None])


def _run(method, cube, output, **options):
    scene = Scene.from_array(cube)
    return run_subspace(method.plan(), scene, output, template=lambda n: output_template(scene, n), progress=False,
                        **options)


def test_eigen_tiles_cover_the_image_once_and_cuts_start_on_the_reference_grid():
    pairs = eigen_tiles(100, 70, 32, 10, 3)
    covered = np.zeros((100, 70), int)
    for inner, cut in pairs:
        covered[inner.row:inner.row + inner.height, inner.col:inner.col + inner.width] += 1
        assert cut.row % 3 == 0 and cut.col % 3 == 0
        assert cut.row <= max(inner.row - 10, 0) and cut.col <= max(inner.col - 10, 0)
        assert cut.row + cut.height == min(inner.row + inner.height + 10, 100)
    assert (covered == 1).all()


def test_bm3d_in_tiles_with_its_support_as_margin_equals_untiled_bm3d():
    # float64, so that equal arithmetic gives equal block matching (no float32 near-ties)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:90, 0:84] / 7.0
    images = np.stack([np.sin(y) * np.cos(x), np.cos(y + x)]) * 3 + rng.normal(size=(2, 90, 84))
    denoise = functools.partial(bm3d, sigma=1.0, **SMALL)
    untiled = denoise(images)
    support, alignment = denoiser_support(**SMALL), denoiser_alignment(**SMALL)
    assert support == 2 * (2 * 5 + 4 - 1) and alignment == 2
    tiled = np.empty_like(images)
    n = denoise_in_tiles(denoise, images, tiled, tile=24, context=support, alignment=alignment)
    assert n == 16
    np.testing.assert_allclose(tiled, untiled, rtol=0, atol=1e-10)
    # the default margin, patch + radius, is short of the support: differences the test can see,
    # but far below the unit noise
    short = np.empty_like(images)
    denoise_in_tiles(denoise, images, short, tile=24, context=denoiser_margin(**SMALL), alignment=alignment)
    assert 1e-6 < np.abs(short - untiled).max() < 0.2 and np.abs(short - untiled).mean() < 0.01


def test_streamed_fasthyde_equals_untiled_fasthyde(tmp_path, rng):
    cube = _cube(rng, 60, 52, 24)
    method = _fitted(cube, **SMALL)
    summary = _run(method, cube, tmp_path / "out.npy", tile=20, strip_rows=16, context=method.plan().support)
    assert summary["tiles"] == 9 and summary["path"] == "subspace_stream"
    streamed = open_scene(tmp_path / "out.npy").read()
    untiled = apply(torch.from_numpy(cube), method.stats, **SMALL).numpy()
    # float32: block matching may rank near-tied patches differently (a few pixels, far below the
    # noise of 0.05); exact equality is the float64 test above
    error = np.abs(streamed - untiled)
    assert error.max() < 2e-3 and np.median(error) < 1e-5 and (error > 1e-4).mean() < 0.05
    assert not [p for p in tmp_path.iterdir() if ".eigen-" in p.name]  # scratch folder removed


def test_streamed_memmap_path_equals_in_memory_path(tmp_path, rng):
    cube = _cube(rng, 40, 36, 12)
    method = _fitted(cube, **SMALL)
    _run(method, cube, tmp_path / "memory.npy", tile=16)
    summary = _run(method, cube, tmp_path / "memmap.npy", tile=16, memory_mb=0.001)
    assert summary["tiles"] == 9
    assert np.array_equal(open_scene(tmp_path / "memory.npy").read(), open_scene(tmp_path / "memmap.npy").read())
    assert not [p for p in tmp_path.iterdir() if ".eigen-" in p.name]


def test_nodata_pixels_are_written_as_nodata_and_bands_left_out_are_nodata(tmp_path, rng):
    cube = _cube(rng, 40, 36, 12)
    method = _fitted(cube[..., 1:], **SMALL)
    holey = cube.copy()
    holey[5, 7] = np.nan  # a pixel missing in every band
    holey[:, :, 0] = np.nan  # a band with no data, kept out of the method
    scene = Scene.from_array(holey)
    run_subspace(method.plan(), scene, tmp_path / "out.npy", bands=np.arange(1, 12), tile=16, context=method.plan().support,
                 template=lambda n: output_template(scene, n), progress=False)
    out = open_scene(tmp_path / "out.npy").read()
    assert np.isnan(out[5, 7]).all() and np.isnan(out[..., 0]).all()
    finite = np.ones((40, 36), bool)
    finite[5, 7] = False
    assert np.isfinite(out[..., 1:][finite]).all()
    # beyond the denoiser's support from the hole, the result is the untiled one without it
    clean_run = apply(torch.from_numpy(cube[..., 1:]), method.stats, **SMALL).numpy()
    np.testing.assert_allclose(out[34:, 34:, 1:], clean_run[34:, 34:], rtol=0, atol=2e-3)


class Interrupting:
    """A plan that stops (as a kill would) after ``after`` back-projected windows."""

    def __init__(self, plan, after):
        self.plan, self.after, self.calls = plan, after, 0
        self.k, self.support, self.margin, self.alignment = plan.k, plan.support, plan.margin, plan.alignment
        self.project, self.denoise = plan.project, plan.denoise

    def back_project(self, coefficients):
        self.calls += 1
        if self.calls > self.after:
            raise KeyboardInterrupt("simulated interruption")
        return self.plan.back_project(coefficients)


def test_interrupted_streamed_run_resumes_exactly(tmp_path, rng):
    cube = _cube(rng, 64, 30, 10)
    method = _fitted(cube, **SMALL)
    scene = Scene.from_array(cube)
    options = dict(tile=16, strip_rows=16, template=lambda n: output_template(scene, n), progress=False)
    expected = open_scene(run_subspace(method.plan(), scene, tmp_path / "full.tif", **options)["output"]).read()
    output = tmp_path / "out.tif"
    with pytest.raises(KeyboardInterrupt):
        run_subspace(Interrupting(method.plan(), after=2), scene, output, resume=True, **options)
    assert not output.exists() and len(list((tmp_path / "out.tif.partial").glob("rows_*.npy"))) == 2
    summary = run_subspace(method.plan(), scene, output, resume=True, **options)
    assert summary["resumed_from_row"] == 32 and summary["tiles"] == 2 * 2  # the 2 x 2 tiles above row 32 skipped
    assert np.array_equal(open_scene(output).read(), expected)
    assert not (tmp_path / "out.tif.partial").exists()


class BoxDenoiser:
    """The plan with a 3 x 3 box filter for its eigen-image denoiser: the pipeline's memory, quickly."""

    def __init__(self, plan):
        self.k, self.support, self.margin, self.alignment = plan.k, 1, 1, 1
        self.project, self.back_project = plan.project, plan.back_project

    @staticmethod
    def denoise(images):
        padded = np.pad(images, ((0, 0), (1, 1), (1, 1)), mode="edge")
        h, w = images.shape[1:]
        return sum(padded[:, i:i + h, j:j + w] for i in range(3) for j in range(3)) / 9.0


def test_streamed_run_on_a_scene_5x_the_budget_stays_under_it(tmp_path):
    rows, cols, bands = 8192, 32, 40  # 40 MiB of float32 read once; eigen-images memmapped
    budget = 8 * 2**20
    source = tmp_path / "big.npy"
    data = np.lib.format.open_memmap(source, mode="w+", dtype=np.float32, shape=(rows, cols, bands))
    for r in range(0, rows, 512):
        data[r:r + 512] = _cube(np.random.default_rng(r), 512, cols, bands)
    data.flush()
    del data
    scene = open_scene(source)
    assert rows * cols * bands * 4 >= 5 * budget
    plan = BoxDenoiser(_fitted(scene.read(Window(0, 0, 512, cols))).plan())
    tracemalloc.start()
    run_subspace(plan, scene, tmp_path / "out.npy", tile=64, strip_rows=64, memory_mb=1,
                 template=lambda n: output_template(scene, n), progress=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < budget, f"peak {peak / 2**20:.1f} MiB over the {budget / 2**20:.0f} MiB budget"
    out = np.load(tmp_path / "out.npy", mmap_mode="r")
    assert out.shape == (rows, cols, bands)
    # rows 4000-4199 are the plan's steps on those rows (a 1-pixel box filter needs 1 row around them)
    pixels = scene.read(Window(3999, 0, 202, cols))
    coefficients = plan.project(pixels.reshape(-1, bands)).T.reshape(-1, 202, cols)
    expected = plan.back_project(np.ascontiguousarray(plan.denoise(coefficients).reshape(plan.k, -1).T))
    np.testing.assert_allclose(out[4000:4200], expected.reshape(202, cols, bands)[1:201], rtol=0, atol=1e-5)


def test_denoising_tiles_on_an_executor_with_a_pickled_plan_give_the_same_output(tmp_path, rng):
    import pickle
    from concurrent.futures import ThreadPoolExecutor

    cube = _cube(rng, 40, 36, 12)
    method = _fitted(cube, **SMALL)
    _run(method, cube, tmp_path / "here.npy", tile=16)
    plan = pickle.loads(pickle.dumps(method.plan()))  # what a Dask worker receives
    scene = Scene.from_array(cube)
    with ThreadPoolExecutor(2) as pool:
        summary = run_subspace(plan, scene, tmp_path / "there.npy", tile=16, executor=pool,
                               template=lambda n: output_template(scene, n), progress=False)
    assert summary["tiles"] == 9
    assert np.array_equal(open_scene(tmp_path / "here.npy").read(), open_scene(tmp_path / "there.npy").read())

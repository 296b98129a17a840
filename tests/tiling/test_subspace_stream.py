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


# --- the eigen-image denoiser seam: the diffusion prior, scaled scene-wide, and the SURE choice ----------


class RecordingDenoiser:
    """``denoise(images, sigma)`` that returns its input and records the levels it was given."""

    def __init__(self):
        self.sigmas = []

    def denoise(self, images, sigma):
        self.sigmas.append(torch.as_tensor(sigma).clone())
        return images.clone()


def test_scaled_denoiser_fixes_each_eigen_images_scale_once_per_scene(monkeypatch):
    from hsi.restore import eigen_denoisers
    from hsi.restore.eigen_denoisers import ScaledEigenDenoiser

    monkeypatch.setattr(eigen_denoisers, "BATCH_PIXELS", 150)  # the tiles below (600 and 160 px) count as large here

    rng = np.random.default_rng(3)
    signal = np.array([8.0, 2.0, 0.5])  # whitened signal spreads; the noise is unit
    sample = torch.from_numpy(rng.normal(size=(4, 3, 64, 64)) * signal[None, :, None, None] + rng.normal(size=(4, 3, 64, 64)) + 5)
    recorder = RecordingDenoiser()
    eigen = ScaledEigenDenoiser(recorder, signal_std=0.45).fit(sample)
    np.testing.assert_allclose(eigen.scale.numpy(), signal / 0.45, rtol=0.03)  # sqrt(var - 1) / signal_std
    np.testing.assert_allclose(eigen.offset.numpy(), 5, atol=0.1)
    tile = sample[0, :, :20, :30]
    np.testing.assert_allclose(eigen.denoise(tile).numpy(), tile.numpy(), rtol=0, atol=1e-5)  # identity round trip
    eigen.denoise(sample[1, 1:, 10:50, 5:9], index=[1, 2])  # a tile of other pixels, some of the images
    assert [len(s) for s in recorder.sigmas] == [1] * 5  # one image per call of the denoiser (bounded activations)
    first, second = torch.cat(recorder.sigmas[:3]), torch.cat(recorder.sigmas[3:])
    np.testing.assert_allclose(first.numpy(), 0.45 / signal, rtol=0.03)  # the unit noise in its units
    np.testing.assert_array_equal(second.numpy(), first[1:].numpy())  # the same scale per tile
    recorder.sigmas.clear()
    eigen.denoise(sample[1, :, :5, :10])  # small images (the SURE sample) go together, up to BATCH_PIXELS
    assert [len(s) for s in recorder.sigmas] == [3]
    recorder.sigmas.clear()
    eigen.denoise(sample[1, :, :10, :10])  # 100 px each: one per call of at most 150 px
    assert [len(s) for s in recorder.sigmas] == [1] * 3


class Blur:
    """A linear eigen-image denoiser (Gaussian blur), whose SURE is exact in expectation."""

    tile, margin, support, alignment = 64, 4, 4, 1

    def __init__(self, width):
        self.width = width

    def fit(self, images):
        return self

    def describe(self):
        return {"denoiser": f"blur{self.width}"}

    def denoise(self, images, index=None):
        from scipy.ndimage import gaussian_filter

        return torch.from_numpy(gaussian_filter(images.numpy(), (0, self.width, self.width), mode="reflect"))


def test_sure_tracks_the_true_error_and_chooses_per_eigen_image():
    from hsi.restore.eigen_denoisers import SureChoiceEigenDenoiser, sure_per_image, sure_sample

    assert sure_sample(torch.zeros(48, 5, 64, 64), 16_384).shape == (4, 5, 64, 64)  # whole blocks
    assert sure_sample(torch.zeros(1, 5, 256, 256), 16_384).shape == (1, 5, 128, 128)  # the centre of one

    rng = np.random.default_rng(4)
    y, x = np.mgrid[0:96, 0:96]
    smooth = 6 * np.sin(y / 15.0) * np.cos(x / 12.0)
    fine = 6 * np.sign(np.sin(y / 1.5) * np.cos(x / 1.7))  # detail a wide blur destroys
    clean = torch.from_numpy(np.stack([smooth, fine])[None])
    noisy = clean + torch.from_numpy(rng.normal(size=clean.shape))
    for width in (0.7, 3.0):
        risk = sure_per_image(Blur(width), noisy, generator=torch.Generator().manual_seed(0))
        true = ((Blur(width).denoise(noisy[0]) - clean[0]) ** 2).mean(dim=(1, 2))
        np.testing.assert_allclose(risk.numpy(), true.numpy(), atol=0.05)
    choice = SureChoiceEigenDenoiser({"narrow": Blur(0.7), "wide": Blur(3.0)}).fit(noisy)
    assert choice.choice == ["wide", "narrow"]
    out = choice.denoise(noisy[0])
    assert torch.equal(out[0], Blur(3.0).denoise(noisy[0, :1])[0]) and torch.equal(out[1], Blur(0.7).denoise(noisy[0, 1:])[0])


def _textured_cube(rng, size, bands, sigma):
    """Three spectra mixed by photographic textures (skimage), plus white noise: (noisy, clean)."""
    import skimage.data

    fields = []
    for name in ("camera", "moon", "coins"):
        image = getattr(skimage.data, name)()[:size, :size].astype(np.float64)
        fields.append((image - image.mean()) / image.std())
    abundances = np.exp(np.stack(fields, axis=-1))
    abundances /= abundances.sum(-1, keepdims=True)
    clean = (abundances @ rng.uniform(0.2, 1.0, size=(3, bands))).astype(np.float32)
    return clean + rng.normal(scale=sigma, size=clean.shape).astype(np.float32), clean


def _psnr(a, b):
    return 10 * np.log10(float(b.max()) ** 2 / float(np.mean((a - b) ** 2)))


@pytest.mark.slow
def test_prior_eigen_denoiser_streamed_and_tile_runner_match_untiled_and_denoise(tmp_path, rng):
    import pickle

    from hsi.tiling.runner import run_tiled

    sigma = 0.05
    noisy, clean = _textured_cube(rng, 112, 16, sigma)
    method = SubspaceDenoiserTiles(k=3, denoiser="prior").fit(noisy[None])
    plan = method.plan()
    assert (plan.tile, plan.margin, plan.alignment) == (128, 8, 4)
    untiled = method(noisy[None])[0]
    assert _psnr(untiled, clean) > _psnr(noisy, clean) + 8
    # streamed: 3 x 3 tiles of 48 cut with the prior's margin, run on an executor from a pickled plan (Dask's way)
    from concurrent.futures import ThreadPoolExecutor

    scene = Scene.from_array(noisy)
    with ThreadPoolExecutor(1) as pool:
        summary = run_subspace(pickle.loads(pickle.dumps(plan)), scene, tmp_path / "streamed.npy", tile=48, executor=pool,
                               template=lambda n: output_template(scene, n), progress=False)
    assert summary["tiles"] == 9 and summary["context"] == 8
    streamed = open_scene(tmp_path / "streamed.npy").read()
    # the tile runner (tiling.stream=false): 64-px tiles overlapping by 16
    run_tiled(method, scene, tmp_path / "tiled.npy", tile=64, overlap=16, progress=False)
    tiled = open_scene(tmp_path / "tiled.npy").read()
    # no margin makes a U-Net with group norms and attention exact: tiles stay within a fraction of the noise
    # (measured: mean 0.017 / 0.014, largest 0.22 / 0.15 of sigma)
    for result in (streamed, tiled):
        error = np.abs(result - untiled)
        assert error.mean() < 0.04 * sigma and error.max() < 0.5 * sigma
        assert abs(_psnr(result, clean) - _psnr(untiled, clean)) < 0.3


class _Offset:
    """An eigen-image denoiser that adds ``value`` and records the shapes of its calls."""

    def __init__(self, value, tile, margin, alignment):
        self.value, self.tile, self.margin, self.support, self.alignment = value, tile, margin, margin, alignment
        self.shapes = []

    def denoise(self, images, index=None):
        self.shapes.append(tuple(images.shape))
        return images + self.value


def test_each_chosen_denoiser_tiles_its_own_eigen_images_its_own_way():
    from functools import partial

    from hsi.restore.eigen_denoisers import SureChoiceEigenDenoiser
    from hsi.restore.tile_adapter import SubspacePlan
    from hsi.tiling.subspace_stream import tile_groups

    small, large = _Offset(1.0, tile=16, margin=2, alignment=1), _Offset(10.0, tile=24, margin=0, alignment=4)
    choice = SureChoiceEigenDenoiser({"small": small, "large": large})
    choice.choice = ["small", "large", "small"]  # as fitted by SURE
    assert choice.parts() == [((0, 2), small), ((1,), large)]
    plan = SubspacePlan(type("Stats", (), {"k": 3})(), choice)
    groups = tile_groups(plan)
    assert [(g.index, g.tile, g.context, g.alignment) for g in groups] == [((0, 2), 16, 2, 1), ((1,), 24, 0, 4)]
    assert [g.tile for g in tile_groups(plan, tile=32, context=5)] == [32, 32]  # tiling.eigen_tile= overrides every group
    source = np.random.default_rng(4).normal(size=(3, 50, 70)).astype(np.float32)
    target = np.full_like(source, np.nan)
    n_tiles = sum(denoise_in_tiles(partial(plan.denoise, index=g.index), source, target, images=g.index, tile=g.tile,
                                   context=g.context, alignment=g.alignment) for g in groups)
    assert n_tiles == 4 * 5 + 3 * 3
    np.testing.assert_array_equal(target, source + np.array([1.0, 10.0, 1.0], np.float32)[:, None, None])
    assert {shape[0] for shape in small.shapes} == {2} and max(max(shape[1:]) for shape in small.shapes) <= 16 + 2 * 2
    assert {shape[0] for shape in large.shapes} == {1} and max(max(shape[1:]) for shape in large.shapes) == 24

"""Restore a scene (denoise, destripe, inpaint, super-resolve) tile by tile, streamed to disk, with a report."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from hsi import methods
from hsi.errors import GridMismatchError, InputError, ParameterError, TooFewPixelsError
from hsi.distributed import check_scheduler, check_workers_given, dask_client
from hsi.io import open_scene
from hsi.jobs.common import central_window, finish, input_scene, read_options, refuse_constant, require_spectra, start
from hsi.jobs.ortho import swath_path, wants_ortho, write_orthorectified
from hsi.malloc import release_free_memory
from hsi.nodata import empty_bands
from hsi.scene import Scene, Window, check_same_grid, masked
from hsi.tiling import run_tiled, sample_blocks
from hsi.tiling.runner import output_template
from hsi.tiling.subspace_stream import run_subspace
from hsi.tiling.bands import BandSubsetTiles

METRICS_MAX_VALUES = 50_000_000  # above this, reference metrics use a central crop


def check_reference(reference: Scene, scene: Scene, scale: int) -> Scene:
    """Refuse, before any work, a ``reference=`` that cannot be compared with the output."""
    expected = (scene.n_rows * scale, scene.n_cols * scale, scene.n_bands)
    if tuple(reference.shape) != expected:
        got = " x ".join(map(str, reference.shape))
        raise GridMismatchError(f"{reference.path}: reference= is {got} (rows x cols x bands); the output will be "
                                f"{' x '.join(map(str, expected))}")
    return reference


def reference_scores(reference: Scene, restored: Scene, noisy: Scene) -> dict:
    """MPSNR, MSSIM, SAM, ERGAS of the output (and of the input) against a clean reference."""
    from hsi.metrics import ergas, mpsnr, mssim, sam

    check_same_grid(reference, restored, "reference and output")
    side = int(np.sqrt(METRICS_MAX_VALUES / max(reference.n_bands, 1)))
    window = central_window(reference.n_rows, reference.n_cols, side)
    clean = reference.read(window, physical=True)
    scores = {"window": [window.row, window.col, window.height, window.width]}
    for name, scene in (("output", restored), ("input", noisy)):
        estimate = scene.read(window, physical=True)
        valid = np.isfinite(clean).all(axis=2) & np.isfinite(estimate).all(axis=2)
        c, e = np.where(valid[..., None], clean, 0), np.where(valid[..., None], estimate, 0)
        scores[name] = {"mpsnr_db": mpsnr(c, e), "mssim": mssim(c, e), "sam_deg": sam(c[valid], e[valid]),
                        "ergas": ergas(c, e)}
    return scores


def save_quicklook(before: Scene, after: Scene, path: Path, scale: int) -> Path:
    """Input and output side by side in true colour, central window; only the three colour bands are read."""
    from hsi.viz import rgb_bands, save_before_after

    window = central_window(before.n_rows, before.n_cols)
    big = Window(window.row * scale, window.col * scale, window.height * scale, window.width * scale)
    colour = list(rgb_bands(before.wavelengths_nm, n_bands=before.n_bands))
    return save_before_after(before.read(window, colour, physical=True), after.read(big, colour, physical=True),
                             None, path, titles=("input", "restored"), bands=(0, 1, 2))


def subspace_plan(method):
    """The streamed subspace plan of ``method`` (fasthyde, or auto having chosen it), else None.

    Unwraps :class:`hsi.tiling.bands.BandSubsetTiles` (whose bands the job passes itself) and
    ``method=auto``'s chosen method; methods with other steps (destriping, robust) run tile by tile.
    """
    inner = getattr(method, "fn", method)
    inner = getattr(inner, "chosen", None) or inner
    return inner.plan() if callable(getattr(inner, "plan", None)) else None


def _diagnosis_line(diagnosis: dict | None) -> str | None:
    """The console's account of method=auto's choice, e.g. 'auto: gaussian noise (band-dependent;
    no impulses, dead lines or column stripes) -> eigen-images by bm3d x3, prior x2'."""
    if not diagnosis:
        return None
    found = diagnosis["diagnosis"]
    line = f"auto: {diagnosis['chosen']} model ({found['noise']} noise; {'; '.join(found['reasons'])})"
    if diagnosis.get("why"):
        line += f"; {diagnosis['why']}"
    choices = diagnosis.get("eigen_denoiser", {}).get("choice_per_eigen_image")
    if choices:
        line += " -> eigen-images by " + ", ".join(f"{name} x{choices.count(name)}" for name in sorted(set(choices)))
    return line


def _noise_diagnosis(method, kept: np.ndarray) -> dict | None:
    """method=auto's diagnosis and choice (None for other methods), in scene band indices."""
    inner = getattr(method, "fn", method)  # BandSubsetTiles wraps the method when some bands are empty
    return inner.report(kept) if hasattr(inner, "report") else None


#: Denoisers that need no scene-wide statistics, so they run on a scene with no more pixels than
#: bands (the others fit a noise regression or a signal subspace on the pixels); tested by
#: tests/restore/test_few_pixels.py, which runs each on 100 pixels x 285 bands.
FEW_PIXEL_METHODS = ("tv", "lrtv", "hyres")


def too_few_pixels(scene: Scene, error: TooFewPixelsError) -> InputError:
    """The method's refusal, naming the file and the methods that work on so few pixels."""
    return InputError(f"{scene.describe()}: {error}; with so few pixels use "
                      f"{', '.join(f'method={name}' for name in FEW_PIXEL_METHODS)} (no scene-wide statistics)")


@contextmanager
def refused_for_few_pixels(scene: Scene):
    """Methods that compute their statistics per tile (``robust_fasthyde``) refuse there, naming no file."""
    try:
        yield
    except TooFewPixelsError as error:
        raise too_few_pixels(scene, error) from None


def check_given(cfg: DictConfig, given: set[str]) -> None:
    """Refuse a setting given on the command line that this task would ignore (``scale=3`` with
    ``task=denoise`` kept the grid and said nothing)."""
    task = cfg.task
    if "scale" in given and task != "sr":
        raise ParameterError(f"scale={cfg.scale} is used by task=sr only; task={task} does not resample")
    if "mask" in given and cfg.mask is not None and task != "inpaint":
        raise ParameterError(f"mask= is only used with task=inpaint; got task={task}")
    check_workers_given(cfg, given)


def run(cfg: DictConfig) -> dict:
    entered = time.perf_counter()
    scene = require_spectra(input_scene(cfg), "restore")
    method = methods.build("restore", cfg.method, cfg.get("method_name") or "method", task=cfg.task)
    scale = int(getattr(method, "scale", 1) or 1)
    # GLT / lat-lon products: the method runs in the swath (stripes are column-aligned there),
    # the result is then mapped onto the product's grid
    ortho = wants_ortho(scene, cfg.ortho) and scale == 1
    extra = {"swath_output": swath_path(Path(str(cfg.output)).expanduser())} if ortho else None
    check_scheduler(cfg.get("scheduler"), int(cfg.workers))
    job = start("restore", cfg, cfg.output, inputs={"input": scene, "mask": cfg.get("mask"), "reference": cfg.get("reference")},
                extra=extra)
    job.timed("setup", entered)  # opening the input, building the method (loading a prior), checking the outputs
    reference = check_reference(open_scene(cfg.reference), scene, scale) if cfg.reference else None
    inpaint = cfg.task == "inpaint"
    if cfg.get("mask"):  # refused outside task=inpaint by check_given
        scene = masked(scene, open_scene(cfg.mask))
    started = time.perf_counter()
    empty = empty_bands(scene, np.random.default_rng(int(cfg.seed)))
    kept = np.flatnonzero(~empty)
    if empty.any():  # bands with no data stay out of the method and are written back as nodata
        method = BandSubsetTiles(method, kept, scene.n_bands)
    blocks = sample_blocks(scene.select_bands(kept), int(cfg.sample_pixels), rng=np.random.default_rng(int(cfg.seed)))
    refuse_constant(scene, blocks, "no signal to restore")
    try:
        method.fit(blocks)
    except TooFewPixelsError as error:
        raise too_few_pixels(scene, error) from None
    except InputError as error:  # the fit's own checks (too few pixels for the bands, ...) name no file
        raise InputError(f"{scene.describe()}: {error}") from None
    del blocks  # the sample (160 MB at 200,000 pixels x 200 bands) is not needed past the fit
    release_free_memory()  # nor what the fit freed (diagnosis, statistics): the passes start from what is live
    started = job.timed("fit", started)
    tiling = cfg.tiling
    target, write = job.outputs["swath_output" if ortho else "output"], read_options(cfg, "write")
    plan = subspace_plan(method) if tiling.get("stream", False) and scale == 1 and not inpaint else None
    with dask_client(cfg.get("scheduler"), int(cfg.workers)) as client, refused_for_few_pixels(scene):
        if plan is not None:
            summary = run_subspace(
                plan, scene, target, bands=kept, tile=None if tiling.eigen_tile is None else int(tiling.eigen_tile),
                context=None if tiling.eigen_context is None else int(tiling.eigen_context),
                memory_mb=float(tiling.memory_mb), template=lambda n_bands: output_template(scene, n_bands),
                overwrite=cfg.overwrite, resume=bool(cfg.resume), fingerprint=job.fingerprint, write_options=write,
                executor=client, tile_workers=tiling.get("tile_workers"), tile_threads=int(tiling.get("tile_threads", 1)),
                progress=bool(cfg.progress),
            )
        else:
            summary = run_tiled(
                method, scene, target, overwrite=cfg.overwrite, tile=int(tiling.tile),
                overlap=int(tiling.overlap), context=int(tiling.context), blend=tiling.blend, edges=str(tiling.edges),
                batch_size=int(tiling.batch_size), scale=scale, progress=bool(cfg.progress), fill_missing=not inpaint,
                keep_nodata=not inpaint, resume=bool(cfg.resume), fingerprint=job.fingerprint, executor=client,
                write_options=write,
            )
    started = job.timed("restore", started)
    restored = open_scene(summary["output"])
    if ortho:
        write_orthorectified(job.outputs["swath_output"], scene, job.outputs["output"], bool(cfg.overwrite))
        started = job.timed("orthorectify", started)
    results = {"task": cfg.task, "scale": scale, "estimated_noise_std_per_band": getattr(method, "noise_std", None),
               "noise_diagnosis": _noise_diagnosis(method, kept),
               "wavelength_nm": scene.wavelengths_nm, "empty_bands_written_as_nodata": np.flatnonzero(empty).tolist(),
               "tiling": summary}
    if cfg.reference:
        results["reference"] = reference_scores(reference, restored, scene if scale == 1 else restored)
    if job.quicklook:
        save_quicklook(scene, restored, job.quicklook, scale)
    job.timed("assess", started)
    report = finish(job, results, method=method)
    written = open_scene(job.outputs["output"]) if ortho else restored  # the map grid, not the swath
    if _diagnosis_line(results.get("noise_diagnosis")):
        print(_diagnosis_line(results["noise_diagnosis"]))
    print(f"wrote {job.outputs['output']} ({written.n_rows} x {written.n_cols} x {written.n_bands}) in "
          f"{report['timings']['total_s']:.1f} s; report {job.outputs['report']}")
    if "reference" in results:
        got, before = results["reference"]["output"], results["reference"]["input"]
        print(f"MPSNR {got['mpsnr_db']:.2f} dB (input {before['mpsnr_db']:.2f} dB), MSSIM {got['mssim']:.4f}, "
              f"SAM {got['sam_deg']:.2f} deg")
    return report

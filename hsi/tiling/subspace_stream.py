"""Subspace denoising of a whole scene in three streamed passes and bounded memory.

A subspace denoiser (FastHyDe) projects every pixel on ``k`` basis vectors (5-10, not the
scene's hundreds of bands), denoises the ``k`` eigen-images with a 2-D denoiser and
projects back. Run through the generic tile runner, every tile would read all bands with
its halo and project them again; here the scene is read once and written once:

1. *project*: the scene's blocks, in the file's block order, are projected to the ``k``
   eigen-images (kept in memory when they fit ``memory_mb``, else in a temporary memmap
   beside the output, removed after);
2. *denoise*: the 2-D denoiser runs over the eigen-images in tiles, each cut with a margin
   from tile origins on its reference grid (``plan.alignment``), and only the tile's own
   pixels are kept. With a margin of the denoiser's support (``plan.support``) the result
   equals the untiled one; the default, ``plan.margin``, is cheaper and leaves differences
   near tile edges far below the noise. The halo costs ``k`` images, not every band;
3. *back-project*: output rows are back-projected and written window by window in block
   order (whole strips when a resume journal keeps them).

The ``plan`` is any object with ``k``, ``support``, ``margin``, ``alignment`` and three picklable
functions: ``project((n, bands)) -> (n, k)``, ``back_project((n, k)) -> (n, bands)`` and
``denoise((k, rows, cols)) -> (k, rows, cols)`` (see
:meth:`hsi.restore.tile_adapter.SubspaceDenoiserTiles.plan`). A plan whose eigen-images go to
different denoisers (``auto``'s per-image SURE choice) also offers ``groups()``: each group's
images are tiled with that denoiser's own tile, margin and alignment and denoised by
``denoise(images, index)``, so the prior is not run on BM3D's larger tiles (its cost per pixel
grows with the tile: self-attention over the tile). Denoising tiles are
independent tasks on a fixed thread count: tiles run side by side on this process's threads or
on an ``executor`` (a Dask client), with the same output bits (:mod:`hsi.tiling.tasks`).
"""

from __future__ import annotations

import shutil
import time
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from hsi.errors import OutputLockedError, ParameterError
from hsi.io import lock
from hsi.io.base import release_pages
from hsi.malloc import release_free_memory
from hsi.scene import Scene, Window
from hsi.tiling.output import StreamedOutput
from hsi.tiling.tasks import FixedThreads, executor_slots, run_in_order

#: Rows and columns of the blocks read and projected in pass 1 (GeoTIFF blocks are 256 or 512).
READ_BLOCK = 256


def _filled(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Missing values replaced by the block's band means (as the tile runner fills tiles); the all-missing mask."""
    missing = ~np.isfinite(pixels)
    if missing.any():
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a band with no value in this block: filled with 0
            means = np.nanmean(pixels.reshape(-1, pixels.shape[2]), axis=0)
        pixels = np.where(missing, np.nan_to_num(means, nan=0.0)[None, None, :], pixels)
    return pixels, missing.all(axis=2)


def eigen_images(k: int, rows: int, cols: int, memory_bytes: int, folder: Path, name: str) -> np.ndarray:
    """``(k, rows, cols)`` float32 in memory, or a memmap under ``folder`` when larger than ``memory_bytes``."""
    if 4 * k * rows * cols <= memory_bytes:
        return np.empty((k, rows, cols), np.float32)
    return np.memmap(folder / f"{name}.f32", np.float32, "w+", shape=(k, rows, cols))


def scratch_folder(output: Path) -> Path:
    """A new folder beside ``output`` for its eigen-images' memmaps, locked (:mod:`hsi.io.lock`) while this run lives.

    A run killed outright (SIGKILL, power loss) cannot remove its folder, and a memmap of a
    large scene's eigen-images is hundreds of MB: the next run on the same output removes
    every such folder whose lock no live process holds.
    """
    prefix = f".{output.name}.eigen-"
    for name in sorted({path.name.removesuffix(lock.LOCK_SUFFIX) for path in output.parent.glob(prefix + "*")}):
        stale = output.parent / name
        try:
            lock.acquire(stale)
        except OutputLockedError:
            continue  # a live run's
        shutil.rmtree(stale, ignore_errors=True)
        lock.release(stale)
    folder = output.parent / f"{prefix}{uuid.uuid4().hex[:8]}"
    lock.acquire(folder)  # before the folder exists, so no other run sees it unlocked
    folder.mkdir()
    return folder


def _at(images: np.ndarray, window: Window) -> np.ndarray:
    return images[:, window.row:window.row + window.height, window.col:window.col + window.width]


def _release(images: np.ndarray, window: Window) -> None:
    """Unmap a memmapped window once written (pass 1) or read (pass 3): it stays in the page cache
    and on disk, not in this process's resident set (:func:`hsi.io.base.release_pages`)."""
    if isinstance(images, np.memmap):
        release_pages(_at(images, window))


def eigen_tiles(rows: int, cols: int, tile: int, support: int, alignment: int) -> list[tuple[Window, Window]]:
    """``(tile, cut)`` windows: tiles cover the image without overlap; each cut is its tile grown by
    ``support`` (clipped to the image) with its origin moved back to a multiple of ``alignment``."""
    pairs = []
    for row in range(0, rows, tile):
        for col in range(0, cols, tile):
            inner = Window(row, col, tile, tile).clip(rows, cols)
            top, left = max(row - support, 0), max(col - support, 0)
            top, left = top - top % alignment, left - left % alignment
            bottom, right = min(row + inner.height + support, rows), min(col + inner.width + support, cols)
            pairs.append((inner, Window(top, left, bottom - top, right - left)))
    return pairs


def run_subspace(plan, scene: Scene, output: Path | str, *, bands: np.ndarray | None = None, tile: int | None = None,
                 context: int | None = None, strip_rows: int | None = None, memory_mb: float = 512,
                 template=None, overwrite: bool = False, resume: bool = False, fingerprint: dict | None = None,
                 write_options: dict | None = None, executor=None, tile_workers: int | None = None,
                 tile_threads: int = 1, progress: bool = True) -> dict:
    """Denoise ``scene`` with ``plan`` and stream the result to ``output``; returns a summary.

    Parameters
    ----------
    plan : the subspace method (see the module's docstring).
    bands : the scene's bands the plan works on (default all); the others are written as nodata.
    tile : side of the denoising tiles on the eigen-images; None = each group's own (:func:`tile_groups`).
    context : margin of each denoising tile; None = each group's ``margin``; its ``support`` or more gives the
        untiled result exactly.
    strip_rows : output rows per strip; None = 256, or with ``resume`` (whose journal keeps whole
        strips in memory) the largest power of two (16 to 256) whose strip fits a quarter of ``memory_mb``.
    memory_mb : eigen-images (input and denoised) are kept in memory up to half this size each,
        else memmapped.
    template : ``n_bands -> Scene``, the output's grid and metadata.
    resume, fingerprint : as :func:`hsi.tiling.runner.run_tiled`.
    executor : None runs the denoising tiles here; otherwise ``submit(fn, cut) -> future`` (Dask).
    tile_workers, tile_threads : as ``workers`` and ``tile_threads`` of :func:`denoise_in_tiles`; the
        output depends on ``tile_threads`` (recorded in the resume journal), not on where tiles run.
    """
    if strip_rows is None and not resume:
        strip_rows = READ_BLOCK  # written window by window: one GeoTIFF block row at a time
    elif strip_rows is None:  # the journal keeps whole strips
        row_bytes = 4 * scene.n_cols * scene.n_bands
        fit = max(16, int(memory_mb * 2**20 / 4 // row_bytes))
        strip_rows = min(READ_BLOCK, 1 << (fit.bit_length() - 1))  # divides 256- and 512-row GeoTIFF blocks
    if (tile is not None and tile < 1) or strip_rows < 1:
        raise ParameterError(f"tile and strip_rows must be positive; got {tile}, {strip_rows}")
    if context is not None and context < 0:
        raise ParameterError(f"context must be >= 0; got {context}")
    groups = tile_groups(plan, tile, context)
    output = Path(output)
    bands = np.arange(scene.n_bands) if bands is None else np.asarray(bands)
    settings = {"path": "subspace_stream", "strip_rows": int(strip_rows), "k": int(plan.k), "tile_threads": int(tile_threads),
                "tile": groups[0].tile, "context": groups[0].context, "alignment": groups[0].alignment,
                "groups": [group.settings() for group in groups]}
    journal = None
    if resume:
        from hsi.tiling.resume import StripJournal

        journal = StripJournal(output, {"run": fingerprint or {}, "scene": scene.describe(), "shape": list(scene.shape),
                                        "function": "subspace_stream", "dtype": "float32", "tiling": settings})
    out = StreamedOutput(output, template, overwrite=overwrite, inputs=(scene.path,) if scene.path else (),
                         journal=journal, write_options=write_options)
    rows_done = out.rows_done()
    out.open(scene.n_bands)  # an output that may not be overwritten is refused before any work
    scratch = scratch_folder(output)
    timings, started = {}, time.perf_counter()
    try:
        out.replay(rows_done)
        budget = int(memory_mb * 2**20) // 2
        noisy = eigen_images(plan.k, scene.n_rows, scene.n_cols, budget, scratch, "projected")
        empty = np.zeros((scene.n_rows, scene.n_cols), bool)
        _project(plan, scene, bands, noisy, empty, progress)
        timings["project_s"], started = time.perf_counter() - started, time.perf_counter()
        denoised = eigen_images(plan.k, scene.n_rows, scene.n_cols, budget, scratch, "denoised")
        n_tiles = 0
        for group in groups:
            denoise = plan.denoise if group.index is None else partial(plan.denoise, index=group.index)
            n_tiles += denoise_in_tiles(denoise, noisy, denoised, images=group.index, tile=group.tile,
                                        context=group.context, alignment=group.alignment, rows_done=rows_done,
                                        executor=executor, workers=tile_workers, tile_threads=tile_threads,
                                        progress=progress)
        del noisy
        timings["denoise_s"], started = time.perf_counter() - started, time.perf_counter()
        _back_project(plan, denoised, empty, bands, scene.n_bands, strip_rows, rows_done, out)
        timings["back_project_write_s"] = time.perf_counter() - started
        del denoised
    except BaseException:
        out.abort()
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        lock.release(scratch)
    seconds = sum(timings.values())
    slots = executor_slots(executor) if executor is not None else int(tile_workers or torch.get_num_threads())
    return {"output": out.close(), "tiles": n_tiles, "tile_workers": slots, "seconds": seconds, "resumed_from_row": rows_done,
            "pixels_per_second": scene.n_rows * scene.n_cols / max(seconds, 1e-9), **timings, **settings}


@dataclass(frozen=True)
class TileGroup:
    """Eigen-images denoised together, and how their tiles are cut.

    ``index``: which eigen-images (None: all ``k``, in one call per tile); ``tile``, ``context``
    (the margin) and ``alignment`` as :func:`eigen_tiles`.
    """

    index: tuple[int, ...] | None
    tile: int
    context: int
    alignment: int

    def settings(self) -> dict:
        return {"images": None if self.index is None else list(self.index), "tile": self.tile,
                "context": self.context, "alignment": self.alignment}


def tile_groups(plan, tile: int | None = None, context: int | None = None) -> list[TileGroup]:
    """The plan's groups of eigen-images (``plan.groups()`` when it has them, else one of all ``k``),
    each with ``tile`` and ``context`` when given, else its own ``tile`` and ``margin``."""
    groups = plan.groups() if callable(getattr(plan, "groups", None)) else [(None, plan)]
    return [TileGroup(None if index is None else tuple(int(i) for i in index),
                      int(getattr(part, "tile", 256) if tile is None else tile),
                      int(part.margin if context is None else context), int(part.alignment))
            for index, part in groups]


def _project(plan, scene: Scene, bands: np.ndarray, noisy: np.ndarray, empty: np.ndarray, progress: bool) -> None:
    """Pass 1: every block read once (the next one read while this one is projected)."""
    windows = list(scene.windows(READ_BLOCK, READ_BLOCK))
    read = lambda window: scene.read(window, bands, physical=True, dtype=np.float32)  # noqa: E731
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(read, windows[0])
        for i, window in enumerate(tqdm(windows, desc="project", unit="block", disable=not progress)):
            pixels = pending.result()
            if i + 1 < len(windows):
                pending = pool.submit(read, windows[i + 1])
            pixels, missing = _filled(pixels)
            empty[window.row:window.row + window.height, window.col:window.col + window.width] = missing
            coefficients = plan.project(pixels.reshape(-1, pixels.shape[2]))
            _at(noisy, window)[:] = coefficients.T.reshape(-1, window.height, window.width)
            _release(noisy, window)
            del pixels, coefficients


def denoise_in_tiles(denoise, source: np.ndarray, target: np.ndarray, *, tile: int, context: int, alignment: int = 1,
                     images=None, rows_done: int = 0, executor=None, workers: int | None = None, tile_threads: int = 1,
                     progress: bool = False) -> int:
    """``target = denoise(source)`` for ``(k, rows, cols)`` images, tile by tile; returns the tile count.

    ``images``: only these of the ``k`` (a sequence of indices; None: all), cut and written alone.

    Each tile is cut with ``context`` pixels around it (see :func:`eigen_tiles`) and only its
    own pixels are kept, so with ``context`` at least the denoiser's support the result is
    the untiled one. Tiles wholly above ``rows_done`` are skipped (resume). Every tile runs on
    ``tile_threads`` torch threads (:class:`hsi.tiling.tasks.FixedThreads`), so the result
    depends on that count only, not on where tiles run: on the ``executor`` (a Dask client)
    when there is one, else on ``workers`` threads here (None: torch's thread count), tiles
    side by side. Tiles are written in order, with at most twice the parallel slots in flight.
    """
    _, rows, cols = source.shape
    pairs = [pair for pair in eigen_tiles(rows, cols, tile, context, alignment) if pair[0].row + pair[0].height > rows_done]
    workers = torch.get_num_threads() if workers is None else int(workers)
    chosen = slice(None) if images is None else list(images)
    cuts = (np.ascontiguousarray(_at(source, cut)[chosen]) for _, cut in pairs)
    results = run_in_order(FixedThreads(denoise, tile_threads), cuts, executor=executor, workers=workers)
    with closing(results):  # a failed tile cancels the tiles still pending
        for (inner, cut), result in tqdm(zip(pairs, results), total=len(pairs), desc="denoise", unit="tile",
                                         disable=not progress):
            top, left = inner.row - cut.row, inner.col - cut.col
            target[chosen, inner.row:inner.row + inner.height, inner.col:inner.col + inner.width] = \
                result[:, top:top + inner.height, left:left + inner.width]
    return len(pairs)


def _back_project(plan, denoised: np.ndarray, empty: np.ndarray, bands: np.ndarray, n_bands: int,
                  strip_rows: int, rows_done: int, out: StreamedOutput) -> None:
    """Pass 3: strips of output rows, back-projected window by window.

    Each window goes straight to the writer (it completes whole GeoTIFF blocks), except with a
    resume journal, which keeps whole strips: then the windows fill one reused strip buffer.
    """
    release_free_memory()  # what the denoising tiles freed, before this pass's buffers
    _, rows, cols = denoised.shape
    whole_strips = out.journal is not None
    strip = np.empty((min(strip_rows, rows), cols, n_bands), np.float32) if whole_strips else None
    subset = len(bands) != n_bands
    for row in range(rows_done, rows, strip_rows):
        height = min(strip_rows, rows - row)
        for col in range(0, cols, READ_BLOCK):
            width = min(READ_BLOCK, cols - col)
            window = Window(row, col, height, width)
            coefficients = np.ascontiguousarray(_at(denoised, window).reshape(plan.k, -1).T)
            _release(denoised, window)
            pixels = plan.back_project(coefficients).reshape(height, width, -1)
            if subset:  # bands kept out of the method are NaN, written as nodata
                values = np.full((height, width, n_bands), np.nan, np.float32)
                values[..., bands] = pixels
            else:
                values = pixels
            if whole_strips:
                strip[:height, col:col + width] = values
            else:
                out.put(window, values, empty[row:row + height, col:col + width])
        if whole_strips:
            out.put(Window(row, 0, height, cols), strip[:height], empty[row:row + height])

"""Run a tile function over a scene, tile row by tile row, streaming the result to disk.

Memory is bounded by one strip of accumulated output (tile height x scene width x
output bands, float32) plus one batch of tiles, whatever the scene size.

Each tile is read with ``context`` extra pixels on every side that are cropped from the
result, so a local operator whose support fits in the context gives exactly the untiled
answer. At the scene border the context is either reflect-padded (``edges="reflect"``:
exact for operators that reflect at borders themselves) or taken from inside the scene
(``edges="inside"``: the read window is shifted inwards, so a border tile sees the border
as an untiled run does, whatever the operator does there); overlapping tiles are blended with
weights from :mod:`hsi.tiling.windows`. Nodata/NaN pixels are filled with the tile's
band means before the function sees them and are nodata again in the output.
"""

from __future__ import annotations

import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
from affine import Affine
from tqdm import tqdm

from hsi.errors import ParameterError
from hsi.scene import Scene, Window
from hsi.tiling.grid import TileGrid
from hsi.tiling.windows import blend_weights

TileFunction = Callable[[np.ndarray], np.ndarray]


class ModuleTileFunction:
    """Adapts a ``torch.nn.Module`` taking ``(n, bands, rows, cols)`` to a tile function."""

    def __init__(self, module, device: str | None = None):
        import torch

        self.module = module
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        import torch

        self.module.to(self.device).eval()
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2))).to(self.device)
            y = self.module(x)
        return y.detach().float().cpu().numpy().transpose(0, 2, 3, 1)


def as_tile_function(fn) -> TileFunction:
    try:
        import torch

        if isinstance(fn, torch.nn.Module):
            return ModuleTileFunction(fn)
    except ImportError:  # torch is a dependency, but the engine itself does not need it
        pass
    return fn


EDGES = ("reflect", "inside")


def _inside_span(start: int, size: int, length: int, context: int) -> tuple[int, int]:
    """``(begin, extent)`` of ``[start, start + size)`` grown by ``context`` on each side, shifted to
    lie inside ``[0, length)`` (and cut to ``length``): the same extent for every tile of one size."""
    extent = min(size + 2 * context, length)
    return min(max(start - context, 0), length - extent), extent


def context_window(scene: Scene, window: Window, context: int, edges: str = "reflect") -> Window:
    """The window read for a tile: ``window`` grown by ``context`` on each side; with ``edges="inside"``
    shifted (and cut) to lie inside the scene, with ``"reflect"`` possibly reaching beyond it."""
    if edges == "reflect":
        return Window(window.row - context, window.col - context, window.height + 2 * context, window.width + 2 * context)
    row, height = _inside_span(window.row, window.height, scene.n_rows, context)
    col, width = _inside_span(window.col, window.width, scene.n_cols, context)
    return Window(row, col, height, width)


def _read_with_context(scene: Scene, window: Window, context: int, fill: bool = True, edges: str = "reflect",
                       observe: Callable[[Window, np.ndarray], None] | None = None,
                       owned: Window | None = None) -> tuple[np.ndarray, np.ndarray, Window]:
    """Physical pixels of :func:`context_window` (reflect-padded where it leaves the scene), the nodata
    mask of ``window`` itself, and where ``window`` lies in the pixels read (a window of them).

    With ``fill`` missing values are replaced by the tile's band means; without, they stay NaN
    (for methods that fill them, e.g. inpainting). ``observe(owned, pixels)`` first sees the
    physical pixels of ``owned`` (a part of ``window``) as read, NaN nodata included.
    """
    grown = context_window(scene, window, context, edges)
    inside = grown.clip(scene.n_rows, scene.n_cols)
    pixels = scene.read(inside, physical=True)
    if observe is not None:
        top, left = owned.row - inside.row, owned.col - inside.col
        observe(owned, pixels[top: top + owned.height, left: left + owned.width])
    pad = ((inside.row - grown.row, grown.row + grown.height - inside.row - inside.height),
           (inside.col - grown.col, grown.col + grown.width - inside.col - inside.width), (0, 0))
    if any(p for pair in pad for p in pair):
        mode = "reflect" if min(pixels.shape[:2]) > 1 else "edge"
        pixels = np.pad(pixels, pad, mode=mode)
    missing = ~np.isfinite(pixels)
    own = Window(window.row - grown.row, window.col - grown.col, window.height, window.width)
    if fill and missing.any():
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # bands with no value in this tile: filled with 0
            means = np.nanmean(np.where(missing, np.nan, pixels).reshape(-1, pixels.shape[2]), axis=0)
        pixels = np.where(missing, np.nan_to_num(means, nan=0.0)[None, None, :], pixels)
    return pixels.astype(np.float32, copy=False), missing.all(axis=2)[own.rows, own.cols], own


def output_template(scene: Scene, n_bands: int, dtype=np.float32, scale: int = 1, **changes) -> Scene:
    """Grid, georeferencing and metadata of a tiled run's output: ``scale`` times the pixels, ``n_bands`` bands."""
    transform = None if scene.transform is None else scene.transform @ Affine.scale(1.0 / scale)
    nodata = scene.nodata if scene.nodata is not None else (np.nan if np.dtype(dtype).kind == "f" else None)
    changes.setdefault("transform", transform)
    changes.setdefault("nodata", nodata)
    return scene.derived(n_bands=n_bands, dtype=dtype, n_rows=scene.n_rows * scale, n_cols=scene.n_cols * scale,
                         scale=1.0, offset=0.0, **changes)


class _Strip:
    """Accumulated weighted output for output rows ``[start, start + height)``, in a fixed buffer.

    At most one tile height of rows is ever pending (rows before the next tile row's start
    are final), so the buffer never grows: finished rows are normalised in place, handed
    out as views, then dropped and the rest shifted up.
    """

    def __init__(self, height: int, cols: int, bands: int):
        self.start = 0
        self.values = np.zeros((height, cols, bands), np.float32)
        self.weights = np.zeros((height, cols), np.float32)
        self.empty = np.ones((height, cols), bool)

    def finish(self, end: int) -> tuple[int, np.ndarray, np.ndarray]:
        """Finished rows ``[start, end)``, normalised in place: views valid until :meth:`advance`."""
        n = end - self.start
        values = self.values[:n]
        values /= np.maximum(self.weights[:n], np.finfo(np.float32).tiny)[:, :, None]
        return self.start, values, self.empty[:n]

    def advance(self, end: int) -> None:
        """Drop rows before ``end`` and shift the pending ones to the top of the buffer."""
        n = end - self.start
        keep = self.values.shape[0] - n
        for buffer, fill in ((self.values, 0.0), (self.weights, 0.0), (self.empty, True)):
            buffer[:keep] = buffer[n:]
            buffer[keep:] = fill
        self.start = end


class TiledRunner:
    """Sliding-window inference over a scene.

    Parameters
    ----------
    fn : tile function ``(n, rows, cols, bands) float32 -> (n, rows*scale, cols*scale, bands_out)``,
        or a ``torch.nn.Module`` on ``(n, bands, rows, cols)``. Must be picklable for Dask.
    tile, overlap : tile size and minimum overlap between neighbouring tiles, in input pixels.
    context : extra input pixels read around each tile and cropped from the result.
    edges : ``reflect`` (default): context beyond the scene border is reflect-padded; ``inside``:
        a border tile's context comes from inside the scene (its read window shifted inwards),
        so the method sees the scene's border as an untiled run does.
    observe : ``observe(window, pixels)``, called as each tile is read with the part of the scene
        it owns (:meth:`TileGrid.owned`: every input pixel exactly once over a run) and its
        physical pixels as read, NaN nodata included: a reduction over the scene (nodata counts)
        in the same pass instead of a second read. Called in the reading thread, one tile at a
        time; a resumed run observes only the tile rows it runs.
    blend : ``hann`` | ``gaussian`` | ``constant`` weights across overlaps.
    batch_size : tiles per call of ``fn``.
    scale : output pixels per input pixel (super-resolution); the output transform is scaled.
    prefetch : read the next tile row in a background thread while ``fn`` runs.
    fill_missing : replace NaN/nodata by band means before ``fn`` (default); False hands
        ``fn`` the NaNs (inpainting methods fill them).
    keep_nodata : write pixels missing in every band as nodata (default); False keeps
        what ``fn`` returned there (inpainting).
    executor : None runs ``fn`` here; otherwise anything with ``submit(fn, batch) -> future``
        (a ``dask.distributed.Client``, a ``concurrent.futures`` executor): the batches of a
        tile row run in parallel there and come back in order, so memory stays bounded by
        one row of tiles.
    """

    def __init__(self, fn, *, tile: int = 256, overlap: int = 32, context: int = 0, blend: str = "hann",
                 batch_size: int = 4, scale: int = 1, prefetch: bool = True, progress: bool = True,
                 fill_missing: bool = True, keep_nodata: bool = True, executor=None, edges: str = "reflect",
                 observe: Callable[[Window, np.ndarray], None] | None = None):
        if int(scale) != scale or scale < 1:
            raise ParameterError(f"scale must be a positive integer, got {scale}")
        if edges not in EDGES:
            raise ParameterError(f"edges must be one of {', '.join(EDGES)}, got {edges!r}")
        if context < 0 or batch_size < 1:
            raise ParameterError(f"context must be >= 0 and batch_size >= 1, got {context}, {batch_size}")
        self.fn = as_tile_function(fn)
        self.tile, self.overlap, self.context, self.blend = int(tile), int(overlap), int(context), blend
        self.batch_size, self.scale, self.prefetch, self.progress = int(batch_size), int(scale), prefetch, progress
        self.fill_missing, self.keep_nodata = bool(fill_missing), bool(keep_nodata)
        self.executor, self.edges, self.observe = executor, edges, observe
        blend_weights(4, 4, 1, blend)  # validates the kind early

    # --- public -----------------------------------------------------------------------
    def output_template(self, scene: Scene, n_bands: int, dtype=np.float32, **changes) -> Scene:
        """Grid, georeferencing and metadata of the output (bands may change)."""
        return output_template(scene, n_bands, dtype, self.scale, **changes)

    def settings(self) -> dict:
        """What determines the output besides the scene and the function (for resume checks)."""
        return {"tile": self.tile, "overlap": self.overlap, "context": self.context, "blend": self.blend,
                "scale": self.scale, "fill_missing": self.fill_missing, "keep_nodata": self.keep_nodata,
                **({"edges": self.edges} if self.edges != "reflect" else {})}

    def run(self, scene: Scene, sink: Callable[[Window, np.ndarray, np.ndarray], None], *, rows_done: int = 0) -> dict:
        """Run over ``scene`` and hand each finished strip to ``sink(window, values, nodata_mask)``.

        ``rows_done`` output rows (from the top) are already written: the tile rows that only
        touch them are skipped and their rows are not handed to ``sink`` again (resume).
        """
        grid = TileGrid(scene.n_rows, scene.n_cols, self.tile, self.overlap)
        s = self.scale
        first = next((i for i, r0 in enumerate(grid.row_starts) if (r0 + grid.tile_rows) * s > rows_done),
                     len(grid.row_starts))
        row_starts = grid.row_starts[first:]
        if not row_starts:
            return {"tiles": 0, "seconds": 0.0, "pixels_per_second": 0.0, "resumed_from_row": rows_done, **self.settings()}
        weights = blend_weights(grid.tile_rows * s, grid.tile_cols * s, self.overlap * s, self.blend)
        weights = weights.astype(np.float32)
        strip: _Strip | None = None
        started, n_tiles = time.perf_counter(), 0
        bar = tqdm(total=len(grid), initial=first * len(grid.col_starts), desc="tiles", unit="tile",
                   disable=not self.progress)
        # Work items: one batch of tiles here (memory: one strip plus two batches, whatever the
        # scene width), or a whole tile row when an executor runs the batches in parallel.
        items = []
        for i, r0 in enumerate(row_starts):
            windows = grid.row_of_tiles(r0)
            step = len(windows) if self.executor is not None else self.batch_size
            for k in range(0, len(windows), step):
                items.append((i, r0, windows[k:k + step], k + step >= len(windows)))
        read = lambda item: self._read_batches(scene, item[2], grid)  # noqa: E731
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(read, items[0]) if self.prefetch else None
            for j, (i, r0, windows, row_complete) in enumerate(items):
                batches = pending.result() if self.prefetch else read(items[j])
                if self.prefetch and j + 1 < len(items):
                    pending = pool.submit(read, items[j + 1])
                outputs = self._apply([(stacked, owns) for stacked, _, owns in batches])
                if strip is None:
                    strip = _Strip(grid.tile_rows * s, scene.n_cols * s, outputs[0].shape[2])
                    strip.start = r0 * s
                missing = [mask for _, masks, _ in batches for mask in masks]
                for window, output, mask in zip(windows, outputs, missing):
                    self._accumulate(strip, window, output, mask, weights)
                n_tiles += len(outputs)
                del batches, outputs, missing
                bar.update(len(windows))
                bar.set_postfix(px_per_s=f"{n_tiles * grid.tile_rows * grid.tile_cols / (time.perf_counter() - started):.3g}")
                if not row_complete:
                    continue
                done = row_starts[i + 1] * s if i + 1 < len(row_starts) else scene.n_rows * s
                if done > strip.start:
                    start, values, empty = strip.finish(done)
                    if start < rows_done:  # already written before an interruption
                        skip = min(rows_done, done) - start
                        start, values, empty = start + skip, values[skip:], empty[skip:]
                    if values.shape[0]:
                        sink(Window(start, 0, values.shape[0], values.shape[1]), values, empty)
                    strip.advance(done)
        bar.close()
        seconds = time.perf_counter() - started
        return {"tiles": n_tiles, "seconds": seconds, "pixels_per_second": scene.n_rows * scene.n_cols / max(seconds, 1e-9),
                "resumed_from_row": rows_done, **self.settings()}

    # --- steps ----------------------------------------------------------------------------
    def _read_batches(self, scene: Scene, windows: list[Window], grid: TileGrid) -> list[tuple[np.ndarray, list, list]]:
        """Tiles of ``windows`` read straight into stacked batches of ``batch_size``, with their nodata
        masks and where each window lies in its tile (see :func:`_read_with_context`).

        Each tile is copied into its batch as soon as it is read, so reading holds one batch
        plus one tile, not a list of tiles and their stacked copy.
        """
        batches = []
        for first in range(0, len(windows), self.batch_size):
            group, stacked, masks, owns = windows[first:first + self.batch_size], None, [], []
            for k, window in enumerate(group):
                pixels, missing, own = _read_with_context(scene, window, self.context, self.fill_missing, self.edges,
                                                          self.observe, grid.owned(window))
                if stacked is None:
                    stacked = np.empty((len(group),) + pixels.shape, np.float32)
                stacked[k] = pixels
                masks.append(missing)
                owns.append(own)
                del pixels
            batches.append((stacked, masks, owns))
        return batches

    def _apply(self, batches: list[tuple[np.ndarray, list[Window]]]) -> list[np.ndarray]:
        """``fn`` on each ``(batch, owns)``; each tile's result cropped to its own window (``owns``: where
        each tile's window lies in it, input pixels)."""
        s = self.scale
        outputs = []
        if self.executor is None:
            results = (self.fn(batch) for batch, _ in batches)
        else:
            futures = [self.executor.submit(self.fn, batch, pure=False) if _is_dask(self.executor)
                       else self.executor.submit(self.fn, batch) for batch, _ in batches]
            results = (future.result() for future in futures)
        for (batch, owns), result in zip(batches, results):
            result = np.asarray(result, dtype=np.float32)
            expected = (batch.shape[0], batch.shape[1] * s, batch.shape[2] * s)
            if result.ndim != 4 or result.shape[:3] != expected:
                raise ParameterError(
                    f"tile function returned shape {result.shape}; expected {expected + ('bands',)} for scale {s}"
                )
            for tile, own in zip(result, owns):
                outputs.append(tile[own.row * s: (own.row + own.height) * s, own.col * s: (own.col + own.width) * s])
        return outputs

    def _accumulate(self, strip: _Strip, window: Window, output: np.ndarray, missing: np.ndarray,
                    weights: np.ndarray) -> None:
        s = self.scale
        rows = slice(window.row * s - strip.start, (window.row + window.height) * s - strip.start)
        cols = slice(window.col * s, (window.col + window.width) * s)
        strip.values[rows, cols] += output * weights[:, :, None]
        strip.weights[rows, cols] += weights
        if not self.keep_nodata:
            strip.empty[rows, cols] = False
            return
        valid = ~missing  # the window's own pixels (cropped when read)
        if s > 1:
            valid = valid.repeat(s, axis=0).repeat(s, axis=1)
        strip.empty[rows, cols] &= ~valid


def _is_dask(executor) -> bool:
    return type(executor).__module__.startswith("distributed")


def run_tiled(fn, scene: Scene, output: Path | str, *, overwrite: bool = False, dtype=np.float32,
              template_changes: dict | None = None, resume: bool = False, fingerprint: dict | None = None,
              write_options: dict | None = None, **runner_options) -> dict:
    """Run ``fn`` over ``scene`` and stream the result to ``output`` (format by extension).

    With ``resume=True`` finished strips are also kept in ``<output>.partial/`` (see
    :mod:`hsi.tiling.resume`) so that a run interrupted for any reason continues where it
    stopped when started again with the same settings. ``fingerprint`` says what else
    determines the output (the caller's inputs' identities and resolved settings, see
    :func:`hsi.io.record.fingerprint`); partial results made under another one are refused.
    ``write_options`` go to the output's writer (e.g. GeoTIFF ``compress``).
    """
    from hsi.tiling.output import StreamedOutput
    from hsi.tiling.resume import StripJournal

    runner = TiledRunner(fn, **runner_options)
    journal = None
    if resume:
        journal = StripJournal(output, {
            "run": fingerprint or {}, "scene": scene.describe(), "shape": list(scene.shape),
            "function": type(fn).__qualname__, "dtype": np.dtype(dtype).name, "tiling": runner.settings()})
    out = StreamedOutput(output, lambda n_bands: runner.output_template(scene, n_bands, dtype, **(template_changes or {})),
                         overwrite=overwrite, inputs=(scene.path,) if scene.path else (), journal=journal,
                         write_options=write_options)
    rows_done = out.rows_done()
    try:
        out.replay(rows_done)
        summary = runner.run(scene, out.put, rows_done=rows_done)
    except BaseException:
        out.abort()
        raise
    summary["output"] = out.close()
    return summary


def run_tiled_array(fn, cube: np.ndarray, **runner_options) -> np.ndarray:
    """In-memory convenience: tiled result of ``fn`` on a ``(rows, cols, bands)`` array (NaN = nodata)."""
    runner = TiledRunner(fn, **{"progress": False, **runner_options})
    parts: list[np.ndarray] = []

    def sink(window: Window, values: np.ndarray, empty: np.ndarray) -> None:
        values[empty] = np.nan
        parts.append(values.copy())  # a view into the strip buffer

    runner.run(Scene.from_array(cube), sink)
    return np.concatenate(parts, axis=0)

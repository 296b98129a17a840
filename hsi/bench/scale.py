"""Scale benchmark: a synthetic scene many times larger than memory denoised end to end.

The scene (default 4000 x 4000 x 200 float32, 12.8 GB) is generated strip by strip into
an ENVI file, then restored by the same machinery as ``python cli.py restore`` (scene-wide
statistics from a bounded block sample, tiled streaming to disk). Peak memory is sampled
every 0.1 s during the restore: the whole resident set (which also counts the pages of the
memory-mapped input and output files, page cache the kernel reclaims at will) and the
anonymous part (what the process really holds: Python, torch, buffers).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

from hsi.io import create_writer, open_scene
from hsi.sample_scene import material_endmembers
from hsi.scene import Scene, Window
from hsi.tiling import run_tiled, sample_blocks


def _strip(row: int, height: int, cols: int, endmembers: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """Rows ``[row, row + height)`` of a smooth 5-material mixture plus Gaussian noise (seeded per strip)."""
    rng = np.random.default_rng([seed, row])
    r = (np.arange(row, row + height, dtype=np.float32)[:, None] / 97.0)
    c = (np.arange(cols, dtype=np.float32)[None, :] / 131.0)
    fields = np.stack([np.sin(r * (k + 1) + c * (k + 2) + k) + np.cos(0.7 * r * (k + 1) - c * (k + 1)) for k in range(endmembers.shape[1])], axis=-1)
    abundances = np.exp(2.0 * fields)
    abundances /= abundances.sum(axis=-1, keepdims=True)
    cube = abundances.astype(np.float32) @ endmembers.T.astype(np.float32)
    cube += rng.normal(scale=sigma, size=cube.shape).astype(np.float32)
    return cube


def make_large_scene(path: Path, rows: int, cols: int, bands: int, *, sigma: float = 0.02, seed: int = 0,
                     strip_rows: int = 64) -> Scene:
    """Write the synthetic scene to ``path`` strip by strip (bounded memory) and open it."""
    wavelengths = np.linspace(400.0, 2500.0, bands)
    endmembers = material_endmembers(wavelengths)
    like = Scene.from_array(np.zeros((1, 1, bands), np.float32), wavelengths_nm=wavelengths).derived(
        n_rows=rows, n_cols=cols, dtype=np.float32)
    with create_writer(path, like, overwrite=True) as writer:
        for row in range(0, rows, strip_rows):
            height = min(strip_rows, rows - row)
            writer.write(Window(row, 0, height, cols), _strip(row, height, cols, endmembers, sigma, seed))
    return open_scene(path)


def _anonymous_rss() -> int | None:
    """Resident anonymous memory of this process (Linux ``RssAnon``), bytes; None elsewhere."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class PeakMemory:
    """Largest resident set size of this process while the context is open, in bytes.

    ``peak`` is the whole RSS, which also counts pages of memory-mapped files (the page
    cache the kernel can drop at any time); ``peak_anonymous`` is the private memory the
    process really holds (Linux ``RssAnon``; None elsewhere).
    """

    def __init__(self, interval: float = 0.1):
        self.interval, self.peak, self.peak_anonymous, self._stop = interval, 0, None, threading.Event()

    def _sample(self, process) -> None:
        self.peak = max(self.peak, process.memory_info().rss)
        anonymous = _anonymous_rss()
        if anonymous is not None:
            self.peak_anonymous = max(self.peak_anonymous or 0, anonymous)

    def _watch(self) -> None:
        process = psutil.Process()
        while not self._stop.is_set():
            self._sample(process)
            self._stop.wait(self.interval)

    def __enter__(self) -> "PeakMemory":
        self._sample(psutil.Process())
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample(psutil.Process())


def _restore_method(name: str):
    """``conf/method/<name>.yaml`` built exactly as the restore job builds it."""
    from hsi import methods

    return methods.load("restore", name)


def run_benchmark(data_dir: str | None = None, *, rows: int = 4000, cols: int = 4000, bands: int = 200,
                  method: str = "fasthyde", tile: int = 256, overlap: int = 16, batch_size: int = 4,
                  sample_pixels: int = 200_000, workdir: str | None = None, keep: bool = False,
                  quick: bool = False, seed: int = 0) -> dict[str, list[dict]]:
    """Generate, restore and measure; ``quick`` shrinks the scene to 256 x 256 x 32."""
    if quick:
        rows, cols, bands, tile = 256, 256, 32, 128
    root = Path(tempfile.mkdtemp(prefix="hsi-scale-", dir=workdir))
    try:
        started = time.perf_counter()
        scene = make_large_scene(root / "scene.hdr", rows, cols, bands, seed=seed)
        generate_seconds = time.perf_counter() - started
        size_gb = rows * cols * bands * 4 / 1e9
        restorer = _restore_method(method)
        with PeakMemory() as memory:
            started = time.perf_counter()
            restorer.fit(sample_blocks(scene, sample_pixels, rng=np.random.default_rng(seed)))
            fit_seconds = time.perf_counter() - started
            summary = run_tiled(restorer, scene, root / "restored.hdr", tile=tile, overlap=overlap,
                                batch_size=batch_size, progress=True)
            seconds = time.perf_counter() - started
        row = {"scene": f"{rows} x {cols} x {bands} float32", "size_gb": size_gb, "method": method,
               "generate_s": generate_seconds, "fit_s": fit_seconds, "total_s": seconds,
               "mpixels_per_s": rows * cols / seconds / 1e6, "peak_rss_gb": memory.peak / 1e9,
               "peak_anonymous_gb": None if memory.peak_anonymous is None else memory.peak_anonymous / 1e9,
               "tile": tile, "overlap": overlap}
        return {"scale": [row]}
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)

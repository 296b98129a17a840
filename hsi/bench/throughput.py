"""Throughput benchmark: scene-scale restoration, hsi's default vs HyDe's FastHyDe, side by side.

Pinned protocol
---------------
- Synthetic scenes ``size x size x bands`` float32 (``.npy``, rows x cols x bands, the order
  both programs read without a transpose): five materials (:func:`hsi.sample_scene.material_endmembers`)
  mixed with abundances whose texture is real photography (``skimage.data`` camera, moon,
  brick, grass, gravel, mirrored to the scene size; softmax of the standardised images), scaled
  to a maximum of 1, plus i.i.d. Gaussian noise ``sigma / 255`` seeded per strip.
- Every run is its own subprocess, timed wall-clock from start to exit (interpreter start,
  imports, reading and writing included) with its peak resident set and peak anonymous memory
  sampled every 0.1 s (the resident set also counts page cache of memory-mapped files).
  ``hsi``: ``python cli.py restore`` with the ``variants`` overrides, ``.npy`` in and out. ``hyde``: HyDe's
  ``FastHyDe`` (``noise_type="additive", iid=True, k_subspace=10``, torch on ``threads``
  threads) in the separate interpreter ``hyde_python``; skipped with the reason when that
  interpreter or HyDe is absent, or when the scene would not fit in memory.
- Floors measured in the same run: ``io_s`` is ``python cli.py convert`` of the scene to a
  new ``.npy`` (read and write it once, same process start-up); ``matmul_gflops`` the
  measured float32 matrix-product rate on ``threads`` threads, and ``arith_s`` the method's
  arithmetic (:func:`fasthyde_flops`) at that rate.
- MPSNR (dB, peak 1) of each output against the clean scene, accumulated strip by strip.
- Distributed: the ``distributed_size`` scene through ``restore scheduler=tcp://...`` on a
  real ``dask scheduler`` and two single-threaded ``dask worker`` processes on 127.0.0.1, vs
  one process with two threads; speed-up and whether the outputs are bit-identical.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import torch

from hsi.sample_scene import material_endmembers
from hsi.settings import PROJECT_ROOT
from hsi.tiling.grid import TileGrid

TEXTURES = ("camera", "moon", "brick", "grass", "gravel")
#: Bytes HyDe's FastHyDe held per input byte on the 1,024 scene (7.8 GB for 839 MB, issue 14).
HYDE_MEMORY_FACTOR = 9.5

HYDE_SCRIPT = """
import sys, numpy as np, torch, hyde
torch.set_num_threads(int(sys.argv[3]))
cube = torch.from_numpy(np.array(np.load(sys.argv[1], mmap_mode="r")))
out = hyde.FastHyDe()(cube, noise_type="additive", iid=True, k_subspace=10)
np.save(sys.argv[2], out.numpy().astype(np.float32))
"""


# --- scenes ----------------------------------------------------------------------------------
def _texture(name: str, rows: int, cols: int) -> np.ndarray:
    """A standardised ``skimage.data`` image mirrored (not stretched) to ``rows x cols``."""
    import skimage.data

    image = getattr(skimage.data, name)().astype(np.float32)
    reps = (-(-rows // image.shape[0]), -(-cols // image.shape[1]))
    pad = ((0, image.shape[0] * (reps[0] - 1)), (0, image.shape[1] * (reps[1] - 1)))
    image = np.pad(image, pad, mode="symmetric")[:rows, :cols]
    return (image - image.mean()) / image.std()


def make_scene(folder: Path, size: int, bands: int, sigma: float, seed: int, strip_rows: int = 256) -> tuple[Path, Path]:
    """Write ``noisy.npy`` and ``clean.npy`` (``size x size x bands``) strip by strip; return their paths."""
    endmembers = material_endmembers(np.linspace(400.0, 2500.0, bands)).astype(np.float32)
    fields = np.stack([_texture(name, size, size) for name in TEXTURES], axis=-1)
    abundances = np.exp(1.5 * fields)
    abundances /= abundances.sum(axis=-1, keepdims=True)
    peak = float((abundances.reshape(-1, len(TEXTURES)) @ endmembers.T).max())
    clean_path, noisy_path = folder / "clean.npy", folder / "noisy.npy"
    clean = np.lib.format.open_memmap(clean_path, mode="w+", dtype=np.float32, shape=(size, size, bands))
    noisy = np.lib.format.open_memmap(noisy_path, mode="w+", dtype=np.float32, shape=(size, size, bands))
    for row in range(0, size, strip_rows):
        block = (abundances[row:row + strip_rows] @ endmembers.T / peak).astype(np.float32)
        clean[row:row + strip_rows] = block
        rng = np.random.default_rng([seed, row])
        noisy[row:row + strip_rows] = block + rng.normal(scale=sigma / 255, size=block.shape).astype(np.float32)
    clean.flush(), noisy.flush()
    del clean, noisy
    return noisy_path, clean_path


def streamed_mpsnr(clean_path: Path, estimate_path: Path, strip_rows: int = 128) -> float:
    """MPSNR (peak 1) of ``estimate`` against ``clean``, per-band MSE accumulated strip by strip."""
    clean, estimate = np.load(clean_path, mmap_mode="r"), np.load(estimate_path, mmap_mode="r")
    if estimate.shape != clean.shape:
        raise ValueError(f"{estimate_path}: shape {estimate.shape}, expected {clean.shape}")
    squared = np.zeros(clean.shape[2], np.float64)
    for row in range(0, clean.shape[0], strip_rows):
        diff = estimate[row:row + strip_rows].astype(np.float64) - clean[row:row + strip_rows]
        squared += (diff ** 2).sum(axis=(0, 1))
    mse = squared / (clean.shape[0] * clean.shape[1])
    return float(np.mean(10 * np.log10(1.0 / mse)))


# --- measurement -----------------------------------------------------------------------------
def _anonymous(process: psutil.Process) -> int:
    try:
        with open(f"/proc/{process.pid}/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def measured_run(command: list[str], env: dict | None = None, cwd: Path | None = None) -> dict:
    """Wall seconds, peak RSS and peak anonymous memory (GB, process tree) of one subprocess."""
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    parent, peak, peak_anon = psutil.Process(child.pid), 0, 0
    while child.poll() is None:
        try:
            tree = [parent] + parent.children(recursive=True)
            peak = max(peak, sum(p.memory_info().rss for p in tree))
            peak_anon = max(peak_anon, sum(_anonymous(p) for p in tree))
        except psutil.Error:
            pass
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    output = child.stdout.read()
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} ... failed ({child.returncode}): {output[-2000:]}")
    return {"seconds": seconds, "peak_rss_gb": peak / 1e9, "peak_anonymous_gb": peak_anon / 1e9}


def matmul_gflops(threads: int, n: int = 2048, repeats: int = 5) -> float:
    """Measured float32 matrix-product rate on ``threads`` torch threads, GFLOP/s (best of ``repeats``)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - started)
        return 2 * n ** 3 / best / 1e9
    finally:
        torch.set_num_threads(before)


def fasthyde_flops(size: int, bands: int, k: int, tile_factor: float, *, patch: int = 8, step: int = 3,
                   radius: int = 12, groups: tuple[int, int] = (16, 32), tile: int = 256) -> float:
    """Floating-point operations of hsi's FastHyDe on a ``size x size x bands`` scene (order of magnitude).

    Whitened projection and back-projection (``4 bands k`` per pixel); per eigen-image the
    2-D DCT of every patch (three times: noisy twice, basic estimate once) and its inverse
    (twice), the group Haar transforms (forward and inverse, plus the pilot's in step 2); block
    matching on one image per pass (dot products of each reference patch with the search
    rows). ``tile_factor`` is the pixels processed per scene pixel (tile overlap).
    """
    pixels = size * size * tile_factor
    refs = pixels / step ** 2
    p2 = patch * patch
    projection = 4 * bands * k * pixels
    dct = 5 * 2 * p2 * p2 * pixels * k
    haar = refs * k * sum(n * g * g * 2 * p2 for g, n in zip(groups, (2, 3)))
    matching = 2 * refs * 2 * p2 * (2 * radius + 1) * min(tile, size)
    return projection + dct + haar + matching


# --- runs ------------------------------------------------------------------------------------
def _hsi_env(threads: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               HF_HUB_OFFLINE="1", MPLBACKEND="Agg")
    return env


def run_hsi(noisy: Path, output: Path, threads: int, *overrides: str) -> dict:
    command = [sys.executable, str(PROJECT_ROOT / "cli.py"), "restore", f"input={noisy}", f"output={output}",
               "quicklook=false", "progress=false", "overwrite=true", *overrides]
    return measured_run(command, env=_hsi_env(threads), cwd=PROJECT_ROOT)


def run_io_floor(noisy: Path, output: Path, threads: int) -> dict:
    command = [sys.executable, str(PROJECT_ROOT / "cli.py"), "convert", f"input={noisy}", f"output={output}",
               "overwrite=true"]
    return measured_run(command, env=_hsi_env(threads), cwd=PROJECT_ROOT)


def hyde_available(hyde_python: str | None) -> str | None:
    """None when ``hyde_python`` can import HyDe, else why not (printed in the table)."""
    if not hyde_python or not Path(hyde_python).exists():
        return f"HyDe interpreter {hyde_python!r} not found (see conf/suite/throughput.yaml to install it)"
    probe = subprocess.run([hyde_python, "-c", "import hyde"], capture_output=True, text=True)
    return None if probe.returncode == 0 else f"{hyde_python} cannot import hyde: {probe.stderr.strip()[-200:]}"


def run_hyde(hyde_python: str, noisy: Path, output: Path, threads: int, workdir: Path) -> dict:
    script = workdir / "run_hyde.py"
    script.write_text(HYDE_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    env.pop("PYTHONPATH", None)
    return measured_run([hyde_python, str(script), str(noisy), str(output), str(threads)], env=env)


def subspace_dimension(noisy: Path, sample_pixels: int = 200_000, seed: int = 0) -> int:
    """The k that ``restore``'s default fit chooses on ``noisy`` (same sample size and seed)."""
    from hsi.io import open_scene
    from hsi.restore.tile_adapter import SubspaceDenoiserTiles
    from hsi.tiling import sample_blocks

    blocks = sample_blocks(open_scene(noisy), sample_pixels, rng=np.random.default_rng(seed))
    return SubspaceDenoiserTiles().fit(blocks).stats.k


def run_distributed(noisy: Path, workdir: Path, threads: int, port: int = 8787) -> dict:
    """One process with ``threads`` threads vs a ``dask scheduler`` + two one-thread workers."""
    single = run_hsi(noisy, workdir / "single.npy", threads)
    address = f"tcp://127.0.0.1:{port}"
    bin_dir = Path(sys.executable).parent
    env = _hsi_env(1)
    processes = [subprocess.Popen([str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                   "--dashboard-address", ":0"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        time.sleep(3)
        for _ in range(2):
            processes.append(subprocess.Popen([str(bin_dir / "dask"), "worker", address, "--nthreads", "1",
                                               "--nworkers", "1", "--no-dashboard"], env=env, cwd=PROJECT_ROOT,
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                              start_new_session=True))
        time.sleep(5)
        spread = run_hsi(noisy, workdir / "spread.npy", 1, f"scheduler={address}")
    finally:
        for process in reversed(processes):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    a, b = np.load(workdir / "single.npy", mmap_mode="r"), np.load(workdir / "spread.npy", mmap_mode="r")
    identical = all(np.array_equal(a[r:r + 128], b[r:r + 128], equal_nan=True) for r in range(0, a.shape[0], 128))
    return {"single_process_s": single["seconds"], "dask_2_workers_s": spread["seconds"],
            "speed_up": single["seconds"] / spread["seconds"], "bit_identical": identical,
            "single_peak_rss_gb": single["peak_rss_gb"], "dask_client_peak_rss_gb": spread["peak_rss_gb"]}


def run_benchmark(data_dir: str | None = None, *, sizes=(256, 512, 1024, 2048), bands: int = 200, sigma: float = 30.0,
                  threads: int = 2, hyde_python: str | None = "/tmp/hyde-venv/bin/python",
                  variants: dict | None = None, memory_gb: float | None = None, distributed_size: int | None = 2048, workdir: str | None = None,
                  keep: bool = False, seed: int = 0) -> dict[str, list[dict]]:
    """Generate each scene, run the floor, hsi and HyDe on it, score; then the distributed run.

    ``variants`` maps a row label to extra ``restore`` overrides (default: the plain job).
    """
    variants = dict(variants or {"hsi fasthyde": ["method=fasthyde"]})
    memory_gb = memory_gb or psutil.virtual_memory().total / 1e9
    hyde_missing = hyde_available(hyde_python)
    rate = matmul_gflops(threads)
    rows, notes = [], [f"matmul rate {rate:.1f} GFLOP/s on {threads} threads"]
    if hyde_missing:
        notes.append(f"HyDe skipped: {hyde_missing}")
    distributed = []
    for size in list(sizes) + ([] if distributed_size in (None, *sizes) else [distributed_size]):
        root = Path(tempfile.mkdtemp(prefix=f"hsi-throughput-{size}-", dir=workdir))
        try:
            noisy, clean = make_scene(root, int(size), bands, sigma, seed)
            pixels = size * size
            io = run_io_floor(noisy, root / "copy.npy", threads)
            (root / "copy.npy").unlink()
            if size in sizes:
                grid = TileGrid(size, size, 256, 32)
                tile_factor = len(grid) * grid.tile_rows * grid.tile_cols / pixels
                k = subspace_dimension(noisy, seed=0)
                arith = fasthyde_flops(size, bands, k, tile_factor) / (rate * 1e9)
                for label, overrides in variants.items():
                    result = run_hsi(noisy, root / "hsi.npy", threads, *overrides)
                    rows.append({"size": f"{size} x {size} x {bands}", "program": label, **result,
                                 "us_per_pixel": result["seconds"] / pixels * 1e6,
                                 "mpsnr_db": streamed_mpsnr(clean, root / "hsi.npy"), "io_s": io["seconds"],
                                 "arith_s": arith, "k": k})
                    (root / "hsi.npy").unlink()
                scene_gb = pixels * bands * 4 / 1e9
                if hyde_missing:
                    pass
                elif scene_gb * HYDE_MEMORY_FACTOR > 0.8 * memory_gb:
                    notes.append(f"HyDe skipped at {size}: about {scene_gb * HYDE_MEMORY_FACTOR:.0f} GB needed, "
                                 f"{memory_gb:.0f} GB on this machine")
                else:
                    result = run_hyde(hyde_python, noisy, root / "hyde.npy", threads, root)
                    rows.append({"size": f"{size} x {size} x {bands}", "program": "HyDe FastHyDe", **result,
                                 "us_per_pixel": result["seconds"] / pixels * 1e6,
                                 "mpsnr_db": streamed_mpsnr(clean, root / "hyde.npy"), "io_s": io["seconds"],
                                 "arith_s": None, "k": 10})
            if size == distributed_size:
                distributed.append({"size": f"{size} x {size} x {bands}", **run_distributed(noisy, root, threads)})
        finally:
            if not keep:
                shutil.rmtree(root, ignore_errors=True)
    tables = {"throughput": rows, "notes": [{"note": n} for n in notes]}
    if distributed:
        tables["distributed"] = distributed
    return tables

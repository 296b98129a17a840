"""Throughput benchmark: scene-scale restoration, hsi's default vs HyDe's FastHyDe, side by side in one run.

Pinned protocol
---------------
- Synthetic scenes ``size x size x bands`` float32 (``.npy``, rows x cols x bands, the order
  both programs read without a transpose): five materials (:func:`hsi.sample_scene.material_endmembers`)
  mixed with abundances whose texture is real photography (``skimage.data`` camera, moon,
  brick, grass, gravel, mirrored to the scene size; softmax of the standardised images), scaled
  to a maximum of 1, plus i.i.d. Gaussian noise ``sigma / 255`` seeded per strip. They are
  written under ``workdir`` and removed after their size unless ``keep``; the free space they
  need is checked before the suite starts.
- Every run is its own subprocess (:func:`hsi.bench.measure.measured_run`): wall seconds from
  start to exit (``seconds``; every goal uses it), peak resident set and peak anonymous memory.
  Beside it, hsi's ``job_in_process_s`` (the job's own clock, from its report: opening the input
  and building the method to the report) and ``startup_s``, the rest of the wall time
  (interpreter start, imports, composing the configuration, exit). ``hsi``: ``python cli.py
  restore`` with no method (the README's command: ``auto`` diagnoses the noise and picks the
  method; the table says which from the run's report), ``.npy`` in and out, ``threads``
  threads. ``HyDe``: HyDe's ``FastHyDe`` (``noise_type="additive", iid=True,
  k_subspace=hyde_k``, torch on ``threads`` threads) in the separate interpreter
  ``hyde_python``; skipped with the reason when that interpreter or HyDe is absent, or when
  the scene would not fit in memory. HyDe is never a dependency of hsi.
- Floors measured in the same run: ``io_floor_s`` is ``python cli.py convert`` of the scene to
  a new ``.npy`` (read and write it once, same process start-up); ``arith_floor_s`` is the
  method's operation count (:func:`hsi.bench.flops.subspace_flops`, with the ``k`` and tiling
  of the run's report) at the matrix-product rate measured at the start
  (:func:`hsi.bench.measure.matmul_gflops`).
- MPSNR (dB, peak 1) of each output against the clean scene, accumulated strip by strip.
- ``unmix``: ``python cli.py unmix`` with its defaults on the ``unmix_size`` scene; the fit
  time (its 20,000-pixel sample) from the job's report.
- Distributed: the ``distributed_size`` scene through ``restore scheduler=tcp://...`` on a real
  ``dask scheduler`` and two one-thread ``dask worker`` processes on 127.0.0.1
  (:func:`hsi.bench.dask_cluster.local_dask_cluster`), against the one-process run on
  ``threads`` threads: speed-up, and whether the outputs are bit-identical. Then each of
  ``distributed_variants`` (``name``, ``threads``, restore ``overrides``), one process each, against
  the same run: one thread, or tiles on intra-op threads (how tiles ran before they ran side by side).
- The tables so far are rewritten to ``workdir/throughput-progress.json`` after every run
  (removed when the suite ends), so a suite stopped early leaves its figures.
- ``goals``: issue 14's targets, each with the measured value and met / not met.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import psutil

from hsi.bench.flops import subspace_flops
from hsi.bench.measure import matmul_gflops, measured_run
from hsi.errors import HsiError, WriteError
from hsi.io.atomic import atomic_write
from hsi.sample_scene import material_endmembers
from hsi.settings import PROJECT_ROOT
from hsi.tiling.grid import TileGrid

TEXTURES = ("camera", "moon", "brick", "grass", "gravel")
#: Bytes HyDe's FastHyDe held per input byte on the 1,024 scene (7.8 GB for 839 MB, issue 14).
HYDE_MEMORY_FACTOR = 9.5
#: The issue's targets.
TIME_VS_HYDE, MEMORY_GB, FLAT_COST, LARGE_SCENE_S, UNMIX_FIT_S = 0.25, 1.5, 1.5, 1200.0, 20.0

HYDE_SCRIPT = """
import sys, numpy as np, torch, hyde
torch.set_num_threads(int(sys.argv[3]))
cube = torch.from_numpy(np.array(np.load(sys.argv[1], mmap_mode="r")))
out = hyde.FastHyDe()(cube, noise_type="additive", iid=True, k_subspace=int(sys.argv[4]))
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


def compare_outputs(a_path: Path, b_path: Path, strip_rows: int = 128) -> dict:
    """Whether two outputs are bit-identical (NaN equal to NaN), and their largest absolute difference."""
    a, b = np.load(a_path, mmap_mode="r"), np.load(b_path, mmap_mode="r")
    if a.shape != b.shape:
        return {"bit_identical": False, "max_abs_difference": None}
    identical, largest = True, 0.0
    for row in range(0, a.shape[0], strip_rows):
        x, y = np.asarray(a[row:row + strip_rows]), np.asarray(b[row:row + strip_rows])
        identical &= bool(np.array_equal(x, y, equal_nan=True))
        both = np.isfinite(x) & np.isfinite(y)
        if both.any():
            largest = max(largest, float(np.abs(x[both] - y[both]).max()))
    return {"bit_identical": identical, "max_abs_difference": largest}


# --- disk ------------------------------------------------------------------------------------
def disk_needed_bytes(sizes, bands: int, distributed_size: int | None, keep: bool) -> int:
    """Bytes the suite needs under its work folder at once.

    Per size: the noisy and clean scenes and one output (restore's, HyDe's or the
    read-write floor's copy), two outputs at the distributed size (the one-process and the
    Dask run are compared), plus a tenth for eigen-images and reports. Sizes follow each
    other and are removed, so the largest counts; with ``keep`` they add up.
    """
    def one(size: int) -> int:
        scene = size * size * bands * 4
        return int(scene * (4 if size == distributed_size else 3) * 1.1)

    every = [one(int(s)) for s in {*map(int, sizes), *([int(distributed_size)] if distributed_size else [])}]
    return sum(every) if keep else max(every, default=0)


def check_free_space(folder: Path, needed: int) -> None:
    """Refuse in one line, before any work, when ``folder``'s disk has less than ``needed`` bytes free."""
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise WriteError(f"{folder}: {free / 1e9:.1f} GB free, the throughput suite needs {needed / 1e9:.1f} GB "
                         "(two scenes and the outputs of the largest size); set suite.workdir= to a larger disk "
                         "or leave out the largest size")


# --- runs ------------------------------------------------------------------------------------
def hsi_env(threads: int) -> dict:
    """The environment of hsi's processes: this checkout's hsi, ``threads`` threads, offline."""
    return dict(os.environ, PYTHONPATH=str(PROJECT_ROOT), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
                HF_HUB_OFFLINE="1", MPLBACKEND="Agg")


def _cli(*args: str) -> list[str]:
    return [sys.executable, str(PROJECT_ROOT / "cli.py"), *args]


def run_hsi(noisy: Path, output: Path, threads: int, overrides=(), helpers: tuple[int, ...] = (),
            timeout_s: float | None = None) -> dict:
    """``python cli.py restore`` on ``noisy``; the measurement plus what its report says it ran."""
    command = _cli("restore", f"input={noisy}", f"output={output}", "quicklook=false", "progress=false",
                   "overwrite=true", *overrides)
    result = measured_run(command, output.with_name(output.stem + ".log"), env=hsi_env(threads), cwd=PROJECT_ROOT,
                          helpers=helpers, timeout_s=timeout_s)
    report = json.loads(output.with_name(output.stem + "_report.json").read_text())
    return {**result, **_what_ran(report)}


def _what_ran(report: dict) -> dict:
    """Method (for ``auto``: the diagnosed model and the method it chose), ``k`` and tiling from a restore report."""
    method, results = report["method"] or {}, report["results"]
    name = method.get("name")
    diagnosis = results.get("noise_diagnosis")
    if diagnosis:
        chosen = (method.get("config") or {}).get(diagnosis["chosen"]) or {}
        target = str(chosen.get("_target_", "?")).rsplit(".", 1)[-1]
        name = f"{name}: {diagnosis['chosen']} -> {target}"
    tiling, timings = results.get("tiling") or {}, report["timings"]
    in_process = timings["total_s"] + timings.get("setup_s", 0.0) if "total_s" in timings else None
    steps = {"fit_s": timings.get("fit_s"), "restore_s": timings.get("restore_s")}
    steps.update({key: tiling[key] for key in ("project_s", "denoise_s", "back_project_write_s") if key in tiling})
    return {"method": name, "path": tiling.get("path", "tile_runner"), "k": tiling.get("k"), "in_process_s": in_process,
            "steps": steps,
            "tiling": {key: tiling.get(key) for key in ("tile", "context", "overlap") if key in tiling}}


def run_io_floor(noisy: Path, output: Path, threads: int) -> dict:
    """``python cli.py convert`` of the scene: reading and writing it once, with the same process start-up."""
    command = _cli("convert", f"input={noisy}", f"output={output}", "overwrite=true", "quicklook=false")
    return measured_run(command, output.with_name(output.stem + ".log"), env=hsi_env(threads), cwd=PROJECT_ROOT)


def hyde_available(hyde_python: str | None) -> str | None:
    """None when ``hyde_python`` can import HyDe, else why not (printed in the table)."""
    import subprocess

    if not hyde_python or not Path(hyde_python).exists():
        return f"HyDe interpreter {hyde_python!r} not found (see conf/suite/throughput.yaml to install it)"
    probe = subprocess.run([hyde_python, "-c", "import hyde"], capture_output=True, text=True)
    return None if probe.returncode == 0 else f"{hyde_python} cannot import hyde: {probe.stderr.strip()[-200:]}"


def run_hyde(hyde_python: str, noisy: Path, output: Path, threads: int, k: int, timeout_s: float | None = None) -> dict:
    script = output.with_name("run_hyde.py")
    script.write_text(HYDE_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    env.pop("PYTHONPATH", None)
    command = [hyde_python, str(script), str(noisy), str(output), str(threads), str(k)]
    return measured_run(command, output.with_name(output.stem + ".log"), env=env, timeout_s=timeout_s)


def run_unmix(noisy: Path, folder: Path, threads: int, timeout_s: float | None = None) -> dict:
    """``python cli.py unmix`` with its defaults; the fit time (sample, count, endmembers) from its report."""
    command = _cli("unmix", f"input={noisy}", f"output={folder}", "quicklook=false", "overwrite=true")
    result = measured_run(command, folder.with_suffix(".log"), env=hsi_env(threads), cwd=PROJECT_ROOT,
                          timeout_s=timeout_s)
    report = json.loads((folder / "abundances_report.json").read_text())
    return {"method": report["method"]["name"], "sample_pixels": report["results"]["sample_pixels"],
            "n_endmembers": report["results"]["n_endmembers"], "fit_s": report["timings"]["fit_s"],
            "job_s": result["seconds"], "peak_anonymous_gb": result["peak_anonymous_gb"]}


def run_distributed(noisy: Path, single: dict, single_output: Path, threads: int, overrides=(),
                    timeout_s: float | None = None) -> dict:
    """The same restore on a ``dask scheduler`` + two one-thread workers, against the one-process ``single`` run."""
    from hsi.bench.dask_cluster import local_dask_cluster

    folder = single_output.parent
    with local_dask_cluster(folder / "dask-logs", n_workers=2, threads_per_worker=1, env=hsi_env(1)) as cluster:
        helpers = tuple(process.pid for process in cluster["processes"].values())
        spread = run_hsi(noisy, folder / "dask.npy", threads, [*overrides, f"scheduler={cluster['address']}"],
                         helpers=helpers, timeout_s=timeout_s)
    return _against_one_process("dask scheduler + 2 workers x 1 thread", single, single_output, spread,
                                folder / "dask.npy")


def run_variant(noisy: Path, single: dict, single_output: Path, variant: dict, overrides=(),
                timeout_s: float | None = None) -> dict:
    """The same restore in one process on ``variant["threads"]`` threads with ``variant["overrides"]``, against ``single``."""
    output = single_output.with_name("variant.npy")
    run = run_hsi(noisy, output, int(variant["threads"]), [*overrides, *variant.get("overrides", ())], timeout_s=timeout_s)
    try:
        return _against_one_process(str(variant["name"]), single, single_output, run, output)
    finally:
        output.unlink(missing_ok=True)


def _against_one_process(name: str, single: dict, single_output: Path, run: dict, output: Path) -> dict:
    return {"run": name, "one_process_s": single["seconds"], "run_s": run["seconds"],
            "speed_up": single["seconds"] / run["seconds"], **compare_outputs(single_output, output),
            "one_process_peak_anonymous_gb": single["peak_anonymous_gb"],
            "run_peak_anonymous_gb": run["peak_anonymous_gb"], "path": run["path"]}


# --- the suite -------------------------------------------------------------------------------
def run_benchmark(data_dir: str | None = None, *, sizes=(256, 512, 1024, 2048), bands: int = 200, sigma: float = 30.0,
                  threads: int = 2, restore_overrides=(), hyde_python: str | None = "/tmp/hyde-venv/bin/python",
                  hyde_k: int = 10, memory_gb: float | None = None, distributed_size: int | None = 2048,
                  unmix_size: int | None = 512, workdir: str | None = None, keep: bool = False, seed: int = 0,
                  run_timeout_s: float | None = 3600, distributed_variants=()) -> dict[str, list[dict]]:
    """Each size: its scene, the read-write floor, hsi and HyDe, scored; the unmix fit and the distributed run at theirs."""
    sizes = [int(s) for s in sizes]
    workdir_path = Path(workdir or tempfile.gettempdir()).expanduser()
    workdir_path.mkdir(parents=True, exist_ok=True)
    check_free_space(workdir_path, disk_needed_bytes(sizes, bands, distributed_size, keep))
    memory_gb = memory_gb or psutil.virtual_memory().total / 1e9
    hyde_missing = hyde_available(hyde_python)
    rate = matmul_gflops(threads)
    notes = [f"matmul rate {rate:.1f} GFLOP/s on {threads} threads; load average at start "
             f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"]
    if hyde_missing:
        notes.append(f"HyDe skipped: {hyde_missing}")
    rows, distributed, unmix = [], [], []
    progress = workdir_path / "throughput-progress.json"

    def save_progress() -> None:  # the figures so far, should the suite be stopped before its tables
        tables = _tables(rows, distributed, unmix, notes, sizes)
        atomic_write(progress, lambda tmp: Path(tmp).write_text(json.dumps(tables, indent=1)))

    extra = [s for s in (distributed_size, unmix_size) if s and int(s) not in sizes]
    for size in sizes + sorted({int(s) for s in extra}):
        root = Path(tempfile.mkdtemp(prefix=f"hsi-throughput-{size}-", dir=workdir_path))
        try:
            noisy, clean = make_scene(root, size, bands, sigma, seed)
            single = None
            if size in sizes or size == distributed_size:
                single = _size_rows(size, bands, noisy, clean, root, threads, restore_overrides, rate, rows, notes,
                                    run_timeout_s, measure_floors=size in sizes)
                save_progress()
            if size in sizes:
                _hyde_row(size, bands, noisy, clean, root, threads, hyde_python, hyde_k, hyde_missing, memory_gb,
                          rows, notes, run_timeout_s)
                save_progress()
            if unmix_size and size == int(unmix_size):
                unmix.append(_unmix_row(size, bands, noisy, root, threads, notes, run_timeout_s))
                save_progress()
            if distributed_size and size == int(distributed_size) and single is not None:
                try:
                    distributed.append({"size": _label(size, bands), **run_distributed(
                        noisy, single, root / "hsi.npy", threads, restore_overrides, run_timeout_s)})
                except (RuntimeError, OSError, HsiError) as error:
                    notes.append(f"distributed run at {size} failed: {error}")
                (root / "dask.npy").unlink(missing_ok=True)
                _progress("distributed", size, distributed[-1] if distributed else {})
                save_progress()
                for variant in distributed_variants:
                    try:
                        row = {"size": _label(size, bands), **run_variant(
                            noisy, single, root / "hsi.npy", variant, restore_overrides, run_timeout_s)}
                    except (RuntimeError, OSError, HsiError) as error:
                        row = {"size": _label(size, bands), "run": str(variant["name"]), "failed": str(error)[-300:]}
                        notes.append(f"{variant['name']} at {size} failed: {error}")
                    else:
                        distributed.append(row)
                    _progress("variant", size, row)
                    save_progress()
        finally:
            if not keep:
                shutil.rmtree(root, ignore_errors=True)
    notes.append(f"load average at the end {os.getloadavg()[0]:.1f}")
    tables = _tables(rows, distributed, unmix, notes, sizes)
    progress.unlink(missing_ok=True)
    return tables


def _tables(rows: list[dict], distributed: list[dict], unmix: list[dict], notes: list[str], sizes: list[int]) -> dict:
    _compare_with_hyde(rows)
    tables = {"throughput": rows, "goals": goals(rows, distributed, unmix, sizes)}
    if distributed:
        tables["distributed"] = distributed
    if unmix:
        tables["unmix"] = unmix
    tables["notes"] = [{"note": n} for n in notes]
    return tables


def _label(size: int, bands: int) -> str:
    return f"{size} x {size} x {bands}"


def _progress(what: str, size: int, row: dict) -> None:
    shown = {k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in row.items() if not isinstance(v, dict)}
    print(f"throughput {size} {what}: {shown}", flush=True)


def _size_rows(size, bands, noisy, clean, root, threads, overrides, rate, rows, notes, timeout_s, measure_floors):
    """hsi's row of one size (with both floors); returns the run (kept for the distributed comparison) or None."""
    pixels = size * size
    io = None
    if measure_floors:
        try:
            io = run_io_floor(noisy, root / "copy.npy", threads)["seconds"]
        except RuntimeError as error:
            notes.append(f"read-write floor at {size} failed: {error}")
        (root / "copy.npy").unlink(missing_ok=True)
    try:
        run = run_hsi(noisy, root / "hsi.npy", threads, overrides, timeout_s=timeout_s)
    except RuntimeError as error:
        notes.append(f"hsi restore at {size} failed: {error}")
        return None
    if not measure_floors:
        return run
    arith, k = arithmetic_floor_s(run, noisy, size, bands, rate)
    row = {"size": _label(size, bands), "program": "hsi restore (default)", "method": run["method"],
           "path": run["path"], "k": k, "seconds": run["seconds"], "job_in_process_s": run["in_process_s"],
           "startup_s": None if run["in_process_s"] is None else run["seconds"] - run["in_process_s"],
           "peak_rss_gb": run["peak_rss_gb"],
           "peak_anonymous_gb": run["peak_anonymous_gb"], "mpsnr_db": streamed_mpsnr(clean, root / "hsi.npy"),
           "us_per_pixel": run["seconds"] / pixels * 1e6, "io_floor_s": io, "arith_floor_s": arith,
           **{f"job_{key}": value for key, value in run["steps"].items()}}
    rows.append(row)
    _progress("hsi", size, row)
    return run


def arithmetic_floor_s(run: dict, noisy: Path, size: int, bands: int, rate_gflops: float) -> tuple[float | None, int | None]:
    """The subspace method's operations at ``rate_gflops`` and its ``k``, with the tiles the run used.

    The streamed path reports its ``k`` and eigen-image tiles; for the tile runner ``k`` is
    fitted again as the job fits it, and each tile with its overlap is counted. ``(None,
    None)`` for methods that are not FastHyDe.
    """
    if "SubspaceDenoiserTiles" not in str(run["method"]) and "fasthyde" not in str(run["method"]):
        return None, None
    tiling, k = run["tiling"], run["k"]
    if run["path"] == "subspace_stream":
        tile, margin = int(tiling["tile"]), int(tiling.get("context") or 0)
        return subspace_flops(size, size, bands, int(k), tile=tile, margin=margin) / (rate_gflops * 1e9), int(k)
    grid = TileGrid(size, size, int(tiling["tile"]), int(tiling["overlap"]))
    k = subspace_dimension(noisy)
    cover = len(grid) * grid.tile_rows * grid.tile_cols / (size * size)
    return cover * subspace_flops(size, size, bands, k, tile=size, margin=0) / (rate_gflops * 1e9), k


def subspace_dimension(noisy: Path, sample_pixels: int = 200_000, seed: int = 0) -> int:
    """The k that ``restore``'s default fit chooses on ``noisy`` (same sample size and seed)."""
    from hsi.io import open_scene
    from hsi.restore.tile_adapter import SubspaceDenoiserTiles
    from hsi.tiling import sample_blocks

    blocks = sample_blocks(open_scene(noisy), sample_pixels, rng=np.random.default_rng(seed))
    return SubspaceDenoiserTiles().fit(blocks).stats.k


def _hyde_row(size, bands, noisy, clean, root, threads, hyde_python, k, missing, memory_gb, rows, notes, timeout_s):
    scene_gb = size * size * bands * 4 / 1e9
    if missing:
        return
    if scene_gb * HYDE_MEMORY_FACTOR > 0.8 * memory_gb:
        notes.append(f"HyDe skipped at {size}: about {scene_gb * HYDE_MEMORY_FACTOR:.0f} GB needed, "
                     f"{memory_gb:.0f} GB on this machine")
        return
    try:
        run = run_hyde(hyde_python, noisy, root / "hyde.npy", threads, k, timeout_s)
    except RuntimeError as error:
        notes.append(f"HyDe at {size} failed: {error}")
        return
    io = next((r["io_floor_s"] for r in rows if r["size"] == _label(size, bands)), None)
    row = {"size": _label(size, bands), "program": "HyDe FastHyDe", "method": f"FastHyDe k_subspace={k}",
           "path": None, "k": k, "seconds": run["seconds"], "peak_rss_gb": run["peak_rss_gb"],
           "peak_anonymous_gb": run["peak_anonymous_gb"], "mpsnr_db": streamed_mpsnr(clean, root / "hyde.npy"),
           "us_per_pixel": run["seconds"] / (size * size) * 1e6, "io_floor_s": io, "arith_floor_s": None}
    (root / "hyde.npy").unlink(missing_ok=True)
    rows.append(row)
    _progress("HyDe", size, row)


def _unmix_row(size, bands, noisy, root, threads, notes, timeout_s) -> dict:
    try:
        row = {"size": _label(size, bands), **run_unmix(noisy, root / "unmix", threads, timeout_s)}
    except RuntimeError as error:
        notes.append(f"unmix at {size} failed: {error}")
        row = {"size": _label(size, bands)}
    _progress("unmix", size, row)
    return row


def _compare_with_hyde(rows: list[dict]) -> None:
    """Per row: cost per pixel against the program's smallest size; hsi's time ratio and MPSNR difference to HyDe."""
    first = {}
    for row in rows:
        first.setdefault(row["program"], row["us_per_pixel"])
        row["cost_vs_smallest"] = row["us_per_pixel"] / first[row["program"]]
    hyde = {row["size"]: row for row in rows if row["program"] == "HyDe FastHyDe"}
    for row in rows:
        other = hyde.get(row["size"]) if row["program"] != "HyDe FastHyDe" else None
        row["time_vs_hyde"] = row["seconds"] / other["seconds"] if other else None
        row["mpsnr_vs_hyde_db"] = row["mpsnr_db"] - other["mpsnr_db"] if other else None


def goals(rows: list[dict], distributed: list[dict], unmix: list[dict], sizes: list[int]) -> list[dict]:
    """Issue 14's targets, each with the measured value and whether it is met (``not run`` without a figure)."""
    hsi = {row["size"].split(" x ")[0]: row for row in rows if row["program"] != "HyDe FastHyDe"}
    at_1024 = hsi.get("1024", {})

    def goal(text: str, value, target: str | None, met: bool | None) -> dict:
        status = "not run" if value is None else "measured" if target is None else "met" if met else "not met"
        return {"goal": text, "measured": value, "target": target, "status": status}

    ratio, gain = at_1024.get("time_vs_hyde"), at_1024.get("mpsnr_vs_hyde_db")
    rss = at_1024.get("peak_rss_gb")
    costs = [hsi[str(s)]["us_per_pixel"] for s in sizes if str(s) in hsi and s <= 2048]
    spread = max(costs) / min(costs) if len(costs) > 1 else None
    large = hsi.get("4000", {})
    fit = unmix[0].get("fit_s") if unmix else None
    dist = next((row for row in distributed if str(row.get("run", "")).startswith("dask")), {})
    return [
        goal("restore time / HyDe's, 1,024", ratio, f"<= {TIME_VS_HYDE}", ratio is not None and ratio <= TIME_VS_HYDE),
        goal("restore MPSNR - HyDe's (dB), 1,024", gain, ">= 0", gain is not None and gain >= 0),
        goal("restore peak RSS (GB), 1,024", rss, f"<= {MEMORY_GB}", rss is not None and rss <= MEMORY_GB),
        goal("restore cost per pixel, largest / smallest over 256-2,048", spread, f"<= {FLAT_COST}",
             spread is not None and spread <= FLAT_COST),
        goal("restore 4,000 x 4,000 x 200 (s)", large.get("seconds"), f"< {LARGE_SCENE_S:.0f}",
             large.get("seconds") is not None and large["seconds"] < LARGE_SCENE_S),
        goal("restore 4,000 peak anonymous memory (GB)", large.get("peak_anonymous_gb"), f"< {MEMORY_GB}",
             large.get("peak_anonymous_gb") is not None and large["peak_anonymous_gb"] < MEMORY_GB),
        goal("unmix fit on its default sample (s)", fit, f"< {UNMIX_FIT_S:.0f}", fit is not None and fit < UNMIX_FIT_S),
        goal("Dask 2 x 1 thread vs one process x 2 threads: speed-up", dist.get("speed_up"), None, None),
        goal("Dask output bit-identical to the one-process output", dist.get("bit_identical"), "True",
             dist.get("bit_identical") is True),
    ]

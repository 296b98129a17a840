"""Identity benchmark: what checking an output's completion record costs in input reads.

A record names every file of its inputs by a content hash (:mod:`hsi.io.record`); a product
folder (EnMAP L2A: the spectral image, quality layers, quicklooks, metadata) is all of its
files. Each case times the identity of one input as a first check computes it (every file
hashed: small files whole, large ones by sampled blocks) and as a later check of an output
whose record lists the unchanged files computes it (hashes reused by file state, nothing read).
Times are with the files in the page cache (the best case for hashing); from a cold disk the
hashed bytes are read too.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from hsi.io import record


def synthetic_product(folder: Path, cube_mb: int, quality_files: int, quality_mb: int, seed: int) -> Path:
    """A product folder of random bytes: one ``cube_mb`` spectral image, ``quality_files`` layers, metadata."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    (folder / "SPECTRAL_IMAGE.TIF").write_bytes(rng.bytes(cube_mb * 2**20))
    for k in range(quality_files):
        (folder / f"QL_QUALITY_{k}.TIF").write_bytes(rng.bytes(quality_mb * 2**20))
    (folder / "METADATA.XML").write_bytes(rng.bytes(2**20))
    return folder


def _best_of(repeats: int, measure) -> float:
    times = []
    for _ in range(repeats):
        times.append(measure())
    return min(times)


def time_identity(product: Path, workdir: Path, repeats: int) -> dict:
    """Seconds of one input identity: computed afresh, and reused from a record of the same files."""
    files = record.scene_files(product)
    output = workdir / f"{product.name}.out"
    output.write_bytes(b"output")
    expected = record.fingerprint("bench", [product], {})
    record.write_record(output, expected)

    def fresh() -> float:
        record._known_hashes.clear()
        started = time.perf_counter()
        record.input_identity(product)
        return time.perf_counter() - started

    def reused() -> float:
        record._known_hashes.clear()
        started = time.perf_counter()
        record.remember_inputs(output)
        record.input_identity(product)
        return time.perf_counter() - started

    first, later = _best_of(repeats, fresh), _best_of(repeats, reused)
    ok, why = record.matching_record(output, record.fingerprint("bench", [product], {}))
    if not ok:
        raise RuntimeError(f"{product}: the record of its unchanged files does not match ({why})")
    return {"files": len(files), "size_mib": sum(f.stat().st_size for f in files) / 2**20,
            "first_check_s": first, "later_check_s": later, "speedup": first / max(later, 1e-9)}


def run_benchmark(data_dir: str | None = None, *, enmap: str = "satellite/enmap_l2a_hyspecnet", cube_mb: int = 450,
                  quality_files: int = 10, quality_mb: int = 4, repeats: int = 3, workdir: str | None = None,
                  quick: bool = False, seed: int = 0) -> dict[str, list[dict]]:
    """Time both cases; ``quick`` shrinks the synthetic product to a 64 MB image and 2 layers."""
    if quick:
        cube_mb, quality_files = 64, 2
    root = Path(tempfile.mkdtemp(prefix="hsi-identity-", dir=workdir))
    rows = []
    try:
        cases = []
        if data_dir is not None and (Path(data_dir) / enmap).is_dir():
            cases.append((f"{enmap} (real EnMAP L2A tile)", Path(data_dir) / enmap))
        synthetic = synthetic_product(root / "synthetic_product", cube_mb, quality_files, quality_mb, seed)
        cases.append((f"synthetic product: {cube_mb} MiB image + {quality_files} x {quality_mb} MiB layers + 1 MiB "
                      "metadata", synthetic))
        for name, product in cases:
            rows.append({"input": name, **time_identity(product, root, repeats)})
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {"identity": rows}

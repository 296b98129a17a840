"""Restore a scene (denoise, destripe, inpaint, super-resolve) tile by tile, streamed to disk, with a report."""

from __future__ import annotations

import time
from pathlib import Path

import hydra
import numpy as np
from omegaconf import DictConfig

from hsi.distributed import dask_client
from hsi.errors import ParameterError
from hsi.io import open_scene
from hsi.jobs.common import config_dict, input_scene, prepare_output, write_json
from hsi.restore.tiled import CubeMethodTiles
from hsi.scene import Scene, Window, check_same_grid, masked
from hsi.tiling import run_tiled, sample_blocks

TASK_SCALE = {"denoise": False, "destripe": False, "inpaint": False, "sr": True}  # which tasks change the grid
METRICS_MAX_VALUES = 50_000_000  # above this, reference metrics use a central crop


def build_method(cfg: DictConfig):
    """The configured method as a tile function with ``fit(blocks)`` (plain cube functions are wrapped)."""
    method = hydra.utils.instantiate(cfg.method)
    return method if hasattr(method, "fit") else CubeMethodTiles(method)


def _central_window(scene: Scene, max_values: int) -> Window:
    side = int(np.sqrt(max_values / max(scene.n_bands, 1)))
    height, width = min(scene.n_rows, side), min(scene.n_cols, side)
    return Window((scene.n_rows - height) // 2, (scene.n_cols - width) // 2, height, width)


def reference_scores(reference: Scene, restored: Scene, noisy: Scene) -> dict:
    """MPSNR, MSSIM, SAM, ERGAS of the output (and of the input) against a clean reference."""
    from hsi.metrics import ergas, mpsnr, mssim, sam

    check_same_grid(reference, restored, "reference and output")
    window = _central_window(reference, METRICS_MAX_VALUES)
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
    from hsi.viz import save_before_after

    window = _central_window(before, 512 * 512 * before.n_bands)
    big = Window(window.row * scale, window.col * scale, window.height * scale, window.width * scale)
    return save_before_after(before.read(window, physical=True), after.read(big, physical=True),
                             before.wavelengths_nm, path, titles=("input", "restored"))


def run(cfg: DictConfig) -> dict:
    if cfg.task not in TASK_SCALE:
        raise ParameterError(f"task must be one of {', '.join(TASK_SCALE)}; got {cfg.task!r}")
    scale = int(cfg.scale) if TASK_SCALE[cfg.task] else 1
    scene = input_scene(cfg)
    output = prepare_output(cfg.output, cfg.overwrite, inputs=(scene.path,) if scene.path else ())
    inpaint = cfg.task == "inpaint"
    if cfg.get("mask"):
        if not inpaint:
            raise ParameterError(f"mask= is only used with task=inpaint; got task={cfg.task}")
        scene = masked(scene, open_scene(cfg.mask))
    observed = scene
    method = build_method(cfg)
    started = time.perf_counter()
    blocks = sample_blocks(scene, int(cfg.sample_pixels), rng=np.random.default_rng(int(cfg.seed)))
    method.fit(blocks)
    fit_seconds = time.perf_counter() - started
    with dask_client(cfg.get("scheduler"), int(cfg.get("workers", 2))) as client:
        tiling = run_tiled(
            method, scene, output, overwrite=cfg.overwrite, tile=int(cfg.tile), overlap=int(cfg.overlap),
            context=int(cfg.context), blend=cfg.blend, batch_size=int(cfg.batch_size), scale=scale,
            progress=bool(cfg.progress), fill_missing=not inpaint, keep_nodata=not inpaint,
            resume=bool(cfg.get("resume", False)), executor=client,
        )
    restored = open_scene(tiling["output"])
    report = {
        "job": "restore",
        "input": observed.describe(),
        "mask": cfg.get("mask"),
        "output": tiling["output"],
        "task": cfg.task,
        "method": config_dict(cfg.method),
        "settings": config_dict(cfg),
        "estimated_noise_std_per_band": getattr(method, "noise_std", None),
        "noise_diagnosis": method.report() if hasattr(method, "report") else None,  # method=auto: diagnosis and choice
        "wavelength_nm": scene.wavelengths_nm,
        "fit_seconds": fit_seconds,
        "tiling": tiling,
        "seconds": time.perf_counter() - started,
    }
    if cfg.reference:
        report["reference"] = reference_scores(open_scene(cfg.reference), restored, scene if scale == 1 else restored)
    report_path = write_json(output.with_name(output.stem + "_report.json"), report)
    if cfg.quicklook:
        report["quicklook"] = str(save_quicklook(scene, restored, output.with_name(output.stem + "_quicklook.png"), scale))
        write_json(report_path, report)
    print(f"wrote {output} ({restored.n_rows} x {restored.n_cols} x {restored.n_bands}) in {report['seconds']:.1f} s; "
          f"report {report_path}")
    if "reference" in report:
        got, before = report["reference"]["output"], report["reference"]["input"]
        print(f"MPSNR {got['mpsnr_db']:.2f} dB (input {before['mpsnr_db']:.2f} dB), MSSIM {got['mssim']:.4f}, "
              f"SAM {got['sam_deg']:.2f} deg")
    return report

"""The job skeleton every job goes through: input, outputs checked before any work, report, quicklook.

A job calls :func:`start` with its main output and inputs: every file it will write (the
output, ``<OUT stem>_report.json``, ``<OUT stem>_quicklook.png`` and any extra files) is
validated there, before any computation (format known from the extension, never an input,
not existing unless ``overwrite=true``). It ends with :func:`finish`, which writes the report
last; every report has the same keys (:data:`REPORT_KEYS`), the job's own figures under
``results``. Quicklooks show a central window (:func:`central_window`), so no job reads its
whole output back.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from hsi.errors import InputError
from hsi.io import check_output, lock, open_scene, record, save_scene
from hsi.io.atomic import atomic_write
from hsi.io.guard import check_output_folder
from hsi.scene import Scene, Window
from hsi.settings import SAMPLE_SCENE

log = logging.getLogger("hsi")
SAMPLE_SCALE = 1e-4


def ensure_sample(path: Path = SAMPLE_SCENE) -> Path:
    """The shipped sample scene, generated deterministically if it is missing."""
    if not path.exists():
        from hsi.sample_scene import make_sample_scene

        path.parent.mkdir(parents=True, exist_ok=True)
        scene = make_sample_scene().to_scene()
        # Stored as reflectance x 10000 in int16 (scale 1e-4), as many L2 products are.
        counts = np.round(scene.read() / SAMPLE_SCALE).astype(np.int16)
        save_scene(scene.with_array(counts, scale=SAMPLE_SCALE), path)
    return path


SAMPLE_RATIO = 4  # resolution ratio of the generated pansharpening sample pair


def ensure_sample_pair(folder: Path | None = None) -> tuple[Path, Path]:
    """A pansharpening sample pair made from the sample scene, generated if missing.

    The low-resolution cube is the sample blurred with a generic sensor MTF and decimated by
    4 (grid and transform scaled accordingly); the PAN is the sample at full resolution
    through a generic 450-900 nm panchromatic response.
    """
    from affine import Affine

    from hsi.degrade.mtf import degrade_resolution
    from hsi.degrade.srf import synthesize

    folder = SAMPLE_SCENE.parent if folder is None else folder
    ms_path, pan_path = folder / "sample_pair_ms.tif", folder / "sample_pair_pan.tif"
    if not (ms_path.exists() and pan_path.exists()):
        sample = open_scene(ensure_sample())
        cube = sample.read(physical=True)
        pan = np.asarray(synthesize(cube, sample.wavelengths_nm, "PAN_generic"), dtype=np.float32)
        low = np.asarray(degrade_resolution(cube, SAMPLE_RATIO, "generic"), dtype=np.float32)
        float_scene = sample.derived(dtype=np.float32, scale=1.0, offset=0.0, nodata=None)
        save_scene(float_scene.derived(n_bands=1, dtype=np.float32, band_names=["pan"], units=sample.units)
                   .with_array(pan), pan_path, overwrite=True)
        save_scene(float_scene.with_array(low, transform=sample.transform * Affine.scale(SAMPLE_RATIO)),
                   ms_path, overwrite=True)
    return ms_path, pan_path


def read_options(cfg: DictConfig, key: str = "read") -> dict[str, Any]:
    """Reader options (``read.key=..., read.layout=...``) as plain keyword arguments."""
    options = cfg.get(key)
    if not options:
        return {}
    return {k: v for k, v in OmegaConf.to_container(options, resolve=True).items() if v is not None}


def input_scene(cfg: DictConfig, key: str = "input") -> Scene:
    """Open ``cfg[key]``; with no input, the shipped sample (and say so)."""
    path = cfg.get(key)
    if path in (None, "", "sample"):
        path = ensure_sample()
        print(f"no {key}= given: using the sample scene {path}")
    return open_scene(Path(str(path)).expanduser(), **read_options(cfg))


def prepare_output(path: str | Path | None, overwrite: bool, inputs: tuple[Path, ...] = ()) -> Path:
    """The output path, refusing to overwrite an input or (unless asked) an existing output.

    Every file the output's writer touches is checked (an ENVI output's binary too), and so
    are the report and quicklook written beside it.
    """
    if path in (None, ""):
        raise InputError("no output= given")
    output = Path(str(path)).expanduser()
    lock.acquire(output)  # first, so a run that finishes meanwhile cannot slip between check and write
    output = check_output(output, bool(overwrite), inputs)
    for companion in (output.stem + "_report.json", output.stem + "_quicklook.png"):
        check_output(output.with_name(companion), True, inputs)
    claim_record(output)
    return output


def claim_record(target: Path) -> None:
    """The output is this run's now: its old completion record goes, room for the new one is reserved."""
    record.forget_record(target)
    record.reserve(target)


def prepare_output_dir(path: str | Path | None, overwrite: bool, inputs: tuple[Path, ...] = (),
                       files: tuple[str, ...] = ()) -> Path:
    """An output folder; refuses a file, a folder whose ``files`` to be written include an
    input, and one that already holds files unless ``overwrite``."""
    if path in (None, ""):
        raise InputError("no output= given")
    lock.acquire(Path(str(path)).expanduser())
    folder = check_output_folder(Path(str(path)).expanduser(), files, bool(overwrite), inputs)
    claim_record(folder)
    return folder


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, DictConfig):
        return OmegaConf.to_container(value, resolve=True)
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: Path, payload: dict) -> Path:
    """Write ``payload`` as indented JSON, atomically (NaN/inf become null)."""
    text = json.dumps(_jsonable(payload), indent=2, default=str)
    return atomic_write(Path(path), lambda tmp: Path(tmp).write_text(text + "\n"))


def config_dict(cfg: DictConfig) -> dict:
    """The job's resolved settings, for reports."""
    return OmegaConf.to_container(cfg, resolve=True)


#: The keys of every job's report, in this order.
REPORT_KEYS = ("job", "hsi_version", "inputs", "outputs", "method", "settings", "timings", "results")
QUICKLOOK_SIDE = 512  # pixels per side of the central quicklook window


def output_paths(output: Path) -> dict[str, Path]:
    """The path rule: ``OUT`` -> ``<OUT stem>_report.json`` and ``<OUT stem>_quicklook.png`` beside it."""
    stem = output.with_suffix("") if output.suffix else output
    return {"report": stem.with_name(stem.name + "_report.json"),
            "quicklook": stem.with_name(stem.name + "_quicklook.png")}


def central_window(n_rows: int, n_cols: int, side: int = QUICKLOOK_SIDE) -> Window:
    """The central window of at most ``side`` x ``side`` pixels (quicklooks, bounded scores)."""
    height, width = min(n_rows, int(side)), min(n_cols, int(side))
    return Window((n_rows - height) // 2, (n_cols - width) // 2, height, width)


@dataclass
class JobRun:
    """One run of a job: its validated outputs, inputs and clock."""

    job: str
    cfg: DictConfig
    outputs: dict[str, Path]
    inputs: dict[str, Any]
    record_at: Path | None = None  # what the completion record describes: the output, or unmix's folder
    fingerprint: dict | None = None  # inputs' identity and settings when the job started (resume, record)
    started: float = field(default_factory=time.perf_counter)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def quicklook(self) -> Path | None:
        return self.outputs.get("quicklook")

    def timed(self, name: str, since: float) -> float:
        """Record ``now - since`` seconds as timing ``name``; returns now."""
        now = time.perf_counter()
        self.timings[f"{name}_s"] = now - since
        return now


def _input_paths(inputs: dict[str, Any]) -> tuple[Path, ...]:
    paths = []
    for value in inputs.values():
        path = value.path if isinstance(value, Scene) else value
        if path not in (None, ""):
            paths.append(Path(str(path)))
    return tuple(paths)


def start(job: str, cfg: DictConfig, output, *, inputs: dict[str, Any], extra: dict[str, Path] | None = None,
          scene_output: bool = True, folder: Path | None = None) -> JobRun:
    """Validate every file the job will write, before any work.

    ``output`` is the main output (a scene file whose format must be known from its extension
    when ``scene_output``); ``extra`` names other files (inside an output folder, say). The
    report, and the quicklook when ``cfg.quicklook``, follow :func:`output_paths`. Each is
    refused if it is an input, or exists and ``overwrite`` is false. The output (``folder``
    for a job that fills one) is locked for this run (:mod:`hsi.io.lock`) until :func:`finish`
    writes its completion record (:mod:`hsi.io.record`).
    """
    from hsi.io import format_of

    if output in (None, ""):
        raise InputError("no output= given")
    main = Path(str(output)).expanduser()
    if scene_output:
        format_of(main, cfg.get("format"))
    rule = output_paths(main)
    outputs = {"output": main, **(extra or {}), "report": rule["report"]}
    if cfg.get("quicklook"):
        outputs["quicklook"] = rule["quicklook"]
    sources = _input_paths(inputs)
    target = main if folder is None else Path(folder)
    lock.acquire(target)
    for path in outputs.values():
        check_output(path, bool(cfg.overwrite), sources)
    target.parent.mkdir(parents=True, exist_ok=True)
    if folder is not None:
        target.mkdir(exist_ok=True)
    claim_record(target)
    return JobRun(job, cfg, outputs, inputs, record_at=target, fingerprint=run_fingerprint(job, cfg))


def _described(value: Any) -> Any:
    return value.describe() if isinstance(value, Scene) else (None if value in (None, "") else str(value))


def finish(run: JobRun, results: dict, method=None) -> dict:
    """Write the report (last: a report on disk means every other output is complete) and return it."""
    from hsi import __version__

    cfg = run.cfg
    run.timings["total_s"] = time.perf_counter() - run.started
    report = {
        "job": run.job,
        "hsi_version": __version__,
        "inputs": {name: _described(value) for name, value in run.inputs.items()},
        "outputs": {name: str(path) for name, path in run.outputs.items()},
        "method": None if method is None else {"name": cfg.get("method_name"), "config": config_dict(cfg.method)},
        "settings": config_dict(cfg),
        "timings": dict(run.timings),
        "results": results,
    }
    write_json(run.outputs["report"], report)
    complete_output(run.job, cfg, run.record_at or run.outputs["output"], *run.outputs.values(),
                    fingerprint=run.fingerprint)
    return report


#: Settings that name inputs (their identity goes into the fingerprint instead of the path).
INPUT_SETTINGS = ("input", "mask", "reference", "reference_abundances", "library", "ms", "pan", "product")
#: Settings that never change what a job writes.
RUN_ONLY_SETTINGS = ("output", "progress", "overwrite", "resume", "scheduler", "workers")


def run_fingerprint(job: str, cfg: DictConfig) -> dict:
    """What determines a job's outputs: its inputs' identities, its resolved settings, hsi's version.

    The same dict is the completion record's fingerprint (``batch`` compares them) and the
    resume journal's (``restore resume=true`` refuses partial results from another one).
    """
    settings = {k: v for k, v in config_dict(cfg).items() if k not in INPUT_SETTINGS + RUN_ONLY_SETTINGS}
    inputs = [cfg.get(key) for key in INPUT_SETTINGS]
    if cfg.get("input", "") is None or ("ms" in cfg and cfg.get("ms") is None):
        settings["sample"] = True  # the shipped sample, generated deterministically
    return record.fingerprint(job, [str(Path(str(p)).expanduser()) for p in inputs if p not in (None, "", "sample")],
                              settings)


def complete_output(job: str, cfg: DictConfig, output: Path | str, *extra_files: Path | str | None,
                    fingerprint: dict | None = None) -> Path:
    """Finish a job: write the output's completion record (last) and release its lock.

    ``fingerprint`` is :func:`run_fingerprint` taken when the job started, where the job has it
    (an input edited during the run then makes the record mismatch rather than vouch for it).
    """
    path = record.write_record(output, fingerprint or run_fingerprint(job, cfg), extra_files)
    record.drop_reservations()  # those of extra files (a report claimed on its own)
    for done in (output, *extra_files):
        if done not in (None, ""):
            lock.release(Path(done))
    return path

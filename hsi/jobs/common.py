"""What every job needs: its input scene (or the sample), its output path, its report."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from hsi.errors import InputError
from hsi.io import check_output, lock, open_scene, record, save_scene
from hsi.io.atomic import atomic_write
from hsi.io.guard import check_output_folder
from hsi.scene import Scene
from hsi.settings import SAMPLE_SCENE

log = logging.getLogger("hsi")
SAMPLE_SCALE = 1e-4


def ensure_sample(path: Path = SAMPLE_SCENE) -> Path:
    """The shipped sample scene, generated deterministically if it is missing."""
    if not path.exists():
        from hsi.sample import make_sample_scene

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
    output = claim_output(Path(str(path)).expanduser(), bool(overwrite), inputs)
    for companion in (output.stem + "_report.json", output.stem + "_quicklook.png"):
        check_output(output.with_name(companion), True, inputs)
    return output


def claim_output(path: Path, overwrite: bool, inputs: tuple[Path, ...] = ()) -> Path:
    """:func:`check_output` under this run's lock on ``path`` (held until :func:`complete_output`).

    The lock comes first, so a run that finishes meanwhile cannot slip between our check and
    our write; once the path is ours, its old completion record goes (the output is about to
    change).
    """
    lock.acquire(path)
    output = check_output(path, overwrite, inputs)
    record.forget_record(output)
    record.reserve(output)
    return output


def prepare_output_dir(path: str | Path | None, overwrite: bool, inputs: tuple[Path, ...] = (),
                       files: tuple[str, ...] = ()) -> Path:
    """An output folder; refuses a file, a folder whose ``files`` to be written include an
    input, and one that already holds files unless ``overwrite``."""
    if path in (None, ""):
        raise InputError("no output= given")
    folder = Path(str(path)).expanduser()
    lock.acquire(folder)  # held until complete_output (or the process ends)
    folder = check_output_folder(folder, files, bool(overwrite), inputs)
    record.forget_record(folder)
    record.reserve(folder)
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


#: Settings that name inputs (their identity goes into the fingerprint instead of the path).
INPUT_SETTINGS = ("input", "mask", "reference", "reference_abundances", "library", "ms", "pan")
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

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

from hsi.errors import InputError, ParameterError
from hsi.io import check_output, lock, open_scene, record, save_scene
from hsi.io.atomic import atomic_write
from hsi.io.guard import input_files, same_file
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
#: MS side of the sample pair: the default method (wald_select) fuses the MS reduced by the ratio
#: once more and needs 8 x 8 pixels there (an MS of 32 x 32 at ratio 4); 40 leaves it 10 x 10.
SAMPLE_PAIR_MS_SIDE = 40


def ensure_sample_pair(folder: Path | None = None) -> tuple[Path, Path]:
    """A pansharpening sample pair made from its own synthetic scene, generated if missing.

    The scene is :func:`hsi.sample_scene.make_sample_scene` at ``SAMPLE_RATIO x
    SAMPLE_PAIR_MS_SIDE`` pixels a side (160: the sample's materials, noise and georeferencing;
    deterministic), larger than the 96 x 96 restore sample so that the default pansharpening
    method runs on it. The low-resolution cube is that scene blurred with a generic sensor MTF
    and decimated by 4 (grid and transform scaled accordingly); the PAN is the scene at full
    resolution through a generic 450-900 nm panchromatic response.
    """
    from affine import Affine

    from hsi.degrade.mtf import degrade_resolution
    from hsi.degrade.srf import synthesize
    from hsi.sample_scene import make_sample_scene

    folder = SAMPLE_SCENE.parent if folder is None else folder
    ms_path, pan_path = folder / "sample_pair_ms.tif", folder / "sample_pair_pan.tif"
    if not (ms_path.exists() and pan_path.exists()):
        side = SAMPLE_RATIO * SAMPLE_PAIR_MS_SIDE
        scene = make_sample_scene(n_rows=side, n_cols=side).to_scene()
        cube = scene.read(physical=True)
        pan = np.asarray(synthesize(cube, scene.wavelengths_nm, "PAN_generic"), dtype=np.float32)
        low = np.asarray(degrade_resolution(cube, SAMPLE_RATIO, "generic"), dtype=np.float32)
        float_scene = scene.derived(dtype=np.float32, nodata=None)
        save_scene(float_scene.derived(n_bands=1, band_names=["pan"], units=scene.units)
                   .with_array(pan), pan_path, overwrite=True, compress="deflate")
        save_scene(float_scene.with_array(low, transform=scene.transform @ Affine.scale(SAMPLE_RATIO)),
                   ms_path, overwrite=True, compress="deflate")
    return ms_path, pan_path


def read_options(cfg: DictConfig, key: str = "read") -> dict[str, Any]:
    """Reader options (``read.key=..., read.layout=...``) as plain keyword arguments."""
    options = cfg.get(key)
    if not options:
        return {}
    return {k: v for k, v in OmegaConf.to_container(options, resolve=True).items() if v is not None}


def require_spectra(scene: Scene, job: str) -> Scene:
    """``scene``, after checking its bands are spectra: a product layer of flags or observation
    geometry (EMIT's L2A MASK, L1B OBS) is refused in one line naming the file, not restored or unmixed."""
    product = (scene.metadata or {}).get("product") or {}
    content = product.get("content", "spectra")
    if content != "spectra":
        raise InputError(f"{scene.path}: {product.get('sensor', '')} {product.get('product', '')} holds {content}, "
                         f"not spectra; {job} needs the spectral image (radiance or reflectance)".replace("  ", " "))
    return scene


def refuse_constant(scene: Scene, values: np.ndarray, what: str) -> None:
    """One line naming the file when every sampled value is the same (an all-zero scene broke the
    noise regressions of restore's fit and unmix's count with a traceback)."""
    if np.nanmin(values) == np.nanmax(values):
        raise InputError(f"{scene.describe()}: every sampled value is {float(np.nanmin(values)):g}: {what}")


def input_scene(cfg: DictConfig, key: str = "input") -> Scene:
    """Open ``cfg[key]``; with no input, the shipped sample (and say so)."""
    path = cfg.get(key)
    if path in (None, "", "sample"):
        path = ensure_sample()
        print(f"no {key}= given: using the sample scene {path}")
    return open_scene(Path(str(path)).expanduser(), **read_options(cfg))


def claim_record(target: Path) -> None:
    """The output is this run's now: its old completion record goes, room for the new one is reserved."""
    record.forget_record(target)
    record.reserve(target)


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


def save_central_quicklook(scene: Scene, path: Path) -> Path:
    """True-colour PNG of the scene's central window (:func:`central_window`), nodata transparent."""
    from hsi.viz.quicklook import save_rgb_quicklook

    window = central_window(scene.n_rows, scene.n_cols)
    raw = scene.read(window)
    cube = scene.read(window, physical=True)
    return save_rgb_quicklook(cube, scene.wavelengths_nm, path, nodata_mask=scene.nodata_mask_of(raw),
                              upscale=max(1, 256 // max(window.height, window.width)))


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


def band_selection(value: Any) -> list[int]:
    """``bands=`` of ``convert`` / ``info`` as band indices: integers (negative ones count from the
    end), at least one; anything else is one line (``bands=abc`` was a ValueError traceback,
    ``bands=[1.5]`` read band 1, ``bands=[]`` a GDAL error about a zero-band file)."""
    items = list(value) if OmegaConf.is_list(value) or isinstance(value, (list, tuple)) else [value]
    if not items:
        raise ParameterError("bands= selects no band; give band indices, e.g. bands=[0,5,10]")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, np.integer)):
            raise ParameterError(f"bands= takes band indices (integers), e.g. bands=[0,5,10]; got {value!r}")
    return [int(item) for item in items]


def check_sampling(cfg: DictConfig) -> None:
    """``seed`` >= 0 and ``sample_pixels`` >= 1 where a job has them, refused before any work
    (``seed=-1`` was numpy's ValueError traceback; ``unmix sample_pixels=0`` said every pixel
    was nodata)."""
    if cfg.get("seed") is not None and int(cfg.seed) < 0:
        raise ParameterError(f"seed= must be >= 0; got {cfg.seed}")
    if cfg.get("sample_pixels") is not None and int(cfg.sample_pixels) < 1:
        raise ParameterError(f"sample_pixels= must be >= 1; got {cfg.sample_pixels}")


def check_tiling(tiling: DictConfig | None) -> None:
    """Refuse impossible tile settings before any work, also where the method streams tiles of
    its own (the default restore's eigen-images), which would otherwise ignore them silently or
    fail after the fit (unmix's abundance pass)."""
    if tiling is None:
        return
    from hsi.tiling.grid import check_tile_overlap

    check_tile_overlap(int(tiling.tile), int(tiling.get("overlap", 0)), prefix="tiling.")
    for key in ("context", "eigen_context"):
        if tiling.get(key) is not None and int(tiling[key]) < 0:
            raise ParameterError(f"tiling.{key} must be >= 0; got {tiling[key]}")
    for key in ("eigen_tile", "batch_size"):
        if tiling.get(key) is not None and int(tiling[key]) < 1:
            raise ParameterError(f"tiling.{key} must be >= 1; got {tiling[key]}")


def start(job: str, cfg: DictConfig, output, *, inputs: dict[str, Any], extra: dict[str, Path] | None = None,
          scene_output: bool = True, folder: Path | None = None, report: Path | None = None,
          overwrite: bool | None = None) -> JobRun:
    """Validate every file the job will write, before any work.

    ``output`` is the main output (a scene file whose format must be known from its extension
    when ``scene_output``); ``extra`` names other files (inside an output folder, say). The
    report (unless ``report`` names it: ``info report=x.json``), and the quicklook when
    ``cfg.quicklook`` is true (or at ``cfg.quicklook`` when that is a path), follow
    :func:`output_paths`. Each is
    refused if it is an input, or exists and ``overwrite`` is false. The output (``folder``
    for a job that fills one) is locked for this run (:mod:`hsi.io.lock`) until :func:`finish`
    writes its completion record (:mod:`hsi.io.record`). ``overwrite`` replaces
    ``cfg.overwrite`` where the job itself decides (``train`` resuming into its folder).
    """
    from hsi.io import format_of

    if output in (None, ""):
        raise InputError("no output= given")
    main = Path(str(output)).expanduser()
    if scene_output:
        format_of(main, cfg.get("format"))
    rule = output_paths(main)
    outputs = {"output": main, **(extra or {}),
               "report": rule["report"] if report is None else Path(str(report)).expanduser()}
    quicklook = cfg.get("quicklook")
    if quicklook:
        outputs["quicklook"] = rule["quicklook"] if quicklook is True else Path(str(quicklook)).expanduser()
    sources = _input_paths(inputs)
    target = main if folder is None else Path(folder)
    lock.acquire(target)
    replace = bool(cfg.overwrite) if overwrite is None else overwrite
    if overwrite is None and not replace and main.exists():
        _refuse_an_existing_output(job, cfg, main, target)
    for path in outputs.values():
        if path != main:
            _refuse_anothers_file(path, main, target)
    for path in outputs.values():
        check_output(path, replace, sources)
    target.parent.mkdir(parents=True, exist_ok=True)
    if folder is not None:
        target.mkdir(exist_ok=True)
    claim_record(target)
    return JobRun(job, cfg, outputs, inputs, record_at=target, fingerprint=run_fingerprint(job, cfg))


def _refuse_anothers_file(path: Path, main: Path, target: Path) -> None:
    """Refuse, even with ``overwrite=true``, a report, quicklook or masks file that belongs to another
    output: by the path rule ``a.tif`` and ``a.h5`` share ``a_report.json``, and one run would
    silently replace the other's (and break its completion record).

    Whose it is: the output whose completion record lists it, else the output an hsi report names.
    """
    from hsi.errors import OutputExistsError

    if not path.is_file():
        return
    owner = record.owner_of(path)
    if owner is None and path.suffix == ".json":  # a report whose output has no record (killed, older hsi)
        try:
            named = json.loads(path.read_text()).get("outputs", {}).get("output")
        except (OSError, ValueError, AttributeError):
            named = None
        owner = None if named in (None, "") else Path(str(named))
    if owner is None or not owner.exists() or any(same_file(owner, mine) for mine in (main, target, *input_files(main))):
        return
    raise OutputExistsError(f"{path}: belongs to the output {owner} (written by its run), and this run's "
                            f"{main.name} would replace it (outputs named alike up to the extension share their report, quicklook "
                            "and masks names): "
                            "choose another output name")


def _refuse_an_existing_output(job: str, cfg: DictConfig, main: Path, target: Path) -> None:
    """A run (or ``resume=true``) on an output already written: say what is there, from its record.

    Outputs are renamed into place whole, so there is nothing left to resume; "output exists;
    pass overwrite=true" alone would invite redoing a finished run, or trusting one whose
    record was never written (a kill between the output's rename and its record).
    """
    from hsi.errors import OutputExistsError

    unrecorded = record.unrecorded_reason(target)
    if unrecorded:
        raise OutputExistsError(f"{main}: {unrecorded}; re-run with overwrite=true or remove it")
    record.remember_inputs(target)  # its unchanged inputs are not read again
    done, why = record.matching_record(target, run_fingerprint(job, cfg))
    if done:
        nothing = "nothing to resume" if cfg.get("resume") else "pass overwrite=true to redo it anyway"
        raise OutputExistsError(f"{main}: already complete with these inputs and settings (its completion "
                                f"record matches); {nothing}")
    state = "exists, written whole, so nothing is left to resume; it" if cfg.get("resume") else "exists and"
    raise OutputExistsError(f"{main}: output {state} does not match this run ({why}): pass overwrite=true to redo it")


def _described(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_described(v) for v in value]
    return value.describe() if isinstance(value, Scene) else (None if value in (None, "") else str(value))


def make_report(job: str, *, inputs: dict[str, Any], outputs: dict[str, Any], settings: DictConfig | dict,
                timings: dict[str, float], results: Any, method: DictConfig | None = None) -> dict:
    """A report with :data:`REPORT_KEYS`, in that order; ``method`` is the job config holding
    ``method_name`` and ``method`` (jobs without a method give none)."""
    from hsi import __version__

    return {
        "job": job,
        "hsi_version": __version__,
        "inputs": {name: _described(value) for name, value in inputs.items()},
        "outputs": {name: None if path is None else str(path) for name, path in outputs.items()},
        "method": None if method is None else {"name": method.get("method_name"), "config": config_dict(method.method)},
        "settings": config_dict(settings) if isinstance(settings, DictConfig) else settings,
        "timings": dict(timings),
        "results": results,
    }


def write_report(path: Path, report: dict) -> Path:
    """The one report writer: exactly :data:`REPORT_KEYS`, atomically (see :func:`write_json`)."""
    if tuple(report) != REPORT_KEYS:
        raise ValueError(f"a report has the keys {REPORT_KEYS}; got {tuple(report)}")  # a bug in hsi, not user input
    return write_json(path, report)


def finish(run: JobRun, results: dict, method=None) -> dict:
    """Write the report (last: a report on disk means every other output is complete) and return it."""
    cfg = run.cfg
    run.timings["total_s"] = time.perf_counter() - run.started
    report = make_report(run.job, inputs=run.inputs, outputs=run.outputs, settings=cfg, timings=run.timings,
                         results=results, method=None if method is None else cfg)
    write_report(run.outputs["report"], report)
    _complete_output(run.job, cfg, run.record_at or run.outputs["output"], *run.outputs.values(),
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


def _complete_output(job: str, cfg: DictConfig, output: Path | str, *extra_files: Path | str | None,
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

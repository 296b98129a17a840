"""Run one job over many scenes; resumable, optionally spread over a Dask cluster."""

from __future__ import annotations

import glob
import json
import os
import socket
import time
import traceback
import uuid
from pathlib import Path

from omegaconf import DictConfig

from hsi.config import unknown_setting_message
from hsi.errors import HsiError, InputError, OutputExistsError, ParameterError, SchedulerLostError
from hsi.io import lock
from hsi.io.products import describe_product, product_root
from hsi.io.record import matching_record, remember_inputs
from hsi.io import check_output
from hsi.io.guard import make_folder
from hsi.jobs.common import make_report, run_fingerprint, write_report

#: job -> (setting that takes each input, setting that takes its output, default output suffix)
JOB_IO = {
    "restore": ("input", "output", ".tif"),
    "convert": ("input", "output", ".tif"),
    "pansharpen": ("ms", "output", ".tif"),
    "unmix": ("input", "output", ""),  # a folder per scene
    "info": ("input", "report", ".json"),
}
JOBS_WITH_PROGRESS = ("restore", "convert", "info")  # jobs whose progress bars a batch turns off
ATTEMPTS_FOLDER = ".hsi-batch-attempts"  # one marker per task start: a task started twice lost a worker
REPORT = "batch_report.json"


# --- the command line ----------------------------------------------------------------------
def quote_job_overrides(arguments: list[str]) -> list[str]:
    """``job_overrides=[method=fasthyde,tile=256]`` made parseable by Hydra (each element quoted)."""
    quoted = []
    for argument in arguments:
        key, _, value = argument.partition("=")
        if key.lstrip("+~") == "job_overrides" and value.startswith("[") and value.endswith("]"):
            argument = f"{key}=[" + ",".join(_quote(item) for item in _split_top_level(value[1:-1])) + "]"
        quoted.append(argument)
    return quoted


def _split_top_level(text: str) -> list[str]:
    """Split on the commas outside brackets and quotes."""
    items, depth, quote, current = [], 0, "", ""
    for char in text:
        if quote:
            quote = "" if char == quote and not current.endswith("\\") else quote
        elif char in "'\"":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(current)
            current = ""
            continue
        current += char
    return [item.strip() for item in items + [current] if item.strip()]


def _quote(value: str) -> str:
    """A Hydra quoted string holding ``value`` (left as is when already quoted)."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value
    return "'" + value.replace("'", "\\'") + "'"


# --- one scene (here or on a Dask worker) -------------------------------------------------------
def process_one(job: str, overrides: list[str], driver_lock: str | None = None, attempts: str | None = None,
                name: str = "") -> dict:
    """Run ``job`` with ``overrides`` in this process (a Dask worker or the caller); never raises.

    On a worker, ``driver_lock`` is the batch's output folder, whose lock the driver holds:
    the task stops (writing nothing) when the driver dies. ``attempts`` is a folder where each
    start leaves a marker, so a task that a dead worker's scheduler restarted is reported.
    """
    from hsi.jobs.run import run_job
    from hsi.distributed import DriverGone, abandon_if_driver_dies

    started = time.perf_counter()
    try:
        with abandon_if_driver_dies(driver_lock):
            _mark_attempt(attempts, name)
            run_job(job, overrides)
        result = {"status": "done"}
    except DriverGone:
        result = {"status": "abandoned", "error": "the batch driver is gone; nothing written"}
    except HsiError as error:
        result = {"status": "failed", "error": str(error)}
    except Exception as error:  # a bug or a library failure on one scene must not stop the batch
        result = {"status": "failed", "error": f"{type(error).__name__}: {error}",
                  "traceback": traceback.format_exc(limit=5)}
    result["seconds"] = time.perf_counter() - started
    result.update(_attempts(attempts, name))
    return result


def _mark_attempt(folder: str | None, name: str) -> None:
    if folder is None:
        return
    try:
        from distributed import get_worker

        worker = get_worker().address
    except (ImportError, ValueError):
        worker = None
    marker = Path(folder) / f"{name}@{uuid.uuid4().hex[:8]}"
    marker.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "worker": worker,
                                  "started": time.time()}))


def _attempts(folder: str | None, name: str) -> dict:
    """How often this scene's task was started; the earlier starts died with their worker."""
    if folder is None:
        return {}
    starts = sorted((json.loads(p.read_text()) for p in Path(folder).glob(f"{name}@*")), key=lambda s: s["started"])
    if len(starts) <= 1:
        return {"attempts": len(starts), "worker": starts[0]["worker"] if starts else None}
    return {"attempts": len(starts), "worker": starts[-1]["worker"],
            "retried": f"{len(starts) - 1} earlier attempt(s) did not finish (their worker died): "
                       + ", ".join(str(s["worker"] or s["host"]) for s in starts[:-1])}


# --- the plan ---------------------------------------------------------------------------------
def expand_inputs(patterns: list[str]) -> list[Path]:
    """Every file matching the glob patterns, sorted, without duplicates; a product folder is one input."""
    found = sorted({product_root(p) for pattern in patterns
                    for p in glob.glob(str(Path(pattern).expanduser()), recursive=True)})
    if not found:
        raise InputError(f"no input matches {', '.join(patterns)}")
    return found


def job_io(cfg: DictConfig) -> tuple[str, str, str]:
    if cfg.job not in JOB_IO:
        raise ParameterError(f"batch job= must be one of {', '.join(JOB_IO)}; got {cfg.job!r}")
    in_key, out_key, suffix = JOB_IO[cfg.job]
    if cfg.job == "pansharpen" and not cfg.get("pan"):
        raise ParameterError("batch job=pansharpen needs pan=PATTERN, the PAN of each MS input with {stem} "
                             "standing for the MS file's stem, e.g. pan=pans/{stem}_pan.tif")
    return in_key, out_key, suffix if cfg.output_suffix is None else str(cfg.output_suffix)


def scene_overrides(cfg: DictConfig, source: Path, target: Path) -> list[str]:
    """The job's overrides for one scene: the batch's ``job_overrides``, then its input and output."""
    in_key, out_key, _ = job_io(cfg)
    overrides = list(cfg.job_overrides or []) + [f"{in_key}={_quote(str(source))}", f"{out_key}={_quote(str(target))}"]
    if cfg.job == "pansharpen":
        overrides.append(f"pan={_quote(str(cfg.pan).replace('{stem}', source.stem))}")
    if cfg.job in JOBS_WITH_PROGRESS:
        overrides.append("progress=false")
    return overrides


def plan(cfg: DictConfig) -> list[dict]:
    """One entry per input: its output, and whether that output is complete and made by these settings.

    Only an output with a matching completion record counts as done (see
    :mod:`hsi.io.record`): a corrupt, empty, record-less or differently made one is redone,
    and ``why`` says so. Inputs that are this batch's own outputs (an ``output_dir`` under
    the inputs' folder) are left out.
    """
    from hsi.config import compose

    _, _, suffix = job_io(cfg)
    output_dir = Path(cfg.output_dir).expanduser()
    sources = expand_inputs(list(cfg.inputs))
    targets = {source: output_dir / f"{source.stem}{suffix}" for source in sources}
    for source, target in targets.items():
        if target.resolve() == source.resolve():
            raise ParameterError(f"{target}: output_dir={cfg.output_dir} with output_suffix={suffix!r} puts the output "
                                 f"of {source.name} on the input itself; choose another output_dir or output_suffix")
    planned = {target.resolve() for target in targets.values()}
    entries = [{"input": str(s), "output": None, "status": "ignored (an output of this batch, not an input)"}
               for s in sources if s.resolve() in planned]
    sources = [s for s in sources if s.resolve() not in planned]
    if len({targets[s] for s in sources}) != len(sources):
        raise ParameterError("several inputs share a file stem and would get the same output; put them in separate batches")
    for source in sources:
        overrides = scene_overrides(cfg, source, targets[source])
        remember_inputs(targets[source])  # its unchanged inputs are not read again
        done, why = matching_record(targets[source], run_fingerprint(cfg.job, compose(cfg.job, overrides)))
        entries.append({"input": str(source), "output": str(targets[source]), "done": done, "why": why,
                        "exists": targets[source].exists(), "overrides": overrides,
                        "product": describe_product(source)})
    return entries


def check_job_overrides(cfg: DictConfig, sources: list[Path]) -> None:
    """Compose the job's config as the first scene will get it and run the job's up-front checks,
    so bad ``job_overrides`` fail once, before ``output_dir`` is made, not once per scene."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from hsi.jobs.run import checked_config

    _, _, suffix = job_io(cfg)
    source = sources[0]
    overrides = scene_overrides(cfg, source, Path(cfg.output_dir).expanduser() / f"{source.stem}{suffix}")
    try:
        checked_config(cfg.job, overrides)
    except HsiError as error:
        raise ParameterError(f"job_overrides: {error}") from None
    except (HydraException, OmegaConfBaseException) as error:
        unknown = unknown_setting_message(cfg.job, overrides, error)
        message = unknown or (str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__)
        raise ParameterError(f"job_overrides: bad setting for job {cfg.job!r}: {message}") from None


def check_given(cfg: DictConfig, given: set[str]) -> None:
    """Refuse batch settings this batch would ignore: ``pan=`` outside ``job=pansharpen``, ``workers=``
    without ``scheduler=local``."""
    if "pan" in given and cfg.pan is not None and cfg.job != "pansharpen":
        raise ParameterError(f"pan= is used by job=pansharpen only; job={cfg.job} takes no PAN")
    from hsi.distributed import check_workers_given

    check_workers_given(cfg, given)


# --- the run ----------------------------------------------------------------------------------
def run(cfg: DictConfig) -> dict:
    output_dir = Path(cfg.output_dir).expanduser()
    job_io(cfg)  # an unknown job=, no matching input or a bad scheduler= is refused before output_dir is made
    from hsi.distributed import check_scheduler

    check_scheduler(cfg.get("scheduler"), int(cfg.workers))
    check_job_overrides(cfg, expand_inputs(list(cfg.inputs)))
    if output_dir.exists() and not output_dir.is_dir():
        raise OutputExistsError(f"{output_dir}: output_dir= must be a folder, but a file has that name")
    make_folder(output_dir)
    with lock.output_lock(output_dir):  # a second batch on this folder gets one line and exit 2
        return _run(cfg, output_dir)


def _run(cfg: DictConfig, output_dir: Path) -> dict:
    started = time.perf_counter()
    report_path = output_dir / REPORT
    # the batch's own report is rewritten on every re-run, but never over one of its inputs
    check_output(report_path, True, expand_inputs(list(cfg.inputs)))
    entries = plan(cfg)
    todo = [e for e in entries if e.get("done") is False]
    for entry in entries:
        if entry.get("done") is True:
            entry["status"] = "skipped (complete, made with these settings)"
        elif entry.get("done") is False:
            entry["status"] = "pending"
            if entry["exists"]:
                entry["redone_because"] = entry["why"]
    n_skipped = sum(e.get("done") is True for e in entries)
    print(f"{len(entries)} scenes, {n_skipped} already done, {len(todo)} to run ({cfg.job})")
    timings: dict[str, float] = {"plan_s": time.perf_counter() - started}

    def report(hidden: tuple[str, ...] = ("done", "why", "exists", "overrides")) -> dict:
        """The batch's report (the keys every report has); per-scene status under ``results.scenes``."""
        timings["total_s"] = time.perf_counter() - started
        scenes = [{k: v for k, v in e.items() if k not in hidden} for e in entries]
        return make_report("batch", inputs={"inputs": [e["input"] for e in entries]},
                           outputs={"output_dir": output_dir, "report": report_path}, settings=cfg, timings=timings,
                           results={"job": cfg.job, "scenes": scenes})

    def save() -> None:
        write_report(report_path, report())

    save()
    for entry in todo:
        if entry["exists"]:
            entry["overrides"].append("overwrite=true")  # no matching record: redone (why is in the report)
    try:
        if cfg.scheduler:
            _run_distributed(cfg, output_dir, todo, save)
        else:
            from tqdm import tqdm

            for entry in tqdm(todo, desc="batch", unit="scene"):
                entry.update(process_one(cfg.job, entry["overrides"]))
                save()
    finally:
        for entry in todo:
            if entry["status"] == "pending":
                entry["status"] = "not run (the batch was interrupted)"
        save()
    failed = [e for e in entries if e.get("status") in ("failed", "abandoned")]
    for entry in failed:
        error = entry["error"]  # hsi's errors already start with the file they name
        print(f"failed: {error}" if error.startswith(entry["input"]) else f"failed: {entry['input']}: {error}")
    if failed:
        raise InputError(f"{len(failed)} of {len(entries)} scenes failed; see {report_path} "
                         "(run again to retry only those)")
    print(f"batch finished: report {report_path}")
    return report(hidden=("overrides",))


def _run_distributed(cfg: DictConfig, output_dir: Path, todo: list[dict], save) -> None:
    """Scenes as Dask tasks; results recorded as they arrive; a lost scheduler ends the batch in one line."""
    import shutil
    from concurrent.futures import CancelledError

    from distributed import as_completed

    from hsi.distributed import dask_client

    attempts = output_dir / ATTEMPTS_FOLDER
    shutil.rmtree(attempts, ignore_errors=True)
    attempts.mkdir()
    lost = 0
    try:
        with dask_client(cfg.scheduler, int(cfg.workers)) as client:
            futures = {client.submit(process_one, cfg.job, e["overrides"], str(output_dir), str(attempts),
                                     Path(e["output"]).name, pure=False): e for e in todo}
            for future in as_completed(futures):
                entry = futures[future]
                try:
                    entry.update(future.result())
                except CancelledError:
                    entry["status"], lost = "not run (lost the scheduler)", lost + 1
                except Exception as error:  # KilledWorker: the scheduler gave up after repeated worker deaths
                    entry.update(status="failed", error=f"{type(error).__name__}: {error}".splitlines()[0],
                                 **_attempts(str(attempts), Path(entry["output"]).name))
                save()
    except SchedulerLostError as error:  # the scheduler could not be reached, or went away
        done = sum(e["status"] == "done" for e in todo)
        raise SchedulerLostError(f"{error}; {done} of {len(todo)} scenes finished, see {output_dir / REPORT}") from None
    finally:
        shutil.rmtree(attempts, ignore_errors=True)
    if lost:
        done = sum(e["status"] == "done" for e in todo)
        raise SchedulerLostError(f"lost the Dask scheduler {cfg.scheduler}: {done} of {len(todo)} scenes finished, "
                                 f"{lost} not run; see {output_dir / REPORT} (run again to do the rest)")

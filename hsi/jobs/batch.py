"""Run one job over many scenes; resumable, optionally spread over a Dask cluster."""

from __future__ import annotations

import glob
import time
import traceback
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from hsi.errors import HsiError, InputError, ParameterError
from hsi.io.products import describe_product, product_root
from hsi.jobs.common import write_json


def process_one(job: str, overrides: list[str]) -> dict:
    """Run ``job`` with ``overrides`` in this process (a Dask worker or the caller); never raises."""
    from hsi.jobs.run import run_job

    started = time.perf_counter()
    try:
        run_job(job, overrides)
        return {"status": "done", "seconds": time.perf_counter() - started}
    except HsiError as error:
        return {"status": "failed", "error": str(error), "seconds": time.perf_counter() - started}
    except Exception as error:  # a bug or a library failure on one scene must not stop the batch
        return {"status": "failed", "error": f"{type(error).__name__}: {error}",
                "traceback": traceback.format_exc(limit=5), "seconds": time.perf_counter() - started}


def expand_inputs(patterns: list[str]) -> list[Path]:
    """Every file matching the glob patterns, sorted, without duplicates; a product folder is one input."""
    found = sorted({product_root(p) for pattern in patterns for p in glob.glob(str(Path(pattern).expanduser()), recursive=True)})
    if not found:
        raise InputError(f"no input matches {', '.join(patterns)}")
    return found


def plan(cfg: DictConfig) -> list[dict]:
    """One entry per input: its output path and whether it is already done (resumable)."""
    output_dir = Path(cfg.output_dir).expanduser()
    entries = []
    for source in expand_inputs(list(cfg.inputs)):
        target = output_dir / f"{source.stem}{cfg.output_suffix or ''}"
        entries.append({"input": str(source), "output": str(target), "done": target.exists(),
                        "product": describe_product(source)})
    targets = [e["output"] for e in entries]
    if len(set(targets)) != len(targets):
        raise ParameterError("several inputs share a file stem and would get the same output; put them in separate batches")
    return entries


def run(cfg: DictConfig) -> dict:
    entries = plan(cfg)
    Path(cfg.output_dir).expanduser().mkdir(parents=True, exist_ok=True)
    job_overrides = list(cfg.job_overrides or [])
    todo = [e for e in entries if not e["done"]]
    print(f"{len(entries)} scenes, {len(entries) - len(todo)} already done, {len(todo)} to run ({cfg.job})")
    tasks = [(cfg.job, job_overrides + [f"input={e['input']}", f"output={e['output']}", "progress=false"]) for e in todo]
    if cfg.scheduler:
        from hsi.distributed import dask_client

        with dask_client(cfg.scheduler, int(cfg.workers)) as client:
            results = client.gather(client.map(process_one, *zip(*tasks), pure=False)) if tasks else []
    else:
        from tqdm import tqdm

        results = [process_one(job, overrides) for job, overrides in tqdm(tasks, desc="batch", unit="scene")]
    for entry, result in zip(todo, results):
        entry.update(result)
    for entry in entries:
        if entry["done"] is True and "status" not in entry:
            entry["status"] = "skipped (output exists)"
        entry.pop("done", None)
    report = {"job": cfg.job, "settings": OmegaConf.to_container(cfg, resolve=True), "scenes": entries}
    write_json(Path(cfg.output_dir).expanduser() / "batch_report.json", report)
    failed = [e for e in entries if e.get("status") == "failed"]
    for entry in failed:
        print(f"failed: {entry['input']}: {entry['error']}")
    if failed:
        raise InputError(f"{len(failed)} of {len(entries)} scenes failed; see {cfg.output_dir}/batch_report.json "
                         "(run again to retry only those)")
    print(f"batch finished: report {Path(cfg.output_dir) / 'batch_report.json'}")
    return report

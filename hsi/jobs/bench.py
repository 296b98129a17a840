"""Run a benchmark suite (unmix, restore, pansharpen, scale, throughput, prior, identity) and write its tables as Markdown and JSON.

The tables are the job's outputs: ``<output>/<suite>.md`` and ``<output>/<suite>.json``, both
checked before the suite runs (``overwrite=true`` replaces them). The JSON is the job's report
(the keys every report has), the tables under ``results.tables``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from hsi.io.atomic import atomic_write
from hsi.jobs.common import finish, start
from hsi.settings import shared_data_dir


def markdown_table(rows: list[dict]) -> str:
    """Rows of flat dicts as a Markdown table (floats to 4 significant digits)."""
    if not rows:
        return "(no rows)\n"
    columns = list(dict.fromkeys(k for row in rows for k in row))
    cell = lambda v: f"{v:.4g}" if isinstance(v, float) else ("" if v is None else str(v))  # noqa: E731
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def machine_state() -> dict:
    """Threads and load when the suite starts: times in a table are read against these (shared machines)."""
    import torch

    return {"torch_threads": torch.get_num_threads(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "GOMP_SPINCOUNT": os.environ.get("GOMP_SPINCOUNT"),
            "cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2)}


def machine_line(before: dict, after: dict) -> str:
    """The tables' header line saying how many threads ran and how loaded the machine was."""
    return (f"Threads: torch {before['torch_threads']} (OMP_NUM_THREADS={before['OMP_NUM_THREADS'] or 'unset'}, "
            f"GOMP_SPINCOUNT={before.get('GOMP_SPINCOUNT') or 'unset'}), "
            f"{before['cpus']} CPUs, load average {before['load_average_1min']:.1f} at start, "
            f"{after['load_average_1min']:.1f} at end  ")


def run(cfg: DictConfig) -> dict:
    suite_name = str(cfg.suite._target_).split(".")[-2]  # hsi.bench.<suite>.run_benchmark
    data_dir = cfg.data_dir or str(shared_data_dir())
    stem = Path(str(cfg.output)).expanduser() / suite_name
    job = start("bench", cfg, stem.with_suffix(".md"), inputs={"data_dir": data_dir}, scene_output=False,
                report=stem.with_suffix(".json"))
    benchmark = hydra.utils.instantiate(cfg.suite, _partial_=True)
    machine = machine_state()
    started = time.perf_counter()
    tables = benchmark(data_dir=data_dir)
    machine_after = machine_state()
    elapsed = job.timed("suite", started) - started
    overrides = [f"suite.{k}={v}" for k, v in OmegaConf.to_container(cfg.suite).items() if k != "_target_"]
    command = f"python cli.py bench {suite_name} " + " ".join(overrides)
    text = [f"# Benchmark: {suite_name}", "", f"Command: `{command}`  ", f"Total time: {elapsed:.1f} s  ",
            machine_line(machine, machine_after), ""]
    for name, rows in tables.items():
        text += [f"## {name}", "", markdown_table(rows)]
    markdown = "\n".join(text)
    atomic_write(job.outputs["output"], lambda tmp: Path(tmp).write_text(markdown))
    finish(job, {"suite": suite_name, "command": command, "seconds": elapsed,
                 "machine": {"start": machine, "end": machine_after}, "tables": tables})
    print(markdown)
    print(f"tables written to {stem}.md and {stem}.json")
    return tables

"""The command line: ``python cli.py <job> key=value ...``.

Each job is a module ``hsi/jobs/<job>.py`` with ``run(cfg)`` and a config
``conf/<job>.yaml``; :func:`hsi.jobs.run.run_job` composes the configuration with Hydra's
compose API, so every ``key=value`` (and ``group=option``) override works, and nothing is
written into Hydra's dated folders: each job writes where its ``output=`` says. ``-m`` /
``--multirun`` with comma-separated values (``method=fasthyde,lrtv``) runs the job once per
combination, as Hydra's multirun does.
"""

from __future__ import annotations

import ast
import sys
import warnings
from pathlib import Path

from hsi import methods
from hsi.config import CONF_DIR, compose, unknown_setting_message
from hsi.errors import HsiError
from hsi.jobs.run import run_job

JOBS_DIR = Path(__file__).resolve().parent / "jobs"
USAGE = "usage: python cli.py <job> [key=value ...]   (python cli.py <job> --help shows a job's settings)"


def available_jobs() -> dict[str, str]:
    """Job name -> one-line help, for every job that has both a module and a config."""
    jobs = {}
    for config in sorted(CONF_DIR.glob("*.yaml")):
        module = JOBS_DIR / f"{config.stem}.py"
        if module.exists():
            docstring = ast.get_docstring(ast.parse(module.read_text())) or ""
            jobs[config.stem] = docstring.strip().splitlines()[0] if docstring else ""
    return jobs


def _help(jobs: dict[str, str]) -> str:
    width = max(map(len, jobs), default=0)
    lines = [USAGE, "", "jobs:"] + [f"  {name:<{width}}  {text}" for name, text in jobs.items()]
    lines += ["", "With no input=..., a job runs on the shipped sample scene (data/sample_scene.tif)."]
    return "\n".join(lines)


def _usage(job: str) -> str:
    """The job's usage line: the first comment of ``conf/<job>.yaml`` (``# python cli.py ...``)."""
    first = (CONF_DIR / f"{job}.yaml").read_text().splitlines()[0]
    return f"usage: {first.lstrip('# ').strip()}\n" if first.startswith("# python cli.py") else ""


def _group_help(job: str) -> str:
    """The config groups the job composes (``suite=NAME``, ``trainer=NAME``...) and their options."""
    import yaml

    defaults = (yaml.safe_load((CONF_DIR / f"{job}.yaml").read_text()) or {}).get("defaults") or []
    lines = []
    for entry in defaults:
        group = next(iter(entry)) if isinstance(entry, dict) else None
        if group in (None, "method") or not (CONF_DIR / group).is_dir():
            continue  # methods are listed by the registry
        options = sorted(path.stem for path in (CONF_DIR / group).glob("*.yaml"))
        chosen = "none" if entry[group] is None else entry[group]
        lines.append(f"{group}={chosen} by default ({group}=NAME, one of: {', '.join(options)})\n")
    return "".join(lines)


def _method_help(job: str, cfg) -> str:
    if job not in methods.JOBS:
        return ""
    text = f"method: {cfg.get('method_name')} (method=NAME picks another: {', '.join(methods.names(job))})\n"
    if job == "restore":
        text += "".join(f"  task={task}: {', '.join(methods.names(job, task))}\n" for task in methods.RESTORE_TASKS)
    return text


def sweeps(overrides: list[str]) -> list[list[str]]:
    """Hydra's multirun sweep: ``a=1,2 b=x,y`` -> every combination, in order (no range/glob sweeps)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    runs: list[list[str]] = [[]]
    for override in OverridesParser.create().parse_overrides(overrides):
        values = [override.get_key_element() + "=" + v for v in override.sweep_string_iterator()] \
            if override.is_sweep_override() else [override.input_line]
        runs = [run + [value] for run in runs for value in values]
    return runs


def main(argv: list[str] | None = None) -> int:
    """Run ``python cli.py ...``; returns the exit status (2 for a one-line error)."""
    warnings.showwarning = _one_line_warning
    try:
        return _main(argv)
    except BrokenPipeError:  # `python cli.py restore --help | head`: the reader left; stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 141  # 128 + SIGPIPE, as a shell tool killed by the closed pipe


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings reach the user as ``warning: ...`` lines, not as Python's two-line source dump."""
    print(f"warning: {message}", file=sys.stderr if file is None else file)


def _main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    jobs = available_jobs()
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_help(jobs))
        return 0
    job, overrides = argv[0], argv[1:]
    if job not in jobs:
        print(f"error: unknown job {job!r}; jobs: {', '.join(jobs)}", file=sys.stderr)
        return 2
    multirun = any(arg in ("-m", "--multirun") for arg in overrides)
    overrides = [arg for arg in overrides if arg not in ("-m", "--multirun")]
    if job == "bench" and overrides and "=" not in overrides[0] and not overrides[0].startswith("-"):
        overrides[0] = f"suite={overrides[0]}"  # `cli.py bench unmix` reads naturally
    if job == "batch":  # `job_overrides=[method=fasthyde,tiling.tile=256]` as the README writes it
        from hsi.jobs.batch import quote_job_overrides

        overrides = quote_job_overrides(overrides)
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        if any(arg in ("-h", "--help") for arg in overrides):
            cfg = compose(job, [a for a in overrides if a not in ("-h", "--help")])
            print(f"{job}: {jobs[job]}\n{_usage(job)}\n{_method_help(job, cfg)}{_group_help(job)}\n"
                  "settings (override with key=value):\n")
            print(OmegaConf.to_yaml(cfg))
            return 0
        for run in (sweeps(overrides) if multirun else [overrides]):
            if multirun:
                print(f"[multirun] {job} {' '.join(run)}")
            run_job(job, run)
    except HsiError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (HydraException, OmegaConfBaseException) as error:
        cause = error.__cause__
        while cause is not None and not isinstance(cause, HsiError):
            cause = cause.__cause__
        if cause is not None:  # raised inside hydra.utils.instantiate: report the user-facing error
            print(f"error: {cause}", file=sys.stderr)
            return 2
        unknown = unknown_setting_message(job, overrides, error)
        if unknown is not None:
            print(f"error: {unknown}", file=sys.stderr)
            return 2
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if "Could not find 'method/" in message and job in methods.JOBS:
            message += f"; methods for {job}: {', '.join(methods.names(job))}"
        print(f"error: bad setting for job {job!r}: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0

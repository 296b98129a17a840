"""The command line: ``python cli.py <job> key=value ...``.

Each job is a module ``hsi/jobs/<job>.py`` with ``run(cfg)`` and a config
``conf/<job>.yaml``; the configuration is composed by Hydra's compose API, so every
``key=value`` (and ``group=option``) override works, and nothing is written into
Hydra's dated folders: each job writes where its ``output=`` says.
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

from hsi.errors import HsiError
from hsi.settings import PROJECT_ROOT

CONF_DIR = PROJECT_ROOT / "conf"
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


def compose(job: str, overrides: list[str]):
    """The job's configuration with ``overrides`` applied (what tests call too)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3", job_name=job):
        return hydra_compose(config_name=job, overrides=overrides)


def run_job(job: str, overrides: list[str]) -> dict:
    """Compose the job's config and run it; returns the job's summary."""
    from hsi.io import lock, record

    cfg = compose(job, overrides)
    kept = lock.held()
    try:
        return importlib.import_module(f"hsi.jobs.{job}").run(cfg)
    finally:  # the job's output locks and record placeholders, also when it failed
        record.drop_reservations()
        lock.release_all(keep=kept)


def _help(jobs: dict[str, str]) -> str:
    width = max(map(len, jobs), default=0)
    lines = [USAGE, "", "jobs:"] + [f"  {name:<{width}}  {text}" for name, text in jobs.items()]
    lines += ["", "With no input=..., a job runs on the shipped sample scene (data/sample_scene.tif)."]
    return "\n".join(lines)


#: Which package's methods each job's ``method=`` takes (``_target_`` prefix of conf/method/*.yaml).
METHOD_PACKAGES = {"restore": "hsi.restore.", "unmix": "hsi.unmix.", "pansharpen": "hsi.pansharpen."}


def method_names(job: str) -> list[str]:
    """The ``conf/method`` names a job accepts, from each config's ``_target_``."""
    prefix = METHOD_PACKAGES.get(job)
    if prefix is None:
        return []
    from omegaconf import OmegaConf

    names = []
    for path in sorted((CONF_DIR / "method").glob("*.yaml")):
        target = str(OmegaConf.load(path).get("_target_", ""))
        if target.startswith(prefix):
            names.append(path.stem)
    return names


def _method_help(job: str, overrides: list[str]) -> str:
    names = method_names(job)
    if not names:
        return ""
    chosen = next((a.split("=", 1)[1] for a in overrides if a.startswith("method=")), None)
    if chosen is None:
        from omegaconf import OmegaConf

        defaults = OmegaConf.load(CONF_DIR / f"{job}.yaml").get("defaults", [])
        chosen = next((d["method"] for d in defaults if hasattr(d, "keys") and "method" in d), None)
    return f"method: {chosen} (method=NAME picks another: {', '.join(names)})\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    jobs = available_jobs()
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_help(jobs))
        return 0
    job, overrides = argv[0], argv[1:]
    if job not in jobs:
        print(f"error: unknown job {job!r}; jobs: {', '.join(jobs)}", file=sys.stderr)
        return 2
    if job == "bench" and overrides and "=" not in overrides[0] and not overrides[0].startswith("-"):
        overrides[0] = f"suite={overrides[0]}"  # `cli.py bench unmix` reads naturally
    if job == "batch":  # `job_overrides=[method=fasthyde,tile=256]` as the README writes it
        from hsi.jobs.batch import quote_job_overrides

        overrides = quote_job_overrides(overrides)
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        if any(arg in ("-h", "--help") for arg in overrides):
            print(f"{job}: {jobs[job]}\n\n{_method_help(job, overrides)}settings (override with key=value):\n")
            print(OmegaConf.to_yaml(compose(job, [a for a in overrides if a not in ("-h", "--help")])))
            return 0
        run_job(job, overrides)
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
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if "Could not find 'method/" in message and method_names(job):
            message += f"; methods for {job}: {', '.join(method_names(job))}"
        print(f"error: bad setting for job {job!r}: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0

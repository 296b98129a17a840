"""Job configurations composed by Hydra's compose API from ``conf/`` (what the CLI, jobs, benches and tests use).

Composition records which option of each config group was chosen (``cfg.method_name`` for
jobs with a ``method`` group), and applies the job's ``task_methods`` rule: a task whose
default method differs from the job's (``restore task=sr``) gets that method unless the
command line names one; likewise ``library_method`` for a run given ``library=`` (``unmix``).
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from hsi.settings import PROJECT_ROOT

CONF_DIR = PROJECT_ROOT / "conf"


def override_key(override: str) -> str:
    """``+method.k=3`` -> ``method.k``; ``method=lrtv`` -> ``method``."""
    return override.split("=", 1)[0].lstrip("+~")


def _compose_raw(job: str, overrides: list[str]) -> DictConfig:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3", job_name=job):
        return hydra_compose(config_name=job, overrides=overrides, return_hydra_config=True)


def compose(job: str, overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """The job's configuration with ``overrides`` applied, as the CLI runs it.

    ``cfg.method_name`` names the chosen ``conf/method`` option (jobs with a method group).
    """
    overrides = list(overrides)
    cfg = _compose_raw(job, overrides)
    task_methods = cfg.get("task_methods") or {}
    task = cfg.get("task")
    if task in task_methods and not any(override_key(o) == "method" for o in overrides):
        cfg = _compose_raw(job, overrides + [f"method={task_methods[task]}"])
    elif cfg.get("library_method") and cfg.get("library") and not any(override_key(o) == "method" for o in overrides):
        cfg = _compose_raw(job, overrides + [f"method={cfg.library_method}"])  # unmix library=: its members are the endmembers
    choices = OmegaConf.to_container(cfg.hydra.runtime.choices)
    with open_dict(cfg):
        del cfg["hydra"]
        if "method" in choices:
            cfg.method_name = choices["method"]
    return cfg


def group_choices(job: str, overrides: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The overrides of ``overrides`` that pick a config group option (``method=lrtv``, ``trainer=gpu``)."""
    groups = {path.name for path in CONF_DIR.iterdir() if path.is_dir()}
    return [o for o in overrides if "." not in override_key(o) and override_key(o) in groups and "=" in o]


def job_names() -> list[str]:
    """Every ``conf/<job>.yaml``."""
    return sorted(path.stem for path in CONF_DIR.glob("*.yaml"))


def config_files(group: str) -> list[Path]:
    return sorted((CONF_DIR / group).glob("*.yaml"))

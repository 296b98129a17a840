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


def unknown_setting_message(job: str, overrides: list[str], error: Exception) -> str | None:
    """One line for an override naming a key the job's config lacks (``metod=tv``), or None.

    Hydra's own message advises ``+metod=tv``, which makes the run ignore the typo and run the
    default; this one names the key, the closest existing keys and where the settings are listed.
    """
    import difflib

    from omegaconf.errors import ConfigAttributeError, ConfigKeyError

    cause = error.__cause__
    if not isinstance(cause, (ConfigAttributeError, ConfigKeyError)) or "is not in struct" not in str(cause):
        return None
    full_key = getattr(cause, "full_key", None) or str(cause).split("full_key:")[-1].split()[0]
    parent, _, key = full_key.rpartition(".")
    try:  # the keys the user could have meant: those of the chosen options at the same level
        cfg = compose(job, group_choices(job, overrides))
        node = OmegaConf.select(cfg, parent) if parent else cfg
        known = [str(k) for k in node.keys() if k != "method_name"] if isinstance(node, DictConfig) else []
    except Exception:  # noqa: BLE001 - the suggestion is a courtesy; the message stands without it
        known = []
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
    hint = f" (did you mean {' or '.join(repr(f'{parent}.{c}' if parent else c) for c in close)}?)" if close else ""
    return f"unknown setting {full_key!r}{hint}; `python cli.py {job} --help` lists its settings"

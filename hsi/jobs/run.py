"""Run a job by name: compose its config, refuse foreign targets, call ``hsi.jobs.<job>.run(cfg)``.

What the CLI and ``batch`` call; tests call it too.
"""

from __future__ import annotations

import importlib

from omegaconf import DictConfig

from hsi.config import compose, group_choices, override_key
from hsi.errors import ParameterError
from hsi.io import lock, record
from hsi.jobs.common import check_sampling, check_tiling
from hsi.methods import JOBS as METHOD_JOBS, check_belongs, check_targets

#: Numeric settings that also take a word (``pan_band=all``).
WORDS = {"pan_band": ("all",)}
#: Nodes of a job config that the job instantiates (``_target_`` configs).
INSTANTIATED = ("method", "model", "data", "trainer", "suite")


def check_instantiated(job: str, cfg: DictConfig, overrides: list[str]) -> None:
    """The method belongs to the job, and every ``_target_`` it will build is hsi's own, or the one
    its shipped config holds.

    The shipped config is the same composition with only the group choices (``method=lrtv``,
    ``trainer=gpu``) of ``overrides``: a command line may pick and tune configs, not swap in
    another callable.
    """
    choices = group_choices(job, overrides)
    if cfg.get("method_name") and not any(c.split("=", 1)[0].lstrip("+~") == "method" for c in choices):
        choices.append(f"method={cfg.method_name}")  # a task's default method (restore task=sr)
    shipped = compose(job, choices)
    check_types(cfg, shipped)
    for node in INSTANTIATED:
        if node in cfg:
            check_targets(cfg[node], shipped.get(node) or {}, node)
    if job in METHOD_JOBS and "method" in cfg:  # before the job opens anything (or picks the sample scene)
        check_belongs(job, cfg.get("method_name") or "method", cfg.method, cfg.get("task"))


def given_settings(overrides: list[str]) -> set[str]:
    """The settings a command line gives a value (``scale=3`` -> ``scale``; ``method.k=5`` -> ``method.k``)."""
    return {override_key(o) for o in overrides if "=" in o and not o.startswith("~")}


def checked_config(job: str, overrides: list[str]):
    """``(job module, config)``: the job's config composed with ``overrides`` and every up-front check
    passed (targets, types, shared settings, and the job's own ``check_given``: settings given that
    the chosen task or method would not use), before anything is read or written."""
    try:
        module = importlib.import_module(f"hsi.jobs.{job}")
    except ModuleNotFoundError:
        raise ParameterError(f"unknown job {job!r}") from None
    cfg = compose(job, overrides)
    check_instantiated(job, cfg, overrides)
    check_tiling(cfg.get("tiling"))  # shared settings, before the job reads or writes anything
    check_sampling(cfg)
    if hasattr(module, "check_given"):  # a setting the command line gave must not be silently ignored
        module.check_given(cfg, given_settings(overrides))
    return module, cfg


def run_job(job: str, overrides: list[str]) -> dict:
    """Compose the job's config with ``overrides``, check it, and run it; returns the job's report."""
    module, cfg = checked_config(job, overrides)
    kept = lock.held()
    try:
        return module.run(cfg)
    finally:  # the job's output locks and record placeholders, also when it failed
        record.drop_reservations()
        lock.release_all(keep=kept)


def _leaves(node, path: str = ""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, f"{path}.{key}" if path else str(key))
    elif not isinstance(node, list):
        yield path, node


def _kind(value) -> str | None:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    return None


def check_types(cfg: DictConfig, shipped: DictConfig) -> None:
    """A setting whose shipped value is a boolean or a number must stay one (``tile=abc`` is refused here)."""
    from omegaconf import OmegaConf

    expected = dict(_leaves(OmegaConf.to_container(shipped, resolve=False)))
    for path, value in _leaves(OmegaConf.to_container(cfg, resolve=False)):
        kind = _kind(expected.get(path))
        if kind is None or value is None or (isinstance(value, str) and value.startswith("${")):
            continue
        if value in WORDS.get(path, ()):
            continue
        fits = isinstance(value, bool) if kind == "true or false" else (
            isinstance(value, int) and not isinstance(value, bool) if kind == "an integer"
            else isinstance(value, (int, float)) and not isinstance(value, bool))
        if not fits:
            raise ParameterError(f"{path}={value!r}: expected {kind} (default {expected[path]!r})")

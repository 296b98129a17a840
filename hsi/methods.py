"""The method registry: which ``conf/method`` configs each job accepts, and how one is built.

Every method is a ``conf/method/<name>.yaml`` whose ``_target_`` lives in its job's package
(``hsi.restore``, ``hsi.unmix``, ``hsi.pansharpen``). Jobs, bench suites, ``--help`` and
tests all go through :func:`names` and :func:`load` / :func:`build`, which

- compose the config with Hydra (so interpolations such as the restore job's ``${scale}``
  resolve against the job's own settings);
- refuse, in one line naming the accepted methods, a method of another job or a task the
  method cannot do;
- refuse any ``_target_`` (nested ones too) that is neither in hsi's method packages nor the
  one shipped in ``conf/method/<name>.yaml``: a command line can tune a method, never make
  hsi instantiate an arbitrary callable (``method._target_=builtins.open``);
- check that the built object offers the job's interface (:class:`RestoreMethod`,
  :class:`UnmixMethod`, :class:`PansharpenMethod`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

import numpy as np
import yaml
from omegaconf import DictConfig, OmegaConf

from hsi.config import CONF_DIR, compose
from hsi.errors import ParameterError

#: Packages whose callables a config may name (a shipped config may name others, e.g. lightning.Trainer).
OWN_PACKAGES = ("hsi.restore.", "hsi.unmix.", "hsi.pansharpen.", "hsi.nn.", "hsi.train.", "hsi.bench.")
RESTORE_TASKS = ("denoise", "destripe", "inpaint", "sr")


@runtime_checkable
class RestoreMethod(Protocol):
    """A restore tile method: scene-wide statistics from sampled blocks, then tile batches.

    ``fit(blocks)`` gets (n, rows, cols, bands) float32 blocks; ``__call__(batch)`` maps a
    (n, rows, cols, bands) batch to (n, rows*scale, cols*scale, bands).
    """

    def fit(self, blocks: np.ndarray) -> Any: ...

    def __call__(self, batch: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class UnmixMethod(Protocol):
    """An unmixer (:class:`hsi.unmix.pipeline.Unmixer`): endmembers from a sample, abundances per block."""

    name: str

    @property
    def needs_library(self) -> bool: ...

    @property
    def spatial(self) -> bool: ...

    def endmembers(self, pixels, n_endmembers: int, rng=None, image_shape=None): ...

    def abundances(self, pixels, endmembers): ...


@runtime_checkable
class PansharpenMethod(Protocol):
    """``method(ms, pan, ratio=..., sensor=...)`` -> the fused cube on the PAN grid."""

    def __call__(self, ms: np.ndarray, pan: np.ndarray, **options) -> np.ndarray: ...


@dataclass(frozen=True)
class JobMethods:
    package: str
    interface: type
    name_argument: bool = False  # the built object takes its method name (unmixers: reports, tables)


JOBS = {
    "restore": JobMethods("hsi.restore.", RestoreMethod),
    "unmix": JobMethods("hsi.unmix.", UnmixMethod, name_argument=True),
    "pansharpen": JobMethods("hsi.pansharpen.", PansharpenMethod),
}


@lru_cache(maxsize=None)
def _shipped(name: str) -> dict:
    """``conf/method/<name>.yaml`` as plain data (read for its targets and keys, never built from)."""
    with open(CONF_DIR / "method" / f"{name}.yaml") as handle:
        return yaml.safe_load(handle) or {}


def shipped(name: str) -> dict:
    """``conf/method/<name>.yaml`` as plain data, to read a method's keys without building it."""
    return dict(_shipped(name))


def restore_tasks(config) -> tuple[str, ...]:
    """The restore tasks a method config can do.

    Its ``tasks`` list when it has one; its ``task`` key when it has one (the diffusion restorers: denoise also covers destripe);
    ``sr`` when it, or one of its steps, has a ``scale`` (it changes the grid); ``inpaint`` when
    its function is an inpainter (``*_inpaint``: fills NaN pixels); otherwise denoise and destripe.
    """
    config = OmegaConf.to_container(config, resolve=False) if OmegaConf.is_config(config) else dict(config)
    if config.get("tasks"):  # a method that follows the job's task lists the ones it does (plug-and-play)
        return tuple(str(task) for task in config["tasks"])
    if config.get("task") is not None:
        task = str(config["task"])
        return ("denoise", "destripe") if task in ("denoise", "destripe") else (task,)
    steps = [config] + [s for s in config.get("steps") or [] if isinstance(s, dict)]
    if any("scale" in step for step in steps):
        return ("sr",)
    if str(config.get("_target_", "")).endswith("_inpaint"):
        return ("inpaint",)
    return ("denoise", "destripe")


def fuses_multiband(config) -> bool:
    """Whether a pansharpen method config's target takes a multi-band high-resolution image
    (``pan_band=all``) as well as a PAN: marked by :func:`hsi.pansharpen.pair.fuses_multiband`."""
    from hydra.utils import get_object

    target = str(_plain(config).get("_target_", ""))
    return bool(target) and bool(getattr(get_object(target), "fuses_multiband", False))


def multiband_names() -> list[str]:
    """The pansharpen methods that take a multi-band high-resolution image (``pan_band=all``)."""
    return [name for name in names("pansharpen") if fuses_multiband(_shipped(name))]


def _job(job: str) -> JobMethods:
    if job not in JOBS:
        raise ParameterError(f"job {job!r} takes no method; jobs with methods: {', '.join(JOBS)}")
    return JOBS[job]


def names(job: str, task: str | None = None) -> list[str]:
    """The ``conf/method`` names ``job`` accepts (for restore, those that can do ``task`` if given)."""
    package = _job(job).package
    found = []
    for path in sorted((CONF_DIR / "method").glob("*.yaml")):
        config = _shipped(path.stem)
        if not str(config.get("_target_", "")).startswith(package):
            continue
        if job == "restore" and task is not None and task not in restore_tasks(config):
            continue
        found.append(path.stem)
    return found


def job_of(name: str) -> str | None:
    """The job whose package holds method ``name``'s target (None for an unknown name)."""
    if not (CONF_DIR / "method" / f"{name}.yaml").exists():
        return None
    target = str(_shipped(name).get("_target_", ""))
    return next((job for job, spec in JOBS.items() if target.startswith(spec.package)), None)


def _targets(node, path: str = ""):
    """``(path, target)`` for every ``_target_`` in a nested config (plain data)."""
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if key == "_target_":
                yield where, str(value)
            else:
                yield from _targets(value, where)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _targets(value, f"{path}.{i}" if path else str(i))


def _plain(config) -> Any:
    if OmegaConf.is_config(config):
        return OmegaConf.to_container(config, resolve=True, throw_on_missing=False)
    return config


def check_targets(config, shipped, where: str) -> None:
    """Refuse any ``_target_`` in ``config`` outside hsi's method packages that ``shipped`` does not hold at the same place."""
    allowed = dict(_targets(_plain(shipped)))
    for path, target in _targets(_plain(config)):
        if target.startswith(OWN_PACKAGES) or allowed.get(path) == target:
            continue
        raise ParameterError(
            f"{where}.{path}={target!r} is refused: only hsi's own methods ({', '.join(p.rstrip('.') for p in OWN_PACKAGES)}) "
            "or the targets shipped in conf/ can be instantiated"
        )


def check_belongs(job: str, name: str, config, task: str | None = None) -> None:
    """Refuse, in one line naming the accepted methods, a method of another job or a task it cannot do."""
    spec = _job(job)
    target = str(_plain(config).get("_target_", ""))
    if not target.startswith(spec.package):
        owner = job_of(name)
        what = f"{'an' if owner[0] in 'aeiou' else 'a'} {owner} method" if owner and owner != job else f"not a {job} method (target {target!r})"
        raise ParameterError(f"method={name} is {what}; methods for {job}: {', '.join(names(job))}")
    if job == "restore":
        task = task or "denoise"
        if task not in RESTORE_TASKS:
            raise ParameterError(f"task must be one of {', '.join(RESTORE_TASKS)}; got {task!r}")
        if task not in restore_tasks(config):
            raise ParameterError(f"method={name} cannot do task={task} (it does {'/'.join(restore_tasks(config))}); "
                                 f"methods for restore task={task}: {', '.join(names('restore', task))}")


def build(job: str, config: DictConfig, name: str, *, task: str | None = None):
    """Instantiate a composed method config for ``job`` after the registry's checks.

    Restore methods that are plain cube functions come back wrapped as tile methods
    (:class:`hsi.restore.tile_adapter.CubeMethodTiles`, scene-wide noise per band).
    """
    import hydra

    spec = _job(job)
    check_belongs(job, name, config, task)
    if (CONF_DIR / "method" / f"{name}.yaml").exists():
        check_targets(config, _shipped(name), "method")
    else:
        check_targets(config, {}, "method")
    extra = {"name": name} if spec.name_argument else {}
    method = hydra.utils.instantiate(config, **extra)
    if job == "restore" and not hasattr(method, "fit"):
        from hsi.restore.tile_adapter import CubeMethodTiles

        method = CubeMethodTiles(method)
    if not isinstance(method, spec.interface):
        raise ParameterError(f"method={name} built a {type(method).__name__}, which does not offer the "
                             f"{spec.interface.__name__} interface")
    return method


def load(job: str, name: str, overrides: list[str] | tuple[str, ...] = (), **context):
    """``conf/method/<name>.yaml`` composed within ``job``'s config and built (see :func:`build`).

    ``overrides`` are method settings (``k=5`` means ``method.k=5``); ``context`` are job
    settings the method config may refer to (``scale=2``, ``task="sr"`` for restore).
    """
    _job(job)
    if not (CONF_DIR / "method" / f"{name}.yaml").exists():
        raise ParameterError(f"unknown method {name!r}; methods for {job}: {', '.join(names(job))}")
    settings = [f"{key}={value}" for key, value in context.items()]
    cfg = compose(job, [f"method={name}", *settings, *(f"method.{o}" for o in overrides)])
    return build(job, cfg.method, name, task=cfg.get("task"))

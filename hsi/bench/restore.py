"""Restoration benchmark: denoising, mixed noise, destriping, noisy super-resolution, inpainting.

Pinned protocol
---------------
- Scenes from :mod:`hsi.datasets.benchmarks` (Samson, Jasper Ridge), each scaled to [0, 1] by
  its global maximum, float32. Noise levels are quoted on 0-255 (sigma 30 = 30 / 255).
  Generated scenes, to choose a method's settings on (never Samson or Jasper Ridge):
  ``sample_scene`` (:mod:`hsi.sample_scene`, 96 x 96 x 106, noise-free: piecewise-smooth fields,
  straight edges, a river and a road) and ``textures`` (100 x 100 x 150: the five materials of
  :mod:`hsi.sample_scene` mixed by abundances drawn from five ``skimage.data`` photographs, as
  the throughput bench's scenes), both scaled the same way.
- Cases, each with its own seeded ``numpy.random.Generator`` (``seed`` + case index), the same
  degraded cube for every method:
  ``iid10``, ``iid30``, ``iid50`` (i.i.d. Gaussian); ``noniid`` (per-band sigma uniform in
  [10, 70]); ``complex`` (non-i.i.d. Gaussian + impulse, stripes, dead lines on a third of the
  bands each, :func:`hsi.degrade.noise.complex_noise`); ``stripes`` (i.i.d. sigma 10 +
  column stripes on every band); ``sr`` (x4: Gaussian MTF blur with Nyquist gain 0.3, then
  decimation, :func:`hsi.degrade.mtf.degrade_resolution`, then i.i.d. sigma 10; the scene is
  cropped to a multiple of 4 first); ``inpaint`` (80 % of the pixels missing at random, all
  bands, given to the methods as NaN; i.i.d. sigma ``inpaint_sigma``); ``stripes_angled`` (as
  ``stripes``, the stripes at :data:`ANGLED_STRIPES_DEG` to the columns, as on an
  orthorectified product; task ``denoise``, so ``auto`` must find them itself).
- Methods are ``conf/method/<name>.yaml`` built by the method registry exactly as the restore
  job builds them (:func:`hsi.methods.load`, with the case's task), fitted on the whole degraded cube as one block and
  applied to it as one tile. A method whose config does not exist, or cannot be built (its
  weights are absent), is skipped with a logged note.
- Scores against the clean cube: MPSNR (dB, peak 1), MSSIM, SAM (degrees); time is wall-clock
  seconds of ``fit`` + call. The ``input`` row scores the degraded cube itself (missing pixels
  as 0; no input row for super-resolution, whose input is on the coarse grid).
"""

from __future__ import annotations

import logging
import time
from typing import Mapping, Sequence

import numpy as np
import torch
from omegaconf import OmegaConf

from hsi.datasets.benchmarks import LOADERS
from hsi.errors import HsiError, ParameterError
from hsi.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

CASES = ("iid10", "iid30", "iid50", "noniid", "complex", "stripes", "sr", "inpaint", "stripes_angled")
#: The stripes' angle to the columns in ``stripes_angled``: about the heading of a sun-synchronous
#: track on a UTM grid at mid-latitudes (the EnMAP L2A tile's measure -12.9 deg).
ANGLED_STRIPES_DEG = -13.0
QUICK_CASES = ("iid30", "complex", "sr", "inpaint")
DEFAULT_METHODS = {
    "iid": ("auto", "fasthyde", "hyres", "lrtv", "tv", "diffusion", "diffusion_mean", "diffusion_sample"),
    "noniid": ("auto", "fasthyde", "hyres", "lrtv", "tv", "diffusion", "diffusion_mean", "diffusion_sample"),
    "complex": ("auto", "robust_fasthyde", "lrtv", "fasthyde", "hyres", "tv", "destripe_fasthyde", "diffusion"),
    "stripes": ("auto", "destripe_fasthyde", "robust_fasthyde", "fasthyde", "lrtv", "diffusion"),
    "stripes_angled": ("auto", "destripe_fasthyde", "robust_fasthyde", "fasthyde", "lrtv", "diffusion"),
    "sr": ("bicubic", "fasthyde_bicubic", "diffusion_sr", "pnp_sr_bm3d"),
    "inpaint": ("lrtv_inpaint", "diffusion_inpaint", "pnp_inpaint_bm3d"),
}
QUICK_METHODS = {"iid": ("fasthyde",), "complex": ("robust_fasthyde",), "sr": ("bicubic", "fasthyde_bicubic"),
                 "inpaint": ("lrtv_inpaint",)}
SR_SCALE = 4
QUICK_SIZE = 64


def family(case: str) -> str:
    """The method-list key of a case: ``iid10/30/50`` share ``iid``."""
    return "iid" if case.startswith("iid") else case


def task_of(case: str) -> str:
    """The restore task a case asks of its methods."""
    return {"sr": "sr", "inpaint": "inpaint", "stripes": "destripe"}.get(case, "denoise")


def load_method(name: str, scale: int = SR_SCALE, task: str = "denoise"):
    """``conf/method/<name>.yaml`` as the restore job builds it (:func:`hsi.methods.load`).

    Returns ``(method, None)``, or ``(None, why)`` when the config does not exist or cannot be
    built for a reason of the installation (e.g. a learnt method whose weights are absent).
    """
    from hydra.errors import InstantiationException

    from hsi import methods

    if not (PROJECT_ROOT / "conf" / "method" / f"{name}.yaml").exists():
        return None, f"conf/method/{name}.yaml does not exist"
    try:
        return methods.load("restore", name, scale=int(scale), task=task), None
    except InstantiationException as error:  # a config out of step with its code, or absent weights
        return None, f"cannot build {name}: {error.__cause__ or error}"


#: Photographs whose grey levels become the ``textures`` scene's abundances (one per material).
TEXTURE_IMAGES = ("camera", "moon", "brick", "grass", "gravel")


def textures_scene(size: int = 100, bands: int = 150) -> np.ndarray:
    """``(size, size, bands)`` noise-free mixture of :mod:`hsi.sample_scene`'s materials with photographic abundances.

    Each material's abundance is ``exp(1.5 z)`` of a standardised photograph's central crop,
    normalised to sum to one per pixel (textured, not piecewise smooth: the other kind of scene).
    """
    import skimage.data

    from hsi.sample_scene import material_endmembers

    fields = []
    for name in TEXTURE_IMAGES:
        image = getattr(skimage.data, name)().astype(np.float64)
        top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
        crop = image[top:top + size, left:left + size]
        fields.append((crop - crop.mean()) / max(crop.std(), 1e-12))
    abundances = np.exp(1.5 * np.stack(fields, axis=-1))
    abundances /= abundances.sum(axis=-1, keepdims=True)
    return abundances @ material_endmembers(np.linspace(400.0, 2500.0, bands)).T


def _generated(name: str) -> np.ndarray | None:
    from hsi.sample_scene import make_sample_scene

    if name == "sample_scene":
        return make_sample_scene(96, 96, seed=0, noise_sigma=0.0, bad_band_sigma=0.0).cube
    if name == "textures":
        return textures_scene()
    return None


GENERATED_SCENES = ("sample_scene", "textures")


def load_scene(name: str, data_dir, size: int | None = None) -> np.ndarray:
    """A benchmark or generated scene scaled to [0, 1] by its global maximum, float32 (rows, cols, bands)."""
    if name not in LOADERS and name not in GENERATED_SCENES:
        raise ParameterError(f"unknown scene {name!r}; choose from {sorted(LOADERS) + list(GENERATED_SCENES)}")
    cube = LOADERS[name](data_dir).cube if name in LOADERS else _generated(name)
    cube = cube / cube.max()
    if size is not None:
        top, left = (cube.shape[0] - size) // 2, (cube.shape[1] - size) // 2
        cube = cube[top : top + size, left : left + size]
    return np.ascontiguousarray(cube, dtype=np.float32)


def degrade(case: str, clean: np.ndarray, rng: np.random.Generator, inpaint_sigma: float = 0.0):
    """``(degraded, reference)`` for a case: reference is the clean cube the output is scored against."""
    from hsi.degrade.masks import apply_mask, random_pixel_mask
    from hsi.degrade.mtf import degrade_resolution
    from hsi.degrade.noise import complex_noise, gaussian_noise, noniid_gaussian_noise, stripes

    if case.startswith("iid"):
        return gaussian_noise(clean, float(case[3:]) / 255, rng), clean
    if case == "noniid":
        return noniid_gaussian_noise(clean, rng).cube, clean
    if case == "complex":
        return complex_noise(clean, rng).cube, clean
    if case == "stripes":
        return stripes(gaussian_noise(clean, 10 / 255, rng), None, rng).cube, clean
    if case == "stripes_angled":
        return stripes(gaussian_noise(clean, 10 / 255, rng), None, rng, angle_deg=ANGLED_STRIPES_DEG).cube, clean
    if case == "sr":
        rows, cols = (clean.shape[0] // SR_SCALE) * SR_SCALE, (clean.shape[1] // SR_SCALE) * SR_SCALE
        reference = np.ascontiguousarray(clean[:rows, :cols])
        low = np.ascontiguousarray(degrade_resolution(reference, SR_SCALE, 0.3), dtype=np.float32)
        return gaussian_noise(low, 10 / 255, rng), reference
    if case == "inpaint":
        noisy = gaussian_noise(clean, float(inpaint_sigma) / 255, rng) if inpaint_sigma else clean
        return apply_mask(noisy, random_pixel_mask(clean.shape[:2], 0.8, rng), float("nan")), clean
    raise ParameterError(f"unknown case {case!r}; choose from {CASES}")


def scores(reference: np.ndarray, estimate: np.ndarray) -> dict:
    from hsi.metrics import mpsnr, mssim, sam

    estimate = np.where(np.isfinite(estimate), estimate, 0.0).astype(np.float32)
    return {"MPSNR (dB)": mpsnr(reference, estimate, data_range=1.0), "MSSIM": mssim(reference, estimate, data_range=1.0),
            "SAM (deg)": sam(reference, estimate)}


def run_method(method, degraded: np.ndarray) -> tuple[np.ndarray, float]:
    """Fit on the whole cube as one block and apply it as one tile; returns (output, seconds)."""
    started = time.perf_counter()
    method.fit(degraded[None])
    output = np.asarray(method(degraded[None]), dtype=np.float32)[0]
    return output, time.perf_counter() - started


def _method_lists(methods: Mapping | None, defaults: Mapping) -> dict[str, tuple[str, ...]]:
    defaults = dict(defaults)
    if methods is not None:
        given = OmegaConf.to_container(methods) if OmegaConf.is_config(methods) else dict(methods)
        defaults.update({key: tuple(value) for key, value in given.items()})
    return defaults


def run_benchmark(
    data_dir: str | None = None,
    *,
    quick: bool = False,
    cases: Sequence[str] | None = None,
    methods: Mapping[str, Sequence[str]] | None = None,
    quick_methods: Mapping[str, Sequence[str]] | None = None,
    scenes: Sequence[str] | None = None,
    seed: int = 0,
    inpaint_sigma: float = 0.0,
    threads: int | None = None,
) -> dict[str, list[dict]]:
    """Run every case on every scene with every listed method.

    Parameters
    ----------
    data_dir : shared data folder (None: ``HSI_SHARED_DATA`` or ``../shared/data``).
    quick : Samson only, a central 64 x 64 crop, cases :data:`QUICK_CASES`, methods
        :data:`QUICK_METHODS` (a test of the machinery, not a benchmark).
    cases : case names (:data:`CASES`); None = all (or the quick ones).
    methods : case family (``iid``, ``noniid``, ``complex``, ``stripes``, ``sr``,
        ``inpaint``) -> method names (``conf/method/<name>.yaml``); overrides the defaults
        :data:`DEFAULT_METHODS` family by family.
    quick_methods : the same for quick mode (defaults :data:`QUICK_METHODS`); ``methods`` is
        not used in quick mode.
    scenes : ``samson`` / ``jasper_ridge`` / the generated ``sample_scene`` / ``textures``; None =
        Samson and Jasper Ridge (quick: samson).
    seed : base seed of the degradations (case ``i`` uses ``seed + i``).
    inpaint_sigma : Gaussian noise (0-255 scale) added before masking in the inpainting case.
    threads : torch CPU threads for the run (None: leave as is).

    Returns
    -------
    ``{"restore": rows}``: one row per (case, scene, method) plus each case's ``input`` row,
    with MPSNR (dB), MSSIM, SAM (deg) and time (s).
    """
    if threads is not None:
        torch.set_num_threads(int(threads))
    cases = tuple(cases) if cases is not None else (QUICK_CASES if quick else CASES)
    unknown = [case for case in cases if case not in CASES]
    if unknown:
        raise ParameterError(f"cases must be among {CASES}; got {unknown}")
    scenes = tuple(scenes) if scenes is not None else (("samson",) if quick else ("samson", "jasper_ridge"))
    method_lists = _method_lists(quick_methods, QUICK_METHODS) if quick else _method_lists(methods, DEFAULT_METHODS)
    rows: list[dict] = []
    for scene_name in scenes:
        clean = load_scene(scene_name, data_dir, QUICK_SIZE if quick else None)
        for case in cases:
            rng = np.random.default_rng(int(seed) + CASES.index(case))
            degraded, reference = degrade(case, clean, rng, inpaint_sigma)
            degraded = np.ascontiguousarray(degraded, dtype=np.float32)
            if degraded.shape == reference.shape:
                rows.append({"case": case, "scene": scene_name, "method": "input", **scores(reference, degraded),
                             "time (s)": 0.0})
            for name in method_lists.get(family(case), ()):
                method, why = load_method(name, task=task_of(case))
                if method is None:
                    log.warning("restore bench: skipping %s on %s (%s)", name, case, why)
                    continue
                try:
                    output, seconds = run_method(method, degraded)
                except HsiError as error:
                    log.warning("restore bench: %s failed on %s %s: %s", name, case, scene_name, error)
                    continue
                if output.shape != reference.shape:
                    raise ParameterError(
                        f"method {name} returned {output.shape} for case {case}; expected {reference.shape}"
                    )
                rows.append({"case": case, "scene": scene_name, "method": name, **scores(reference, output),
                             "time (s)": seconds})
                log.info("%s %s %s: %.2f dB in %.1f s", case, scene_name, name, rows[-1]["MPSNR (dB)"], seconds)
    return {"restore": rows}

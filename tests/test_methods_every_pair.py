"""Every job x method pair the registry accepts, composed by Hydra and run by its job on a tiny cube.

Iteration budgets are cut through ordinary overrides (``method.n_iter=...``); the outputs must
be complete and finite where the input is. Pairs that still take more than a few seconds on
one CPU thread are marked slow.
"""

import json

import numpy as np
import pytest

from hsi import methods
from hsi.config import compose
from hsi.jobs.run import run_job

#: Iteration settings and the tiny budget each gets in this test.
BUDGETS = {"n_iter": 5, "n_outer": 2, "n_inner": 5, "n_steps": 2, "max_epochs": 1, "first_band_steps": 2,
           "band_steps": 1, "iterations_per_step": 1, "n_patches": 4, "n_restarts": 1, "refine_steps": 1,
           "refine_patch_blocks": 1, "iterations": 2, "samples": 2}
SLOW = {"dds2m", "diffusion", "diffusion_inpaint", "diffusion_inpaint_cold", "diffusion_sr", "diffusion_mean", "diffusion_sample", "pnp",
        "pnp_sr_bm3d", "pnp_inpaint_bm3d", "destripe_fasthyde", "fasthyde_bicubic",
        "robust_fasthyde", "fasthyde", "rho_pnn", "rho_pnn_qnr", "hpf", "cnnaeu", "rlsu", "ssnmf"}  # > 1 s each


def budget_overrides(job: str, name: str) -> list[str]:
    """``method.<path>=<small>`` for every iteration setting of the composed method config."""
    from omegaconf import OmegaConf

    overrides = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                where = f"{path}.{key}"
                if key in BUDGETS and isinstance(value, int) and not isinstance(value, bool) and value > 0:
                    overrides.append(f"{where}={min(value, BUDGETS[key])}")
                else:
                    walk(value, where)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}.{i}")

    walk(OmegaConf.to_container(compose(job, [f"method={name}"]).method, resolve=False), "method")
    return overrides


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from hsi.io import save_scene
    from hsi.sample_scene import make_sample_scene

    folder = tmp_path_factory.mktemp("pairs")
    sample = make_sample_scene(n_rows=64, n_cols=60, wavelengths_nm=np.linspace(420, 2400, 24), seed=5)
    scene = sample.to_scene()
    cube = scene.read(physical=True)
    holed = cube.copy()
    holed[np.random.default_rng(0).random(cube.shape[:2]) < 0.3] = np.nan
    plain = scene.derived(transform=None, crs=None)
    library = folder / "library.csv"
    rows = [["name", *(f"{w:.3f}" for w in sample.wavelengths_nm)]]
    rows += [[name, *(f"{v:.6f}" for v in spectrum)] for name, spectrum in zip(sample.material_names, sample.endmembers.T)]
    library.write_text("\n".join(",".join(row) for row in rows) + "\n")
    return {
        "scene": save_scene(scene, folder / "scene.tif"),
        "holed": save_scene(scene.with_array(holed), folder / "holed.tif"),
        "ms": save_scene(plain.derived(n_rows=16, n_cols=15).with_array(
            cube.reshape(16, 4, 15, 4, 24).mean(axis=(1, 3)).astype(np.float32)), folder / "ms.tif"),
        "pan": save_scene(plain.derived(n_bands=1, wavelengths_nm=None, fwhm_nm=None, bad_bands=None, band_names=None)
                          .with_array(cube[:, :, :10].mean(axis=2, keepdims=True).astype(np.float32)), folder / "pan.tif"),
        "library": library,
    }


def _restore_task(name: str) -> str:
    return next(task for task in methods.RESTORE_TASKS if name in methods.names("restore", task))


def _settings(job: str, name: str, tiny, out) -> tuple[list[str], object]:
    common = [f"method={name}", "quicklook=false", *budget_overrides(job, name)]
    if job == "restore":
        task = _restore_task(name)
        source = tiny["holed"] if task == "inpaint" else tiny["scene"]
        scale = ["scale=2"] if task == "sr" else []  # refused by the other tasks, which keep the grid
        return [*common, f"input={source}", f"task={task}", *scale, "progress=false", "sample_pixels=4096",
                f"output={out / 'r.tif'}"], out / "r.tif"
    if job == "unmix":
        library = [f"library={tiny['library']}"] if methods.load("unmix", name).needs_library else ["n_endmembers=3"]
        return [*common, *library, f"input={tiny['scene']}", "sample_pixels=1000", f"output={out}"], out / "abundances.tif"
    return [*common, f"ms={tiny['ms']}", f"pan={tiny['pan']}", f"output={out / 'p.tif'}"], out / "p.tif"


PAIRS = [pytest.param(job, name, marks=[pytest.mark.slow] if name in SLOW else [], id=f"{job}-{name}")
         for job in methods.JOBS for name in methods.names(job)]


@pytest.mark.parametrize("job, name", PAIRS)
def test_every_job_method_pair_runs_on_a_tiny_cube(tiny, tmp_path, job, name):
    from hsi.io import open_scene

    settings, output = _settings(job, name, tiny, tmp_path)
    report = run_job(job, settings)
    result = open_scene(output)
    values = result.read(physical=True)
    source = open_scene(tiny["scene"])
    scale = int(report["results"]["scale"]) if job == "restore" else 1
    assert scale == (2 if _restore_task(name) == "sr" else 1) if job == "restore" else True
    expected_grid = (source.n_rows * scale, source.n_cols * scale)
    assert values.shape[:2] == expected_grid and np.isfinite(values).all()
    saved = json.loads(open(report["outputs"]["report"]).read())
    assert saved["method"]["name"] == name and saved["job"] == job

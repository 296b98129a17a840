"""`python cli.py restore method=pnp task=sr|inpaint` end to end, with BM3D as the denoiser."""

import numpy as np
import pytest


@pytest.mark.slow
def test_restore_job_super_resolves_and_inpaints_with_pnp(tmp_path):
    from hsi.degrade.mtf import degrade_resolution
    from hsi.io import open_scene, save_scene
    from hsi.jobs.run import run_job
    from hsi.scene import Scene
    from tests.diffusion._cubes import clean_cube, psnr

    clean = clean_cube(48, seed=7)
    low = (np.asarray(degrade_resolution(clean, 4, 0.3)) + np.random.default_rng(0).normal(0, 10 / 255, (12, 12, 106)))
    source = save_scene(Scene.from_array(low.astype(np.float32)), tmp_path / "low.npy")
    report = run_job("restore", [f"input={source}", f"output={tmp_path / 'sr.npy'}", "task=sr", "method=pnp",
                                 "method.denoiser=bm3d", "quicklook=false", "progress=false"])
    restored = open_scene(report["outputs"]["output"]).read()
    assert report["results"]["scale"] == 4 and restored.shape == clean.shape and np.isfinite(restored).all()
    bicubic_like = np.repeat(np.repeat(low, 4, axis=0), 4, axis=1)
    assert psnr(clean, restored) > psnr(clean, bicubic_like) + 3

    holed = clean.copy()
    missing = np.random.default_rng(1).random(clean.shape[:2]) < 0.8
    holed[missing] = np.nan
    source = save_scene(Scene.from_array(holed), tmp_path / "holed.npy")
    report = run_job("restore", [f"input={source}", f"output={tmp_path / 'filled.npy'}", "task=inpaint", "method=pnp",
                                 "method.denoiser=bm3d", "quicklook=false", "progress=false"])
    filled = open_scene(report["outputs"]["output"]).read()
    assert np.isfinite(filled).all() and np.abs(filled[~missing] - clean[~missing]).max() < 1e-3
    assert psnr(clean, filled) > 22  # lrtv_inpaint: 22.3 dB on this cube

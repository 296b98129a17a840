"""`python cli.py restore method=diffusion` with the shipped prior, end to end (slow)."""

import numpy as np
import pytest

from hsi.restore.diffusion.restorer import DEFAULT_MODEL


@pytest.mark.slow
@pytest.mark.skipif(not DEFAULT_MODEL.with_suffix(".json").is_file(), reason="shipped prior not built yet")
def test_restore_job_denoises_with_the_shipped_prior(tmp_path):
    from hsi.jobs.run import run_job
    from hsi.io import open_scene, save_scene
    from hsi.scene import Scene
    from tests.diffusion._cubes import clean_cube, psnr

    clean = clean_cube(48, seed=7)
    noisy = clean + np.random.default_rng(0).normal(0, 0.05, clean.shape).astype(np.float32)
    source = save_scene(Scene.from_array(noisy), tmp_path / "noisy.npy")
    report = run_job("restore", [f"input={source}", f"output={tmp_path / 'out.npy'}", "method=diffusion",
                                 "method.n_steps=10", "quicklook=false", "progress=false"])
    restored = open_scene(report["outputs"]["output"]).read()
    assert restored.shape == clean.shape and np.isfinite(restored).all()
    assert psnr(clean, restored) > psnr(clean, noisy) + 8

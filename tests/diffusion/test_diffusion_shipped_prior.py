"""The shipped single-channel prior through the diffusion methods, on generated scenes it never saw."""

import numpy as np
import pytest

from hsi.restore.diffusion.denoisers import DEFAULT_PRIOR
from tests.diffusion._cubes import clean_cube, psnr

pytestmark = pytest.mark.skipif(not (DEFAULT_PRIOR / "prior_config.json").is_file(),
                                reason="models/hsi-prior-1ch not shipped in this checkout")


@pytest.mark.parametrize("estimator", ["tweedie", pytest.param("mean", marks=pytest.mark.slow),
                                       pytest.param("sample", marks=pytest.mark.slow)])
def test_each_estimator_of_the_shipped_prior_denoises_a_small_cube(estimator):
    from hsi.restore.diffusion.restorer import DiffusionRestorer

    cube = clean_cube(32, seed=3)
    noisy = (cube + np.random.default_rng(0).normal(0, 0.1, cube.shape)).astype(np.float32)
    restorer = DiffusionRestorer(estimator=estimator, samples=2, n_steps=3, device="cpu").fit(noisy[None])
    restored = restorer(noisy[None])[0]
    assert np.isfinite(restored).all() and psnr(cube, restored) > psnr(cube, noisy) + 10


@pytest.mark.slow
def test_plug_and_play_with_the_shipped_prior_beats_denoise_then_bicubic():
    from hsi import methods
    from hsi.bench.restore import degrade, run_method

    cube = clean_cube(96, seed=101)
    low, reference = degrade("sr", cube, np.random.default_rng(6))
    baseline, _ = run_method(methods.load("restore", "fasthyde_bicubic", task="sr"), low.astype(np.float32))
    restored, _ = run_method(methods.load("restore", "diffusion_sr", ["device=cpu"], task="sr"), low.astype(np.float32))
    assert psnr(reference, restored) > psnr(reference, baseline) + 1

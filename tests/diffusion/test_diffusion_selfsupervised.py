"""Self-supervised (DDS2M-like) restoration: no trained prior needed."""

import numpy as np
import pytest
import torch

from hsi.restore.diffusion.selfsupervised import SelfSupervisedRestorer
from tests.diffusion._cubes import clean_cube, psnr


def _denoise(size: int, **options):
    cube = clean_cube(size, seed=11)
    noisy = cube + np.random.default_rng(0).normal(0, 0.1, cube.shape).astype(np.float32)
    restorer = SelfSupervisedRestorer(device="cpu", **options).fit(noisy[None])
    restored = restorer(noisy[None])[0]
    projected = restorer.stats.to_cubes(restorer.stats.to_images(torch.from_numpy(noisy[None]).double()))[0].numpy()
    assert np.isfinite(restored).all()
    return psnr(cube, noisy), psnr(cube, projected), psnr(cube, restored)


def test_self_supervised_denoising_gains_over_the_noisy_input():
    noisy, _, restored = _denoise(32, n_steps=6, iterations_per_step=10)
    assert restored > noisy + 10


@pytest.mark.slow
def test_self_supervised_denoising_beats_the_subspace_projection_alone():
    _, projected, restored = _denoise(64)  # default settings
    assert restored > projected + 0.5

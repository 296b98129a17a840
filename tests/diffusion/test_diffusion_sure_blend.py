"""SureBlendDenoiser: the SURE-chosen blend is as good as the better denoiser, without ground truth."""

import pytest
import torch

from hsi.errors import ParameterError
from hsi.restore.diffusion.sure_blend import SureBlendDenoiser


class Shrink:
    """Linear denoiser ``c * y``: its divergence is exactly ``c * N``."""

    def __init__(self, factor):
        self.factor = factor

    def denoise(self, images, sigma):
        return self.factor * images


def _smooth_images(n=3, size=64):
    rows = torch.linspace(0, 6.28, size)
    base = torch.sin(rows)[:, None] * torch.cos(0.5 * rows)[None, :]
    return torch.stack([base * (i + 1) * 0.3 for i in range(n)])


def test_sure_blend_finds_the_wiener_weight_and_beats_both_denoisers():
    clean = _smooth_images()
    sigma = torch.tensor([0.2, 0.3, 0.5])
    noisy = clean + sigma[:, None, None] * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    blend = SureBlendDenoiser([Shrink(1.0), Shrink(0.0)])
    estimate = blend.denoise(noisy, sigma)
    wiener = (clean ** 2).mean(dim=(1, 2)) / ((clean ** 2).mean(dim=(1, 2)) + sigma ** 2)
    assert torch.allclose(blend.weights, wiener, atol=0.05)
    error = ((estimate - clean) ** 2).mean(dim=(1, 2))
    for component in (noisy, torch.zeros_like(noisy)):
        assert bool((error < ((component - clean) ** 2).mean(dim=(1, 2))).all())


def test_sure_blend_needs_two_denoisers():
    with pytest.raises(ParameterError, match="exactly two"):
        SureBlendDenoiser([Shrink(1.0)])

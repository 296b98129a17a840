"""The single-channel prior's contract: normalise, denoise (Tweedie at the matched timestep), the shipped folder."""

from pathlib import Path

import numpy as np
import pytest
import torch

from hsi.errors import ParameterError
from hsi.nn.diffusion_prior import denormalise, load_prior, normalise
from hsi.nn.noise_levels import alpha_bar_at
from tests.diffusion._cubes import tiny_prior

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "hsi-prior-1ch"


def test_normalise_maps_the_robust_range_to_unit_and_inverts():
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(3, 1, 40, 50, generator=generator) * torch.tensor([1.0, 200.0, 1e-3]).view(3, 1, 1, 1) - 7.0
    images[0, 0, 0, 0] = 1e6  # one outlier does not squash the image
    scaled, scale, offset = normalise(images)
    assert scale.shape == offset.shape == (3,)
    inner = scaled.flatten(1).quantile(torch.tensor([0.005, 0.995]), dim=1)
    assert torch.allclose(inner, torch.tensor([[-1.0] * 3, [1.0] * 3]), atol=1e-3)
    assert torch.allclose(denormalise(scaled, scale, offset), images, rtol=1e-5, atol=1e-4)
    flat, flat_scale, _ = normalise(torch.full((1, 1, 8, 8), 5.0))
    assert flat_scale.item() == 1.0 and torch.all(flat == 0)
    with pytest.raises(ParameterError, match="normalise"):
        normalise(torch.zeros(0, 4, 4))


def test_denoise_is_tweedie_at_the_matched_timestep_any_size_and_batch():
    prior = tiny_prior(channels=1)
    generator = torch.Generator().manual_seed(1)
    noisy = torch.randn(2, 1, 13, 22, generator=generator)
    sigma = torch.tensor([0.1, 0.4])
    estimate = prior.denoise(noisy, sigma)
    assert estimate.shape == noisy.shape and not estimate.requires_grad
    t = prior.timestep_for(sigma)
    alpha_bar = alpha_bar_at(prior.alphas_cumprod, t).view(-1, 1, 1, 1)
    x_t = alpha_bar.sqrt() * noisy
    tweedie = (x_t - (1 - alpha_bar).sqrt() * prior.predict_noise(x_t, t)) / alpha_bar.sqrt()
    assert torch.allclose(estimate, tweedie, atol=1e-5)
    # one image at a time gives the same as the batch; sigma = 0 gives the input back
    assert torch.allclose(prior.denoise(noisy[1:], 0.4), estimate[1:], atol=1e-5)
    assert torch.equal(prior.denoise(noisy, 0.0), noisy)
    with pytest.raises(ParameterError, match=r"\(n, 1, rows, cols\)"):
        prior.denoise(noisy[:, 0], 0.1)


def _held_out_kodak(size: int = 128) -> torch.Tensor:
    from hsi.settings import shared_data_dir
    from hsi.train.images import HELD_OUT_KODAK, luma_and_channels

    import skimage.io

    folder = Path(shared_data_dir()) / "natural" / "kodak24"
    if not folder.is_dir():
        pytest.skip(f"held-out Kodak images absent ({folder}); see shared/data/README.md")
    crops = []
    for name in HELD_OUT_KODAK:
        luma = luma_and_channels(name, skimage.io.imread(folder / name))[0][1]
        top, left = (luma.shape[0] - size) // 2, (luma.shape[1] - size) // 2
        crops.append(luma[top:top + size, left:left + size])
    return normalise(torch.from_numpy(np.stack(crops))[:, None])[0]


def _psnr(estimate: torch.Tensor, clean: torch.Tensor) -> float:
    return float(10 * torch.log10(4.0 / (estimate - clean).pow(2).mean()))  # peak-to-peak 2 ([-1, 1])


def test_shipped_prior_denoises_held_out_photographs():
    prior = load_prior(SHIPPED)
    assert prior.channels == 1
    assert sum(f.stat().st_size for f in SHIPPED.iterdir()) < 20e6
    clean = _held_out_kodak(size=64)
    generator = torch.Generator().manual_seed(3)
    # shipped prior on 4 x 64 x 64 crops, seed 3 (2026-12-04): gains 3.3 / 5.1 / 7.6 / 10.6 dB
    for sigma, least_gain in ((0.05, 2.5), (0.1, 4.0), (0.2, 6.0), (0.4, 8.5)):
        noisy = clean + sigma * torch.randn(clean.shape, generator=generator)
        matched = _psnr(prior.denoise(noisy, sigma), clean)
        gain = matched - _psnr(noisy, clean)
        assert gain > least_gain, f"sigma {sigma}: denoising gains only {gain:.2f} dB"
        if sigma in (0.1, 0.4):  # the noise level is an input that matters: a wrong one (x0.5 / x2) is worse
            assert matched > _psnr(prior.denoise(noisy, sigma / 2), clean) + 1.0
            assert matched > _psnr(prior.denoise(noisy, sigma * 2), clean) + 1.0

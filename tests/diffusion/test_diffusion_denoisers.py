"""The denoiser seam: names, nested objects, shapes, and clear refusals."""

import numpy as np
import pytest
import torch

from hsi.errors import InputError, ParameterError
from hsi.restore.diffusion.denoisers import BM3DDenoiser, PriorDenoiser, make_denoiser
from tests.diffusion._cubes import GaussianPriorDenoiser, tiny_prior


def test_bm3d_behind_the_seam_takes_both_layouts_and_lowers_the_noise():
    g = torch.Generator().manual_seed(0)
    clean = torch.linspace(-1, 1, 48).repeat(48, 1)[None].repeat(2, 1, 1)
    noisy = clean + 0.2 * torch.randn(clean.shape, generator=g)
    denoiser = make_denoiser("bm3d")
    flat = denoiser.denoise(noisy, torch.tensor([0.2, 0.2]))
    stacked = denoiser.denoise(noisy[:, None], 0.2)
    assert isinstance(denoiser, BM3DDenoiser) and stacked.shape == (2, 1, 48, 48)
    assert torch.allclose(flat, stacked[:, 0])
    assert float(((flat - clean) ** 2).mean()) < 0.2 * float(((noisy - clean) ** 2).mean())


def test_objects_are_used_as_given_and_anything_else_is_refused(tmp_path):
    exact = GaussianPriorDenoiser()
    assert make_denoiser(exact) is exact
    with pytest.raises(ParameterError, match="denoiser must be one of"):
        make_denoiser("wiener")
    with pytest.raises(ParameterError, match="denoise"):
        make_denoiser(42)
    with pytest.raises(ParameterError, match="sigma"):
        make_denoiser("bm3d").denoise(torch.zeros(2, 8, 8), torch.tensor([0.1, 0.0]))
    with pytest.raises(InputError, match="no diffusion prior"):
        PriorDenoiser(tmp_path / "absent", device="cpu")


def test_a_three_channel_prior_is_refused_in_one_line(tmp_path):
    tiny_prior(3).save(tmp_path / "rgb.safetensors")
    with pytest.raises(InputError, match="single-channel"):
        PriorDenoiser(tmp_path / "rgb.safetensors", device="cpu")


def test_a_single_channel_prior_denoises_through_the_seam_and_every_prior_config_builds(tmp_path):
    from hsi import methods
    from hsi.restore.diffusion.restorer import DiffusionRestorer

    tiny_prior(1).save(tmp_path / "one.safetensors")
    denoiser = make_denoiser("prior", tmp_path / "one.safetensors", "cpu")
    noisy = torch.randn(3, 1, 20, 24)
    assert isinstance(denoiser, PriorDenoiser) and denoiser.denoise(noisy, torch.tensor([0.1, 0.5, 1.0])).shape == noisy.shape
    for name, task in (("diffusion", "denoise"), ("diffusion_mean", "denoise"), ("diffusion_sample", "denoise"),
                       ("diffusion_sr", "sr"), ("diffusion_inpaint", "inpaint")):
        built = methods.load("restore", name, [f"model={tmp_path / 'one.safetensors'}", "device=cpu"], task=task)
        assert isinstance(built.denoiser, PriorDenoiser)
    restorer = DiffusionRestorer(model=tmp_path / "one.safetensors", estimator="mean", samples=2, n_steps=2, device="cpu")
    cube = np.random.default_rng(0).uniform(0, 1, (1, 16, 16, 12)).astype(np.float32)
    assert np.isfinite(restorer.fit(cube)(cube)).all()

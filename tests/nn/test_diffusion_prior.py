"""The prior's file format: round trip, and clear errors for missing or corrupt weights."""

import json

import pytest
import torch

from hsi.errors import InputError
from hsi.nn.diffusion_prior import load_prior
from tests.diffusion._cubes import tiny_prior


@pytest.mark.parametrize("layout", ["flat.safetensors", "folder"])
def test_saved_prior_predicts_the_same_noise(tmp_path, layout):
    prior = tiny_prior()
    config = prior.save(tmp_path / layout)
    loaded = load_prior(tmp_path / layout)
    images = torch.randn(2, 3, 12, 20, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(prior.predict_noise(images, 123), loaded.predict_noise(images, 123))
    assert json.loads(config.read_text())["sha256"]
    assert torch.equal(loaded.alphas_cumprod, prior.alphas_cumprod)


def test_missing_prior_names_the_file(tmp_path):
    with pytest.raises(InputError, match="nothing.json"):
        load_prior(tmp_path / "nothing.safetensors")


def test_corrupt_weights_fail_the_checksum(tmp_path):
    tiny_prior().save(tmp_path / "p.safetensors")
    weights = tmp_path / "p.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(InputError, match="checksum"):
        load_prior(weights)
    weights.unlink()
    with pytest.raises(InputError, match="missing"):
        load_prior(tmp_path / "p.json")


def test_restorer_refuses_a_missing_prior(tmp_path):
    from hsi.restore.diffusion.restorer import DiffusionRestorer

    with pytest.raises(InputError, match="no diffusion prior"):
        DiffusionRestorer(model=str(tmp_path / "absent.safetensors"), device="cpu")

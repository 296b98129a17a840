"""The networks shared by training and inference: shapes, determinism, padding, weights round trip."""

import pytest
import torch
from safetensors.torch import load_file, save_file

from hsi.errors import ParameterError
from hsi.nn import SpatialGenerator, build_unet, pad_to_multiple


def _seeded(build, seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _small_unet():
    return build_unet(3, 16, (8, 8), layers_per_block=1, norm_num_groups=4).eval()


def test_unet_predicts_noise_of_the_input_shape_for_any_multiple_of_its_levels():
    unet = _seeded(_small_unet)
    images = torch.randn(2, 3, 12, 20, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = unet(images, 10).sample
    assert out.shape == images.shape
    assert torch.isfinite(out).all()


def test_unet_is_deterministic_given_its_seed_and_differs_across_seeds():
    images = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        first = _seeded(_small_unet)(images, 5).sample
        again = _seeded(_small_unet)(images, 5).sample
        other = _seeded(_small_unet, seed=1)(images, 5).sample
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)


def test_unet_weights_round_trip_through_safetensors(tmp_path):
    unet = _seeded(_small_unet)
    save_file(unet.state_dict(), tmp_path / "unet.safetensors")
    rebuilt = _seeded(_small_unet, seed=7)
    rebuilt.load_state_dict(load_file(tmp_path / "unet.safetensors"))
    images = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(unet(images, 3).sample, rebuilt(images, 3).sample)


def test_unet_refuses_widths_that_groupnorm_cannot_split():
    with pytest.raises(ParameterError, match="norm_num_groups"):
        build_unet(3, 16, (6, 8), norm_num_groups=4)


@pytest.mark.parametrize("rows, cols", [(12, 20), (13, 7), (3, 5)])
def test_pad_to_multiple_pads_bottom_right_and_keeps_the_original(rows, cols):
    images = torch.arange(2 * rows * cols, dtype=torch.float32).reshape(1, 2, rows, cols)
    padded, size = pad_to_multiple(images, 4)
    assert size == (rows, cols)
    assert padded.shape[-2] % 4 == 0 and padded.shape[-1] % 4 == 0
    assert padded.shape[-2] - rows < 4 and padded.shape[-1] - cols < 4
    assert torch.equal(padded[..., :rows, :cols], images)


def test_spatial_generator_maps_images_to_images_deterministically():
    images = torch.randn(2, 5, 16, 12, generator=torch.Generator().manual_seed(4))
    first = _seeded(lambda: SpatialGenerator(5, width=8).eval())
    again = _seeded(lambda: SpatialGenerator(5, width=8).eval())
    with torch.no_grad():
        out = first(images)
        assert out.shape == images.shape
        assert torch.equal(out, again(images))

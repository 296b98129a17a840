"""On-device training crops: exact gathers, reproducible per (seed, rank, step), eigen-image-like statistics."""

import numpy as np
import pytest
import torch

from hsi.errors import InputError, ParameterError
from hsi.nn.diffusion_prior import normalise
from hsi.train.crops import CropBank, ImageCropDataModule, augment


def test_crops_are_exact_windows_of_the_normalised_images():
    rng = np.random.default_rng(0)
    images = [rng.normal(size=(20, 31)).astype(np.float32) * 5, rng.normal(size=(17, 16)).astype(np.float32),
              np.zeros((4, 4), np.float32)]  # too small for 16-px crops: skipped
    bank = CropBank(images, [1.0, 1.0, 1.0], patch_size=16)
    assert len(bank) == 2
    crops = bank.crops(64, torch.Generator().manual_seed(0))
    assert crops.shape == (64, 1, 16, 16)
    references = [normalise(torch.from_numpy(im)[None])[0][0].half().float() for im in images[:2]]
    for crop in crops[:, 0]:
        found = any(torch.equal(crop, ref[r:r + 16, c:c + 16]) for ref in references
                    for r in range(ref.shape[0] - 15) for c in range(ref.shape[1] - 15))
        assert found
    with pytest.raises(InputError, match="patch_size"):
        CropBank(images[2:], [1.0], patch_size=16)


def test_augmented_crops_cover_both_signs_and_many_contrasts():
    crops = torch.linspace(-1, 1, 16).view(1, 1, 1, 16).expand(2000, 1, 16, 16).clone()
    out = augment(crops, torch.Generator().manual_seed(0))
    ranges = out.amax(dim=(1, 2, 3)) - out.amin(dim=(1, 2, 3))
    assert out.abs().max() <= 1.0 + 1e-5
    assert ranges.min() < 0.6 and ranges.max() > 1.9  # contrast log-uniform in [0.25, 1]
    slope = (out[..., -1] - out[..., 0]).mean(dim=(1, 2)) + (out[..., -1, :] - out[..., 0, :]).mean(dim=(1, 2))
    assert (slope > 0).float().mean().item() == pytest.approx(0.5, abs=0.05)  # sign and flips: both directions


def test_batches_repeat_per_step_and_differ_across_steps_and_ranks():
    data = ImageCropDataModule(sources=["skimage"], patch_size=16, batch_size=8, steps_per_epoch=3)
    first = data.batch(step=5)
    assert first.shape == (8, 1, 16, 16) and torch.isfinite(first).all()
    assert torch.equal(first, data.batch(step=5))
    assert not torch.equal(first, data.batch(step=6)) and not torch.equal(first, data.batch(step=5, rank=1))
    assert len(list(data.train_dataloader())) == 3
    assert data.inventory[0]["source"] == "skimage" and "licence" in data.inventory[0]
    with pytest.raises(ParameterError, match="data.sources"):
        ImageCropDataModule(sources=["samson"]).setup()
    with pytest.raises(ParameterError, match="preload"):
        ImageCropDataModule(preload="gpu")

"""Training patches: normalised 3-channel subspace images from generated scenes."""

import numpy as np
import pytest

from hsi.errors import ParameterError
from hsi.train.datamodule import SubspacePatchDataModule


def test_patches_are_normalised_subspace_images():
    data = SubspacePatchDataModule(synthetic=1, synthetic_size=32, views_per_cube=2, patch_size=16, batch_size=4,
                                   steps_per_epoch=2)
    batches = list(data.train_dataloader())
    assert len(batches) == 2 and tuple(batches[0].shape) == (4, 3, 16, 16)
    values = np.concatenate([b.numpy().ravel() for b in batches])
    assert np.isfinite(values).all()
    assert np.mean(np.abs(values) <= 1.05) > 0.98 and values.std() > 0.2  # about [-1, 1], not flat
    assert data.inventory[0]["shape"] == [32, 32, 106]


def test_data_module_needs_a_source():
    with pytest.raises(ParameterError, match="scenes, pan_pairs or synthetic"):
        SubspacePatchDataModule()

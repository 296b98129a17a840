"""Random augmented single-channel crops, drawn on the training device from preloaded images.

Every training image is normalised once (:func:`hsi.nn.diffusion_prior.normalise`, the scale the
prior is used in) and packed into one flat tensor that lives on the device (GPU memory holds all
of it: about 60 M pixels, 120 MB as float16). A batch is one gather: random image (probability
proportional to its area times its source's weight), random position, then per-crop random
dihedral transform, gamma, sign and contrast/offset, so the prior meets the statistics of
eigen-images (zero mean, any contrast, either sign) and not only of photographs. The loader only
yields a step counter; the crops are drawn in ``on_after_batch_transfer`` from a generator
seeded by ``(seed, rank, global step)``, so a resumed run sees the crops an uninterrupted one would.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset

from hsi.errors import InputError, ParameterError
from hsi.nn.diffusion_prior import normalise


class CropBank:
    """Normalised images packed flat, and a vectorised random-crop sampler over them.

    Parameters
    ----------
    images : 2-D arrays (any scale; each is normalised to about ``[-1, 1]``).
    weights : one sampling weight per image (multiplied by its area).
    patch_size : crop side in pixels; smaller images are skipped.
    """

    def __init__(self, images: Sequence[np.ndarray], weights: Sequence[float], patch_size: int):
        self.patch_size = int(patch_size)
        kept = [(np.asarray(im, np.float32), float(w)) for im, w in zip(images, weights)
                if min(np.shape(im)) >= self.patch_size and w > 0]
        if not kept:
            raise InputError(f"no training image is at least {patch_size} x {patch_size} pixels; lower data.patch_size")
        flats, rows, cols, areas = [], [], [], []
        for image, weight in kept:
            scaled, _, _ = normalise(torch.from_numpy(image)[None])
            flats.append(scaled.reshape(-1).to(torch.float16))
            rows.append(image.shape[0])
            cols.append(image.shape[1])
            areas.append(image.size * weight)
        self.pixels = torch.cat(flats)
        self.rows = torch.tensor(rows)
        self.cols = torch.tensor(cols)
        self.starts = torch.cumsum(torch.tensor([0] + [r * c for r, c in zip(rows, cols)][:-1]), 0)
        self.weights = torch.tensor(areas, dtype=torch.float64)
        self.weights /= self.weights.sum()

    def __len__(self) -> int:
        return int(self.rows.numel())

    @property
    def device(self) -> torch.device:
        return self.pixels.device

    def to(self, device: torch.device | str) -> "CropBank":
        for name in ("pixels", "rows", "cols", "starts", "weights"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    def crops(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``(n, 1, patch, patch)`` float32 crops at random images and positions (no augmentation)."""
        size, device = self.patch_size, self.device
        which = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        rows, cols = self.rows[which], self.cols[which]
        top = (torch.rand(n, generator=generator, device=device) * (rows - size + 1)).long().clamp_max(rows - size)
        left = (torch.rand(n, generator=generator, device=device) * (cols - size + 1)).long().clamp_max(cols - size)
        offsets = torch.arange(size, device=device)
        index = (self.starts[which].view(n, 1, 1) + (top.view(n, 1, 1) + offsets.view(1, size, 1)) * cols.view(n, 1, 1)
                 + left.view(n, 1, 1) + offsets.view(1, 1, size))
        return self.pixels[index].float().unsqueeze(1)


def augment(crops: torch.Tensor, generator: torch.Generator, *, gamma_max: float = 2.0, gamma_share: float = 0.5,
            contrast_min: float = 0.25) -> torch.Tensor:
    """Per-crop dihedral transform, gamma (on ``[0, 1]``), sign and contrast with a random offset.

    ``gamma`` is log-uniform on ``[1 / gamma_max, gamma_max]`` for a share ``gamma_share`` of the
    crops; the contrast ``c`` is log-uniform on ``[contrast_min, 1]`` and the offset uniform on
    ``[c - 1, 1 - c]``, so the values stay within about ``[-1, 1]``.
    """
    n, device = crops.shape[0], crops.device

    def coin(p: float = 0.5) -> torch.Tensor:
        return (torch.rand(n, generator=generator, device=device) < p).view(n, 1, 1, 1)

    def log_uniform(low: float, high: float) -> torch.Tensor:
        u = torch.rand(n, generator=generator, device=device).view(n, 1, 1, 1)
        return torch.exp(math.log(low) + (math.log(high) - math.log(low)) * u)

    crops = torch.where(coin(), crops.transpose(-1, -2), crops)
    crops = torch.where(coin(), crops.flip(-2), crops)
    crops = torch.where(coin(), crops.flip(-1), crops)
    gamma = log_uniform(1.0 / gamma_max, gamma_max)
    curved = ((crops + 1) / 2).clamp(0, 1) ** gamma * 2 - 1
    crops = torch.where(coin(gamma_share), curved, crops)
    crops = torch.where(coin(), -crops, crops)
    contrast = log_uniform(contrast_min, 1.0)
    offset = (torch.rand(n, generator=generator, device=device).view(n, 1, 1, 1) * 2 - 1) * (1 - contrast)
    return crops * contrast + offset


class StepCounter(IterableDataset):
    """Yields ``0 .. steps - 1``: the loader's only job is pacing; crops are drawn on the device."""

    def __init__(self, steps: int):
        self.steps = int(steps)

    def __iter__(self):
        return iter(torch.arange(self.steps))

    def __len__(self) -> int:
        return self.steps


class ImageCropDataModule(L.LightningDataModule):
    """Augmented single-channel crops of natural and remote-sensing images (see the module doc).

    Parameters
    ----------
    sources : names in :data:`hsi.train.images.SOURCES` (``kodak24``, ``train400``, ``skimage``,
        ``pansharpening``).
    source_weights : sampling weight per source name (default 1), multiplied by image area.
    patch_size, batch_size : crops per step and their side.
    steps_per_epoch : steps between epoch ends (pace of logs; the stream is endless).
    gamma_max, gamma_share, contrast_min : augmentation (:func:`augment`).
    preload : ``device`` (the images move to the training device once) or ``cpu``.
    data_dir : the shared data folder; None = ``$HSI_SHARED_DATA`` or ``../shared/data``.
    seed : seeds the crops with the rank and the global step.
    """

    def __init__(self, sources: Sequence[str] = ("kodak24", "train400", "skimage", "pansharpening"),
                 source_weights: dict | None = None, patch_size: int = 64, batch_size: int = 32,
                 steps_per_epoch: int = 200, gamma_max: float = 2.0, gamma_share: float = 0.5,
                 contrast_min: float = 0.25, preload: str = "device", data_dir: str | None = None, seed: int = 0):
        super().__init__()
        if int(patch_size) < 8 or int(batch_size) < 1 or int(steps_per_epoch) < 1:
            raise ParameterError(f"patch_size must be >= 8, batch_size and steps_per_epoch >= 1; got "
                                 f"{patch_size}, {batch_size}, {steps_per_epoch}")
        if preload not in ("device", "cpu"):
            raise ParameterError(f"data.preload must be 'device' or 'cpu'; got {preload!r}")
        if not (gamma_max >= 1 and 0 < contrast_min <= 1 and 0 <= gamma_share <= 1):
            raise ParameterError(f"need gamma_max >= 1, 0 < contrast_min <= 1, 0 <= gamma_share <= 1; got "
                                 f"{gamma_max}, {contrast_min}, {gamma_share}")
        self.sources, self.source_weights = list(sources), dict(source_weights or {})
        self.patch_size, self.batch_size, self.steps_per_epoch = int(patch_size), int(batch_size), int(steps_per_epoch)
        self.augmentation = {"gamma_max": float(gamma_max), "gamma_share": float(gamma_share),
                             "contrast_min": float(contrast_min)}
        self.preload, self.data_dir, self.seed = preload, data_dir, int(seed)
        self.bank: CropBank | None = None
        self.inventory: list[dict] = []
        self._generator: torch.Generator | None = None

    def setup(self, stage: str | None = None) -> None:
        from hsi.settings import shared_data_dir
        from hsi.train.images import load_sources

        if self.bank is not None:
            return
        data_dir = Path(self.data_dir) if self.data_dir else Path(shared_data_dir())
        images, weights = [], []
        for source in load_sources(self.sources, data_dir):
            weight = float(self.source_weights.get(source.name, 1.0))
            images += [image for _, image in source.images]
            weights += [weight] * len(source.images)
            pixels = sum(image.size for _, image in source.images)
            self.inventory.append({"source": source.name, "images": len(source.images), "pixels": int(pixels),
                                   "weight": weight, "licence": source.licence})
        self.bank = CropBank(images, weights, self.patch_size)

    def train_dataloader(self) -> DataLoader:
        self.setup()
        return DataLoader(StepCounter(self.steps_per_epoch), batch_size=None)

    def batch(self, step: int, device: torch.device | str = "cpu", rank: int = 0) -> torch.Tensor:
        """The augmented crops of one training step (deterministic in ``seed``, ``rank`` and ``step``)."""
        self.setup()
        device = torch.device(device)
        if self.preload == "device" and self.bank.device != device:
            self.bank.to(device)
        if self._generator is None or self._generator.device != self.bank.device:
            self._generator = torch.Generator(device=self.bank.device)
        self._generator.manual_seed(hash((self.seed, int(rank), int(step), 17)) & (2**62 - 1))
        crops = augment(self.bank.crops(self.batch_size, self._generator), self._generator, **self.augmentation)
        return crops.to(device)

    def on_after_batch_transfer(self, batch: torch.Tensor, dataloader_idx: int) -> torch.Tensor:
        trainer = self.trainer
        step = int(trainer.global_step) if trainer is not None else int(batch)
        rank = int(trainer.global_rank) if trainer is not None else 0
        return self.batch(step, batch.device, rank)

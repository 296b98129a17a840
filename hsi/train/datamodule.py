"""Random patches of normalised subspace images from a list of cubes, for training the prior.

Each cube gives a few *views*: a random subset of its bands (so the prior meets many band
sets and sensors), reduced by SVD + RRQR (:func:`hsi.estimate.rrqr_subspace.rrqr_subspace`)
to ``channels`` images, each normalised to about ``[-1, 1]`` over the whole cube (as at
restoration time, where the scaling comes from the scene). Patches are drawn at random with
flips, 90-degree rotations, channel permutations and a mild contrast jitter.

References
----------
L. Pang et al., "HIR-Diff", CVPR 2024 (reduced images by RRQR).
"""

from __future__ import annotations

import logging
from typing import Sequence

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from hsi.errors import InputError, ParameterError
from hsi.estimate.rrqr_subspace import ChannelScaling, rrqr_subspace

log = logging.getLogger("hsi")
FIT_PIXELS = 50_000


def subspace_views(
    cube: np.ndarray,
    channels: int,
    n_views: int,
    rng: np.random.Generator,
    band_fraction: tuple[float, float] = (0.3, 1.0),
) -> list[np.ndarray]:
    """``n_views`` normalised reduced images ``(rows, cols, channels)`` float32 of ``cube``.

    The first view uses every band; the others a random subset of at least ``channels`` bands.
    """
    n_pixels = cube.shape[0] * cube.shape[1]
    pixels = cube.reshape(n_pixels, -1)
    sample = pixels[rng.choice(n_pixels, min(n_pixels, FIT_PIXELS), replace=False)]
    views = []
    for view in range(int(n_views)):
        n_bands = cube.shape[2]
        if view == 0:
            bands = np.arange(n_bands)
        else:
            low = max(channels, int(np.ceil(band_fraction[0] * n_bands)))
            high = max(low, int(np.floor(band_fraction[1] * n_bands)))
            bands = np.sort(rng.choice(n_bands, int(rng.integers(low, high + 1)), replace=False))
        subspace = rrqr_subspace(sample[:, bands], channels)
        reduced = subspace.reduce(torch.from_numpy(pixels[:, bands].astype(np.float64))).numpy()
        scaling = ChannelScaling.fit(reduced)
        normalised = scaling.normalise(torch.from_numpy(reduced)).numpy()
        views.append(normalised.reshape(cube.shape[0], cube.shape[1], channels).astype(np.float32))
    return views


def augment(patch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random flip, 90-degree rotation, channel order and contrast of a ``(rows, cols, c)`` patch."""
    patch = np.rot90(patch, int(rng.integers(4)), axes=(0, 1))
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    patch = patch[:, :, rng.permutation(patch.shape[2])]
    gain = rng.uniform(0.8, 1.0, size=patch.shape[2]).astype(np.float32)
    return np.ascontiguousarray(patch * gain)


class PatchStream(IterableDataset):
    """``epoch_size`` random ``(channels, size, size)`` float32 patches per pass over the views."""

    def __init__(self, views: Sequence[np.ndarray], size: int, epoch_size: int, seed: int = 0):
        self.views = [v for v in views if min(v.shape[:2]) >= size]
        if not self.views:
            raise InputError(f"no training image is at least {size} x {size} pixels; lower data.patch_size")
        self.size, self.epoch_size, self.seed = int(size), int(epoch_size), int(seed)
        self.passes = 0
        areas = np.array([v.shape[0] * v.shape[1] for v in self.views], dtype=np.float64)
        self.weights = np.sqrt(areas) / np.sqrt(areas).sum()  # big scenes more often, but not overwhelmingly

    def __iter__(self):
        worker = get_worker_info()
        worker_id, n_workers = (0, 1) if worker is None else (worker.id, worker.num_workers)
        # every DDP rank and loader worker draws its own patches (same seed would duplicate them)
        rank = torch.distributed.get_rank() if torch.distributed.is_available() and torch.distributed.is_initialized() else 0
        rng = np.random.default_rng([self.seed, rank, worker_id, self.passes])
        self.passes += 1
        for _ in range(self.epoch_size // n_workers):
            view = self.views[int(rng.choice(len(self.views), p=self.weights))]
            row = int(rng.integers(0, view.shape[0] - self.size + 1))
            col = int(rng.integers(0, view.shape[1] - self.size + 1))
            patch = augment(view[row:row + self.size, col:col + self.size], rng)
            yield torch.from_numpy(patch.transpose(2, 0, 1).copy())

    def __len__(self) -> int:
        return self.epoch_size


class SubspacePatchDataModule(L.LightningDataModule):
    """Patches of subspace images from scene files, panchromatic pairs and generated scenes.

    Parameters
    ----------
    scenes : scene files in any format :func:`hsi.io.open_scene` reads (relative paths are
        taken from ``data_dir``).
    pan_pairs : MATLAB pansharpening pairs (``I_MS``, ``I_PAN``; see :func:`hsi.train.sources.pan_pair_cubes`).
    synthetic : number of generated scenes (:func:`hsi.sample_scene.make_sample_scene`) and their size.
    channels : subspace images per sample (the prior's channel count).
    views_per_cube : band subsets drawn per cube.
    patch_size, batch_size : training patches.
    steps_per_epoch : batches per epoch (the stream is endless; epochs pace checkpoints and logs).
    num_workers : data-loader processes.
    data_dir : where relative paths live; None = the shared data folder.
    seed : seeds the band subsets and the patch stream.
    """

    def __init__(self, scenes: Sequence[str] = (), pan_pairs: Sequence[str] = (), synthetic: int = 0,
                 synthetic_size: int = 128, channels: int = 3, views_per_cube: int = 4, patch_size: int = 32,
                 batch_size: int = 16, steps_per_epoch: int = 200, num_workers: int = 0,
                 data_dir: str | None = None, seed: int = 0):
        super().__init__()
        if not (scenes or pan_pairs or synthetic):
            raise ParameterError("data: give at least one of scenes, pan_pairs or synthetic > 0")
        if int(patch_size) < 8 or int(batch_size) < 1:
            raise ParameterError(f"patch_size must be >= 8 and batch_size >= 1; got {patch_size}, {batch_size}")
        self.scenes, self.pan_pairs = list(scenes or ()), list(pan_pairs or ())
        self.synthetic, self.synthetic_size = int(synthetic), int(synthetic_size)
        self.channels, self.views_per_cube = int(channels), int(views_per_cube)
        self.patch_size, self.batch_size = int(patch_size), int(batch_size)
        self.steps_per_epoch, self.num_workers = int(steps_per_epoch), int(num_workers)
        self.data_dir, self.seed = data_dir, int(seed)
        self.stream: PatchStream | None = None
        self.inventory: list[dict] = []

    def cubes(self) -> list[tuple[str, np.ndarray]]:
        from hsi.train.sources import pan_pair_cubes, resolve, scene_cube, synthetic_cubes

        named = [(str(p), scene_cube(resolve(p, self.data_dir))) for p in self.scenes]
        for pair in self.pan_pairs:
            ms, fused = pan_pair_cubes(resolve(pair, self.data_dir))
            named += [(f"{pair}:I_MS", ms), (f"{pair}:Brovey(I_MS, I_PAN)", fused)]
        named += [(f"synthetic seed {self.seed + i}", cube)
                  for i, cube in enumerate(synthetic_cubes(self.synthetic, self.synthetic_size, self.seed))]
        return named

    def setup(self, stage: str | None = None) -> None:
        if self.stream is not None:
            return
        rng = np.random.default_rng(self.seed)
        views = []
        for name, cube in self.cubes():
            if cube.shape[2] < self.channels:
                log.warning("skipping %s: %d bands < %d channels", name, cube.shape[2], self.channels)
                continue
            views += subspace_views(cube, self.channels, self.views_per_cube, rng)
            self.inventory.append({"source": name, "shape": list(cube.shape)})
        self.stream = PatchStream(views, self.patch_size, self.steps_per_epoch * self.batch_size, self.seed)

    def train_dataloader(self) -> DataLoader:
        self.setup()
        return DataLoader(self.stream, batch_size=self.batch_size, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0)

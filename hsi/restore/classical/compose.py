"""Chains of restoration methods run as one tile function (e.g. denoise, then upsample)."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from hsi.errors import ParameterError


def _as_tile_method(step):
    """A step with ``fit(blocks)``; plain cube functions get the scene-wide noise wrapper."""
    from hsi.restore.tiled import CubeMethodTiles

    if hasattr(step, "fit"):
        return step
    if not callable(step):
        raise ParameterError(f"every step must be a method object or a cube function; got {type(step).__name__}")
    return CubeMethodTiles(step)


class Sequential:
    """Run restoration steps one after the other on each batch of tiles.

    Each step is either an object with ``fit(blocks) -> self`` and ``__call__(batch) ->
    batch`` (``batch`` (n, rows, cols, bands) float32) or a plain ``f(cube, noise_std=...)``
    cube function. ``fit`` fits the first step on the sampled blocks, then each next step
    on the blocks as restored by the steps before it. ``scale`` is the product of the
    steps' scales (super-resolution steps carry one); ``noise_std`` is the first step's
    estimate.

    Example (``conf/method/fasthyde_bicubic.yaml``): subspace denoising then bicubic
    upsampling, the classical baseline for noisy super-resolution.
    """

    def __init__(self, steps: Sequence[Callable]):
        steps = list(steps)
        if not steps:
            raise ParameterError("steps must hold at least one method; got an empty list")
        self.steps = [_as_tile_method(step) for step in steps]
        self.scale = int(np.prod([int(getattr(step, "scale", 1) or 1) for step in self.steps]))

    @property
    def noise_std(self):
        return getattr(self.steps[0], "noise_std", None)

    def fit(self, blocks: np.ndarray) -> "Sequential":
        for index, step in enumerate(self.steps):
            step.fit(blocks)
            if index + 1 < len(self.steps):
                blocks = np.asarray(step(blocks), dtype=np.float32)
        return self

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        for step in self.steps:
            batch = np.asarray(step(batch), dtype=np.float32)
        return batch

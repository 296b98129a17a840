"""A bounded random sample of pixels from anywhere in a scene, for global statistics.

Methods that need scene-wide statistics (signal subspace, noise covariance) fit them
on this sample and then apply per tile, so the statistics do not depend on tiling.
"""

from __future__ import annotations

import numpy as np

from hsi.errors import InputError
from hsi.nodata import clean_blocks
from hsi.scene import Scene, Window


def sample_pixels(
    scene: Scene,
    n_pixels: int = 65536,
    rng: np.random.Generator | None = None,
    patch: int = 16,
    bands=None,
) -> np.ndarray:
    """``(n, bands)`` float32 physical values of valid pixels drawn from random patches.

    Reads whole ``patch x patch`` windows (cheap on tiled files) at random positions until
    ``n_pixels`` valid pixels are gathered or the scene is exhausted; the whole scene is
    read when it is smaller than the request. Pixels with any nodata/NaN band are dropped.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    n_total = scene.n_rows * scene.n_cols
    if n_total <= n_pixels:
        pixels = scene.read(physical=True, bands=bands).reshape(n_total, -1)
    else:
        patch = max(1, min(patch, scene.n_rows, scene.n_cols))
        n_patches = int(np.ceil(n_pixels / patch**2))
        rows = rng.integers(0, scene.n_rows - patch + 1, n_patches)
        cols = rng.integers(0, scene.n_cols - patch + 1, n_patches)
        pixels = np.concatenate(
            [scene.read(Window(int(r), int(c), patch, patch), bands, physical=True).reshape(patch * patch, -1)
             for r, c in zip(rows, cols)]
        )
    pixels = pixels[np.isfinite(pixels).all(axis=1)]
    if pixels.shape[0] == 0:
        raise InputError(f"{scene.describe()}: no valid pixel found (all nodata or non-finite)")
    return pixels[:n_pixels]


def sample_blocks(
    scene: Scene,
    n_pixels: int = 200_000,
    size: int = 64,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """``(n, size, size, bands)`` float32 spatial blocks at random positions (whole scene if small).

    Spatial statistics (wavelet noise estimates, eigen-image structure) need blocks, not
    scattered pixels. Blocks holding nodata/NaN give their clean sub-blocks
    (:func:`hsi.nodata.clean_blocks`), so one fill value costs its neighbourhood, not the
    block; when no part is clean the NaN are kept for estimators that ignore them.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    if scene.n_rows * scene.n_cols <= n_pixels or scene.n_rows < size or scene.n_cols < size:
        return clean_blocks(scene.read(physical=True)[None])
    n_blocks = max(1, n_pixels // (size * size))
    rows = rng.integers(0, scene.n_rows - size + 1, n_blocks)
    cols = rng.integers(0, scene.n_cols - size + 1, n_blocks)
    blocks = np.stack([scene.read(Window(int(r), int(c), size, size), physical=True) for r, c in zip(rows, cols)])
    if not np.isfinite(blocks).any():
        raise InputError(f"{scene.describe()}: sampled blocks are all nodata or non-finite")
    return clean_blocks(blocks)

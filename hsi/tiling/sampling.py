"""Bounded random samples of a scene for scene-wide statistics: scattered pixels or spatial blocks.

Methods that need scene-wide statistics (endmembers, signal subspace, noise) fit them on a
sample and then apply per tile or window, so the statistics do not depend on tiling:
:func:`sample_pixels` for methods that see pixels one by one, :func:`sample_blocks` for
estimators that need spatial neighbours.
"""

from __future__ import annotations

import numpy as np

from hsi.errors import InputError
from hsi.nodata import clean_blocks
from hsi.scene import Scene, Window


def sample_pixels(scene: Scene, bands: np.ndarray, n_pixels: int, rng: np.random.Generator, block_rows: int) -> np.ndarray:
    """At most ``n_pixels`` valid (no NaN/nodata) pixels (n, bands) drawn uniformly, reading block by block.

    Each pixel is kept with one probability (1.5 times the requested fraction) while the scene
    is streamed ``block_rows`` rows at a time, then the surplus is dropped at random: a uniform
    sample of the whole scene in bounded memory, for methods that learn from scattered pixels
    (endmember extraction).
    """
    total = scene.n_rows * scene.n_cols
    keep_probability = min(1.0, 1.5 * n_pixels / total)
    chosen = []
    for window in scene.windows(block_rows):
        block = scene.read(window, bands=bands, physical=True).reshape(-1, bands.size)
        valid = np.isfinite(block).all(axis=1)
        pick = valid & (rng.random(valid.size) < keep_probability)
        chosen.append(block[pick])
    pixels = np.concatenate(chosen) if chosen else np.empty((0, bands.size), np.float32)
    if pixels.shape[0] == 0:
        raise InputError(f"{scene.describe()}: no valid pixel (every pixel is nodata or NaN)")
    if pixels.shape[0] > n_pixels:
        pixels = pixels[rng.choice(pixels.shape[0], n_pixels, replace=False)]
    return pixels


def sample_neighbour_pairs(
    scene: Scene, bands: np.ndarray, n_pairs: int, rng: np.random.Generator, block_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """At most ``n_pairs`` pairs of valid, adjacent pixels ``(first, second)``, each (n, bands).

    Horizontal and vertical neighbours inside each block of ``block_rows`` rows, each kept
    with one probability while the scene streams (as :func:`sample_pixels`), then the surplus
    dropped at random. Their differences estimate the noise covariance (shift differences),
    which spatial statistics such as the MNF endmember count need and scattered pixels cannot give.
    """
    total = 2 * scene.n_rows * scene.n_cols
    keep_probability = min(1.0, 1.5 * n_pairs / total)
    firsts, seconds = [], []
    for window in scene.windows(block_rows):
        block = scene.read(window, bands=bands, physical=True)
        valid = np.isfinite(block).all(axis=2)
        for first, second, both in ((block[:, :-1], block[:, 1:], valid[:, :-1] & valid[:, 1:]),
                                    (block[:-1], block[1:], valid[:-1] & valid[1:])):
            pick = both & (rng.random(both.shape) < keep_probability)
            firsts.append(first[pick])
            seconds.append(second[pick])
    first, second = np.concatenate(firsts), np.concatenate(seconds)
    if first.shape[0] > n_pairs:
        chosen = rng.choice(first.shape[0], n_pairs, replace=False)
        first, second = first[chosen], second[chosen]
    return first, second


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
    blocks = np.empty((n_blocks, size, size, scene.n_bands), np.float32)
    # read top to bottom (into their random order): neighbouring windows share the file's
    # blocks, which GDAL then decodes once instead of once per window
    for i in np.lexsort((cols, rows)):
        blocks[i] = scene.read(Window(int(rows[i]), int(cols[i]), size, size), physical=True)
    if not np.isfinite(blocks).any():
        raise InputError(f"{scene.describe()}: sampled blocks are all nodata or non-finite")
    return clean_blocks(blocks)

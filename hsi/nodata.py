"""Nodata semantics shared by every job: empty bands and statistics from valid pixels only.

Products fill missing pixels (outside the swath, failed retrievals) and whole bands (the
water-vapour bands of EnMAP L2A) with a fill value. Those values must never enter noise,
subspace or endmember statistics and must come out as nodata: jobs find the empty bands
here, process the others, and write the empty ones back as nodata.
"""

from __future__ import annotations

import numpy as np

from hsi.errors import InputError
from hsi.scene import Scene, Window

#: Patches read to find empty bands on scenes too large to read whole.
EMPTY_BAND_PATCHES = 64
EMPTY_BAND_PATCH = 32
#: Memory per block when a scene is read whole.
BLOCK_BYTES = 32 * 2**20


def empty_bands(scene: Scene, rng: np.random.Generator | None = None, max_pixels: int = 1_000_000) -> np.ndarray:
    """True per band where no sampled pixel holds a valid value (nodata / NaN everywhere).

    Scenes up to ``max_pixels`` are read whole (exact; block by block, stopping as soon as
    every band has shown a valid value, so usually after the first block); larger ones through random patches
    plus the central one, which finds bands filled with nodata by the producer (a band
    valid somewhere but in none of the patches would be flagged: such bands are near empty).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    seen = np.zeros(scene.n_bands, bool)
    if scene.n_rows * scene.n_cols <= max_pixels:  # read block by block, stopping once every band has data
        windows = scene.windows(scene.block_rows_for(BLOCK_BYTES))
    else:
        size = min(EMPTY_BAND_PATCH, scene.n_rows, scene.n_cols)
        rows = rng.integers(0, scene.n_rows - size + 1, EMPTY_BAND_PATCHES)
        cols = rng.integers(0, scene.n_cols - size + 1, EMPTY_BAND_PATCHES)
        windows = [Window(int(r), int(c), size, size) for r, c in zip(rows, cols)]
        windows.append(Window((scene.n_rows - size) // 2, (scene.n_cols - size) // 2, size, size))
    for window in windows:
        pixels = scene.read(window)
        seen |= (~scene.nodata_mask_of(pixels)).reshape(-1, scene.n_bands).any(axis=0)
        if seen.all():
            break
    if not seen.any():
        raise InputError(f"{scene.describe()}: no valid pixel (every value is nodata or non-finite)")
    return ~seen


def clean_blocks(blocks: np.ndarray, sizes: tuple[int, ...] = (16, 8, 4)) -> np.ndarray:
    """The NaN-free square sub-blocks of ``blocks`` ``(n, rows, cols, bands)``.

    Statistics then use every valid neighbourhood instead of losing a whole block (or a whole
    small scene) to one fill value. The side is the largest of ``sizes`` whose clean
    sub-blocks keep at least half the pixels the best side keeps (fill lines a few rows
    apart need small blocks). Blocks already clean come back unchanged; when no sub-block
    is clean the NaN are kept, for estimators that ignore them.
    """
    if np.isfinite(blocks).all():
        return blocks
    candidates = [_clean_tiles(blocks, size) for size in sizes]
    kept = [sum(t.shape[0] * t.shape[1] for t in tiles) for tiles in candidates]
    if max(kept) == 0:
        return blocks
    best = next(tiles for tiles, n in zip(candidates, kept) if n >= 0.5 * max(kept))
    return np.stack(best)


def _clean_tiles(blocks: np.ndarray, size: int) -> list[np.ndarray]:
    n, rows, cols, _ = blocks.shape
    size = max(2, min(size, rows, cols))
    tiles = (blocks[i, r:r + size, c:c + size]
             for i in range(n) for r in range(0, rows - size + 1, size) for c in range(0, cols - size + 1, size))
    return [t for t in tiles if np.isfinite(t).all()]


def fill_value_for(scene: Scene) -> float:
    """What an output band that was not processed holds: the scene's nodata, else NaN."""
    return float("nan") if scene.nodata is None else float(scene.nodata)

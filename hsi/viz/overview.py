"""A decimated true-colour overview of a scene of any size, read band-subset block by block."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from hsi.scene import Scene
from hsi.viz.quicklook import rgb_bands, save_rgb_quicklook


def rgb_overview(scene: Scene, max_side: int = 1024, bands=None) -> tuple[np.ndarray, tuple[int, int, int]]:
    """``(rows/step, cols/step, 3)`` physical values of the RGB bands, every ``step``-th pixel.

    Only the three bands are read, in blocks of ``step`` rows, so memory stays at about
    ``3 x max_side^2`` values whatever the scene size.
    """
    chosen = tuple(bands) if bands is not None else rgb_bands(scene.wavelengths_nm, n_bands=scene.n_bands)
    step = max(1, math.ceil(max(scene.n_rows, scene.n_cols) / max_side))
    three = scene.select_bands(list(chosen))
    rows = [three.read(window, physical=True)[::step, ::step] for window in three.windows(step * 64)]
    return np.concatenate(rows, axis=0), chosen


def save_scene_quicklook(scene: Scene, path: Path | str, max_side: int = 1024, bands=None) -> Path:
    """True-colour PNG of the scene (nearest bands to 640/550/460 nm), nodata transparent."""
    overview, _ = rgb_overview(scene, max_side, bands)
    upscale = max(1, 256 // max(overview.shape[:2]))
    return save_rgb_quicklook(overview, None, path, bands=(0, 1, 2), nodata_mask=~np.isfinite(overview).all(axis=2),
                              upscale=upscale)

"""Pansharpening of scenes larger than memory, tile by tile through :mod:`hsi.tiling`.

The tiling engine runs a function over *one* scene. A (MS, PAN) pair becomes one scene on
the MS grid by folding each ``ratio x ratio`` block of PAN pixels into ``ratio**2`` extra
bands (a space-to-depth rearrangement, lossless): a tile of that scene holds an MS tile and
the PAN tile that covers the same ground. The tile function unfolds the PAN and calls the
pansharpening method; the engine's ``scale=ratio`` puts the result on the PAN grid.

Each tile is fused independently, so statistics that a method estimates from the image
(injection gains, regressions, a zero-shot network's weights) are estimated per tile: with
tiles of a few hundred MS pixels they are local versions of the global ones, and overlapping
tiles are blended. Nothing is padded: a tile at the scene's border takes its context from
inside the scene (the engine's ``edges="inside"``), so the method meets the border where an
untiled fusion does, in PAN pixels as they are (reflecting the folded pair on the MS grid
would mirror whole PAN blocks, each kept in its own order: a PAN no sensor saw). A scene
that fits in one tile is fused in one call, which gives exactly the untiled result. Tiles
reach the tile function with their nodata as
NaN; :mod:`hsi.pansharpen.pair_nodata` decides which fused pixels are nodata and fills the
gaps before the method sees them.

References
----------
W. Shi et al., "Real-time single image and video super-resolution using an efficient
sub-pixel convolutional neural network", CVPR 2016 (the pixel-shuffle rearrangement).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from hsi.errors import InputError
from hsi.pansharpen.pair_nodata import NodataCount, fill_pair, pair_masks
from hsi.scene import Scene, Window
from hsi.tiling import run_tiled


def fold_pan(pan: np.ndarray, ratio: int) -> np.ndarray:
    """(ratio*rows, ratio*cols, m) -> (rows, cols, ratio**2 * m): each block of high-resolution pixels as bands."""
    rows, cols, m = pan.shape[0] // ratio, pan.shape[1] // ratio, pan.shape[2]
    return pan.reshape(rows, ratio, cols, ratio, m).transpose(0, 2, 1, 3, 4).reshape(rows, cols, ratio * ratio * m)


def unfold_pan(folded: np.ndarray, ratio: int) -> np.ndarray:
    """Inverse of :func:`fold_pan` on a batch: (n, rows, cols, ratio**2 * m) -> (n, ratio*rows, ratio*cols, m)."""
    n, rows, cols, channels = folded.shape
    m = channels // (ratio * ratio)
    blocks = folded.reshape(n, rows, cols, ratio, ratio, m).transpose(0, 1, 3, 2, 4, 5)
    return blocks.reshape(n, rows * ratio, cols * ratio, m)


class PairReader:
    """Pixel reader of the MS bands followed by the folded PAN (physical float32 values, NaN nodata).

    ``pan_bands``: the bands of ``pan`` to use (one for a PAN, several for HS + MS fusion).
    """

    def __init__(self, ms: Scene, pan: Scene, ratio: int, pan_bands: list[int] | None = None):
        self.ms, self.pan, self.ratio = ms, pan, int(ratio)
        self.pan_bands = [0] if pan_bands is None else [int(b) for b in pan_bands]
        self.shape = (ms.n_rows, ms.n_cols, ms.n_bands + self.ratio**2 * len(self.pan_bands))
        self.dtype = np.dtype(np.float32)

    def read(self, window: Window, bands: np.ndarray) -> np.ndarray:
        r = self.ratio
        ms = self.ms.read(window, physical=True)
        pan_window = Window(window.row * r, window.col * r, window.height * r, window.width * r)
        pan = self.pan.read(pan_window, bands=self.pan_bands, physical=True)
        return np.concatenate([ms, fold_pan(pan, r)], axis=2)[:, :, bands]


def pair_scene(ms: Scene, pan: Scene, ratio: int, pan_bands: list[int] | None = None) -> Scene:
    """The (MS, folded PAN) scene on the MS grid, georeferenced as the MS."""
    return Scene(PairReader(ms, pan, ratio, pan_bands), crs=ms.crs, transform=ms.transform, path=ms.path)


class PansharpenTiles:
    """Tile function ``(n, rows, cols, bands + ratio**2 * m) -> (n, ratio*rows, ratio*cols, bands)``.

    Tiles come with their nodata as NaN; :mod:`hsi.pansharpen.pair_nodata` fills the gaps so
    that they add nothing to the method's statistics, and its rule makes the fused pixels
    without MS or PAN data NaN again (nodata in the output). A tile without data is not fused.
    A class rather than a closure so that it pickles (the tiling engine may ship it to workers).
    """

    def __init__(self, method: Callable, ratio: int, n_bands: int, sensor: str | None = None):
        self.method, self.ratio, self.n_bands, self.sensor = method, int(ratio), int(n_bands), sensor

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        ms_tiles = batch[..., : self.n_bands].astype(np.float64)
        pans = unfold_pan(batch[..., self.n_bands :], self.ratio).astype(np.float64)
        if pans.shape[3] == 1:
            pans = pans[..., 0]  # a PAN: (n, rows, cols)
        fused = np.full(pans.shape[:3] + (self.n_bands,), np.nan, np.float32)
        for k, (ms, pan) in enumerate(zip(ms_tiles, pans)):
            masks = pair_masks(ms, pan, self.ratio)
            if masks.nodata.all():
                continue  # no fused pixel would have data: nothing to fuse
            if masks.nodata.any():
                ms, pan = fill_pair(ms, pan, masks, self.ratio)
            fused[k] = np.asarray(self.method(ms, pan, ratio=self.ratio, sensor=self.sensor))
            fused[k][masks.nodata] = np.nan
        return fused


def pansharpen_scene(
    method: Callable,
    ms: Scene,
    pan: Scene,
    output: str | Path,
    *,
    ratio: int,
    sensor: str | None = None,
    pan_bands: list[int] | None = None,
    tile: int = 256,
    overlap: int = 32,
    context: int = 16,
    overwrite: bool = False,
    progress: bool = False,
) -> dict:
    """Fuse ``ms`` with ``pan`` tile by tile and stream the result to ``output`` on the PAN grid.

    Parameters
    ----------
    method : pansharpening function ``method(ms, pan, *, ratio, sensor)`` (see :mod:`hsi.pansharpen`).
    ms, pan : scenes on grids ``ratio`` apart covering the same ground (checked by the caller).
    output : output file (format from the extension).
    ratio : integer PAN/MS scale.
    sensor : MTF model name.
    pan_bands : bands of ``pan`` to use (default the first: a PAN; several: HS + MS fusion).
    tile, overlap, context : tile side, overlap and extra context, in MS pixels.
    overwrite : replace an existing output.

    Returns
    -------
    The tiling summary (tiles, seconds, output path) and, under ``nodata``, how many fused
    pixels are nodata and why (:class:`hsi.pansharpen.pair_nodata.NodataCount`, counted as the tiles are read). The output
    keeps the MS wavelengths, FWHM and band names, and takes the PAN's CRS and transform.
    Fused pixels without MS (any band) or PAN data are nodata (:mod:`hsi.pansharpen.pair_nodata`),
    written as NaN, the output's nodata value, whatever the inputs' fill values: a float
    output marked with the MS's fill value (0 for many products) could not tell a fused 0 from
    a missing pixel.
    """
    if pan.shape[:2] != (ms.n_rows * ratio, ms.n_cols * ratio):
        raise InputError(f"{pan.describe()}: PAN {pan.n_rows}x{pan.n_cols} is not {ratio} x the MS {ms.n_rows}x{ms.n_cols}")
    scene = pair_scene(ms, pan, ratio, pan_bands)
    changes = {"wavelengths_nm": ms.wavelengths_nm, "fwhm_nm": ms.fwhm_nm, "bad_bands": ms.bad_bands,
               "band_names": ms.band_names, "units": ms.units, "crs": pan.crs, "transform": pan.transform,
               "nodata": float("nan")}
    function = PansharpenTiles(method, ratio, ms.n_bands, sensor)
    nodata = NodataCount(ms.n_bands, ratio)
    # the tiles keep their NaN (fill_missing=False): PansharpenTiles fills them by the pair's rule
    summary = run_tiled(function, scene, output, overwrite=overwrite, template_changes=changes, tile=tile,
                        overlap=overlap, context=context, scale=ratio, batch_size=1, progress=progress,
                        fill_missing=False, edges="inside", observe=nodata)
    summary["nodata"] = nodata.counts()
    return summary

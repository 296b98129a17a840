"""Nodata in a (MS, PAN) pair: which fused pixels hold no data, and what a method sees there.

The rule: a fused pixel on the PAN grid is nodata where its MS pixel is nodata in *any*
band (that ground pixel has no spectrum to sharpen) or its PAN pixel is nodata in any band
used (no detail to inject; with ``pan_band=all``, any band of the high-resolution input).
NaN and the files' nodata values (read as NaN) count alike.

Fill values must not enter a method's statistics as data either (regressions of the PAN on
the MS, injection gains, MTF filtering), so before a tile reaches the method its gaps are
filled so as to add as little to them as can be:

* a ground pixel without MS (any band), a *hole*, takes in every MS band and in every PAN
  pixel of its block the tile's mean over the pixels with data: the same flat patch in both
  images. A point at the mean of the others leaves their centred sums of squares and
  products unchanged, so pixel-wise least-squares slopes and intercepts (regression
  coefficients, injection gains) are those of the valid pixels alone. Filling each band on
  its own (a flat MS under real PAN detail) would not: it adds PAN variance without MS
  covariance and biases the slopes towards zero;
* a PAN pixel missing under an MS pixel with data takes the PAN that the interpolated MS
  predicts there (least squares of the PAN, block-averaged, on the MS bands, over the
  tile's valid blocks; clipped to the range of the valid PAN): points close to the relation
  the valid pixels follow change the regressions little, and the fill meets the real PAN at
  its border at the right level, so the MTF filters inject no step into the neighbours.

Filters still reach across a gap's border: fused pixels within their support of a gap differ
somewhat from a fusion of complete data (tests/pansharpen/test_pansharpen_nodata.py bounds
it). A tile without a single fused pixel with data is not fused at all.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from hsi.degrade.resample import upsample
from hsi.scene import Scene, Window

#: The rule, as the pansharpen report states it.
RULE = "a fused pixel is nodata (NaN) where its MS pixel is nodata in any band or its PAN pixel in any band used"


@dataclass(frozen=True)
class PairMasks:
    """Where a tile of a pair lacks data: ``ms_missing`` (rows, cols) on the MS grid (the holes);
    ``pan_missing`` and ``nodata`` (the fused pixels without data) (ratio*rows, ratio*cols) on the PAN grid."""

    ms_missing: np.ndarray
    pan_missing: np.ndarray
    nodata: np.ndarray


def _blocks(pan: np.ndarray, ratio: int) -> np.ndarray:
    """(ratio*rows, ratio*cols, ...) -> (rows, ratio, cols, ratio, ...) view: the PAN block of each MS pixel."""
    return pan.reshape(pan.shape[0] // ratio, ratio, pan.shape[1] // ratio, ratio, *pan.shape[2:])


def _up(mask: np.ndarray, ratio: int) -> np.ndarray:
    """An MS-grid mask on the PAN grid."""
    return mask.repeat(ratio, axis=0).repeat(ratio, axis=1)


def pair_masks(ms: np.ndarray, pan: np.ndarray, ratio: int) -> PairMasks:
    """The masks of a tile: ``ms`` (rows, cols, bands), ``pan`` (ratio*rows, ratio*cols[, m]), NaN = nodata."""
    ms_missing = ~np.isfinite(ms).all(axis=2)
    pan_missing = ~np.isfinite(pan).all(axis=2) if pan.ndim == 3 else ~np.isfinite(pan)
    return PairMasks(ms_missing, pan_missing, _up(ms_missing, ratio) | pan_missing)


def fill_pair(ms: np.ndarray, pan: np.ndarray, masks: PairMasks, ratio: int) -> tuple[np.ndarray, np.ndarray]:
    """Copies of ``ms`` and ``pan`` with their gaps filled as the module says (needs a fused pixel with data)."""
    ms, pan = ms.copy(), pan.copy()
    pan_bands = pan if pan.ndim == 3 else pan[:, :, None]  # a view: filled in place
    ms[masks.ms_missing] = ms[~masks.ms_missing].mean(axis=0)
    pan_hole = _up(masks.ms_missing, ratio)
    gaps = ~np.isfinite(pan_bands) & ~pan_hole[:, :, None]
    if gaps.any():
        pan_bands[gaps] = _predicted_pan(ms, pan_bands, masks, ratio)[gaps]
    pan_bands[pan_hole] = pan_bands[~pan_hole].mean(axis=0)
    return ms, pan


def _predicted_pan(ms: np.ndarray, pan: np.ndarray, masks: PairMasks, ratio: int) -> np.ndarray:
    """(ratio*rows, ratio*cols, m): the PAN as the interpolated MS predicts it, fitted on the valid blocks."""
    valid = np.isfinite(pan)
    block_sums = _blocks(np.where(valid, pan, 0.0), ratio).sum(axis=(1, 3))
    counts = _blocks(valid, ratio).sum(axis=(1, 3))
    fitted = ~masks.ms_missing & (counts > 0).all(axis=2)  # blocks with MS and some PAN in every band
    design = np.column_stack([ms[fitted], np.ones(int(fitted.sum()))])
    coefficients = np.linalg.lstsq(design, block_sums[fitted] / counts[fitted], rcond=None)[0]
    predicted = upsample(ms, ratio) @ coefficients[:-1] + coefficients[-1]
    low, high = np.nanmin(np.where(valid, pan, np.nan), axis=(0, 1)), np.nanmax(np.where(valid, pan, np.nan), axis=(0, 1))
    return np.clip(predicted, low, high)


class NodataCount:
    """Fused pixels that are nodata by the rule, and why, counted as the tiling reads the pair.

    Called (the tiling engine's ``observe``) with windows of :func:`hsi.pansharpen.tile_adapter.pair_scene`'s
    scene, the MS bands then each PAN block as ``ratio**2 x m`` bands, that together cover it once:
    the counts come from the fusion's own reading pass, not a second read of both inputs.
    :meth:`counts` are PAN-grid pixels: ``ms_nodata`` those whose MS pixel is nodata, ``pan_nodata``
    those whose PAN pixel is, ``total`` either (the output's nodata).
    """

    def __init__(self, n_ms_bands: int, ratio: int):
        self.n_ms_bands, self.ratio = int(n_ms_bands), int(ratio)
        self.ms_count = self.pan_count = self.total = 0

    def __call__(self, window: Window, values: np.ndarray) -> None:
        block = self.ratio * self.ratio
        ms_missing = ~np.isfinite(values[:, :, : self.n_ms_bands]).all(axis=2)
        folded = values[:, :, self.n_ms_bands:].reshape(window.height, window.width, block, -1)
        pan_missing = (~np.isfinite(folded).all(axis=3)).sum(axis=2)  # PAN pixels missing per MS pixel
        self.ms_count += int(ms_missing.sum()) * block
        self.pan_count += int(pan_missing.sum())
        self.total += int(ms_missing.sum()) * block + int(pan_missing[~ms_missing].sum())

    def counts(self) -> dict:
        return {"total": self.total, "ms_nodata": self.ms_count, "pan_nodata": self.pan_count}


def complete_window(pair: Scene, size: int, max_bytes: int = 32 * 2**20) -> tuple[int, int, int, int] | None:
    """``(top, left, rows, cols)`` of the window of at most ``size`` x ``size`` MS pixels nearest the
    scene's centre in which every fused pixel has data; None when the scene has no such window.

    The pansharpen job assesses (and a per-scene choice decides) on one window of the pair, which
    must hold data everywhere; its central window may not (a masked cloud, a gap). One streamed
    pass over ``pair`` (:func:`hsi.pansharpen.tile_adapter.pair_scene`'s scene, NaN = nodata)
    slides a band of ``rows`` MS rows down the scene, counting the pixels without data in each
    column of the band: at every top, the complete windows are the runs of ``cols`` empty
    columns, and the one whose centre is nearest the scene's is kept. Exact at every position
    (a window flush against a gap counts), and the memory is that band, whatever the scene's size.
    Ties go to the smaller top, then the smaller left: on a complete scene, the central window.
    """
    n_rows, n_cols = pair.shape[:2]
    rows, cols = min(int(size), n_rows), min(int(size), n_cols)
    band: deque[np.ndarray] = deque()  # the last `rows` rows' missing pixels
    in_band = np.zeros(n_cols, dtype=np.int64)  # pixels without data per column of the band
    col_offsets = (np.arange(n_cols - cols + 1) + cols / 2 - n_cols / 2) ** 2
    best, best_distance = None, np.inf
    row = -1
    for window in pair.windows(pair.block_rows_for(max_bytes, itemsize=4)):
        for missing in ~np.isfinite(pair.read(window, physical=True)).all(axis=2):
            row += 1
            band.append(missing)
            in_band += missing
            if len(band) > rows:
                in_band -= band.popleft()
            if len(band) < rows:
                continue
            top = row - rows + 1
            gaps = np.concatenate([[0], np.cumsum(in_band > 0)])
            complete = gaps[cols:] == gaps[:-cols]  # no column with a gap in [left, left + cols)
            if not complete.any():
                continue
            left = int(np.argmin(np.where(complete, col_offsets, np.inf)))
            distance = (top + rows / 2 - n_rows / 2) ** 2 + col_offsets[left]
            if distance < best_distance:
                best, best_distance = (top, left, rows, cols), distance
    return best

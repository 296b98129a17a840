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

from dataclasses import dataclass

import numpy as np

from hsi.degrade.resample import upsample
from hsi.scene import Scene

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


def count_nodata(pair: Scene, n_ms_bands: int, ratio: int, max_bytes: int = 32 * 2**20) -> dict:
    """Fused pixels that are nodata by the rule, and why, streamed over the (MS, folded PAN) ``pair``.

    ``pair`` is :func:`hsi.pansharpen.tile_adapter.pair_scene`'s scene: the MS bands, then each
    PAN block as ``ratio**2 x m`` bands. Counts are PAN-grid pixels: ``ms_nodata`` those whose MS
    pixel is nodata, ``pan_nodata`` those whose PAN pixel is, ``total`` either (the output's nodata).
    """
    ms_count = pan_count = total = 0
    for window in pair.windows(pair.block_rows_for(max_bytes, itemsize=4)):
        values = pair.read(window, physical=True)
        ms_missing = ~np.isfinite(values[:, :, :n_ms_bands]).all(axis=2)
        folded = values[:, :, n_ms_bands:].reshape(window.height, window.width, ratio * ratio, -1)
        pan_missing = (~np.isfinite(folded).all(axis=3)).sum(axis=2)  # PAN pixels missing per MS pixel
        ms_count += int(ms_missing.sum()) * ratio * ratio
        pan_count += int(pan_missing.sum())
        total += int(ms_missing.sum()) * ratio * ratio + int(pan_missing[~ms_missing].sum())
    return {"total": total, "ms_nodata": ms_count, "pan_nodata": pan_count}


def complete_window(pair: Scene, size: int, block: int = 8, max_bytes: int = 32 * 2**20) -> tuple[int, int, int, int] | None:
    """``(top, left, rows, cols)`` of the window of at most ``size`` x ``size`` MS pixels nearest the
    scene's centre in which every fused pixel has data; None when the scene has no such window.

    The pansharpen job assesses (and a per-scene choice decides) on one window of the pair, which
    must hold data everywhere; its central window may not (a masked cloud, a gap). One streamed
    pass over ``pair`` (:func:`hsi.pansharpen.tile_adapter.pair_scene`'s scene, NaN = nodata)
    marks the ``block`` x ``block`` MS-pixel blocks that hold a pixel without data; candidate
    windows start every ``block`` pixels (and at the centred and last positions), and the one
    whose centre is nearest the scene's among those touching no marked block is returned. The
    map holds one flag per block, so memory stays small whatever the scene's size.
    """
    n_rows, n_cols = pair.shape[:2]
    rows, cols = min(int(size), n_rows), min(int(size), n_cols)
    marked = np.zeros((-(-n_rows // block), -(-n_cols // block)), dtype=bool)
    for window in pair.windows(pair.block_rows_for(max_bytes, itemsize=4)):
        missing = ~np.isfinite(pair.read(window, physical=True)).all(axis=2)
        hit_rows, hit_cols = np.nonzero(missing)
        marked[(window.row + hit_rows) // block, (window.col + hit_cols) // block] = True
    # prefix sums of marked blocks: a candidate is complete when its blocks sum to zero
    counts = np.pad(marked.cumsum(axis=0).cumsum(axis=1), ((1, 0), (1, 0)))
    tops = np.unique(np.r_[np.arange(0, n_rows - rows + 1, block), (n_rows - rows) // 2, n_rows - rows])
    lefts = np.unique(np.r_[np.arange(0, n_cols - cols + 1, block), (n_cols - cols) // 2, n_cols - cols])
    first_r, last_r = tops // block, (tops + rows - 1) // block + 1
    first_c, last_c = lefts // block, (lefts + cols - 1) // block + 1
    inside = (counts[last_r[:, None], last_c[None, :]] - counts[first_r[:, None], last_c[None, :]]
              - counts[last_r[:, None], first_c[None, :]] + counts[first_r[:, None], first_c[None, :]])
    complete = inside == 0
    if not complete.any():
        return None
    distance = ((tops + rows / 2 - n_rows / 2)[:, None] ** 2 + (lefts + cols / 2 - n_cols / 2)[None, :] ** 2)
    best = np.unravel_index(np.argmin(np.where(complete, distance, np.inf)), distance.shape)
    return int(tops[best[0]]), int(lefts[best[1]]), rows, cols

"""Per-band statistics of a scene, streamed block by block in bounded memory."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from hsi.scene import Scene


@dataclass
class BandStatistics:
    """Statistics of physical values per band; nodata and non-finite values excluded."""

    n_pixels: int
    valid: np.ndarray  # (bands,) count of valid values
    nonfinite: np.ndarray  # (bands,) NaN / inf values that were not the nodata value
    nodata: np.ndarray  # (bands,) values equal to the nodata value
    minimum: np.ndarray
    maximum: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    nodata_pixels: int  # pixels where every band is missing

    @property
    def nodata_fraction(self) -> float:
        return self.nodata_pixels / max(self.n_pixels, 1)


def band_statistics(scene: Scene, block_bytes: int = 64 * 2**20, progress: bool = False) -> BandStatistics:
    """One pass over the scene: counts, min, max, mean and std per band (float64 sums)."""
    n_bands = scene.n_bands
    valid = np.zeros(n_bands, np.int64)
    nonfinite = np.zeros(n_bands, np.int64)
    nodata = np.zeros(n_bands, np.int64)
    total = np.zeros(n_bands)
    total_sq = np.zeros(n_bands)
    low = np.full(n_bands, np.inf)
    high = np.full(n_bands, -np.inf)
    empty_pixels = 0
    windows = list(scene.windows(scene.block_rows_for(block_bytes, itemsize=8)))
    for window in tqdm(windows, desc="statistics", unit="block", disable=not progress):
        raw = scene.read(window).reshape(-1, n_bands)
        bad_value = ~np.isfinite(raw) if raw.dtype.kind == "f" else np.zeros(raw.shape, bool)
        is_nodata = np.zeros(raw.shape, bool)
        if scene.nodata is not None and not np.isnan(scene.nodata):
            is_nodata = raw == np.asarray(scene.nodata).astype(raw.dtype)
        missing = bad_value | is_nodata
        nonfinite += bad_value.sum(0)
        nodata += is_nodata.sum(0)
        empty_pixels += int(missing.all(1).sum())
        values = raw.astype(np.float64) * scene.scale + scene.offset
        ok = ~missing
        valid += ok.sum(0)
        zeroed = np.where(ok, values, 0.0)
        total += zeroed.sum(0)
        total_sq += (zeroed**2).sum(0)
        low = np.minimum(low, np.where(ok, values, np.inf).min(0))
        high = np.maximum(high, np.where(ok, values, -np.inf).max(0))
    count = np.maximum(valid, 1)
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    nan_if_empty = lambda a: np.where(valid > 0, a, np.nan)  # noqa: E731
    return BandStatistics(
        n_pixels=scene.n_rows * scene.n_cols, valid=valid, nonfinite=nonfinite, nodata=nodata,
        minimum=nan_if_empty(low), maximum=nan_if_empty(high), mean=nan_if_empty(mean), std=nan_if_empty(std),
        nodata_pixels=empty_pixels,
    )

"""Run a tile function on some bands only; the others come back as nodata.

Jobs use it to keep bands that hold no data (all nodata) out of a method while the output
keeps the input's band list: those bands are written back as nodata.
"""

from __future__ import annotations

import numpy as np


class BandSubsetTiles:
    """``fn`` applied to ``batch[..., bands]``; the other of ``n_bands`` output bands are NaN.

    NaN survives blending exactly (a fill number would not: ``f * w / w`` rounds), and the
    runner writes non-finite outputs as the output's nodata. Only for band-preserving
    functions (restoration); ``fit`` is forwarded.
    """

    def __init__(self, fn, bands: np.ndarray, n_bands: int):
        self.fn, self.bands, self.n_bands = fn, np.asarray(bands), int(n_bands)

    def fit(self, blocks: np.ndarray) -> "BandSubsetTiles":
        self.fn.fit(blocks)
        return self

    @property
    def noise_std(self):
        """The method's noise estimate on the full band list (NaN on the bands it did not see)."""
        inner = getattr(self.fn, "noise_std", None)
        if inner is None:
            return None
        full = np.full(self.n_bands, np.nan, np.float32)
        full[self.bands] = np.asarray(inner, np.float32)
        return full

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        result = np.asarray(self.fn(np.ascontiguousarray(batch[..., self.bands])), dtype=np.float32)
        out = np.full(result.shape[:3] + (self.n_bands,), np.nan, np.float32)
        out[..., self.bands] = result
        return out

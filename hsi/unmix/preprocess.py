"""Explicit, recorded pre-processing for unmixing: scaling, bad-band removal, L2 normalisation.

Each step returns the transformed pixels and appends what it did to a record (a plain
dict that the ``unmix`` job writes into its report).
"""

from __future__ import annotations

import numpy as np
import torch

from hsi.arrays import Array, as_tensor, like_input
from hsi.errors import InputError, ParameterError

__all__ = ["l2_normalize", "scale", "remove_bad_bands", "preprocess"]


def scale(pixels: Array, factor: float):
    """Multiply every value by ``factor`` (e.g. 1e-4 for reflectance stored x 10000)."""
    if not np.isfinite(factor) or factor <= 0:
        raise ParameterError(f"scale factor must be a positive finite number; got {factor}")
    return like_input(as_tensor(pixels) * factor, pixels)


def l2_normalize(pixels: Array, eps: float = 1e-12):
    """Scale every pixel (row) to unit Euclidean norm; removes illumination/brightness scaling.

    References
    ----------
    N. Keshava and J. F. Mustard, "Spectral unmixing", IEEE SPM 19(1), 2002 (scale invariance).
    """
    data = as_tensor(pixels)
    return like_input(data / data.norm(dim=1, keepdim=True).clamp_min(eps), pixels)


def remove_bad_bands(pixels: Array, bad_bands: Array):
    """Drop the bands flagged True in ``bad_bands`` (bands,); returns (pixels, kept band indices)."""
    data = as_tensor(pixels)
    bad = np.asarray(bad_bands, dtype=bool).reshape(-1)
    if bad.size != data.shape[1]:
        raise InputError(f"bad_bands has {bad.size} entries for {data.shape[1]} bands")
    kept = np.flatnonzero(~bad)
    if kept.size == 0:
        raise InputError("every band is flagged bad; nothing left to unmix")
    return like_input(data[:, torch.from_numpy(kept).to(data.device)], pixels), kept


def preprocess(
    pixels: Array,
    *,
    scale_factor: float | None = None,
    bad_bands: Array | None = None,
    normalize: str = "none",
):
    """Apply the steps in order (scale, bad bands, normalisation) and record them.

    Parameters
    ----------
    pixels : (n_pixels, bands).
    scale_factor : multiply values by this, or None.
    bad_bands : boolean (bands,) mask of bands to drop, or None.
    normalize : "none" or "l2" (pixel-wise unit norm).

    Returns
    -------
    pixels : transformed (n_pixels, kept bands); record : dict with ``steps`` (list of str),
    ``kept_bands`` (list of int), ``normalize`` and ``scale_factor``.
    """
    if normalize not in ("none", "l2"):
        raise ParameterError(f"normalize must be 'none' or 'l2'; got {normalize!r}")
    steps: list[str] = []
    n_bands = as_tensor(pixels).shape[1]
    kept = np.arange(n_bands)
    if scale_factor is not None:
        pixels = scale(pixels, scale_factor)
        steps.append(f"scaled by {scale_factor:g}")
    if bad_bands is not None and np.asarray(bad_bands, dtype=bool).any():
        pixels, kept = remove_bad_bands(pixels, bad_bands)
        steps.append(f"removed {n_bands - kept.size} bad bands")
    if normalize == "l2":
        pixels = l2_normalize(pixels)
        steps.append("pixel-wise L2 normalisation")
    record = {"steps": steps, "kept_bands": kept.tolist(), "normalize": normalize, "scale_factor": scale_factor}
    return pixels, record

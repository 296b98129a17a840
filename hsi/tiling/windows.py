"""Blending weights that hide seams between overlapping tiles.

The output at a pixel is the weighted mean of every tile covering it, with weights
that fall off towards a tile's edges; weights stay strictly positive so a pixel
covered by a single tile (at the scene border) keeps that tile's value exactly.
"""

from __future__ import annotations

import numpy as np

from hsi.errors import ParameterError

KINDS = ("hann", "gaussian", "constant")


def _ramp(length: int, margin: int, kind: str) -> np.ndarray:
    weights = np.ones(length, dtype=np.float64)
    margin = min(margin, length // 2)
    if margin == 0 or kind == "constant":
        return weights
    # Position within the margin, (0, 1]: never exactly zero, so edges keep a small weight.
    t = (np.arange(margin) + 0.5) / margin
    if kind == "hann":
        ramp = 0.5 - 0.5 * np.cos(np.pi * t)
    else:  # gaussian falling to exp(-4.5) (3 sigma) at the outer edge
        ramp = np.exp(-0.5 * ((1.0 - t) * 3.0) ** 2)
    weights[:margin] = ramp
    weights[length - margin:] = ramp[::-1]
    return weights


def blend_weights(height: int, width: int, margin: int, kind: str = "hann") -> np.ndarray:
    """``(height, width)`` float64 weights: 1 inside, tapering over ``margin`` pixels at each edge."""
    if kind not in KINDS:
        raise ParameterError(f"blend must be one of {', '.join(KINDS)}, got {kind!r}")
    return np.outer(_ramp(height, margin, kind), _ramp(width, margin, kind))

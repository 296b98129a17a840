"""Checks of unmixing inputs: a finite pixel matrix and a feasible number of endmembers."""

from __future__ import annotations

import torch

from hsi.arrays import positive_int
from hsi.errors import InputError, ParameterError


def check_pixels(pixels: torch.Tensor, name: str = "pixels") -> None:
    """Raise unless ``pixels`` is a finite, non-empty ``(n_pixels, bands)`` matrix."""
    if pixels.ndim != 2:
        raise InputError(f"{name} must be a (n_pixels, bands) matrix; got shape {tuple(pixels.shape)}")
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise InputError(f"{name} is empty (shape {tuple(pixels.shape)})")
    # A column sum is finite unless some value is not (or the sum overflows: then look closer).
    if not bool(torch.isfinite(pixels.sum(dim=0)).all()) and not bool(torch.isfinite(pixels).all()):
        raise InputError(f"{name} contains NaN or infinite values; drop nodata pixels first")


def check_n_endmembers(n_endmembers: int, n_pixels: int, n_bands: int) -> int:
    """Validate the requested number of endmembers against the data size."""
    n_endmembers = positive_int(n_endmembers, "n_endmembers")
    if n_endmembers > n_bands:
        raise ParameterError(f"n_endmembers={n_endmembers} is larger than the number of bands ({n_bands})")
    if n_endmembers > n_pixels:
        raise ParameterError(f"n_endmembers={n_endmembers} is larger than the number of pixels ({n_pixels})")
    return n_endmembers

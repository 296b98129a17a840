"""Metric inputs: reference/estimate pairs in float64 with their shape checks.

Every metric is computed once, in torch float64, whatever the input kind: numpy arrays
are converted (``torch.from_numpy``), torch tensors are detached and promoted on their own
device. The estimate is moved to the reference's device. Metrics are for reporting, so
scalar results come back as Python floats and vector results as numpy float64 arrays.
"""

from __future__ import annotations

from typing import Any

import torch

from hsi.arrays import as_tensor
from hsi.errors import InputError


def as_float64(array: Any, name: str, device: torch.device | None = None) -> torch.Tensor:
    """``array`` (numpy or torch, real) as a detached, finite float64 tensor on ``device``."""
    tensor = as_tensor(array, name=name, dtype=torch.float64, device=device).detach()
    if not bool(torch.isfinite(tensor).all()):
        raise InputError(
            f"{name} holds NaN or infinite values (nodata?); crop or mask them before computing metrics"
        )
    return tensor


def pair(reference: Any, estimate: Any, ndims: tuple[int, ...] = (2, 3)) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference and estimate as float64 tensors of one shape on the reference's device."""
    ref = as_float64(reference, "reference")
    est = as_float64(estimate, "estimate", device=ref.device)
    if ref.shape != est.shape:
        raise InputError(
            f"reference and estimate must have the same shape; got {tuple(ref.shape)} and {tuple(est.shape)}"
        )
    if ref.ndim not in ndims:
        raise InputError(
            f"reference must have {' or '.join(str(n) for n in ndims)} dimensions; got shape {tuple(ref.shape)}"
        )
    if ref.numel() == 0:
        raise InputError(f"reference is empty (shape {tuple(ref.shape)})")
    return ref, est


def cube_pair(reference: Any, estimate: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Two (rows, cols, bands) cubes; a (rows, cols) image counts as one band."""
    ref, est = pair(reference, estimate, ndims=(2, 3))
    if ref.ndim == 2:
        ref, est = ref[..., None], est[..., None]
    return ref, est


def bands_first(cube: torch.Tensor) -> torch.Tensor:
    """(rows, cols, bands) -> (bands, 1, rows, cols), the layout torch's 2-D ops want."""
    return cube.permute(2, 0, 1).unsqueeze(1)


def band_chunks(n_bands: int, pixels_per_band: int, budget: int = 1 << 22) -> list[slice]:
    """Slices over bands holding about ``budget`` float64 values each (bounds peak memory)."""
    step = max(1, budget // max(1, pixels_per_band))
    return [slice(start, min(start + step, n_bands)) for start in range(0, n_bands, step)]

"""Private helpers for :mod:`hsi.metrics`: input conversion and shape checks.

Every metric is computed once, in torch float64, whatever the input kind: numpy arrays
are converted (``torch.from_numpy``), torch tensors are detached and promoted on their own
device. The estimate is moved to the reference's device. Metrics are for reporting, so
scalar results come back as Python floats and vector results as numpy float64 arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hsi.errors import InputError, ParameterError


def as_float64(array: Any, name: str, device: torch.device | None = None) -> torch.Tensor:
    """``array`` (numpy or torch, real) as a detached float64 tensor on ``device``."""
    if isinstance(array, torch.Tensor):
        tensor = array.detach()
        if tensor.is_complex():
            raise InputError(f"{name} must hold real numbers; got dtype {tensor.dtype}")
    else:
        array = np.asarray(array)
        if array.dtype.kind not in "biuf":
            raise InputError(f"{name} must hold real numbers; got dtype {array.dtype}")
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    tensor = tensor.to(dtype=torch.float64, device=device if device is not None else tensor.device)
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


def positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``, or a ParameterError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ParameterError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def positive_float(value: Any, name: str) -> float:
    """``value`` as a finite float > 0, or a ParameterError naming it."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a positive number; got {value!r}") from None
    if not np.isfinite(number) or number <= 0:
        raise ParameterError(f"{name} must be a finite number > 0; got {value!r}")
    return number


def band_chunks(n_bands: int, pixels_per_band: int, budget: int = 1 << 22) -> list[slice]:
    """Slices over bands holding about ``budget`` float64 values each (bounds peak memory)."""
    step = max(1, budget // max(1, pixels_per_band))
    return [slice(start, min(start + step, n_bands)) for start in range(0, n_bands, step)]

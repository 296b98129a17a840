"""Array plumbing shared by estimation and restoration: numpy in, numpy out; torch in, torch out."""

from __future__ import annotations

import numpy as np
import torch

from hsi.errors import InputError


def to_tensor(
    array: torch.Tensor | np.ndarray,
    *,
    name: str,
    ndim: int,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, bool]:
    """``array`` as a floating tensor, and whether it came in as numpy.

    Integer inputs become float32 unless ``dtype`` says otherwise; float64 stays float64.
    """
    was_numpy = not isinstance(array, torch.Tensor)
    tensor = torch.as_tensor(np.asarray(array)) if was_numpy else array
    if tensor.ndim != ndim:
        raise InputError(f"{name} must be {ndim}-D; got shape {tuple(tensor.shape)}")
    if dtype is None:
        dtype = tensor.dtype if tensor.dtype in (torch.float32, torch.float64) else torch.float32
    tensor = tensor.to(device=device if device is not None else tensor.device, dtype=dtype)
    return tensor, was_numpy


def like_input(tensor: torch.Tensor, was_numpy: bool):
    """Give back numpy when the caller passed numpy."""
    return tensor.detach().cpu().numpy() if was_numpy else tensor


def per_band(
    values,
    n_bands: int,
    *,
    name: str = "noise_std",
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """``values`` as a (n_bands,) tensor, or an :class:`InputError` naming ``name`` and the count."""
    tensor, _ = to_tensor(values, name=name, ndim=1, device=device, dtype=dtype)
    if tensor.numel() != n_bands:
        raise InputError(f"{name} must have one value per band ({n_bands}); got {tensor.numel()}")
    return tensor

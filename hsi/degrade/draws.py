"""Seeded random draws for :mod:`hsi.degrade`, from a numpy or a torch generator.

Random draws accept either a ``numpy.random.Generator`` or a ``torch.Generator``:

* numpy generator: numbers are drawn in numpy on the CPU, then moved to the cube's device,
  so a numpy cube and a torch cube degraded with equally seeded numpy generators give the
  same values (numpy/torch parity);
* torch generator: numbers are drawn in torch on the generator's device, then moved.

Nothing here touches global random state.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hsi.errors import ParameterError

Rng = np.random.Generator | torch.Generator


def float64_like(tensor: torch.Tensor) -> torch.Tensor:
    """An empty float64 tensor on ``tensor``'s device: a dtype/device template for draws."""
    return tensor.new_empty(0, dtype=torch.float64)


def check_rng(rng: Any) -> Rng:
    """Refuse anything but an explicit generator (reproducibility needs one)."""
    if isinstance(rng, (np.random.Generator, torch.Generator)):
        return rng
    raise ParameterError(
        "rng must be a numpy.random.Generator (np.random.default_rng(seed)) or a "
        f"torch.Generator; got {type(rng).__name__}"
    )


def normal(rng: Rng, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """Standard normal draws of ``shape`` with ``like``'s dtype and device."""
    if isinstance(rng, np.random.Generator):
        np_dtype = np.float32 if like.dtype != torch.float64 else np.float64
        return torch.from_numpy(rng.standard_normal(shape, dtype=np_dtype)).to(like.device, like.dtype)
    return torch.randn(shape, generator=rng, device=rng.device, dtype=like.dtype).to(like.device)


def uniform(rng: Rng, shape: tuple[int, ...], low: float, high: float, like: torch.Tensor) -> torch.Tensor:
    """Uniform draws in ``[low, high)`` of ``shape`` with ``like``'s dtype and device."""
    if isinstance(rng, np.random.Generator):
        return torch.from_numpy(rng.uniform(low, high, size=shape)).to(like.device, like.dtype)
    draws = torch.rand(shape, generator=rng, device=rng.device, dtype=torch.float64)
    return (low + (high - low) * draws).to(like.device, like.dtype)


def poisson(rng: Rng, rate: torch.Tensor) -> torch.Tensor:
    """Poisson draws with mean ``rate`` (float tensor), same dtype and device."""
    if isinstance(rng, np.random.Generator):
        counts = rng.poisson(rate.detach().cpu().double().numpy())
        return torch.from_numpy(counts).to(rate.device, rate.dtype)
    counts = torch.poisson(rate.detach().to(rng.device, torch.float64), generator=rng)
    return counts.to(rate.device, rate.dtype)


def permutation(rng: Rng, n: int) -> np.ndarray:
    """A random permutation of ``range(n)`` as a numpy int64 array."""
    if isinstance(rng, np.random.Generator):
        return rng.permutation(n).astype(np.int64)
    return torch.randperm(n, generator=rng, device=rng.device).cpu().numpy().astype(np.int64)


def integers(rng: Rng, low: int, high: int, size: int) -> np.ndarray:
    """``size`` integers uniform in ``[low, high)`` as a numpy int64 array."""
    if isinstance(rng, np.random.Generator):
        return rng.integers(low, high, size=size).astype(np.int64)
    return torch.randint(low, high, (size,), generator=rng, device=rng.device).cpu().numpy().astype(np.int64)

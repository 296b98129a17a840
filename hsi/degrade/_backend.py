"""Private helpers for :mod:`hsi.degrade`: array kind round-trips, seeded draws, padding.

Every degradation is computed in torch. Inputs may be numpy arrays or torch tensors; the
result comes back as the same kind (numpy in -> numpy out). Integer inputs are promoted to
float32 because a degradation of integer counts is not an integer any more.

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


# --- array kinds ------------------------------------------------------------------------
def as_float_tensor(array: Any, name: str = "cube", ndims: tuple[int, ...] = (3,)) -> tuple[torch.Tensor, bool]:
    """``array`` as a floating torch tensor, and whether it came in as numpy.

    Float inputs keep their dtype (and device); integer/bool inputs become float32.
    """
    is_numpy = not isinstance(array, torch.Tensor)
    if is_numpy:
        array = np.asarray(array)
        if array.dtype.kind not in "biuf":
            raise ParameterError(f"{name} must hold real numbers; got dtype {array.dtype}")
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    else:
        tensor = array
        if tensor.is_complex():
            raise ParameterError(f"{name} must hold real numbers; got dtype {tensor.dtype}")
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.float32)
    if tensor.ndim not in ndims:
        wanted = " or ".join(f"{n}-D" for n in ndims)
        layout = "(rows, cols, bands)" if 3 in ndims else "(rows, cols)"
        raise ParameterError(f"{name} must be {wanted} {layout}; got shape {tuple(tensor.shape)}")
    return tensor, is_numpy


def like_input(tensor: torch.Tensor, is_numpy: bool) -> Any:
    """Return ``tensor`` as numpy when the caller passed numpy, else unchanged."""
    return tensor.detach().cpu().numpy() if is_numpy else tensor


def as_bool_tensor(mask: Any, device: torch.device) -> torch.Tensor:
    tensor = mask if isinstance(mask, torch.Tensor) else torch.from_numpy(np.asarray(mask))
    return tensor.to(device=device, dtype=torch.bool)


def float64_like(tensor: torch.Tensor) -> torch.Tensor:
    """An empty float64 tensor on ``tensor``'s device: a dtype/device template for draws."""
    return tensor.new_empty(0, dtype=torch.float64)


# --- random draws -----------------------------------------------------------------------
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


# --- padding ----------------------------------------------------------------------------
PADDINGS = ("symmetric", "reflect", "replicate", "circular")


def pad_indices(n: int, before: int, after: int, mode: str) -> torch.Tensor:
    """Source indices that extend ``range(n)`` by ``before``/``after`` samples.

    ``symmetric`` repeats the edge sample (MATLAB/numpy ``symmetric``: ... b a | a b c ...),
    ``reflect`` does not (... c b | a b c ...), ``replicate`` repeats the edge value,
    ``circular`` wraps around. Works for pads longer than the signal (the mirror repeats).
    """
    index = torch.arange(-before, n + after)
    if mode == "symmetric":
        period = 2 * n
        index = index % period
        index = torch.where(index >= n, period - 1 - index, index)
    elif mode == "reflect":
        if n == 1:
            return torch.zeros_like(index)
        period = 2 * n - 2
        index = index % period
        index = torch.where(index >= n, period - index, index)
    elif mode == "replicate":
        index = index.clamp(0, n - 1)
    elif mode == "circular":
        index = index % n
    else:
        raise ParameterError(f"padding must be one of {PADDINGS}; got {mode!r}")
    return index


def check_padding(padding: str) -> str:
    if padding not in PADDINGS:
        raise ParameterError(f"padding must be one of {PADDINGS}; got {padding!r}")
    return padding

"""Arrays at hsi's edges: numpy <-> torch, the dtype rule, argument checks, ratios, pixel draws.

Every method computes in torch and accepts numpy arrays or torch tensors; it gives back the
kind it was given (:func:`like_input`). This module is the bottom layer of hsi: it imports
nothing of hsi but :mod:`hsi.errors`.

The dtype rule (one for all of hsi): float32 and float64 inputs keep their precision, every
other real dtype (integers, booleans, float16, bfloat16) is computed in float32. A caller that
needs another working precision says so with ``dtype=`` (metrics use float64 for reporting,
pansharpening computes numpy inputs in float64 like the reference toolboxes).

Errors: an array that is not what a function needs (complex, object, wrong number of
dimensions, wrong length) raises :class:`~hsi.errors.InputError`; a setting outside its range
(a non-positive count, a bad ratio) raises :class:`~hsi.errors.ParameterError`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from hsi.errors import InputError, ParameterError

Array = torch.Tensor | np.ndarray

#: Floating dtypes kept as they are; everything else real is computed in float32.
KEPT_DTYPES = (torch.float32, torch.float64)


# --- conversion -------------------------------------------------------------------------
def working_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype hsi computes in for an input of ``dtype`` (see the module docstring)."""
    return dtype if dtype in KEPT_DTYPES else torch.float32


def _as_real_tensor(values: Any, name: str) -> torch.Tensor:
    """A tensor sharing memory with ``values`` where possible; refuses non-real dtypes."""
    if isinstance(values, torch.Tensor):
        if values.is_complex():
            raise InputError(f"{name} must hold real numbers; got dtype {values.dtype}")
        return values
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise InputError(f"{name} must hold real numbers; got dtype {array.dtype}")
    return torch.from_numpy(np.ascontiguousarray(array))


def as_tensor(
    values: Any,
    *,
    name: str = "array",
    ndim: int | tuple[int, ...] | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """``values`` (numpy, torch or nested sequences) as a floating tensor.

    Parameters
    ----------
    name : what the caller calls the argument, for error messages.
    ndim : accepted number(s) of dimensions; None accepts any.
    dtype : working precision; None applies the dtype rule (:func:`working_dtype`).
    device : where to put the tensor; None keeps the input's device (CPU for numpy).

    No copy is made when the input already has the dtype and device asked for, so callers
    must not write into the result.
    """
    tensor = _as_real_tensor(values, name)
    if ndim is not None:
        accepted = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if tensor.ndim not in accepted:
            wanted = " or ".join(f"{n}-D" for n in accepted)
            raise InputError(f"{name} must be {wanted}; got shape {tuple(tensor.shape)}")
    target = dtype if dtype is not None else working_dtype(tensor.dtype)
    return tensor.to(dtype=target, device=device if device is not None else tensor.device)


def like_input(result: torch.Tensor, reference: Any) -> Any:
    """``result`` as the kind of ``reference``: a tensor for a tensor, numpy for anything else."""
    if isinstance(reference, torch.Tensor):
        return result
    return result.detach().cpu().numpy()


def as_bool_tensor(mask: Any, device: torch.device | str) -> torch.Tensor:
    """A boolean tensor of ``mask`` (numpy or torch; nonzero = True) on ``device``."""
    tensor = mask if isinstance(mask, torch.Tensor) else torch.from_numpy(np.asarray(mask))
    return tensor.to(device=device, dtype=torch.bool)


def per_band(
    values: Any,
    n_bands: int,
    *,
    name: str = "noise_std",
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """``values`` as a (n_bands,) tensor, or an :class:`InputError` naming ``name`` and the count."""
    tensor = as_tensor(values, name=name, ndim=1, device=device, dtype=dtype)
    if tensor.numel() != n_bands:
        raise InputError(f"{name} must have one value per band ({n_bands}); got {tensor.numel()}")
    return tensor


def to_nchw(cube: torch.Tensor) -> torch.Tensor:
    """(rows, cols, bands) -> (1, bands, rows, cols), the layout of torch's conv and pool functions."""
    return cube.permute(2, 0, 1)[None]


def from_nchw(batch: torch.Tensor) -> torch.Tensor:
    """(1, bands, rows, cols) -> (rows, cols, bands); inverse of :func:`to_nchw`."""
    return batch[0].permute(1, 2, 0)


# --- argument checks --------------------------------------------------------------------
def positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum`` (integral floats such as 4.0 accepted), or a ParameterError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, float, np.floating)):
        raise ParameterError(f"{name} must be an integer >= {minimum}; got {value!r}")
    if not math.isfinite(value) or int(value) != value or value < minimum:
        raise ParameterError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def positive_float(value: Any, name: str, *, allow_zero: bool = False) -> float:
    """``value`` as a finite float > 0 (>= 0 with ``allow_zero``), or a ParameterError naming it."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number; got {value!r}") from None
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise ParameterError(f"{name} must be a finite number {'>= 0' if allow_zero else '> 0'}; got {value!r}")
    return number


# --- grids ------------------------------------------------------------------------------
def infer_ratio(low_shape: tuple[int, int], high_shape: tuple[int, int], ratio: int | None = None) -> int:
    """The integer scale between a low-resolution and a high-resolution grid of (rows, cols).

    Raises :class:`~hsi.errors.InputError` when the two shapes are not an integer ratio apart
    (the same along rows and columns), and :class:`~hsi.errors.ParameterError` when a given
    ``ratio`` disagrees with the shapes.
    """
    (rows, cols), (big_rows, big_cols) = tuple(low_shape[:2]), tuple(high_shape[:2])
    if (rows <= 0 or cols <= 0 or big_rows % rows or big_cols % cols
            or big_rows // rows != big_cols // cols or big_rows // rows < 1):
        raise InputError(
            f"the {big_rows}x{big_cols} grid is not an integer multiple (the same along rows and "
            f"columns) of the {rows}x{cols} grid"
        )
    found = big_rows // rows
    if ratio is not None and positive_int(ratio, "ratio") != found:
        raise ParameterError(f"ratio={ratio} but the {big_rows}x{big_cols} grid is {found} times the {rows}x{cols} grid")
    return found


# --- randomness -------------------------------------------------------------------------
def torch_generator(rng: np.random.Generator | torch.Generator | int | None,
                    device: torch.device | str = "cpu") -> torch.Generator:
    """A torch generator from a seed, a numpy Generator (draws a seed from it) or a torch Generator."""
    if isinstance(rng, torch.Generator):
        return rng
    if rng is None:
        seed = int(np.random.default_rng().integers(2**63 - 1))
    elif isinstance(rng, (int, np.integer)):
        seed = int(rng)
    else:
        seed = int(rng.integers(2**63 - 1))
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator

"""Array plumbing shared by the pansharpening modules.

Every method takes the low-resolution MS cube ``(rows, cols, bands)`` and the PAN image
``(ratio*rows, ratio*cols)`` (or ``(..., 1)``) and returns the sharpened cube on the PAN grid,
as numpy when the MS came as numpy and as a tensor otherwise.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from hsi.errors import InputError, ParameterError

Array = torch.Tensor | np.ndarray


class PanPair(NamedTuple):
    """Validated inputs: ``ms`` (rows, cols, bands), ``pan`` (ratio*rows, ratio*cols), both float."""

    ms: torch.Tensor
    pan: torch.Tensor
    ratio: int
    was_numpy: bool


def as_tensor(values: Array, *, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """A floating tensor of ``values``: numpy becomes float64, integer tensors float32."""
    if isinstance(values, torch.Tensor):
        tensor = values if values.is_floating_point() else values.to(torch.float32)
    else:
        tensor = torch.from_numpy(np.ascontiguousarray(np.asarray(values, dtype=np.float64)))
    if dtype is not None or device is not None:
        tensor = tensor.to(dtype=dtype or tensor.dtype, device=device or tensor.device)
    return tensor


def like_input(result: torch.Tensor, was_numpy: bool):
    """Numpy for numpy callers, the tensor otherwise."""
    return result.detach().cpu().numpy() if was_numpy else result


def infer_ratio(low_shape: tuple[int, int], high_shape: tuple[int, int], ratio: int | None = None) -> int:
    """The integer scale between a low-resolution and a high-resolution grid.

    Raises :class:`~hsi.errors.InputError` when the two shapes are not an integer ratio apart
    (the same along rows and columns), or when it disagrees with ``ratio`` when given.
    """
    (h, w), (big_h, big_w) = low_shape, high_shape
    if h <= 0 or w <= 0 or big_h % h or big_w % w or big_h // h != big_w // w or big_h // h < 1:
        raise InputError(
            f"the PAN grid {big_h}x{big_w} is not an integer multiple (same along rows and columns) "
            f"of the MS grid {h}x{w}"
        )
    found = big_h // h
    if ratio is not None and int(ratio) != found:
        raise ParameterError(f"ratio={ratio} but the PAN grid {big_h}x{big_w} is {found} times the MS grid {h}x{w}")
    return found


def prepare(ms: Array, pan: Array, ratio: int | None = None, device: torch.device | str | None = None) -> PanPair:
    """Check and convert a (low-res MS, PAN) pair; see :class:`PanPair`."""
    was_numpy = not isinstance(ms, torch.Tensor)
    ms_t = as_tensor(ms, device=device)
    if ms_t.ndim == 2:
        ms_t = ms_t[:, :, None]
    if ms_t.ndim != 3:
        raise InputError(f"ms must be a (rows, cols, bands) cube; got shape {tuple(ms_t.shape)}")
    pan_t = as_tensor(pan, dtype=ms_t.dtype, device=ms_t.device)
    if pan_t.ndim == 3 and pan_t.shape[2] == 1:
        pan_t = pan_t[:, :, 0]
    if pan_t.ndim != 2:
        raise InputError(f"pan must be a (rows, cols) image or a one-band cube; got shape {tuple(pan_t.shape)}")
    r = infer_ratio(tuple(ms_t.shape[:2]), tuple(pan_t.shape), ratio)
    if not (bool(torch.isfinite(ms_t).all()) and bool(torch.isfinite(pan_t).all())):
        raise InputError("ms and pan must be finite (fill or mask nodata before pansharpening)")
    return PanPair(ms_t, pan_t, r, was_numpy)


def chw(cube: torch.Tensor) -> torch.Tensor:
    """(rows, cols, bands) -> (1, bands, rows, cols) for torch's conv/pool functions."""
    return cube.permute(2, 0, 1)[None]


def hwc(batch: torch.Tensor) -> torch.Tensor:
    """(1, bands, rows, cols) -> (rows, cols, bands)."""
    return batch[0].permute(1, 2, 0)


def band_means(cube: torch.Tensor) -> torch.Tensor:
    """Mean of each band of a (rows, cols, bands) cube: (bands,)."""
    return cube.mean(dim=(0, 1))


def band_stds(cube: torch.Tensor) -> torch.Tensor:
    """Standard deviation of each band (population, as the toolboxes use): (bands,)."""
    return cube.std(dim=(0, 1), correction=0)


def covariance_with(cube: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Covariance of each band of ``cube`` (rows, cols, bands) with ``image`` (rows, cols): (bands,)."""
    centred_cube = cube - band_means(cube)
    centred_image = image - image.mean()
    return (centred_cube * centred_image[:, :, None]).mean(dim=(0, 1))


def regression_gains(cube: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """``cov(band, image) / var(image)`` per band: the least-squares slope of each band on ``image``."""
    variance = image.var(correction=0).clamp_min(torch.finfo(image.dtype).tiny)
    return covariance_with(cube, image) / variance


def match_moments(image: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, reference_std: torch.Tensor | None = None) -> torch.Tensor:
    """``image`` shifted and scaled to ``mean`` and ``std`` (broadcast over trailing band axes).

    ``reference_std`` replaces ``image``'s own standard deviation in the scaling (the MRA toolboxes
    scale by the low-pass PAN's deviation so that the *low-pass* matches the MS band).
    """
    own_std = image.std(correction=0) if reference_std is None else reference_std
    tiny = torch.finfo(image.dtype).tiny
    centred = image - image.mean()
    if mean.ndim:
        centred = centred[..., None]
    return centred * (std / own_std.clamp_min(tiny)) + mean


def check_positive_int(value, name: str) -> int:
    """``value`` as an int >= 1, or a ParameterError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ParameterError(f"{name} must be a positive integer; got {value!r}")
    return int(value)

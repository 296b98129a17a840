"""The checked (MS, PAN) pair every pansharpening method starts from.

Every method takes the low-resolution MS cube ``(rows, cols, bands)`` and the PAN image
``(ratio*rows, ratio*cols)`` (or ``(..., 1)``) and returns the sharpened cube on the PAN grid,
as numpy when the MS came as numpy and as a tensor otherwise. Numpy inputs are computed in
float64 like the reference toolboxes (:func:`hsi.degrade.resample.toolbox_tensor`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from hsi.arrays import Array, as_tensor, infer_ratio
from hsi.degrade.resample import toolbox_tensor
from hsi.errors import InputError


class PanPair(NamedTuple):
    """Validated inputs: ``ms`` (rows, cols, bands), ``pan`` (ratio*rows, ratio*cols), both float.

    ``ms_input`` is the caller's MS: results go back as its kind (:func:`hsi.arrays.like_input`).
    """

    ms: torch.Tensor
    pan: torch.Tensor
    ratio: int
    ms_input: Array


def fuses_multiband(method):
    """Mark a method that takes a multi-band high-resolution image (``pan_band=all``: HS + MS fusion)
    as well as a one-band PAN; the method registry (:func:`hsi.methods.fuses_multiband`) reads the mark
    so that the job refuses ``pan_band=all`` with any other method before reading anything."""
    method.fuses_multiband = True
    return method


def prepare(ms: Array, pan: Array, ratio: int | None = None, device: torch.device | str | None = None) -> PanPair:
    """Check and convert a (low-res MS, PAN) pair; see :class:`PanPair`."""
    ms_t = toolbox_tensor(ms, "ms")
    if device is not None:
        ms_t = ms_t.to(device)
    if ms_t.ndim == 2:
        ms_t = ms_t[:, :, None]
    if ms_t.ndim != 3:
        raise InputError(f"ms must be a (rows, cols, bands) cube; got shape {tuple(ms_t.shape)}")
    pan_t = as_tensor(pan, name="pan", dtype=ms_t.dtype, device=ms_t.device)
    if pan_t.ndim == 3 and pan_t.shape[2] == 1:
        pan_t = pan_t[:, :, 0]
    if pan_t.ndim != 2:
        raise InputError(f"pan must be a (rows, cols) image or a one-band cube; got shape {tuple(pan_t.shape)}")
    r = infer_ratio(tuple(ms_t.shape[:2]), tuple(pan_t.shape), ratio)
    if not (bool(torch.isfinite(ms_t).all()) and bool(torch.isfinite(pan_t).all())):
        raise InputError("ms and pan must be finite (fill or mask nodata before pansharpening)")
    return PanPair(ms_t, pan_t, r, ms)

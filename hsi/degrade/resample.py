"""Resampling between a grid and one ``ratio`` times finer: interpolation up, antialiased reduction down.

Used by pansharpening (the MS interpolated onto the PAN grid, the "EXP" step of every method)
and by the no-reference pansharpening indexes (the PAN reduced to the MS scale).

Grid convention (shared with :mod:`hsi.degrade.mtf`'s decimation and the MATLAB pansharpening
toolbox of Vivone et al.): low-resolution pixel ``i`` sits at high-resolution index
``ratio * i + ratio // 2``. Interpolation is separable Lagrange (polynomial) interpolation with
``n_nodes`` samples around each output position; with 12 nodes and ratio 2 this is the 23-tap
half-band filter of Aiazzi et al. used by the toolbox's ``interp23tap``, extended here to any
integer ratio by evaluating the polynomial at every phase directly.

References
----------
B. Aiazzi, L. Alparone, S. Baronti, A. Garzelli, "Context-driven fusion of high spatial and
spectral resolution images based on oversampled multiresolution analysis", IEEE TGRS 40(10), 2002.
G. Vivone et al., "A critical comparison among pansharpening algorithms", IEEE TGRS 53(5), 2015.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from hsi.arrays import Array, as_tensor, like_input, positive_int
from hsi.errors import InputError, ParameterError


def toolbox_tensor(values: Array, name: str = "image") -> torch.Tensor:
    """``values`` as a tensor: numpy inputs in float64, tensors by :mod:`hsi.arrays`' dtype rule.

    The pansharpening toolboxes this code is checked against compute in double precision,
    so numpy callers get their results in float64; tensor callers (GPU) choose their precision.
    """
    return as_tensor(values, name=name, dtype=None if isinstance(values, torch.Tensor) else torch.float64)


def grid_phase(ratio: int) -> int:
    """High-resolution index of low-resolution pixel 0 (see the module docstring)."""
    return ratio // 2


def lagrange_phase_filters(ratio: int, n_nodes: int = 12) -> tuple[np.ndarray, int]:
    """Polyphase Lagrange interpolation filters.

    Returns ``(filters, half)`` with ``filters`` of shape ``(ratio, 2*half + 1)``: output sample
    ``ratio*i + j`` is ``sum_t filters[j, t] * x[i + t - half]``.
    """
    if n_nodes < 2 or n_nodes % 2:
        raise ParameterError(f"n_nodes must be an even integer >= 2; got {n_nodes}")
    phase = grid_phase(ratio)
    half = n_nodes // 2
    filters = np.zeros((ratio, 2 * half + 1))
    for j in range(ratio):
        offset = (j - phase) / ratio  # position of the output between input samples, in (-1, 1)
        base = math.floor(offset)
        nodes = np.arange(base - half + 1, base + half + 1)
        if offset == base:
            filters[j, half + base] = 1.0
            continue
        for k, node in enumerate(nodes):
            others = np.delete(nodes, k)
            filters[j, half + node] = np.prod((offset - others) / (node - others))
    return filters, half


def _upsample_last_axis(batch: torch.Tensor, ratio: int, n_nodes: int) -> torch.Tensor:
    """Interpolate a (..., length) tensor to (..., ratio*length) along its last axis."""
    filters, half = lagrange_phase_filters(ratio, n_nodes)
    lead, length = batch.shape[:-1], batch.shape[-1]
    flat = batch.reshape(-1, 1, length)
    mode = "reflect" if length > half else "replicate"
    padded = F.pad(flat, (half, half), mode=mode)
    weight = torch.as_tensor(filters, dtype=batch.dtype, device=batch.device)[:, None, :]
    phases = F.conv1d(padded, weight)  # (n, ratio, length)
    return phases.transpose(1, 2).reshape(*lead, length * ratio)


def upsample(cube: Array, ratio: int, *, n_nodes: int = 12) -> Array:
    """Interpolate a (rows, cols, bands) cube to (ratio*rows, ratio*cols, bands).

    Parameters
    ----------
    cube : (rows, cols, bands) or (rows, cols) array or tensor.
    ratio : integer scale factor >= 1.
    n_nodes : samples of the interpolating polynomial (even); 12 gives the toolbox's 23-tap filter.

    Returns
    -------
    The interpolated cube, same kind (numpy/torch) and dtype family as ``cube``. Edges are
    handled by mirror padding.
    """
    ratio = positive_int(ratio, "ratio")
    tensor = toolbox_tensor(cube, "cube")
    if ratio == 1:
        return like_input(tensor.clone(), cube)
    squeeze = tensor.ndim == 2
    work = tensor[:, :, None] if squeeze else tensor
    planes = work.permute(2, 0, 1)  # (bands, rows, cols)
    planes = _upsample_last_axis(planes, ratio, n_nodes)  # along cols
    planes = _upsample_last_axis(planes.transpose(1, 2), ratio, n_nodes).transpose(1, 2)  # along rows
    result = planes.permute(1, 2, 0)
    if squeeze:
        result = result[:, :, 0]
    return like_input(result.contiguous(), cube)


def _cubic(distance: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (the kernel of MATLAB's and PIL's bicubic)."""
    x = np.abs(distance)
    near = (1.5 * x - 2.5) * x * x + 1.0
    far = ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0
    return np.where(x <= 1.0, near, np.where(x <= 2.0, far, 0.0))


def bicubic_downsample_matrix(length: int, ratio: int) -> np.ndarray:
    """(length // ratio, length) weights of an antialiased bicubic reduction by ``ratio``.

    Output sample ``i`` is centred at input position ``ratio * i + (ratio - 1) / 2`` (the
    centre of its ``ratio`` input pixels); the cubic kernel is stretched by ``ratio`` (support
    ``4 * ratio`` taps) so that it low-passes before decimating, and the weights of each
    output are normalised to sum to 1. Samples beyond the edges are mirrored (edge repeated).
    This is the definition of MATLAB's ``imresize(image, 1/ratio)`` (bicubic, antialiasing on),
    the PAN degradation of the QNR spatial distortion in Vivone et al.'s toolbox.
    """
    ratio = positive_int(ratio, "ratio")
    n_out = length // ratio
    centres = ratio * np.arange(n_out) + (ratio - 1) / 2.0
    half = 2 * ratio + 1
    offsets = np.arange(-half, half + 1)
    taps = np.floor(centres)[:, None] + offsets[None, :]
    weights = _cubic((centres[:, None] - taps) / ratio)
    weights /= weights.sum(axis=1, keepdims=True)
    period = 2 * length  # symmetric extension: ... 1 0 | 0 1 ... n-1 | n-1 n-2 ...
    folded = np.mod(taps.astype(np.int64), period)
    folded = np.where(folded < length, folded, period - 1 - folded)
    matrix = np.zeros((n_out, length))
    np.add.at(matrix, (np.repeat(np.arange(n_out), offsets.size), folded.ravel()), weights.ravel())
    return matrix


def bicubic_downsample(image: Array, ratio: int) -> Array:
    """A (rows, cols) or (rows, cols, bands) image reduced by ``ratio`` with antialiased bicubic.

    Rows and columns that do not fill a last block of ``ratio`` are dropped; see
    :func:`bicubic_downsample_matrix` for the filter (MATLAB ``imresize(image, 1/ratio)``).

    References
    ----------
    R. Keys, "Cubic convolution interpolation for digital image processing", IEEE TASSP 29(6),
    1981. G. Vivone et al., "A critical comparison among pansharpening algorithms", IEEE TGRS
    53(5), 2015 (toolbox ``D_s.m``).
    """
    tensor = toolbox_tensor(image)
    squeeze = tensor.ndim == 2
    work = tensor[:, :, None] if squeeze else tensor
    if work.ndim != 3:
        raise InputError(f"image must be (rows, cols) or (rows, cols, bands); got shape {tuple(tensor.shape)}")
    along_rows = torch.as_tensor(bicubic_downsample_matrix(work.shape[0], ratio), dtype=work.dtype, device=work.device)
    along_cols = torch.as_tensor(bicubic_downsample_matrix(work.shape[1], ratio), dtype=work.dtype, device=work.device)
    result = torch.einsum("ir,rcb,jc->ijb", along_rows, work, along_cols)
    if squeeze:
        result = result[:, :, 0]
    return like_input(result.contiguous(), image)

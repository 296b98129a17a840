"""Observation masks for inpainting / completion experiments.

Convention: a mask is boolean and **True means observed**, False means missing. Masks are
``(rows, cols)`` (the same pixels missing in every band) or ``(rows, cols, bands)``
(each band its own). They come back as numpy arrays for a ``numpy.random.Generator`` and
as torch tensors (on the generator's device) for a ``torch.Generator``.

Random masks drop an *exact* number of entries, ``round(missing_fraction * n)``, so the
missing fraction of a benchmark is what was asked for, not only in expectation.

References
----------
J. Liu, P. Musialski, P. Wonka, J. Ye, "Tensor completion for estimating missing values in
visual data", IEEE TPAMI 35(1):208-220, 2013 (random missing entries).
H. Zhang, W. He, L. Zhang, H. Shen, Q. Yuan, "Hyperspectral image restoration using low-rank
matrix recovery", IEEE TGRS 52(8):4729-4743, 2014 (dead lines).
T.-X. Jiang, M. K. Ng, X.-L. Zhao, T.-Z. Huang, "Multi-dimensional imaging data recovery via
minimizing the partial sum of tubal nuclear norm", J. Comput. Appl. Math. 372:112680, 2020.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from hsi.arrays import as_bool_tensor, as_tensor, like_input
from hsi.degrade import draws
from hsi.errors import ParameterError

__all__ = ["random_pixel_mask", "random_band_pixel_mask", "stripe_mask", "block_mask", "apply_mask"]


def _shape(shape: Sequence[int], ndims: tuple[int, ...]) -> tuple[int, ...]:
    dims = tuple(int(s) for s in shape)
    if len(dims) not in ndims or any(d < 1 for d in dims) or any(int(s) != s for s in shape):
        wanted = " or ".join({2: "(rows, cols)", 3: "(rows, cols, bands)"}[n] for n in ndims)
        raise ParameterError(f"shape must be {wanted} of positive integers; got {tuple(shape)}")
    return dims


def _fraction(missing_fraction: float) -> float:
    value = float(missing_fraction)
    if not 0.0 <= value <= 1.0:
        raise ParameterError(f"missing_fraction must be in [0, 1]; got {missing_fraction}")
    return value


def _out(mask: torch.Tensor, rng: draws.Rng) -> Any:
    return mask.cpu().numpy() if isinstance(rng, np.random.Generator) else mask


def _device(rng: draws.Rng) -> torch.device:
    return torch.device("cpu") if isinstance(rng, np.random.Generator) else rng.device


def _exact_missing(rng: draws.Rng, n_sets: int, n_items: int, n_missing: int) -> torch.Tensor:
    """``(n_sets, n_items)`` boolean, True = observed, exactly ``n_missing`` False per row."""
    scores = draws.uniform(rng, (n_sets, n_items), 0.0, 1.0, torch.empty(0, dtype=torch.float64, device=_device(rng)))
    ranks = scores.argsort(dim=1).argsort(dim=1)
    return ranks >= n_missing


def random_pixel_mask(
    shape: Sequence[int],
    missing_fraction: float,
    rng: np.random.Generator | torch.Generator,
) -> np.ndarray | torch.Tensor:
    """Whole pixels (all bands) missing at random.

    Parameters
    ----------
    shape : ``(rows, cols)``.
    missing_fraction : fraction of pixels missing, in [0, 1]; exactly
        ``round(missing_fraction * rows * cols)`` pixels are dropped.
    rng : ``numpy.random.Generator`` (numpy result) or ``torch.Generator`` (torch result).

    Returns
    -------
    mask : ``(rows, cols)`` bool, True = observed.

    References
    ----------
    The random missing-pixel setting of HSI completion, e.g. Jiang et al., JCAM 2020.
    """
    rng = draws.check_rng(rng)
    rows, cols = _shape(shape, (2,))
    n_missing = round(_fraction(missing_fraction) * rows * cols)
    return _out(_exact_missing(rng, 1, rows * cols, n_missing).reshape(rows, cols), rng)


def random_band_pixel_mask(
    shape: Sequence[int],
    missing_fraction: float,
    rng: np.random.Generator | torch.Generator,
) -> np.ndarray | torch.Tensor:
    """Entries missing at random independently in each band.

    Parameters
    ----------
    shape : ``(rows, cols, bands)``.
    missing_fraction : fraction of each band's pixels missing; exactly
        ``round(missing_fraction * rows * cols)`` per band.
    rng : ``numpy.random.Generator`` or ``torch.Generator``.

    Returns
    -------
    mask : ``(rows, cols, bands)`` bool, True = observed.

    References
    ----------
    The random missing-entry setting of tensor completion, e.g. Jiang et al., JCAM 2020.
    """
    rng = draws.check_rng(rng)
    rows, cols, bands = _shape(shape, (3,))
    n_missing = round(_fraction(missing_fraction) * rows * cols)
    mask = _exact_missing(rng, bands, rows * cols, n_missing)  # (bands, pixels)
    return _out(mask.T.reshape(rows, cols, bands), rng)


def stripe_mask(
    shape: Sequence[int],
    missing_fraction: float,
    rng: np.random.Generator | torch.Generator,
    *,
    axis: int = 1,
) -> np.ndarray | torch.Tensor:
    """Whole lines missing (dead detector elements / dropped scan lines).

    Parameters
    ----------
    shape : ``(rows, cols)`` (same lines missing in every band) or ``(rows, cols, bands)``
        (independent lines per band).
    missing_fraction : fraction of lines missing; exactly ``round(missing_fraction * n_lines)``.
    rng : ``numpy.random.Generator`` or ``torch.Generator``.
    axis : 1 drops columns (pushbroom dead detectors, default), 0 drops rows (scan lines).

    Returns
    -------
    mask : bool of ``shape``, True = observed.

    References
    ----------
    The dead-line cases of Zhang et al., IEEE TGRS 2014 (LRMR).
    """
    rng = draws.check_rng(rng)
    dims = _shape(shape, (2, 3))
    if axis not in (0, 1):
        raise ParameterError(f"axis must be 0 (rows) or 1 (columns); got {axis}")
    n_lines = dims[axis]
    n_sets = dims[2] if len(dims) == 3 else 1
    lines = _exact_missing(rng, n_sets, n_lines, round(_fraction(missing_fraction) * n_lines))  # (sets, lines)
    view = (1, n_lines, n_sets) if axis == 1 else (n_lines, 1, n_sets)
    mask = lines.T.reshape(view).expand(dims[0], dims[1], n_sets)
    if len(dims) == 2:
        mask = mask[..., 0]
    return _out(mask.contiguous(), rng)


def block_mask(
    shape: Sequence[int],
    block_size: int | tuple[int, int],
    n_blocks: int,
    rng: np.random.Generator | torch.Generator,
) -> np.ndarray | torch.Tensor:
    """Square (or rectangular) blocks missing at random positions (clouds, gaps).

    Parameters
    ----------
    shape : ``(rows, cols)`` or ``(rows, cols, bands)`` (independent blocks per band).
    block_size : block height and width in pixels (an int for squares); must fit the image.
    n_blocks : number of blocks per band; blocks may overlap, so the missing fraction is at
        most ``n_blocks * height * width / (rows * cols)``.
    rng : ``numpy.random.Generator`` or ``torch.Generator``.

    Returns
    -------
    mask : bool of ``shape``, True = observed.

    References
    ----------
    The block (cloud-like) missing-data setting of HSI completion, e.g. Jiang et al., JCAM 2020.
    """
    rng = draws.check_rng(rng)
    dims = _shape(shape, (2, 3))
    height, width = (block_size, block_size) if np.ndim(block_size) == 0 else tuple(block_size)
    if not (1 <= height <= dims[0] and 1 <= width <= dims[1]) or int(height) != height or int(width) != width:
        raise ParameterError(f"block_size must be positive integers fitting a {dims[:2]} image; got {block_size}")
    if int(n_blocks) != n_blocks or n_blocks < 0:
        raise ParameterError(f"n_blocks must be a non-negative integer; got {n_blocks}")
    n_sets = dims[2] if len(dims) == 3 else 1
    total = int(n_blocks) * n_sets
    tops = draws.integers(rng, 0, dims[0] - int(height) + 1, total)
    lefts = draws.integers(rng, 0, dims[1] - int(width) + 1, total)
    # Count block corners in the (height x width) window ending at each pixel with a 2-D
    # prefix sum: memory stays O(rows * cols) per band whatever the number of blocks.
    corners = torch.zeros(n_sets, dims[0] + 1, dims[1] + 1, dtype=torch.int32)
    owner = torch.arange(n_sets).repeat_interleave(int(n_blocks))
    corners.index_put_(
        (owner, torch.as_tensor(tops) + 1, torch.as_tensor(lefts) + 1),
        torch.ones(total, dtype=torch.int32),
        accumulate=True,
    )
    prefix = corners.cumsum(1).cumsum(2)
    row_end, col_end = torch.arange(1, dims[0] + 1), torch.arange(1, dims[1] + 1)
    row_start, col_start = (row_end - int(height)).clamp(min=0), (col_end - int(width)).clamp(min=0)
    count = (
        prefix[:, row_end][:, :, col_end]
        - prefix[:, row_start][:, :, col_end]
        - prefix[:, row_end][:, :, col_start]
        + prefix[:, row_start][:, :, col_start]
    )
    missing = count > 0  # (sets, rows, cols)
    mask = (~missing).permute(1, 2, 0).to(_device(rng))
    if len(dims) == 2:
        mask = mask[..., 0]
    return _out(mask.contiguous(), rng)


def apply_mask(
    cube: np.ndarray | torch.Tensor,
    mask: np.ndarray | torch.Tensor,
    fill: float = 0.0,
) -> np.ndarray | torch.Tensor:
    """Set the missing entries (``mask == False``) of a cube to ``fill``.

    Parameters
    ----------
    cube : ``(rows, cols, bands)``, numpy or torch.
    mask : ``(rows, cols)`` (broadcast over bands) or ``(rows, cols, bands)`` bool, True = observed.
    fill : value written where data are missing (0, or ``float('nan')`` for nodata).

    Returns
    -------
    masked : same shape and kind as ``cube`` (integers -> float32).
    """
    tensor = as_tensor(cube, name="cube", ndim=3)
    observed = as_bool_tensor(mask, tensor.device)
    if observed.ndim == 2:
        observed = observed.unsqueeze(-1)
    if observed.ndim != 3 or observed.shape[:2] != tensor.shape[:2] or observed.shape[2] not in (1, tensor.shape[2]):
        raise ParameterError(
            f"mask must be (rows, cols) or (rows, cols, bands) matching the cube {tuple(tensor.shape)}; "
            f"got {tuple(mask.shape)}"
        )
    return like_input(tensor.masked_fill(~observed, float(fill)), cube)

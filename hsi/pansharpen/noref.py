"""Differentiable QNR distortions on disjoint blocks, for training and for choosing a start.

The same definition as :mod:`hsi.metrics.pansharp` (Vivone et al.'s toolbox, "toolbox 1.0",
``domain="expanded"``), split so that a network can be trained with it:

* :func:`qnr_reference` computes once per image what does not depend on the fused cube, block
  by block: the inter-band Q of the MS interpolated to the PAN grid (EXP, the 23-tap
  interpolator) and the Q of each EXP band with the PAN reduced by antialiased bicubic
  resizing and interpolated back;
* :func:`block_q` gives the Q index between the channels of (batch, channels, rows, cols)
  images on every disjoint ``block`` x ``block`` block, differentiably (the metric's own
  per-block Q, :func:`hsi.metrics.pansharp.block_q`);
* :func:`qnr_distortions` turns the fused blocks and the matching reference blocks into
  ``D_lambda`` and ``D_s``: the toolbox averages each Q over the blocks and then takes the
  absolute change, so on a batch of blocks it is the same formula over that batch's blocks,
  and on all the blocks of the image it is exactly :func:`hsi.metrics.d_lambda` /
  :func:`hsi.metrics.d_s` (``p = q = 1``).

Blocks that do not fit in the image are left out, as in the metric. Cubes are (rows, cols,
bands); the batched functions take (batch, channels, rows, cols) patches whose corners lie on
the block grid.

References
----------
L. Alparone, B. Aiazzi, S. Baronti, A. Garzelli, F. Nencini, M. Selva, "Multispectral and
panchromatic data fusion assessment without reference", PE&RS 74(2):193-200, 2008.
G. Vivone et al., "A critical comparison among pansharpening algorithms", IEEE TGRS
53(5):2565-2586, 2015 (toolbox ``D_lambda.m``, ``D_s.m``).
F. Luo, T. Zhou, J. Wang et al. (unsupervised CNN pansharpening trained with a QNR-type
no-reference loss), IEEE JSTARS, 2020.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import torch

from hsi.arrays import Array, as_tensor
from hsi.errors import ParameterError
from hsi.metrics import pansharp as pansharp_metrics


class QNRReference(NamedTuple):
    """Per-block reference Q values of one image, on its grid of ``block`` x ``block`` blocks.

    ``q_ms`` (block_rows, block_cols, bands, bands): inter-band Q of EXP;
    ``q_low`` (block_rows, block_cols, bands): Q of each EXP band with the expanded reduced PAN.
    """

    q_ms: torch.Tensor
    q_low: torch.Tensor
    block: int


def to_blocks(images: torch.Tensor, block: int) -> torch.Tensor:
    """(batch, channels, rows, cols) -> (batch * block_rows * block_cols, channels, block * block).

    Blocks are ordered image by image, then row-major over the block grid (the metric's
    order); rows and cols that do not fill a block are dropped.
    """
    n, channels, rows, cols = images.shape
    rows, cols = rows - rows % block, cols - cols % block
    tiles = images[:, :, :rows, :cols].reshape(n, channels, rows // block, block, cols // block, block)
    return tiles.permute(0, 2, 4, 1, 3, 5).reshape(-1, channels, block * block)


def block_q(images: torch.Tensor, block: int) -> torch.Tensor:
    """Q index between every pair of channels on every block: (n_blocks, channels, channels).

    ``images`` (batch, channels, rows, cols); the metric's per-block Q
    (:func:`hsi.metrics.pansharp.block_q`) on :func:`to_blocks`.
    """
    blocks = to_blocks(images, block)
    return pansharp_metrics.block_q(blocks, blocks)


def qnr_reference(ms: Array, pan: Array, ratio: int, block_size: int | None = None) -> QNRReference:
    """The fused-independent half of QNR for one (MS, PAN) pair, per block (see the module docstring).

    ``ms`` (rows, cols, bands) as delivered, ``pan`` (ratio*rows, ratio*cols); ``block_size``
    on the PAN grid, default ``8 * ratio`` (the metric's).
    """
    block = 8 * ratio if block_size is None else int(block_size)
    if block % ratio or block // ratio < 2:
        raise ParameterError(f"block_size must be a multiple of ratio={ratio} of at least {2 * ratio}; got {block_size}")
    ms_t = as_tensor(ms, dtype=torch.float64)
    pan_t = as_tensor(pan, dtype=torch.float64, device=ms_t.device)
    pan_t = pan_t[:, :, 0] if pan_t.ndim == 3 else pan_t
    if min(pan_t.shape) < block:
        raise ParameterError(f"block_size={block} does not fit in the {tuple(pan_t.shape)} PAN")
    ms_up = pansharp_metrics.expand_to_pan_grid(ms_t, ratio)
    pan_low = pansharp_metrics.expand_to_pan_grid(pansharp_metrics.reduce_pan(pan_t, ratio, None), ratio)
    bands = ms_up.shape[2]
    images = torch.cat([ms_up, pan_low[:, :, None]], dim=2).permute(2, 0, 1)[None]
    grid = (pan_t.shape[0] // block, pan_t.shape[1] // block)
    q = block_q(images, block).reshape(*grid, bands + 1, bands + 1)
    return QNRReference(q[:, :, :bands, :bands].contiguous(), q[:, :, :bands, bands].contiguous(), block)


def qnr_distortions(fused: torch.Tensor, pan: torch.Tensor, q_ms: torch.Tensor, q_low: torch.Tensor,
                    block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(D_lambda, D_s) of fused patches against their reference blocks, differentiable.

    Parameters
    ----------
    fused : (batch, bands, rows, cols) in the units of the MS (not normalised: Q is not
        invariant to per-band offsets); patch corners on the block grid.
    pan : (batch, 1, rows, cols), the PAN on the same patches.
    q_ms : (n_blocks, bands, bands) and q_low : (n_blocks, bands), the :class:`QNRReference`
        values of the same blocks in :func:`to_blocks` order.
    block : block side.

    Returns
    -------
    D_lambda (mean over band pairs) and D_s (mean over bands), 0-d tensors; over every block
    of an image they equal :func:`hsi.metrics.d_lambda` and :func:`hsi.metrics.d_s`.
    """
    bands = fused.shape[1]
    q = block_q(torch.cat([fused, pan.to(fused.dtype)], dim=1), block).mean(0)
    change = (q[:bands, :bands] - q_ms.to(q.dtype).mean(0)).abs()
    d_lambda = (change.sum() - change.diagonal().sum()) / (bands * (bands - 1)) if bands > 1 else change.sum() * 0
    d_s = (q[:bands, bands] - q_low.to(q.dtype).mean(0)).abs().mean()
    return d_lambda, d_s


def image_qnr(fused: Array, pan: Array, reference: QNRReference) -> float:
    """QNR = (1 - D_lambda)(1 - D_s) of a whole fused cube (rows, cols, bands), no gradient."""
    with torch.no_grad():
        fused_t = as_tensor(fused, dtype=torch.float64)
        pan_t = as_tensor(pan, dtype=torch.float64, device=fused_t.device)
        pan_t = pan_t[:, :, 0] if pan_t.ndim == 3 else pan_t
        d_lambda, d_s = qnr_distortions(fused_t.permute(2, 0, 1)[None], pan_t[None, None],
                                        reference.q_ms.flatten(0, 1), reference.q_low.flatten(0, 1), reference.block)
    return float((1 - d_lambda) * (1 - d_s))


def best_qnr_start(ms: Array, pan: Array, *, ratio: int, sensor: str | None = None,
                   candidates: Sequence[Callable] = ()) -> Array:
    """The result of the candidate pansharpening method with the best QNR on this very pair.

    A data-only rule, no reference involved: each ``candidate(ms, pan, ratio=, sensor=)`` is run
    and scored by the full-resolution QNR against its own inputs (:func:`image_qnr`); ties go to
    the first. Used as the start of :func:`hsi.pansharpen.zeroshot.rho_pnn`.
    """
    if not candidates:
        raise ParameterError("best_qnr_start needs at least one candidate method; got none")
    reference = qnr_reference(ms, pan, ratio)
    best, best_score = None, -float("inf")
    for candidate in candidates:
        fused = candidate(ms, pan, ratio=ratio, sensor=sensor)
        score = image_qnr(fused, pan, reference)
        if score > best_score:
            best, best_score = fused, score
    return best

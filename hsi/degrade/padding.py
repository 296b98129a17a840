"""Index-based padding of signals for :mod:`hsi.degrade`'s filters (any pad length)."""

from __future__ import annotations

import torch

from hsi.errors import ParameterError

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

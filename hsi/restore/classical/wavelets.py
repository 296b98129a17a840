"""Orthonormal wavelet transforms as matrices, and SURE-optimal soft thresholding."""

from __future__ import annotations

import math

import torch

# Daubechies' 4-tap (two vanishing moments) orthonormal scaling filter.
_D4 = [(1 + math.sqrt(3)), (3 + math.sqrt(3)), (3 - math.sqrt(3)), (1 - math.sqrt(3))]
D4_LOWPASS = [c / (4 * math.sqrt(2)) for c in _D4]


def _single_level(n: int) -> torch.Tensor:
    """One level of the periodic D4 transform, (n, n): n/2 approximation rows then n/2 details."""
    h = torch.tensor(D4_LOWPASS, dtype=torch.float64)
    g = torch.tensor([(-1) ** k * D4_LOWPASS[len(D4_LOWPASS) - 1 - k] for k in range(len(D4_LOWPASS))], dtype=torch.float64)
    matrix = torch.zeros(n, n, dtype=torch.float64)
    taps = torch.arange(len(D4_LOWPASS))
    for k in range(n // 2):
        cols = (2 * k + taps) % n
        matrix[k].index_add_(0, cols, h)
        matrix[n // 2 + k].index_add_(0, cols, g)
    return matrix


def dwt_matrix(n: int, levels: int, dtype: torch.dtype, device: torch.device | str | None = None) -> torch.Tensor:
    """Orthonormal multi-level periodic D4 wavelet analysis matrix (n, n); ``n % 2**levels == 0``.

    Rows are ordered coarse to fine: approximation, then details of level ``levels`` ...
    level 1 (finest).
    """
    matrix = torch.eye(n, dtype=torch.float64)
    size = n
    for _ in range(levels):
        step = torch.eye(n, dtype=torch.float64)
        step[:size, :size] = _single_level(size)
        matrix = step @ matrix
        size //= 2
    return matrix.to(dtype=dtype, device=device)


def level_of_index(n: int, levels: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Scale of each coefficient of :func:`dwt_matrix`: 0 approximation, ``l`` detail level ``l``."""
    level = torch.zeros(n, dtype=torch.long, device=device)
    size = n
    for lev in range(1, levels + 1):
        level[size // 2 : size] = lev
        size //= 2
    return level


def sure_soft_threshold(coefs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft thresholds minimising Stein's unbiased risk estimate, row by row, unit noise.

    ``coefs`` (m, n) noisy coefficients with unit-variance white Gaussian noise. Candidate
    thresholds are 0 and every ``|c|``; the largest kills the row (risk ``sum c^2 - n``).
    Returns the thresholds (m,) and the estimated risks (m,).

    References
    ----------
    D. L. Donoho and I. M. Johnstone, "Adapting to unknown smoothness via wavelet
    shrinkage", J. Amer. Statist. Assoc. 90(432):1200-1224, 1995.
    """
    m, n = coefs.shape
    a = (coefs ** 2).sort(dim=1).values  # ascending
    j = torch.arange(1, n + 1, dtype=coefs.dtype, device=coefs.device)
    # SURE(t = |c|_(j)) = n - 2 j + sum_{i<=j} a_i + (n - j) a_j
    risk = n - 2 * j + a.cumsum(dim=1) + (n - j) * a
    risk = torch.cat([torch.full((m, 1), float(n), dtype=coefs.dtype, device=coefs.device), risk], dim=1)
    best = risk.argmin(dim=1)
    thresholds = torch.cat([torch.zeros(m, 1, dtype=coefs.dtype, device=coefs.device), a.sqrt()], dim=1)
    return thresholds.gather(1, best[:, None])[:, 0], risk.gather(1, best[:, None])[:, 0]

"""Sparse unmixing with a spectral library: SUnSAL and collaborative CLSUnSAL (ADMM, batched).

The library ``library`` (bands, n_members) is resampled to the image first (see
:mod:`hsi.unmix.library`); abundances are (n_pixels, n_members), mostly zero.

Both solvers run ADMM on the splitting ``X = V`` (``X`` carries the quadratic data term,
``V`` the penalty and the constraints) for all pixels at once, and stop on the primal
residual ``||X - V||`` and the change of ``V`` (both in abundance units), not after a fixed
count. The penalty stays fixed: residual balancing (Boyd et al. 2011, sec. 3.4.1) was
measured to slow convergence on coherent libraries, because raising ``mu`` shrinks the
per-iteration l1 threshold ``lam / mu`` that switches unused members off.
"""

from __future__ import annotations

from typing import Callable

import torch

from hsi.arrays import Array, as_tensor, like_input
from hsi.errors import InputError, ParameterError
from hsi.unmix.checks import check_pixels

__all__ = ["sunsal", "clsunsal", "dominant_members"]

_CHECK_EVERY = 10  # iterations between convergence checks


def _setup(pixels, library, lam, mu, n_iter, tol):
    data = as_tensor(pixels)
    check_pixels(data)
    lib = as_tensor(library, dtype=torch.float64, device=data.device)
    if lib.ndim != 2 or lib.shape[0] != data.shape[1]:
        raise InputError(f"library must be (bands={data.shape[1]}, n_members); got shape {tuple(lib.shape)}")
    if not bool(torch.isfinite(lib).all()):
        raise InputError("library contains NaN or infinite values")
    if lam < 0:
        raise ParameterError(f"lam must be >= 0; got {lam}")
    if mu <= 0:
        raise ParameterError(f"mu must be > 0; got {mu}")
    if n_iter < 1:
        raise ParameterError(f"n_iter must be >= 1; got {n_iter}")
    if tol <= 0:
        raise ParameterError(f"tol must be > 0; got {tol}")
    # Scale so the library's largest column norm is 1: makes lam and mu scale-free.
    norm = lib.norm(dim=0).max().clamp_min(1e-300)
    return data, data.to(torch.float64) / norm, lib / norm


def _x_update(gram_inverse, rhs, sum_to_one):
    x = rhs @ gram_inverse
    if sum_to_one:
        # Project onto sum(x) = 1 in the metric of (M^T M + mu I): x += c * (G^-1 1).
        ones_direction = gram_inverse.sum(dim=0)
        x = x + ((1.0 - x.sum(dim=1, keepdim=True)) / ones_direction.sum()) * ones_direction
    return x


def _admm(
    data: torch.Tensor,
    lib: torch.Tensor,
    prox: Callable[[torch.Tensor, float], torch.Tensor],
    *,
    mu: float,
    n_iter: int,
    tol: float,
    sum_to_one: bool,
) -> torch.Tensor:
    """ADMM for ``min_X 0.5 ||Y - X M^T||^2 + g(V)`` s.t. ``X = V`` (scaled dual ``D``).

    ``prox(u, mu)`` is the proximal map of ``g / mu`` (with the constraints). Stops when
    ``||X - V||`` and ``||V - V_prev||`` are both below ``tol * sqrt(n_pixels * n_members)``.
    """
    m = lib.shape[1]
    gram_inverse = torch.linalg.inv(lib.T @ lib + mu * torch.eye(m, dtype=lib.dtype, device=lib.device))
    correlation = data @ lib
    v = torch.zeros(data.shape[0], m, dtype=lib.dtype, device=lib.device)
    dual = torch.zeros_like(v)
    threshold = tol * (v.numel() ** 0.5)
    for iteration in range(1, n_iter + 1):
        x = _x_update(gram_inverse, correlation + mu * (v + dual), sum_to_one)
        v_old = v
        v = prox(x - dual, mu)
        dual = dual - (x - v)
        if iteration % _CHECK_EVERY == 0 and float((x - v).norm()) < threshold and float((v - v_old).norm()) < threshold:
            break
    return v


def sunsal(
    pixels: Array,
    library: Array,
    *,
    lam: float = 1e-3,
    mu: float = 0.01,
    n_iter: int = 1000,
    tol: float = 1e-6,
    nonnegative: bool = True,
    sum_to_one: bool = False,
):
    """Sparse unmixing by variable splitting and augmented Lagrangian (SUnSAL).

    Solves ``min_X 0.5 ||Y - X M^T||_F^2 + lam ||X||_1`` with ``X >= 0`` (and optionally
    rows summing to one) by ADMM with the splitting ``X = V``; all pixels at once.

    Parameters
    ----------
    pixels : (n_pixels, bands). library : (bands, n_members) on the same bands.
    lam : l1 weight (the data and library are scaled by the library's largest column norm).
    mu : ADMM penalty (SUnSAL's 0.01). n_iter : maximum ADMM iterations.
    tol : stop when ``||X - V||`` and the last change of ``V`` are below
        ``tol * sqrt(n_pixels * n_members)`` (abundance units).
    nonnegative, sum_to_one : constraints.

    Returns
    -------
    abundances : (n_pixels, n_members), same kind as ``pixels``.

    References
    ----------
    J. M. Bioucas-Dias and M. A. T. Figueiredo, "Alternating direction algorithms for
    constrained sparse regression: application to hyperspectral unmixing", WHISPERS 2010.
    S. Boyd et al., "Distributed optimization and statistical learning via the alternating
    direction method of multipliers", Found. Trends Mach. Learn. 3(1), 2011.
    """
    def prox(u: torch.Tensor, penalty: float) -> torch.Tensor:
        shrunk = torch.sign(u) * (u.abs() - lam / penalty).clamp_min(0)
        return shrunk.clamp_min(0) if nonnegative else shrunk

    return _solve(pixels, library, prox, lam=lam, mu=mu, n_iter=n_iter, tol=tol, sum_to_one=sum_to_one)


def clsunsal(
    pixels: Array,
    library: Array,
    *,
    lam: float = 1e-3,
    mu: float = 0.01,
    n_iter: int = 1000,
    tol: float = 1e-6,
    nonnegative: bool = True,
):
    """Collaborative sparse unmixing (CLSUnSAL): the same few library members for all pixels.

    Solves ``min_X 0.5 ||Y - X M^T||_F^2 + lam sqrt(n_pixels) sum_j ||X[:, j]||_2`` with
    ``X >= 0`` (an l2,1 penalty over library members, i.e. joint sparsity across pixels)
    by ADMM; the proximal step is a non-negative group shrinkage per library member.

    Parameters and returns as :func:`sunsal` (``lam`` weighs the l2,1 term and is scaled
    by ``sqrt(n_pixels)`` so the same value suits any image size).

    References
    ----------
    M.-D. Iordache, J. M. Bioucas-Dias and A. Plaza, "Collaborative sparse regression for
    hyperspectral unmixing", IEEE TGRS 52(1), 2014.
    """
    def prox(u: torch.Tensor, penalty: float) -> torch.Tensor:
        # prox of (weight/penalty) * sum_j ||u_j||_2 + indicator(u >= 0), weight = lam sqrt(n_pixels)
        # (u is (n_pixels, n_members)): clamp, then group shrink.
        weight = lam * u.shape[0] ** 0.5
        if nonnegative:
            u = u.clamp_min(0)
        norms = u.norm(dim=0, keepdim=True)
        return u * (1 - (weight / penalty) / norms.clamp_min(1e-300)).clamp_min(0)

    return _solve(pixels, library, prox, lam=lam, mu=mu, n_iter=n_iter, tol=tol, sum_to_one=False)


def _solve(pixels, library, prox, *, lam, mu, n_iter, tol, sum_to_one):
    """Check the inputs, run :func:`_admm` with ``prox``; abundances (n_pixels, n_members) in the input's kind."""
    data_in, data, lib = _setup(pixels, library, lam, mu, n_iter, tol)
    v = _admm(data, lib, prox, mu=mu, n_iter=n_iter, tol=tol, sum_to_one=sum_to_one)
    return like_input(v.to(data_in.dtype), pixels)


def dominant_members(abundances: Array, n: int):
    """Indices of the ``n`` library members with the largest mean abundance, strongest first."""
    mean = as_tensor(abundances).mean(dim=0)
    return like_input(torch.argsort(mean, descending=True)[:n], abundances)

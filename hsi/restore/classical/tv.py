"""Band-wise 2-D total-variation denoising (Chambolle's dual projection), the simple baseline."""

from __future__ import annotations

import numpy as np
import torch

from hsi.arrays import as_tensor, like_input, per_band
from hsi.errors import InputError, ParameterError
from hsi.estimate.noise import noise_std_per_band


def _gradient(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences along rows and cols of (rows, cols, ...), zero at the far border."""
    gr = torch.zeros_like(u)
    gc = torch.zeros_like(u)
    gr[:-1] = u[1:] - u[:-1]
    gc[:, :-1] = u[:, 1:] - u[:, :-1]
    return gr, gc


def _divergence(pr: torch.Tensor, pc: torch.Tensor) -> torch.Tensor:
    """Negative adjoint of :func:`_gradient`."""
    div = torch.zeros_like(pr)
    div[0] = pr[0]
    div[1:-1] = pr[1:-1] - pr[:-2]
    div[-1] = -pr[-2]
    div[:, 0] += pc[:, 0]
    div[:, 1:-1] += pc[:, 1:-1] - pc[:, :-2]
    div[:, -1] += -pc[:, -2]
    return div


def tv_prox(cube: torch.Tensor, weight: torch.Tensor, n_iter: int = 60) -> torch.Tensor:
    """``argmin_u 0.5 ||u - f||^2 + weight_b TV(u_b)`` for every band ``b`` at once.

    ``cube`` (rows, cols, bands) tensor, ``weight`` (bands,) >= 0; isotropic TV, Chambolle's
    projection algorithm with step 1/4 (``n_iter`` iterations, warm start from zero).
    Bands or images with fewer than 2 rows or cols are returned unchanged.
    """
    if cube.shape[0] < 2 or cube.shape[1] < 2:
        return cube.clone()
    lam = weight.clamp_min(torch.finfo(cube.dtype).tiny)
    pr = torch.zeros_like(cube)
    pc = torch.zeros_like(cube)
    f_over = cube / lam
    for _ in range(n_iter):
        gr, gc = _gradient(_divergence(pr, pc) - f_over)
        norm = 1 + 0.25 * torch.sqrt(gr ** 2 + gc ** 2)
        pr = (pr + 0.25 * gr) / norm
        pc = (pc + 0.25 * gc) / norm
    out = cube - lam * _divergence(pr, pc)
    return torch.where(weight > 0, out, cube)


def tv(
    cube: torch.Tensor | np.ndarray,
    *,
    noise_std: torch.Tensor | np.ndarray | None = None,
    weight_per_sigma: float = 1.0,
    n_iter: int = 100,
    device: torch.device | str | None = None,
) -> torch.Tensor | np.ndarray:
    """Band-wise total-variation denoising of a cube.

    Solves ``min_u 0.5 ||u_b - y_b||^2 + lambda_b TV(u_b)`` for each band with
    ``lambda_b = weight_per_sigma * noise_std_b``: the TV weight scales with the noise of
    each band (estimated by the wavelet MAD when ``noise_std`` is None).

    Parameters
    ----------
    cube : (rows, cols, bands).
    noise_std : (bands,) noise standard deviation in cube units, or None to estimate.
    weight_per_sigma : TV weight in units of the band's noise standard deviation.
    n_iter : Chambolle iterations.

    Returns
    -------
    The denoised cube, same shape and kind.

    References
    ----------
    A. Chambolle, "An algorithm for total variation minimization and applications",
    J. Math. Imaging Vis. 20:89-97, 2004; L. I. Rudin, S. Osher and E. Fatemi, "Nonlinear
    total variation based noise removal algorithms", Physica D 60:259-268, 1992.
    """
    if not weight_per_sigma >= 0:
        raise ParameterError(f"weight_per_sigma must be >= 0; got {weight_per_sigma}")
    if int(n_iter) < 1:
        raise ParameterError(f"n_iter must be >= 1; got {n_iter}")
    x = as_tensor(cube, name="cube", ndim=3, device=device)
    if not bool(torch.isfinite(x).all()):
        raise InputError("cube contains NaN or infinite values; fill them first (lrtv_inpaint, hsi.restore.classical.inpaint)")
    if noise_std is None:
        sigma = noise_std_per_band(x)
    else:
        sigma = per_band(noise_std, x.shape[2], device=x.device, dtype=x.dtype)
    return like_input(tv_prox(x, weight_per_sigma * sigma, int(n_iter)), cube)

"""Signal-subspace identification: HySime and the HFC / NWHFC virtual dimensionality."""

from __future__ import annotations


import numpy as np
import torch

from hsi.arrays import as_tensor, like_input
from hsi.errors import InputError, ParameterError, TooFewPixelsError


def hysime(
    pixels: torch.Tensor | np.ndarray,
    noise: torch.Tensor | np.ndarray,
    noise_cov: torch.Tensor | np.ndarray,
) -> tuple[int, torch.Tensor | np.ndarray]:
    """Signal-subspace dimension and basis by minimum mean-squared error (HySime).

    The eigenvectors of the signal correlation matrix (data minus estimated noise) are
    kept when projecting onto them lowers the mean squared error, i.e. when the data power
    along them exceeds twice the noise power (``-P_y + 2 P_n < 0``, eq. 22 of the paper).

    Parameters
    ----------
    pixels : (n_pixels, bands) observed spectra.
    noise : (n_pixels, bands) noise estimate, e.g. from
        :func:`hsi.estimate.noise.estimate_noise_regression`.
    noise_cov : (bands, bands) noise covariance.

    Returns
    -------
    k : the signal-subspace dimension (at least 1).
    eigenvectors : (bands, k) orthonormal basis, most useful direction first; same kind as ``pixels``.

    References
    ----------
    J. M. Bioucas-Dias and J. M. P. Nascimento, "Hyperspectral subspace identification",
    IEEE Trans. Geosci. Remote Sens. 46(8):2435-2445, 2008.
    """
    y = as_tensor(pixels, name="pixels", ndim=2)
    w = as_tensor(noise, name="noise", ndim=2, device=y.device, dtype=torch.float64)
    rn = as_tensor(noise_cov, name="noise_cov", ndim=2, device=y.device, dtype=torch.float64)
    if w.shape != y.shape:
        raise InputError(f"noise must have the shape of pixels {tuple(y.shape)}; got {tuple(w.shape)}")
    n_pixels, n_bands = y.shape
    if rn.shape != (n_bands, n_bands):
        raise InputError(f"noise_cov must be ({n_bands}, {n_bands}); got {tuple(rn.shape)}")
    y64 = y.to(torch.float64)
    signal = y64 - w
    corr_y = y64.T @ y64 / n_pixels
    corr_x = signal.T @ signal / n_pixels
    corr_x = (corr_x + corr_x.T) / 2
    _, eigvecs = torch.linalg.eigh(corr_x)
    eigvecs = eigvecs.flip(-1)
    # The paper's small diagonal loading keeps the noise power positive along every axis.
    rn = rn + torch.trace(corr_x) / n_bands / 1e5 * torch.eye(n_bands, dtype=rn.dtype, device=rn.device)
    power_y = ((eigvecs.T @ corr_y) * eigvecs.T).sum(dim=1)
    power_n = ((eigvecs.T @ rn) * eigvecs.T).sum(dim=1)
    cost = -power_y + 2 * power_n
    k = max(int((cost < 0).sum()), 1)
    order = torch.argsort(cost)[:k]
    basis = eigvecs[:, order].to(y.dtype)
    return k, like_input(basis, pixels)


def hfc(
    pixels: torch.Tensor | np.ndarray,
    false_alarm: float = 1e-3,
    noise_whitened: bool = False,
) -> int:
    """Virtual dimensionality by the Harsanyi-Farrand-Chang test (HFC, or NWHFC).

    Signal sources add the same energy to an eigenvalue of the correlation matrix and of
    the covariance matrix only when they have zero mean; each pair of sorted eigenvalues is
    tested (Neyman-Pearson, false-alarm probability ``false_alarm``) for ``lambda_corr -
    lambda_cov > 0`` under a Gaussian approximation with variance ``2 (lambda_corr^2 +
    lambda_cov^2) / n_pixels``. ``noise_whitened=True`` first whitens the data by the
    regression noise estimate (NWHFC), which makes the test fair for bands of unequal noise.

    Parameters
    ----------
    pixels : (n_pixels, bands).
    false_alarm : false-alarm probability in (0, 1).
    noise_whitened : NWHFC instead of HFC.

    Returns
    -------
    The number of distinct spectral signal sources.

    References
    ----------
    C.-I Chang and Q. Du, "Estimation of number of spectrally distinct signal sources in
    hyperspectral imagery", IEEE Trans. Geosci. Remote Sens. 42(3):608-619, 2004;
    J. C. Harsanyi, W. Farrand and C.-I Chang, "Determining the number and identity of
    spectral endmembers: an integrated approach using Neyman-Pearson eigenthresholding and
    iterative constrained RMS error minimization", Proc. 9th Thematic Conf. Geologic Remote
    Sensing, 1993.
    """
    if not 0.0 < float(false_alarm) < 1.0:
        raise ParameterError(f"false_alarm must be in (0, 1); got {false_alarm}")
    y = as_tensor(pixels, name="pixels", ndim=2, dtype=torch.float64)
    n_pixels, n_bands = y.shape
    if n_pixels <= n_bands:
        raise TooFewPixelsError(f"pixels: HFC needs more pixels than bands; got {n_pixels} for {n_bands} bands")
    if noise_whitened:
        from hsi.estimate.noise import estimate_noise_regression

        _, noise_cov = estimate_noise_regression(y)
        noise_std = noise_cov.diagonal().clamp_min(torch.finfo(torch.float64).tiny).sqrt()
        y = y / noise_std
    corr = y.T @ y / n_pixels
    mean = y.mean(dim=0, keepdim=True)
    cov = corr - mean.T @ mean
    eig_corr = torch.linalg.eigvalsh((corr + corr.T) / 2).flip(0)
    eig_cov = torch.linalg.eigvalsh((cov + cov.T) / 2).flip(0)
    std = torch.sqrt(2.0 * (eig_corr ** 2 + eig_cov ** 2) / n_pixels)
    z = float(torch.special.ndtri(torch.tensor(1.0 - float(false_alarm), dtype=torch.float64)))
    return int(((eig_corr - eig_cov) > z * std).sum())

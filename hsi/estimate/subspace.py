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


def mnf_dimension(
    pixels: torch.Tensor | np.ndarray,
    shift_differences: torch.Tensor | np.ndarray,
) -> int:
    """Number of spectral directions whose spatially coherent signal stands above the noise.

    The noise covariance comes from differences of adjacent pixels (half their second moment,
    the maximum noise fraction's shift-difference estimate), so it is the noise's full
    covariance, spectrally correlated or band-dependent as it may be, and spectral variability
    that changes from pixel to pixel counts as noise. The generalized eigenvalues of the
    pixels' second moment ``Y^T Y / n`` (not centred: mixtures of ``k`` materials span ``k``
    dimensions, with or without a per-pixel brightness factor) against that noise covariance
    are the directions' signal-plus-noise to noise ratios; under pure noise both matrices
    estimate one covariance and the ratios stay below the upper edge of the Wachter (F-matrix)
    law, ``((1 + sqrt(y1 + y2 - y1 y2)) / (1 - y2))^2`` with ``y1 = bands / n`` and ``y2 =
    bands / m_eff``. The ``m`` differences count as ``m / 2`` independent samples (horizontal
    and vertical differences share pixels), which also lifts the edge above its finite-sample
    (Tracy-Widom) fluctuations. Directions above the edge are counted.

    What it cannot see: a material that never fills two adjacent pixels (its differences are as
    large as its variance), and noise correlated between neighbouring pixels (resampled images),
    which it takes for signal. Spatially smooth variability within a material (illumination,
    moisture, canopy density over a field) is signal to it: on real scenes it counts more
    directions than there are materials (``bench_results/unmix_count_s8``, table ``count``).

    Parameters
    ----------
    pixels : (n_pixels, bands), finite.
    shift_differences : (m, bands) differences of spatially adjacent pixels after the same
        pre-processing as ``pixels`` (e.g. :func:`hsi.estimate.noise.shift_differences`).

    Returns
    -------
    The number of significant directions (0 when none).

    References
    ----------
    A. A. Green, M. Berman, P. Switzer and M. D. Craig, IEEE TGRS 26(1):65-74, 1988 (MNF);
    K. W. Wachter, "The limiting empirical measure of multiple discriminant ratios", Ann. Stat.
    8(5):937-957, 1980, and Z. Bai and J. W. Silverstein, "Spectral analysis of large dimensional
    random matrices", Springer 2010, ch. 4 (the F-matrix law and its edge); K. Cawse-Nicholson,
    S. B. Damelin, A. Robin and M. Sears, "Determining the intrinsic dimension of a hyperspectral
    image using random matrix theory", IEEE TIP 22(4):1301-1310, 2013 (random-matrix edges for
    the hyperspectral signal dimension).
    """
    y = as_tensor(pixels, name="pixels", ndim=2, dtype=torch.float64)
    d = as_tensor(shift_differences, name="shift_differences", ndim=2, device=y.device, dtype=torch.float64)
    n_pixels, n_bands = y.shape
    if d.shape[1] != n_bands:
        raise InputError(f"shift_differences must have {n_bands} bands like pixels; got {d.shape[1]}")
    m_effective = d.shape[0] / 2.0
    if n_pixels <= n_bands or m_effective <= n_bands:
        raise TooFewPixelsError(f"pixels: the MNF count needs more pixels than bands and more than twice as many "
                                f"neighbour differences as bands; got {n_pixels} pixels and {d.shape[0]} differences "
                                f"for {n_bands} bands")
    signal = y.T @ y / n_pixels
    noise = d.T @ d / (2.0 * d.shape[0])
    # A small diagonal loading keeps a noiseless (e.g. constant) band from making the noise singular.
    noise = noise + torch.trace(noise) / n_bands * 1e-6 * torch.eye(n_bands, dtype=noise.dtype, device=noise.device)
    lower = torch.linalg.cholesky((noise + noise.T) / 2)
    whitened = torch.linalg.solve_triangular(lower, torch.linalg.solve_triangular(lower, signal, upper=False).T,
                                             upper=False)
    ratios = torch.linalg.eigvalsh((whitened + whitened.T) / 2)
    y1, y2 = n_bands / n_pixels, n_bands / m_effective
    edge = ((1.0 + np.sqrt(y1 + y2 - y1 * y2)) / (1.0 - y2)) ** 2
    return int((ratios > edge).sum())

"""Per-band noise estimation: multiple regression (HySime) and a robust wavelet MAD.

Both work on torch tensors or numpy arrays (returning the same kind), on CPU or GPU.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from hsi.arrays import as_tensor, like_input
from hsi.errors import InputError, TooFewPixelsError

# Median of |N(0, 1)|: turns a median absolute deviation into a standard deviation.
MAD_TO_STD = 0.6744897501960817


def estimate_noise_regression(
    pixels: torch.Tensor | np.ndarray,
    *,
    ridge: float = 1e-6,
) -> tuple[torch.Tensor | np.ndarray, torch.Tensor | np.ndarray]:
    """Noise of every band by regressing it on all the other bands (HySime's estimator).

    Band ``i`` is modelled as a linear combination of the other bands plus noise; the
    least-squares residual is the noise estimate. All ``bands`` regressions are solved at
    once from the inverse of the correlation matrix ``R = Y^T Y``: with ``Q = R^{-1}`` the
    residual of band ``i`` is ``Y Q[:, i] / Q[i, i]`` (the efficient form of the paper's
    algorithm, which needs one ``bands x bands`` inverse instead of ``bands`` of them).

    Parameters
    ----------
    pixels : (n_pixels, bands) float array; NaN pixels are not allowed (drop them first).
    ridge : Tikhonov term added to ``R`` relative to its mean diagonal, for rank-deficient data.

    Returns
    -------
    noise : (n_pixels, bands) the estimated noise, same units and kind as ``pixels``.
    noise_cov : (bands, bands) diagonal noise covariance ``diag(mean(noise**2))``, corrected
        for the ``bands - 1`` fitted regression coefficients (``n / (n - bands + 1)``).

    References
    ----------
    J. M. Bioucas-Dias and J. M. P. Nascimento, "Hyperspectral subspace identification",
    IEEE Trans. Geosci. Remote Sens. 46(8):2435-2445, 2008 (appendix: noise estimation).
    """
    y = as_tensor(pixels, name="pixels", ndim=2)
    n_pixels, n_bands = y.shape
    if n_bands < 2:
        raise InputError(f"pixels must have at least 2 bands for regression noise estimation; got {n_bands}")
    if n_pixels <= n_bands:
        raise TooFewPixelsError(
            f"pixels: regression noise estimation needs more pixels than bands; got {n_pixels} pixels "
            f"for {n_bands} bands"
        )
    if not bool(torch.isfinite(y).all()):
        raise InputError("pixels contain NaN or infinite values; drop or fill them before estimating noise")
    y64 = y.to(torch.float64)
    noise64 = y64 @ regression_residual_operator(y64.T @ y64, ridge)
    dof = n_pixels / max(n_pixels - n_bands + 1, 1)
    variance = torch.linalg.vector_norm(noise64, dim=0) ** 2 / n_pixels * dof
    noise_cov = torch.diag(variance).to(y.dtype)
    return like_input(noise64.to(y.dtype), pixels), like_input(noise_cov, pixels)


def regression_residual_operator(corr: torch.Tensor, ridge: float = 1e-6) -> torch.Tensor:
    """``A`` (bands, bands) such that ``Y @ A`` is :func:`estimate_noise_regression`'s noise, from ``corr = Y^T Y``.

    With ``Q = (R + ridge)^{-1}``, ``A = Q diag(Q)^{-1}``. Everything that is quadratic in the
    noise follows from ``corr`` alone (``noise^T noise = A^T R A``), so a sample too large to
    copy in float64 can be reduced to ``corr`` chunk by chunk (:func:`hsi.restore.classical.fasthyde.subspace_stats`).
    """
    eye = torch.eye(corr.shape[0], dtype=corr.dtype, device=corr.device)
    inv = torch.linalg.inv(corr + ridge * corr.diagonal().mean() * eye)
    return inv / inv.diagonal()


def shift_differences(cube: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Differences between horizontally and vertically adjacent pixels, ``(m, bands)``.

    Half their second moment estimates the noise covariance wherever the signal is spatially
    smooth and the noise is not (the shift-difference estimator of the maximum noise fraction
    transform, Green et al. 1988). Pairs with a non-finite value in either pixel are left out,
    so fill values (NaN) never enter the estimate.

    Parameters
    ----------
    cube : (rows, cols, bands).

    Returns
    -------
    (m, bands) differences, same kind as ``cube``.

    References
    ----------
    A. A. Green, M. Berman, P. Switzer and M. D. Craig, "A transformation for ordering
    multispectral data in terms of image quality with implications for noise removal",
    IEEE Trans. Geosci. Remote Sens. 26(1):65-74, 1988.
    """
    x = as_tensor(cube, name="cube", ndim=3)
    n_bands = x.shape[2]
    pairs = ((x[:, 1:], x[:, :-1]), (x[1:], x[:-1]))
    differences = [(second - first).reshape(-1, n_bands) for second, first in pairs]
    stacked = torch.cat(differences)
    return like_input(stacked[torch.isfinite(stacked).all(dim=1)], cube)


def haar_diagonal_detail(cube: torch.Tensor) -> torch.Tensor:
    """Finest-scale diagonal (HH) orthonormal Haar coefficients of each band.

    ``cube`` is (rows, cols, bands); returns (rows // 2, cols // 2, bands). White noise
    of standard deviation ``s`` gives HH coefficients of standard deviation ``s``.
    """
    rows, cols = (cube.shape[0] // 2) * 2, (cube.shape[1] // 2) * 2
    x = cube[:rows, :cols]
    return (x[0::2, 0::2] - x[0::2, 1::2] - x[1::2, 0::2] + x[1::2, 1::2]) / 2.0


def noise_std_per_band(cube: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Robust per-band noise standard deviation: ``median(|HH|) / 0.6745``.

    The finest diagonal Haar detail of a natural image is dominated by noise; its median
    absolute value is insensitive to the few large coefficients at edges. NaN pixels are
    ignored. Assumes spatially white noise; stripes or strongly correlated noise are not
    seen by this estimate (see :func:`hsi.estimate.bands.flag_bands`).

    Parameters
    ----------
    cube : (rows, cols, bands), rows and cols at least 2.

    Returns
    -------
    (bands,) noise standard deviation per band, in the cube's units, same kind as the input.

    References
    ----------
    D. L. Donoho and I. M. Johnstone, "Ideal spatial adaptation by wavelet shrinkage",
    Biometrika 81(3):425-455, 1994; D. L. Donoho, "De-noising by soft-thresholding",
    IEEE Trans. Inf. Theory 41(3):613-627, 1995.
    """
    x = as_tensor(cube, name="cube", ndim=3)
    if x.shape[0] < 2 or x.shape[1] < 2:
        raise InputError(f"cube must be at least 2 x 2 pixels for the wavelet noise estimate; got {tuple(x.shape)}")
    detail = haar_diagonal_detail(x).reshape(-1, x.shape[2]).abs()
    if bool(torch.isfinite(detail).all()):
        median = detail.median(dim=0).values
    else:
        median = torch.nanmedian(detail, dim=0).values
    return like_input(median / MAD_TO_STD, cube)


def noise_std_spectral(cube: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Per-band noise std from the pixel-to-pixel spread of the spectral second difference.

    For spectra that are smooth across neighbouring bands, ``x[b-1] - 2 x[b] + x[b+1]``
    is mostly noise (white noise of std ``s`` gives ``s sqrt(6)``); its median absolute
    deviation over pixels, centred per band, is robust to the few pixels with sharp
    absorption features. Works pixel by pixel, so it needs neither spatial neighbours nor
    more pixels than bands: the estimate for tiny, masked or textured scenes. NaN ignored.

    Parameters
    ----------
    cube : (rows, cols, bands) or (n_pixels, bands), at least 3 bands.

    Returns
    -------
    (bands,) noise standard deviation, same kind as the input (edge bands copy their neighbour).

    References
    ----------
    R. E. Roger and J. F. Arnold, "Reliably estimating the noise in AVIRIS hyperspectral
    images", Int. J. Remote Sens. 17(10):1951-1962, 1996 (spectral differencing).
    """
    x = as_tensor(cube, name="cube", ndim=(2, 3))
    pixels = x.reshape(-1, x.shape[-1])
    if pixels.shape[1] < 3:
        return like_input(torch.zeros(pixels.shape[1], dtype=x.dtype, device=x.device), cube)
    inner = pixels[:, :-2] - 2 * pixels[:, 1:-1] + pixels[:, 2:]
    second = torch.cat([inner[:, :1], inner, inner[:, -1:]], dim=1)
    deviation = second - torch.nanmedian(second, dim=0).values
    spread = torch.nanmedian(deviation.abs(), dim=0).values / MAD_TO_STD
    return like_input(torch.nan_to_num(spread / np.sqrt(6.0), nan=0.0), cube)


#: Fewer complete 2 x 2 pixel cells than this (over all blocks) switch to the spectral estimate.
MIN_HAAR_CELLS = 1000
#: A value that holds more than this fraction of a band's observed values ...
PILE_UP_FRACTION = 0.25
#: ... and more than this many times as many as each of its neighbouring observed values is a
#: clip level (a product's reflectance floor, a saturated detector), not a measurement: Gaussian
#: noise of one quantisation step or more gives a ratio below 2 between neighbouring levels (a
#: flat band with noise under about half a step can pass for clipped; its estimate was 0 before).
PILE_UP_RATIO = 5.0
#: Values per band that :func:`clip_levels` counts (an evenly strided subset of the sample).
CLIP_SUBSET = 20000
#: A clip level covers regions (a dark field below the floor): the share of 2 x 2 cells lying
#: wholly at the level is at least this fraction of the share of pixels at it. Impulse noise
#: that saturates a band at 0 or its maximum also piles up there, but scattered: a cell is
#: wholly at the level about share^3 as often (under 0.05 at a share of 0.2), and those
#: pixels are measurements of the impulses, which the estimate must see.
CLUSTER_FRACTION = 0.5


def clip_levels(pixels: np.ndarray) -> np.ndarray:
    """The value each band piles up at, if any: ``(bands,)``, NaN where there is none.

    A value is a clip level when it holds more than :data:`PILE_UP_FRACTION` of the band's
    finite values and more than :data:`PILE_UP_RATIO` times as many as the nearest values
    observed below and above it. EnMAP L2A clips the reflectance of dark SWIR bands at a small
    negative floor: on the HySpecNet tile band 224 (index 223) holds -30 (x 1e-4) on 86 % of its
    pixels, next to 197 pixels at -29. Such pixels carry no noise; a 2 x 2 cell of them has a
    wavelet detail of exactly 0, which the median takes for the band's noise.

    Parameters
    ----------
    pixels : (n_pixels, bands); NaN ignored. At most :data:`CLIP_SUBSET` of them are counted.
    """
    pixels = np.asarray(pixels)
    sample = pixels[:: max(1, pixels.shape[0] // CLIP_SUBSET)]
    levels = np.full(pixels.shape[1], np.nan)
    for band in range(pixels.shape[1]):
        values = sample[:, band]
        values, counts = np.unique(values[np.isfinite(values)], return_counts=True)
        if values.size == 0:
            continue
        mode = int(np.argmax(counts))
        neighbours = counts[max(mode - 1, 0) : mode + 2]
        largest_neighbour = np.sort(neighbours)[-2] if neighbours.size > 1 else 0
        if counts[mode] > PILE_UP_FRACTION * counts.sum() and counts[mode] > PILE_UP_RATIO * largest_neighbour:
            levels[band] = values[mode]
    return levels


def clustered_levels(blocks: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """``levels`` with NaN where the band's pixels at its level do not form regions (:data:`CLUSTER_FRACTION`).

    Parameters
    ----------
    blocks : (n, rows, cols, bands) sampled blocks; levels : (bands,) from :func:`clip_levels`.
    """
    rows, cols = (blocks.shape[1] // 2) * 2, (blocks.shape[2] // 2) * 2
    at = blocks[:, :rows, :cols] == levels  # NaN levels: never equal
    whole = at[:, 0::2, 0::2] & at[:, 1::2, 0::2] & at[:, 0::2, 1::2] & at[:, 1::2, 1::2]
    pixel_share = at.mean(axis=(0, 1, 2))
    cell_share = whole.mean(axis=(0, 1, 2))
    return np.where(cell_share >= CLUSTER_FRACTION * pixel_share, levels, np.nan)


def quantisation_noise_std(pixels: np.ndarray) -> np.ndarray:
    """``step / sqrt(12)`` per band, ``step`` the smallest gap between the band's finite values
    (0 for a constant band): the error of rounding to that step, the least noise a quantised
    band carries however smooth it is.

    Parameters
    ----------
    pixels : (n_pixels, bands); NaN ignored.
    """
    ordered = np.sort(np.asarray(pixels, dtype=np.float64), axis=0)
    gaps = np.where(np.diff(ordered, axis=0) > 0, np.diff(ordered, axis=0), np.inf)
    step = gaps.min(axis=0, initial=np.inf) if gaps.size else np.full(ordered.shape[1], np.inf)
    return np.where(np.isfinite(step), step, 0.0) / np.sqrt(12.0)


def noise_std_from_blocks(blocks: np.ndarray) -> np.ndarray:
    """Scene-wide noise std per band from sampled spatial blocks (n, rows, cols, bands), float32.

    The median over blocks of the wavelet MAD estimate (:func:`noise_std_per_band`), which
    ignores NaN (nodata). When too few complete 2 x 2 cells are observed for it (heavily masked
    scenes), or it is not finite for every band, the spectral estimate
    (:func:`noise_std_spectral`) over the observed pixels replaces it: that one needs neither
    spatial neighbours nor more pixels than bands.

    Values at a band's clip level (:func:`clip_levels`, covering regions:
    :func:`clustered_levels`) are left out of both estimates, as nodata is: they are not
    measurements. A band whose estimate is still 0 (more than half of
    its cells flat: noise finer than its quantisation) gets the quantisation noise
    (:func:`quantisation_noise_std`) instead, so that no band that varies is taken as
    noise-free (a zero noise std is a division by zero in every whitening denoiser).
    """
    blocks = np.asarray(blocks)
    if blocks.ndim != 4:
        raise InputError(f"blocks must be (n, rows, cols, bands); got shape {blocks.shape}")
    finite = np.isfinite(blocks).all(axis=3)
    rows, cols = (blocks.shape[1] // 2) * 2, (blocks.shape[2] // 2) * 2
    cells = (finite[:, :rows:2, :cols:2] & finite[:, 1:rows:2, :cols:2]
             & finite[:, :rows:2, 1:cols:2] & finite[:, 1:rows:2, 1:cols:2])
    observed = blocks.reshape(-1, blocks.shape[3])[finite.reshape(-1)]
    levels = clip_levels(observed)
    if np.isfinite(levels).any():
        levels = clustered_levels(blocks, levels)
    if np.isfinite(levels).any():
        blocks = np.where(blocks == levels, np.nan, blocks)
        observed = np.where(observed == levels, np.nan, observed)
    estimate = None
    if cells.sum() >= MIN_HAAR_CELLS:
        per_block = np.stack([np.asarray(noise_std_per_band(block)) for block in blocks])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a band clipped on every block: all NaN
            estimate = np.nanmedian(per_block, axis=0)
    if estimate is None or not np.all(np.isfinite(estimate)):
        spectral = np.asarray(noise_std_spectral(observed), dtype=np.float64)
        if estimate is None or not np.isfinite(levels).any():
            estimate = spectral
        else:  # only the bands that clipping left without a wavelet estimate take the spectral one
            estimate = np.where(np.isfinite(estimate), estimate, spectral)
    flat = ~(estimate > 0)
    if flat.any():
        estimate = estimate.copy()
        estimate[flat] = quantisation_noise_std(observed[:, flat])
    return estimate.astype(np.float32)

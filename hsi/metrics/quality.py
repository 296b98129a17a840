"""Full-reference quality of a restored or fused cube against its reference.

All cubes are (rows, cols, bands); a 2-D (rows, cols) array counts as one band. Inputs may
be numpy arrays or torch tensors (CPU or GPU); each metric is computed once, in torch
float64 on the reference's device. Scalars come back as Python floats, per-band values as
numpy float64 arrays of shape (bands,).

Conventions follow the hyperspectral denoising and pansharpening literature: PSNR and SSIM
use one peak ``data_range`` for every band (1.0 for data scaled to [0, 1]), SAM is in
degrees, ERGAS follows Wald (2002), Q2^n follows Garzelli & Nencini (2009) and the
toolbox of Vivone et al. (2015, 2021).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from hsi.arrays import positive_float, positive_int
from hsi.errors import InputError, ParameterError
from hsi.metrics.checks import band_chunks, bands_first, cube_pair, pair

__all__ = [
    "psnr_per_band",
    "mpsnr",
    "ssim_per_band",
    "mssim",
    "sam",
    "ergas",
    "rmse",
    "uiqi",
    "scc",
    "q2n",
]


def _data_range(reference: torch.Tensor, data_range: float | None) -> float:
    """The peak value: user's, or max(reference) - min(0, min(reference))."""
    if data_range is not None:
        return positive_float(data_range, "data_range")
    peak = float(reference.max()) - min(0.0, float(reference.min()))
    if peak <= 0:
        raise InputError(
            "cannot infer data_range: the reference is all zeros; pass data_range explicitly"
        )
    return peak


def _mse_per_band(reference: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    return ((reference - estimate) ** 2).mean(dim=(0, 1))


# --- PSNR -------------------------------------------------------------------------------
def psnr_per_band(reference: Any, estimate: Any, data_range: float | None = None) -> np.ndarray:
    """Peak signal-to-noise ratio of each band, in dB.

    ``PSNR_b = 10 log10(data_range^2 / MSE_b)`` with one peak for all bands.

    Parameters
    ----------
    reference, estimate : (rows, cols, bands) or (rows, cols) array or tensor
        Ground truth and estimate, same shape.
    data_range : float, optional
        Peak value. Default: ``max(reference) - min(0, min(reference))`` over the whole cube,
        i.e. 1.0 for data scaled to [0, 1] with a pixel at 1 (the usual convention of HSI
        denoising papers: i.i.d. Gaussian noise of sigma 10/255 gives about 28.13 dB).

    Returns
    -------
    (bands,) numpy float64 array, dB; ``inf`` for a band reproduced exactly.

    References
    ----------
    Q. Huynh-Thu, M. Ghanbari, "Scope of validity of PSNR in image/video quality
    assessment", Electronics Letters 44(13):800-801, 2008.
    """
    ref, est = cube_pair(reference, estimate)
    peak = _data_range(ref, data_range)
    mse = _mse_per_band(ref, est)
    with np.errstate(divide="ignore"):
        return (10.0 * np.log10(peak**2 / mse.cpu().numpy())).astype(np.float64)


def mpsnr(reference: Any, estimate: Any, data_range: float | None = None) -> float:
    """Mean over bands of the per-band PSNR (dB); see :func:`psnr_per_band`.

    References
    ----------
    W. He, H. Zhang, L. Zhang, H. Shen, "Total-variation-regularized low-rank matrix
    factorization for hyperspectral image restoration", IEEE TGRS 54(1):178-188, 2016
    (MPSNR as used throughout HSI denoising).
    """
    return float(np.mean(psnr_per_band(reference, estimate, data_range)))


# --- SSIM -------------------------------------------------------------------------------
_SSIM_WINDOW = 7
_SSIM_K1, _SSIM_K2 = 0.01, 0.03


def ssim_per_band(reference: Any, estimate: Any, data_range: float | None = None) -> np.ndarray:
    """Mean structural similarity of each band.

    Computed as ``skimage.metrics.structural_similarity`` with its defaults: a 7 x 7 uniform
    window, K1 = 0.01, K2 = 0.03, sample (N - 1) covariances, the mean taken over the
    window positions that lie wholly inside the image (skimage crops 3 pixels per side).

    Parameters
    ----------
    reference, estimate : (rows, cols, bands) or (rows, cols) array or tensor
        Same shape; rows and cols at least 7.
    data_range : float, optional
        Peak value for the stabilising constants; default as in :func:`psnr_per_band`.

    Returns
    -------
    (bands,) numpy float64 array.

    References
    ----------
    Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality assessment: from
    error visibility to structural similarity", IEEE TIP 13(4):600-612, 2004.
    """
    ref, est = cube_pair(reference, estimate)
    rows, cols, n_bands = ref.shape
    if rows < _SSIM_WINDOW or cols < _SSIM_WINDOW:
        raise InputError(f"SSIM needs images of at least 7 x 7 pixels; got {rows} x {cols}")
    peak = _data_range(ref, data_range)
    c1, c2 = (_SSIM_K1 * peak) ** 2, (_SSIM_K2 * peak) ** 2
    n_window = _SSIM_WINDOW**2
    cov_norm = n_window / (n_window - 1)

    def local_mean(image: torch.Tensor) -> torch.Tensor:
        # A 'valid' box filter equals skimage's reflect-padded uniform filter after its crop.
        return F.avg_pool2d(image, _SSIM_WINDOW, stride=1)

    values = []
    for chunk in band_chunks(n_bands, rows * cols):
        x, y = bands_first(ref[..., chunk]), bands_first(est[..., chunk])
        mu_x, mu_y = local_mean(x), local_mean(y)
        var_x = cov_norm * (local_mean(x * x) - mu_x * mu_x)
        var_y = cov_norm * (local_mean(y * y) - mu_y * mu_y)
        cov_xy = cov_norm * (local_mean(x * y) - mu_x * mu_y)
        ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / (
            (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
        )
        values.append(ssim_map.mean(dim=(1, 2, 3)))
    return torch.cat(values).cpu().numpy()


def mssim(reference: Any, estimate: Any, data_range: float | None = None) -> float:
    """Band-wise SSIM averaged over bands; see :func:`ssim_per_band`.

    Equals ``skimage.metrics.structural_similarity(reference, estimate,
    data_range=data_range, channel_axis=-1)`` for float64 inputs.

    References
    ----------
    Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality assessment: from
    error visibility to structural similarity", IEEE TIP 13(4):600-612, 2004.
    """
    return float(np.mean(ssim_per_band(reference, estimate, data_range)))


# --- SAM, ERGAS, RMSE -------------------------------------------------------------------
def sam(reference: Any, estimate: Any) -> float:
    """Mean spectral angle between reference and estimate spectra, in degrees.

    The angle of each pixel is computed as ``2 atan2(|u - v|, |u + v|)`` with ``u, v`` the
    unit-norm spectra (exact for angles near 0, where ``arccos`` loses half the digits).
    Pixels where either spectrum has zero norm have no angle and are left out.

    Parameters
    ----------
    reference, estimate : (..., bands) array or tensor
        A cube (rows, cols, bands) or a pixel matrix (n_pixels, bands); the last axis is
        the spectrum.

    Returns
    -------
    float, degrees in [0, 180]; NaN when no pixel has two non-zero spectra.

    References
    ----------
    F. A. Kruse et al., "The spectral image processing system (SIPS): interactive
    visualization and analysis of imaging spectrometer data", Remote Sens. Environ.
    44(2-3):145-163, 1993.
    """
    ref, est = pair(reference, estimate, ndims=(1, 2, 3))
    angles, valid = _pixel_angles(ref.reshape(-1, ref.shape[-1]), est.reshape(-1, est.shape[-1]))
    if not bool(valid.any()):
        return float("nan")
    return float(torch.rad2deg(angles[valid]).mean())


def _pixel_angles(first: torch.Tensor, second: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Angles (radians) between matching rows of two (n, bands) matrices, and validity."""
    norm_first = torch.linalg.vector_norm(first, dim=-1, keepdim=True)
    norm_second = torch.linalg.vector_norm(second, dim=-1, keepdim=True)
    valid = (norm_first[:, 0] > 0) & (norm_second[:, 0] > 0)
    unit_first = first / torch.where(norm_first > 0, norm_first, 1.0)
    unit_second = second / torch.where(norm_second > 0, norm_second, 1.0)
    angles = 2.0 * torch.atan2(
        torch.linalg.vector_norm(unit_first - unit_second, dim=-1),
        torch.linalg.vector_norm(unit_first + unit_second, dim=-1),
    )
    return angles, valid


def ergas(reference: Any, estimate: Any, ratio: float = 1.0) -> float:
    """Erreur relative globale adimensionnelle de synthese (ERGAS).

    ``ERGAS = 100 / ratio * sqrt(mean_b(RMSE_b^2 / mu_b^2))`` with ``mu_b`` the mean of
    reference band ``b``; lower is better, 0 for a perfect estimate.

    Parameters
    ----------
    reference, estimate : (rows, cols, bands) or (rows, cols) array or tensor
    ratio : float
        Resolution ratio between the low- and the high-resolution images (``d_l / d_h``,
        e.g. 4 for a 4x pansharpening); the factor ``100 / ratio`` is Wald's ``100 d_h / d_l``.
        Use 1 (the default) for restoration on the reference's own grid.

    Returns
    -------
    float

    References
    ----------
    L. Wald, "Data Fusion: Definitions and Architectures - Fusion of Images of Different
    Spatial Resolutions", Presses de l'Ecole des Mines, 2002.
    """
    ratio = positive_float(ratio, "ratio")
    ref, est = cube_pair(reference, estimate)
    band_means = ref.mean(dim=(0, 1))
    if bool((band_means == 0).any()):
        zero = torch.nonzero(band_means == 0)[:, 0].tolist()
        raise InputError(f"ERGAS is undefined: reference band(s) {zero} have zero mean")
    relative = _mse_per_band(ref, est) / band_means**2
    return float(100.0 / ratio * torch.sqrt(relative.mean()))


def rmse(reference: Any, estimate: Any) -> float:
    """Root-mean-square error over every element (pixels and bands).

    Parameters
    ----------
    reference, estimate : array or tensor of any one shape

    References
    ----------
    L. Wald, "Data Fusion: Definitions and Architectures", Presses de l'Ecole des Mines, 2002.
    """
    ref, est = pair(reference, estimate, ndims=tuple(range(1, 8)))
    return float(torch.sqrt(((ref - est) ** 2).mean()))


# --- UIQI -------------------------------------------------------------------------------
def _q_from_moments(
    mean_x: torch.Tensor,
    mean_y: torch.Tensor,
    var_x: torch.Tensor,
    var_y: torch.Tensor,
    cov_xy: torch.Tensor,
) -> torch.Tensor:
    """Wang-Bovik Q = 4 cov mu_x mu_y / ((var_x + var_y)(mu_x^2 + mu_y^2)), elementwise.

    Degenerate windows follow Wang's reference code: both variances zero -> the mean term
    2 mu_x mu_y / (mu_x^2 + mu_y^2); both variances and both means zero -> 1. Variances
    below 1e-12 of the second moments count as zero, since ``E[x^2] - E[x]^2`` of a
    constant window is rounding noise.
    """
    var_sum = var_x + var_y
    mean_sq = mean_x**2 + mean_y**2
    flat = var_sum <= 1e-12 * (var_sum + mean_sq)
    safe_mean_sq = torch.where(mean_sq > 0, mean_sq, 1.0)
    safe_var_sum = torch.where(flat, 1.0, var_sum)
    general = 4.0 * cov_xy * mean_x * mean_y / (safe_var_sum * safe_mean_sq)
    mean_term = 2.0 * mean_x * mean_y / safe_mean_sq
    q = torch.where(flat, mean_term, general)
    return torch.where(mean_sq > 0, q, torch.where(flat, 1.0, 0.0))


def uiqi(reference: Any, estimate: Any, block_size: int = 8, stride: int = 1) -> float:
    """Universal image quality index, averaged over sliding windows and then over bands.

    In each ``block_size`` x ``block_size`` window,
    ``Q = 4 s_xy mu_x mu_y / ((s_x^2 + s_y^2)(mu_x^2 + mu_y^2))`` (correlation x luminance
    x contrast); windows move by ``stride`` pixels (Wang & Bovik use 8 x 8 windows moved
    one pixel at a time; ``block_size=32, stride=32`` gives the non-overlapping blocks of
    the pansharpening toolbox). Only windows wholly inside the image are used.

    Parameters
    ----------
    reference, estimate : (rows, cols, bands) or (rows, cols) array or tensor
    block_size : int >= 2
    stride : int >= 1

    Returns
    -------
    float in [-1, 1]; 1 for identical images.

    References
    ----------
    Z. Wang, A. C. Bovik, "A universal image quality index", IEEE Signal Processing
    Letters 9(3):81-84, 2002.
    """
    block_size = positive_int(block_size, "block_size", minimum=2)
    stride = positive_int(stride, "stride")
    ref, est = cube_pair(reference, estimate)
    rows, cols, n_bands = ref.shape
    if rows < block_size or cols < block_size:
        raise InputError(
            f"UIQI with block_size={block_size} needs at least that many rows and cols; got {rows} x {cols}"
        )

    def local_mean(image: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(image, block_size, stride=stride)

    values = []
    for chunk in band_chunks(n_bands, rows * cols):
        x, y = bands_first(ref[..., chunk]), bands_first(est[..., chunk])
        mean_x, mean_y = local_mean(x), local_mean(y)
        var_x = (local_mean(x * x) - mean_x**2).clamp_min(0.0)
        var_y = (local_mean(y * y) - mean_y**2).clamp_min(0.0)
        cov_xy = local_mean(x * y) - mean_x * mean_y
        values.append(_q_from_moments(mean_x, mean_y, var_x, var_y, cov_xy).mean(dim=(1, 2, 3)))
    return float(torch.cat(values).mean())


# --- SCC --------------------------------------------------------------------------------
_LAPLACIAN = ((-1.0, -1.0, -1.0), (-1.0, 8.0, -1.0), (-1.0, -1.0, -1.0))
_SOBEL = ((1.0, 2.0, 1.0), (0.0, 0.0, 0.0), (-1.0, -2.0, -1.0))


def scc(reference: Any, estimate: Any, high_pass: str = "laplacian") -> float:
    """Spatial correlation coefficient between the high-pass details of two cubes.

    ``high_pass="laplacian"`` (Zhou et al. 1998): both cubes are filtered with the 3 x 3
    Laplacian ``[[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]`` (valid part, no padding), the
    Pearson correlation of the two detail images is taken per band and averaged over the
    bands whose details are not constant.

    ``high_pass="sobel"`` reproduces ``SCC.m`` of the pansharpening toolbox (Vivone et al.
    2015, 2021): the Sobel gradient magnitude of the interior ``[1:-1, 1:-1]`` of each band
    (zero padding), then one uncentred correlation ``sum(a b) / sqrt(sum(a^2) sum(b^2))``
    over the whole cube.

    Parameters
    ----------
    reference, estimate : (rows, cols, bands) or (rows, cols) array or tensor, at least 3 x 3
    high_pass : {"laplacian", "sobel"}

    Returns
    -------
    float in [-1, 1] (1 is best); NaN when every detail image is constant.

    References
    ----------
    J. Zhou, D. L. Civco, J. A. Silander, "A wavelet transform method to merge Landsat TM
    and SPOT panchromatic data", Int. J. Remote Sens. 19(4):743-757, 1998.
    G. Vivone et al., "A critical comparison among pansharpening algorithms", IEEE TGRS
    53(5):2565-2586, 2015.
    """
    if high_pass not in ("laplacian", "sobel"):
        raise ParameterError(f"high_pass must be 'laplacian' or 'sobel'; got {high_pass!r}")
    ref, est = cube_pair(reference, estimate)
    if ref.shape[0] < 3 or ref.shape[1] < 3:
        raise InputError(f"SCC needs images of at least 3 x 3 pixels; got {ref.shape[0]} x {ref.shape[1]}")
    if high_pass == "laplacian":
        kernel = torch.tensor(_LAPLACIAN, dtype=ref.dtype, device=ref.device)[None, None]
        details_ref = F.conv2d(bands_first(ref), kernel).flatten(1)
        details_est = F.conv2d(bands_first(est), kernel).flatten(1)
        details_ref = details_ref - details_ref.mean(dim=1, keepdim=True)
        details_est = details_est - details_est.mean(dim=1, keepdim=True)
        norms = torch.linalg.vector_norm(details_ref, dim=1) * torch.linalg.vector_norm(details_est, dim=1)
        defined = norms > 0
        if not bool(defined.any()):
            return float("nan")
        correlation = (details_ref * details_est).sum(dim=1)[defined] / norms[defined]
        return float(correlation.mean())
    sobel = torch.tensor(_SOBEL, dtype=ref.dtype, device=ref.device)
    kernels = torch.stack([sobel, sobel.T])[:, None]

    def gradient_magnitude(cube: torch.Tensor) -> torch.Tensor:
        gradients = F.conv2d(bands_first(cube[1:-1, 1:-1]), kernels, padding=1)
        return torch.sqrt((gradients**2).sum(dim=1))

    grad_ref, grad_est = gradient_magnitude(ref), gradient_magnitude(est)
    denominator = torch.sqrt((grad_ref**2).sum()) * torch.sqrt((grad_est**2).sum())
    if float(denominator) == 0:
        return float("nan")
    return float((grad_ref * grad_est).sum() / denominator)


# --- Q2^n -------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _hypercomplex_table(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Products of basis units in the 2^k-dimensional Cayley-Dickson algebra of Q2^n.

    ``e_i e_j = sign[i, j] * e_index[i, j]``. With halves (a, b), (c, d) and conjugation
    ``conj(v) = (v_0, -v_1, ...)``, the product used by Garzelli & Nencini's reference
    code is ``(a, b)(c, d) = (a c - conj(d) b, conj(a) conj(d) + c conj(b))``; on basis
    units it reduces to the four block rules below (the sign of ``conj(e_k)`` is
    +1 for k = 0 and -1 otherwise).
    """
    if n == 1:
        return np.zeros((1, 1), dtype=np.int64), np.ones((1, 1), dtype=np.float64)
    half = n // 2
    index_h, sign_h = _hypercomplex_table(half)
    conj_sign = np.where(np.arange(half) == 0, 1.0, -1.0)
    index = np.empty((n, n), dtype=np.int64)
    sign = np.empty((n, n), dtype=np.float64)
    # e_i e_j, both in the first half: (e_i e_j, 0)
    index[:half, :half], sign[:half, :half] = index_h, sign_h
    # e_i (0, e_j'): (0, conj(e_i) conj(e_j'))
    index[:half, half:] = half + index_h
    sign[:half, half:] = conj_sign[:, None] * conj_sign[None, :] * sign_h
    # (0, e_i') e_j: (0, e_j conj(e_i'))
    index[half:, :half] = half + index_h.T
    sign[half:, :half] = conj_sign[:, None] * sign_h.T
    # (0, e_i')(0, e_j'): (-conj(e_j') e_i', 0)
    index[half:, half:] = index_h.T
    sign[half:, half:] = -conj_sign[None, :] * sign_h.T
    return index, sign


def _hypercomplex_bilinear(moments: torch.Tensor) -> torch.Tensor:
    """Contract (..., n, n) second moments M_ij = E[x_i y_j] to E[x y] in the algebra."""
    n = moments.shape[-1]
    index, sign = _hypercomplex_table(n)
    weighted = moments * torch.as_tensor(sign, dtype=moments.dtype, device=moments.device)
    target = torch.as_tensor(index, device=moments.device).reshape(-1).expand(*moments.shape[:-2], n * n)
    out = torch.zeros(*moments.shape[:-2], n, dtype=moments.dtype, device=moments.device)
    return out.scatter_add_(-1, target, weighted.reshape(*moments.shape[:-2], n * n))


def _symmetric_pad_end(cube: torch.Tensor, axis: int, amount: int) -> torch.Tensor:
    """Mirror ``amount`` samples past the end of ``axis``, repeating the edge sample."""
    if amount <= 0:
        return cube
    tail = cube.narrow(axis, cube.shape[axis] - amount, amount).flip(axis)
    return torch.cat([cube, tail], dim=axis)


def q2n(reference: Any, estimate: Any, block_size: int = 32, shift: int = 32) -> float:
    """Q2^n (Q4, Q8, ...) hypercomplex quality index, averaged over blocks.

    Each pixel's spectrum is a hypercomplex number ``z`` with one component per band. In
    every ``block_size`` x ``block_size`` block (blocks start every ``shift`` pixels) the
    bands are normalised with the reference block's mean and standard deviation
    (``(v - mean) / std + 1``), then

    ``Q = |s_{z z'}| / (s_z s_z') * 2 s_z s_z' / (s_z^2 + s_z'^2) * 2 |mean z| |mean z'| / (|mean z|^2 + |mean z'|^2)``

    with the hypercomplex covariance ``s_{z z'}`` (sample normalisation). The index is the
    mean over blocks of ``|Q|``. As in the reference code: the image is mirrored at the
    bottom/right so the blocks cover it, the band count is padded with zero bands to the
    next power of two, and a reference block band with zero mean is shifted but not
    rescaled. Unlike the reference code the data are not cast to 16-bit integers (that cast
    assumes digital numbers and would erase reflectances in [0, 1]).

    Parameters
    ----------
    reference, estimate : (rows, cols, bands) or (rows, cols) array or tensor, any band count
    block_size : int >= 2
    shift : int >= 1
        Distance between block origins; ``shift == block_size`` gives disjoint blocks.

    Returns
    -------
    float in [0, 1]; 1 for identical images.

    References
    ----------
    A. Garzelli, F. Nencini, "Hypercomplex quality assessment of multi/hyperspectral
    images", IEEE Geosci. Remote Sens. Lett. 6(4):662-665, 2009.
    L. Alparone, S. Baronti, A. Garzelli, F. Nencini, "A global quality measurement of
    pan-sharpened multispectral imagery", IEEE GRSL 1(4):313-317, 2004 (Q4).
    G. Vivone et al., "A critical comparison among pansharpening algorithms", IEEE TGRS
    53(5):2565-2586, 2015 (toolbox ``q2n.m``).
    """
    block_size = positive_int(block_size, "block_size", minimum=2)
    shift = positive_int(shift, "shift")
    ref, est = cube_pair(reference, estimate)
    rows, cols, n_bands = ref.shape
    steps = [math.ceil(rows / shift), math.ceil(cols / shift)]
    for axis, (size, step) in enumerate(zip((rows, cols), steps)):
        missing = (step - 1) * shift + block_size - size
        if missing > size:
            raise InputError(
                f"image too small for Q2n with block_size={block_size}, shift={shift}: covering its "
                f"{size} {'rows' if axis == 0 else 'cols'} would mirror {missing} more than it has"
            )
        ref, est = _symmetric_pad_end(ref, axis, missing), _symmetric_pad_end(est, axis, missing)
    n_padded = 1 << (n_bands - 1).bit_length()
    if n_padded > n_bands:
        zeros = ref.new_zeros(*ref.shape[:2], n_padded - n_bands)
        ref, est = torch.cat([ref, zeros], dim=2), torch.cat([est, zeros], dim=2)

    def blocks(cube: torch.Tensor) -> torch.Tensor:
        # (rows, cols, n) -> (n_blocks, n, block_size^2); keep the first `steps` origins only.
        tiles = cube.unfold(0, block_size, shift).unfold(1, block_size, shift)[: steps[0], : steps[1]]
        return tiles.reshape(-1, n_padded, block_size * block_size)

    return float(_q2n_blocks(blocks(ref), blocks(est)).mean())


def _q2n_blocks(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """|Q2^n| of each block; x, y are (n_blocks, n, pixels) reference and estimate."""
    n_pixels = x.shape[-1]
    unbias = n_pixels / (n_pixels - 1)
    mean = x.mean(dim=-1, keepdim=True)
    std = x.std(dim=-1, keepdim=True)
    std = torch.where(std == 0, torch.finfo(x.dtype).eps, std)
    z_x = (x - mean) / std + 1.0
    z_y = torch.where(mean == 0, y + 1.0, (y - mean) / std + 1.0)
    # The estimate enters conjugated: Q is built on E[z conj(z')].
    conj = torch.ones(x.shape[1], dtype=x.dtype, device=x.device)
    conj[1:] = -1.0
    z_y = z_y * conj[:, None]

    mean_x, mean_y = z_x.mean(dim=-1), z_y.mean(dim=-1)
    mod_mean_x_sq, mod_mean_y_sq = (mean_x**2).sum(-1), (mean_y**2).sum(-1)
    total_var = unbias * ((z_x**2).sum(1).mean(-1) + (z_y**2).sum(1).mean(-1) - mod_mean_x_sq - mod_mean_y_sq)
    mean_bias = 2.0 * torch.sqrt(mod_mean_x_sq * mod_mean_y_sq) / (mod_mean_x_sq + mod_mean_y_sq)

    cross = torch.einsum("bip,bjp->bij", z_x, z_y) / n_pixels
    mean_product = _hypercomplex_bilinear(cross)
    product_of_means = _hypercomplex_bilinear(mean_x[:, :, None] * mean_y[:, None, :])
    covariance = unbias * (mean_product - product_of_means)
    safe_var = torch.where(total_var == 0, 1.0, total_var)
    q = torch.linalg.vector_norm(covariance, dim=-1) * mean_bias * 2.0 / safe_var
    # Both blocks flat: the reference code keeps only the mean term.
    return torch.where(total_var == 0, mean_bias, q)

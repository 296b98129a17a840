"""No-reference (full-resolution) quality of a pansharpened cube: QNR and hybrid QNR.

At full resolution there is no reference, so quality is judged by consistency with the
inputs. QNR (Alparone et al. 2008) compares the Wang-Bovik Q index between pairs of bands
(spectral distortion D_lambda) and between each band and the PAN (spatial distortion D_s)
before and after fusion. The hybrid QNR (Aiazzi et al. 2014; Vivone et al. 2021) keeps
D_s and replaces D_lambda by Khan's protocol: the fused cube, blurred with the MS sensor's
MTF and decimated, must reproduce the MS cube, measured by Q2^n.

Definition followed. :func:`d_lambda` and :func:`d_s` follow the reference MATLAB toolbox of
Vivone et al. (2015, ``D_lambda.m`` / ``D_s.m`` / ``QNR.m``, default option "toolbox 1.0",
also used for D_s inside HQNR by the 2021 toolbox), ``domain="expanded"``:

* every Q is computed on disjoint ``S x S`` blocks of the PAN grid (``S = 32`` at ratio 4,
  MATLAB ``blockproc``) and averaged over blocks;
* D_lambda compares the inter-band Q of the fused cube with that of the MS *interpolated to
  the PAN grid* (EXP, :func:`hsi.degrade.resample.upsample`, the toolbox's 23-tap
  interpolator), so plain interpolation has D_lambda = 0 by construction;
* D_s compares ``Q(F_l, P)`` with ``Q(EXP_l, P_low)``, where ``P_low`` is the PAN reduced by
  antialiased bicubic resizing (MATLAB ``imresize(P, 1/ratio)``,
  :func:`hsi.degrade.resample.bicubic_downsample`) and interpolated back with the same
  23-tap interpolator;
* p = q = alpha = beta = 1.

``domain="original"`` gives the variant of the original paper (Alparone et al. 2008; the
toolbox's ``flag_orig_paper = 1``): the MS-side Q indices are computed on the delivered MS
and the reduced PAN at the MS scale, on ``S / ratio`` blocks. Passing ``pan_mtf`` to
:func:`d_s` replaces the bicubic reduction of the PAN by the PAN MTF blur and decimation
(:mod:`hsi.degrade.mtf`; an option, not the toolbox's definition).

Shapes: ``fused`` (rows, cols, bands) on the PAN grid, ``ms`` (rows / ratio, cols / ratio,
bands) as delivered (not interpolated), ``pan`` (rows, cols) or (rows, cols, 1). Blocks that
do not fit are left out. The default ``block_size`` is ``8 * ratio`` (32 at ratio 4).

Inputs may be numpy arrays or torch tensors; results are Python floats.

References
----------
L. Alparone, B. Aiazzi, S. Baronti, A. Garzelli, F. Nencini, M. Selva, "Multispectral and
panchromatic data fusion assessment without reference", Photogramm. Eng. Remote Sens.
74(2):193-200, 2008.
G. Vivone, L. Alparone, J. Chanussot, M. Dalla Mura, A. Garzelli, G. Licciardi, R. Restaino,
L. Wald, "A critical comparison among pansharpening algorithms", IEEE TGRS 53(5):2565-2586,
2015 (and its MATLAB toolbox: ``D_lambda.m``, ``D_s.m``, ``QNR.m``).
G. Vivone et al., "A new benchmark based on recent advances in multispectral pansharpening",
IEEE Geosci. Remote Sens. Mag. 9(1):53-81, 2021.
"""

from __future__ import annotations

from typing import Any

import torch

from hsi.arrays import infer_ratio, positive_float, positive_int
from hsi.degrade.mtf import degrade_pan, degrade_resolution
from hsi.degrade.resample import bicubic_downsample, upsample
from hsi.errors import InputError, ParameterError
from hsi.metrics.checks import as_float64
from hsi.metrics.quality import _q_from_moments, q2n

__all__ = ["d_lambda", "d_s", "qnr", "d_lambda_khan", "hqnr"]

DOMAINS = ("expanded", "original")
#: The default block side in MS pixels (``8 * ratio`` PAN pixels: 32 at ratio 4, the toolbox's).
BLOCK_MS_PIXELS = 8


# --- inputs -----------------------------------------------------------------------------
def _cube(array: Any, name: str, device: torch.device | None = None) -> torch.Tensor:
    cube = as_float64(array, name, device=device)
    if cube.ndim == 2:
        cube = cube[..., None]
    if cube.ndim != 3 or cube.numel() == 0:
        raise InputError(f"{name} must be (rows, cols, bands); got shape {tuple(cube.shape)}")
    return cube


def _infer_ratio(fused: torch.Tensor, ms: torch.Tensor) -> int:
    (rows, cols, bands), (ms_rows, ms_cols, ms_bands) = fused.shape, ms.shape
    if bands != ms_bands:
        raise InputError(f"fused has {bands} bands but ms has {ms_bands}")
    return infer_ratio((ms_rows, ms_cols), (rows, cols))


def _check_grid(fused: torch.Tensor, ms: torch.Tensor, pan: torch.Tensor, ratio: int) -> None:
    if pan.shape[2] != 1:
        raise InputError(f"pan must be (rows, cols) or (rows, cols, 1); got shape {tuple(pan.shape)}")
    if pan.shape[:2] != fused.shape[:2]:
        raise InputError(f"pan {tuple(pan.shape[:2])} and fused {tuple(fused.shape[:2])} must share the pixel grid")
    if _infer_ratio(fused, ms) != ratio:
        raise InputError(
            f"ratio={ratio} but fused {tuple(fused.shape[:2])} is {fused.shape[0] / ms.shape[0]:g} times "
            f"ms {tuple(ms.shape[:2])}"
        )


def _block_sizes(block_size: int | None, ratio: int, rows: int, cols: int) -> tuple[int, int]:
    """Block side on the PAN grid and on the MS grid."""
    block_size = BLOCK_MS_PIXELS * ratio if block_size is None else positive_int(block_size, "block_size", minimum=2)
    if block_size % ratio or block_size // ratio < 2:
        raise ParameterError(
            f"block_size must be a multiple of ratio={ratio} of at least {2 * ratio} "
            f"(blocks of >= 2 x 2 MS pixels); got {block_size}"
        )
    if rows < block_size or cols < block_size:
        raise InputError(f"block_size={block_size} does not fit in the {rows} x {cols} fused image")
    return block_size, block_size // ratio


# --- Q between bands on disjoint blocks -------------------------------------------------
def _blocks(cube: torch.Tensor, block: int) -> torch.Tensor:
    """(rows, cols, bands) -> (n_blocks, bands, block * block), whole blocks only."""
    rows, cols, bands = cube.shape
    rows, cols = rows - rows % block, cols - cols % block
    tiles = cube[:rows, :cols].reshape(rows // block, block, cols // block, block, bands)
    return tiles.permute(0, 2, 4, 1, 3).reshape(-1, bands, block * block)


def block_q(blocks_1: torch.Tensor, blocks_2: torch.Tensor) -> torch.Tensor:
    """Q index between every channel pair on each block: (n_blocks, n_1, n_2), differentiable.

    ``blocks_1`` (n_blocks, n_1, pixels) and ``blocks_2`` (n_blocks, n_2, pixels), e.g. from
    :func:`_blocks`; sample moments with ``pixels - 1``.
    """
    n_pixels = blocks_1.shape[-1]
    mean_x, mean_y = blocks_1.mean(-1), blocks_2.mean(-1)
    x, y = blocks_1 - mean_x[..., None], blocks_2 - mean_y[..., None]
    cov = torch.einsum("bip,bjp->bij", x, y) / (n_pixels - 1)
    var_x, var_y = (x * x).sum(-1) / (n_pixels - 1), (y * y).sum(-1) / (n_pixels - 1)
    return _q_from_moments(mean_x[:, :, None], mean_y[:, None, :], var_x[:, :, None], var_y[:, None, :], cov)


def _q_between(first: torch.Tensor, second: torch.Tensor, block: int) -> torch.Tensor:
    """(bands_1, bands_2) matrix of the Q index between every pair of bands, block-averaged."""
    blocks_1, blocks_2 = _blocks(first, block), _blocks(second, block)
    n_blocks, n_1, _ = blocks_1.shape
    n_2 = blocks_2.shape[1]
    total = first.new_zeros(n_1, n_2)
    step = max(1, (1 << 22) // max(1, n_1 * n_2))  # bound the (blocks, n_1, n_2) temporaries
    for start in range(0, n_blocks, step):
        total += block_q(blocks_1[start : start + step], blocks_2[start : start + step]).sum(0)
    return total / n_blocks


# --- QNR --------------------------------------------------------------------------------
def _check_domain(domain: str) -> str:
    if domain not in DOMAINS:
        raise ParameterError(f"domain must be one of {DOMAINS}; got {domain!r}")
    return domain


def expand_to_pan_grid(ms: torch.Tensor, ratio: int) -> torch.Tensor:
    """The MS on the PAN grid by the toolbox's 23-tap interpolator (EXP)."""
    return ms if ratio == 1 else upsample(ms, ratio)


def reduce_pan(pan: torch.Tensor, ratio: int, pan_mtf: str | float | None) -> torch.Tensor:
    """The PAN at the MS scale: bicubic ``imresize`` (toolbox) or, given ``pan_mtf``, MTF + decimation."""
    if ratio == 1:
        return pan
    if pan_mtf is None:
        return bicubic_downsample(pan, ratio)
    return degrade_pan(pan, ratio, mtf=pan_mtf)


def d_lambda(fused: Any, ms: Any, block_size: int | None = None, p: float = 1.0, domain: str = "expanded") -> float:
    """Spectral distortion of QNR: change of the inter-band Q index caused by fusion.

    ``D_lambda = (1 / (N (N - 1)) sum_{l != r} |Q(F_l, F_r) - Q(M_l, M_r)|^p)^(1/p)``.
    With ``domain="expanded"`` (the toolbox's default) ``M`` is the MS interpolated to the
    fused grid (EXP) and every Q is averaged over disjoint ``block_size`` blocks of that grid,
    so EXP itself scores 0. With ``domain="original"`` (Alparone et al. 2008) ``M`` is the
    delivered MS, on ``block_size / ratio`` blocks. The ratio is read from the shapes.

    Parameters
    ----------
    fused : (rows, cols, bands), bands >= 2
    ms : (rows / ratio, cols / ratio, bands)
        The MS cube as delivered; an MS already on the fused grid (ratio 1) is used as is.
    block_size : int, optional
        Block side on the fused grid, a multiple of the ratio; default ``8 * ratio``.
    p : float > 0
    domain : "expanded" (default) or "original"

    Returns
    -------
    float >= 0; 0 is best.

    References
    ----------
    L. Alparone, B. Aiazzi, S. Baronti, A. Garzelli, F. Nencini, M. Selva, "Multispectral
    and panchromatic data fusion assessment without reference", Photogramm. Eng. Remote
    Sens. 74(2):193-200, 2008.
    G. Vivone et al., "A critical comparison among pansharpening algorithms", IEEE TGRS
    53(5):2565-2586, 2015 (toolbox ``D_lambda.m``, option "toolbox 1.0").
    """
    p = positive_float(p, "p")
    domain = _check_domain(domain)
    fused_t = _cube(fused, "fused")
    ms_t = _cube(ms, "ms", device=fused_t.device)
    ratio = _infer_ratio(fused_t, ms_t)
    n_bands = fused_t.shape[2]
    if n_bands < 2:
        raise InputError("D_lambda compares pairs of bands: fused needs at least 2 bands; got 1")
    block, block_ms = _block_sizes(block_size, ratio, *fused_t.shape[:2])
    if domain == "expanded":
        expanded = expand_to_pan_grid(ms_t, ratio)
        q_ms = _q_between(expanded, expanded, block)
    else:
        q_ms = _q_between(ms_t, ms_t, block_ms)
    difference = (_q_between(fused_t, fused_t, block) - q_ms).abs() ** p
    off_diagonal = difference.sum() - difference.diagonal().sum()
    return float((off_diagonal / (n_bands * (n_bands - 1))) ** (1.0 / p))


def d_s(
    fused: Any,
    ms: Any,
    pan: Any,
    ratio: int,
    block_size: int | None = None,
    q: float = 1.0,
    pan_mtf: str | float | None = None,
    domain: str = "expanded",
) -> float:
    """Spatial distortion of QNR: change of the band-to-PAN Q index across scales.

    ``D_s = (1 / N sum_l |Q(F_l, P) - Q(M_l, P_low)|^q)^(1/q)``. ``P_low`` is the PAN reduced
    by ``ratio`` (antialiased bicubic, MATLAB ``imresize``, as in the toolbox). With
    ``domain="expanded"`` (the toolbox's default) ``M`` is the MS interpolated to the PAN grid
    (EXP) and ``P_low`` is interpolated back with the same 23-tap interpolator, all Q on
    ``block_size`` blocks of the PAN grid; with ``domain="original"`` (Alparone et al. 2008)
    ``Q(M_l, P_low)`` is taken at the MS scale on ``block_size / ratio`` blocks.

    Parameters
    ----------
    fused : (rows, cols, bands)
    ms : (rows / ratio, cols / ratio, bands)
    pan : (rows, cols) or (rows, cols, 1)
    ratio : int >= 1
    block_size : int, optional
        Block side on the PAN grid, a multiple of ``ratio``; default ``8 * ratio``.
    q : float > 0
    pan_mtf : None, str or float
        None (default): the toolbox's bicubic reduction of the PAN. A sensor name of
        :data:`hsi.degrade.mtf.SENSOR_MTF` or a Nyquist gain: PAN MTF blur + decimation instead.
    domain : "expanded" (default) or "original"

    Returns
    -------
    float >= 0; 0 is best.

    References
    ----------
    L. Alparone et al., "Multispectral and panchromatic data fusion assessment without
    reference", Photogramm. Eng. Remote Sens. 74(2):193-200, 2008.
    G. Vivone et al., "A critical comparison among pansharpening algorithms", IEEE TGRS
    53(5):2565-2586, 2015 (toolbox ``D_s.m``, option "toolbox 1.0").
    """
    q = positive_float(q, "q")
    ratio = positive_int(ratio, "ratio")
    domain = _check_domain(domain)
    fused_t = _cube(fused, "fused")
    ms_t = _cube(ms, "ms", device=fused_t.device)
    pan_t = _cube(pan, "pan", device=fused_t.device)
    _check_grid(fused_t, ms_t, pan_t, ratio)
    block, block_ms = _block_sizes(block_size, ratio, *fused_t.shape[:2])
    pan_low = reduce_pan(pan_t, ratio, pan_mtf)
    q_high = _q_between(fused_t, pan_t, block)[:, 0]
    if domain == "expanded":
        q_low = _q_between(expand_to_pan_grid(ms_t, ratio), expand_to_pan_grid(pan_low, ratio), block)[:, 0]
    else:
        q_low = _q_between(ms_t, pan_low, block_ms)[:, 0]
    return float(((q_high - q_low).abs() ** q).mean() ** (1.0 / q))


def qnr(
    fused: Any,
    ms: Any,
    pan: Any,
    ratio: int,
    alpha: float = 1.0,
    beta: float = 1.0,
    block_size: int | None = None,
    p: float = 1.0,
    q: float = 1.0,
    pan_mtf: str | float | None = None,
    domain: str = "expanded",
) -> float:
    """Quality with no reference: ``QNR = (1 - D_lambda)^alpha (1 - D_s)^beta``.

    See :func:`d_lambda` and :func:`d_s` for the inputs; 1 is best.

    References
    ----------
    L. Alparone, B. Aiazzi, S. Baronti, A. Garzelli, F. Nencini, M. Selva, "Multispectral
    and panchromatic data fusion assessment without reference", Photogramm. Eng. Remote
    Sens. 74(2):193-200, 2008.
    G. Vivone et al., "A critical comparison among pansharpening algorithms", IEEE TGRS
    53(5):2565-2586, 2015 (toolbox ``QNR.m``).
    """
    alpha, beta = positive_float(alpha, "alpha"), positive_float(beta, "beta")
    spatial = d_s(fused, ms, pan, ratio, block_size=block_size, q=q, pan_mtf=pan_mtf, domain=domain)
    spectral = d_lambda(fused, ms, block_size=block_size, p=p, domain=domain)
    return float((1.0 - spectral) ** alpha * (1.0 - spatial) ** beta)


# --- Hybrid QNR -------------------------------------------------------------------------
def d_lambda_khan(
    fused: Any,
    ms: Any,
    ratio: int,
    block_size: int | None = None,
    ms_mtf: str | float | Any = "generic",
) -> float:
    """Khan's spectral distortion: ``1 - Q2n(MS, decimate(MTF(fused)))``.

    The fused cube is blurred with the MS sensor's MTF, decimated by ``ratio`` and compared
    with the MS cube by Q2^n on disjoint ``block_size / ratio`` blocks of the MS grid.

    Parameters
    ----------
    fused : (rows, cols, bands)
    ms : (rows / ratio, cols / ratio, bands)
    ratio : int >= 1
    block_size : int, optional
        Block side on the fused grid, a multiple of ``ratio``; default ``8 * ratio``.
    ms_mtf : sensor name, Nyquist gain, or per-band gains
        MS MTF (see :func:`hsi.degrade.mtf.degrade_resolution`); default the generic 0.3.

    Returns
    -------
    float in [0, 1]; 0 is best.

    References
    ----------
    M. M. Khan, L. Alparone, J. Chanussot, "Pansharpening quality assessment using the
    modulation transfer functions of instruments", IEEE TGRS 47(11):3880-3891, 2009.
    """
    ratio = positive_int(ratio, "ratio")
    fused_t = _cube(fused, "fused")
    ms_t = _cube(ms, "ms", device=fused_t.device)
    if _infer_ratio(fused_t, ms_t) != ratio:
        raise InputError(
            f"ratio={ratio} but fused {tuple(fused_t.shape[:2])} is {fused_t.shape[0] / ms_t.shape[0]:g} "
            f"times ms {tuple(ms_t.shape[:2])}"
        )
    _, block_ms = _block_sizes(block_size, ratio, *fused_t.shape[:2])
    fused_low = degrade_resolution(fused_t, ratio, mtf=ms_mtf) if ratio > 1 else fused_t
    return 1.0 - q2n(ms_t, fused_low, block_size=block_ms, shift=block_ms)


def hqnr(
    fused: Any,
    ms: Any,
    pan: Any,
    ratio: int,
    alpha: float = 1.0,
    beta: float = 1.0,
    block_size: int | None = None,
    q: float = 1.0,
    ms_mtf: str | float | Any = "generic",
    pan_mtf: str | float | None = None,
) -> float:
    """Hybrid QNR: ``(1 - D_lambda^K)^alpha (1 - D_s)^beta``.

    ``D_lambda^K`` is :func:`d_lambda_khan` (Khan's form at the MS scale; the 2021 toolbox's
    ``D_lambda_K.m`` compares the MTF-blurred fused cube with EXP at the PAN scale instead),
    ``D_s`` the QNR spatial distortion :func:`d_s` (the toolbox's definition by default, as
    in the 2021 toolbox's ``HQNR.m``); 1 is best.

    References
    ----------
    B. Aiazzi, L. Alparone, S. Baronti, R. Carla, A. Garzelli, L. Santurri, "Full-scale
    assessment of pansharpening methods and data products", Proc. SPIE 9244, 2014.
    G. Vivone et al., "A new benchmark based on recent advances in multispectral
    pansharpening", IEEE Geosci. Remote Sens. Mag. 9(1):53-81, 2021.
    """
    alpha, beta = positive_float(alpha, "alpha"), positive_float(beta, "beta")
    spatial = d_s(fused, ms, pan, ratio, block_size=block_size, q=q, pan_mtf=pan_mtf)
    spectral = d_lambda_khan(fused, ms, ratio, block_size=block_size, ms_mtf=ms_mtf)
    return float((1.0 - spectral) ** alpha * (1.0 - spatial) ** beta)

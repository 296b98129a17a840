"""A torch-native block-matching and 3-D filtering (BM3D-type) denoiser for batches of images.

Used as the spatial denoiser of the subspace methods (eigen-images of FastHyDe) and on its
own for single bands. Everything is batched over images and vectorised over patches: block
matching scans the search window one row of displacements at a time, and groups are
filtered with a separable 3-D transform (2-D DCT of each patch, Haar across the group).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from hsi.arrays import as_tensor, like_input
from hsi.errors import ParameterError

# Bound on the elements of one batch of groups (memory ~ 4 bytes x this x a few).
_GROUP_ELEMENTS = 1 << 23


def _dct_matrix(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Orthonormal DCT-II matrix (n, n): row k is the k-th cosine."""
    i = torch.arange(n, dtype=torch.float64)
    basis = torch.cos(torch.pi * (2 * i[None, :] + 1) * i[:, None] / (2 * n)) * np.sqrt(2.0 / n)
    basis[0] /= np.sqrt(2.0)
    return basis.to(dtype=dtype, device=device)


def _haar_matrix(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Orthonormal Haar matrix (n, n) for n a power of two."""
    h = torch.ones(1, 1, dtype=torch.float64)
    while h.shape[0] < n:
        m = h.shape[0]
        top = torch.kron(h, torch.tensor([[1.0, 1.0]], dtype=torch.float64))
        bottom = torch.kron(torch.eye(m, dtype=torch.float64), torch.tensor([[1.0, -1.0]], dtype=torch.float64))
        h = torch.cat([top, bottom]) / np.sqrt(2.0)
    return h.to(dtype=dtype, device=device)


def _positions(size: int, patch: int, step: int, device: torch.device) -> torch.Tensor:
    """Reference patch corners along one axis: every ``step``, always including the last."""
    last = size - patch
    pos = torch.arange(0, last + 1, step, device=device)
    if pos[-1] != last:
        pos = torch.cat([pos, torch.tensor([last], device=device)])
    return pos


def _box_sum_at(values: torch.Tensor, dim: int, starts: torch.Tensor, length: int) -> torch.Tensor:
    """Sums of ``length`` consecutive entries along ``dim`` beginning at each of ``starts``."""
    shape = list(values.shape)
    shape[dim] = 1
    cum = torch.cat([torch.zeros(shape, dtype=values.dtype, device=values.device), values.cumsum(dim)], dim=dim)
    return cum.index_select(dim, starts + length) - cum.index_select(dim, starts)


def block_match(
    images: torch.Tensor, ref_y: torch.Tensor, ref_x: torch.Tensor, patch: int, radius: int, group: int
) -> torch.Tensor:
    """Indices of the ``group`` most similar patches to each reference patch.

    images : (b, rows, cols). Patches are ``patch x patch``, addressed by their top-left
    corner as ``y * (cols - patch + 1) + x``; candidates lie within ``radius`` pixels of
    the reference. Returns (b, n_refs, group), most similar first (the reference itself).
    """
    b, rows, cols = images.shape
    n_disp = 2 * radius + 1
    padded = F.pad(images, (radius, radius, radius, radius))
    dist = images.new_empty(b, ref_y.numel(), n_disp, n_disp, ref_x.numel())
    for iy in range(n_disp):
        shifted = padded[:, iy : iy + rows, :].unfold(2, cols, 1)  # (b, rows, n_disp dx, cols)
        diff2 = (shifted - images[:, :, None, :]) ** 2
        rows_sum = _box_sum_at(diff2, 1, ref_y, patch)  # (b, n_ry, n_disp, cols)
        dist[:, :, iy] = _box_sum_at(rows_sum, 3, ref_x, patch)
    offsets = torch.arange(-radius, radius + 1, device=images.device)
    match_y = ref_y[:, None] + offsets[None, :]  # (n_ry, n_disp)
    match_x = ref_x[:, None] + offsets[None, :]  # (n_rx, n_disp)
    valid_y = (match_y >= 0) & (match_y <= rows - patch)
    valid_x = (match_x >= 0) & (match_x <= cols - patch)
    valid = valid_y[:, :, None, None] & valid_x.T[None, None, :, :]  # (n_ry, dy, dx, n_rx)
    dist = dist.masked_fill(~valid[None], float("inf"))
    dist = dist.permute(0, 1, 4, 2, 3).reshape(b, ref_y.numel() * ref_x.numel(), n_disp * n_disp)
    best = dist.topk(group, dim=-1, largest=False, sorted=True).indices
    dy, dx = best // n_disp - radius, best % n_disp - radius
    ref_yy = ref_y[:, None].expand(-1, ref_x.numel()).reshape(1, -1, 1)
    ref_xx = ref_x[None, :].expand(ref_y.numel(), -1).reshape(1, -1, 1)
    return (ref_yy + dy) * (cols - patch + 1) + (ref_xx + dx)


def _filter_groups(
    images: torch.Tensor,
    sigma: torch.Tensor,
    matches: torch.Tensor,
    patch: int,
    pilot: torch.Tensor | None,
    threshold: float,
    window: torch.Tensor,
) -> torch.Tensor:
    """Collaborative filtering of matched groups and weighted aggregation.

    Hard thresholding at ``threshold * sigma`` when ``pilot`` is None (BM3D step 1),
    empirical Wiener shrinkage guided by ``pilot`` otherwise (step 2).
    """
    b, rows, cols = images.shape
    group = matches.shape[-1]
    dtype, device = images.dtype, images.device
    dct = _dct_matrix(patch, dtype, device)
    dct2 = torch.kron(dct, dct)  # (p*p, p*p) separable 2-D DCT on row-major patches
    haar = _haar_matrix(group, dtype, device)
    patches = F.unfold(images[:, None], patch).transpose(1, 2)  # (b, n_patches, p*p)
    pilot_patches = None if pilot is None else F.unfold(pilot[:, None], patch).transpose(1, 2)
    width = cols - patch + 1
    offset = (torch.arange(patch, device=device)[:, None] * cols + torch.arange(patch, device=device)[None, :]).reshape(-1)
    numerator = images.new_zeros(b * rows * cols)
    denominator = images.new_zeros(b * rows * cols)
    batch_index = torch.arange(b, device=device)[:, None, None]
    sig = sigma.reshape(b, 1, 1, 1)
    n_refs = matches.shape[1]
    chunk = max(1, _GROUP_ELEMENTS // max(b * group * patch * patch, 1))
    flat_window = window.reshape(-1)
    for start in range(0, n_refs, chunk):
        idx = matches[:, start : start + chunk]  # (b, n, group)
        groups = patches[batch_index, idx]  # (b, n, group, p*p)
        coefs = haar @ groups @ dct2.T
        if pilot_patches is None:
            keep = coefs.abs() > threshold * sig
            coefs = coefs * keep
            weight = 1.0 / keep.sum(dim=(-2, -1)).clamp_min(1).to(dtype)
        else:
            pilot_coefs = haar @ pilot_patches[batch_index, idx] @ dct2.T
            energy = pilot_coefs ** 2
            shrink = energy / (energy + sig ** 2)
            coefs = coefs * shrink
            weight = 1.0 / (shrink ** 2).sum(dim=(-2, -1)).clamp_min(1e-8)
        estimate = haar.T @ coefs @ dct2  # (b, n, group, p*p)
        y, x = idx // width, idx % width
        pixel = (y * cols + x)[..., None] + offset  # (b, n, group, p*p)
        pixel = pixel + (torch.arange(b, device=device) * rows * cols).reshape(b, 1, 1, 1)
        w = weight[:, :, None, None] * flat_window
        numerator.index_add_(0, pixel.reshape(-1), (w * estimate).reshape(-1))
        denominator.index_add_(0, pixel.reshape(-1), w.expand_as(estimate).reshape(-1))
    out = numerator / denominator.clamp_min(torch.finfo(dtype).tiny)
    return torch.where(denominator > 0, out, images.reshape(-1)).reshape(b, rows, cols)


def _power_of_two_at_most(n: int) -> int:
    return 1 << (max(int(n), 1).bit_length() - 1)


def bm3d(
    images: torch.Tensor | np.ndarray,
    sigma: torch.Tensor | np.ndarray | float,
    *,
    patch: int = 8,
    step: int = 3,
    radius: int = 12,
    group_hard: int = 16,
    group_wiener: int = 32,
    threshold: float = 2.7,
    kaiser_beta: float = 2.0,
) -> torch.Tensor | np.ndarray:
    """Denoise a batch of images corrupted by white Gaussian noise (BM3D-type, two steps).

    Step 1 groups similar patches by block matching on the noisy image, hard-thresholds
    their 3-D transform coefficients at ``threshold * sigma`` and aggregates the estimates
    (weights: inverse number of kept coefficients, Kaiser window). Step 2 matches again on
    that basic estimate and applies the empirical Wiener filter it defines to the noisy
    groups. Groups have a fixed size (a power of two) instead of BM3D's distance threshold,
    which keeps everything vectorised.

    Parameters
    ----------
    images : (b, rows, cols) or (rows, cols), any scale.
    sigma : noise standard deviation, scalar or one per image, same units as ``images``.
    patch, step : patch side and reference-patch stride, pixels.
    radius : half-size of the block-matching search window, pixels.
    group_hard, group_wiener : group sizes of steps 1 and 2 (rounded down to powers of two).
    threshold : hard threshold in units of ``sigma`` (step 1).
    kaiser_beta : shape of the Kaiser aggregation window.

    Returns
    -------
    The denoised images, same shape and kind as ``images``.

    References
    ----------
    K. Dabov, A. Foi, V. Katkovnik and K. Egiazarian, "Image denoising by sparse 3-D
    transform-domain collaborative filtering", IEEE Trans. Image Process. 16(8):2080-2095, 2007.
    """
    for name, value in (("patch", patch), ("step", step), ("group_hard", group_hard), ("group_wiener", group_wiener)):
        if int(value) < 1:
            raise ParameterError(f"{name} must be a positive integer; got {value}")
    if int(radius) < 0:
        raise ParameterError(f"radius must be >= 0; got {radius}")
    if not threshold > 0:
        raise ParameterError(f"threshold must be > 0; got {threshold}")
    x = as_tensor(images, name="images")
    single = x.ndim == 2
    if single:
        x = x[None]
    if x.ndim != 3:
        from hsi.errors import InputError

        raise InputError(f"images must be (b, rows, cols) or (rows, cols); got shape {tuple(x.shape)}")
    b, rows, cols = x.shape
    sig = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1).expand(b).clone()
    if bool((sig < 0).any()) or not bool(torch.isfinite(sig).all()):
        raise ParameterError(f"sigma must be finite and >= 0; got {sigma}")
    patch = int(min(patch, rows, cols))
    n_candidates = min(2 * radius + 1, rows - patch + 1) * min(2 * radius + 1, cols - patch + 1)
    group_hard = _power_of_two_at_most(min(group_hard, n_candidates))
    group_wiener = _power_of_two_at_most(min(group_wiener, n_candidates))
    ref_y = _positions(rows, patch, step, x.device)
    ref_x = _positions(cols, patch, step, x.device)
    kaiser = torch.kaiser_window(patch, periodic=False, beta=kaiser_beta, dtype=x.dtype, device=x.device)
    window = kaiser[:, None] * kaiser[None, :]
    safe_sig = sig.clamp_min(torch.finfo(x.dtype).tiny)
    matches = block_match(x, ref_y, ref_x, patch, radius, group_hard)
    basic = _filter_groups(x, safe_sig, matches, patch, None, threshold, window)
    matches = block_match(basic, ref_y, ref_x, patch, radius, group_wiener)
    final = _filter_groups(x, safe_sig, matches, patch, basic, threshold, window)
    final = torch.where((sig > 0).reshape(b, 1, 1), final, x)
    return like_input(final[0] if single else final, images)

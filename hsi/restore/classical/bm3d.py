"""A torch-native block-matching and 3-D filtering (BM3D-type) denoiser for batches of images.

Used as the spatial denoiser of the subspace methods (eigen-images of FastHyDe) and on its
own for single bands. Everything is batched over images and vectorised over patches: block
matching is one matrix product per tile of reference patches against the patches of the
tile's search region, and groups are filtered with a separable 3-D transform (2-D DCT of
each patch, computed once per image by two 1-D convolutions; Haar across the group, one
product per chunk of references), in chunks of references so memory stays bounded, one
image at a time.

Rounding: hard thresholding and the ranking of candidate patches are discontinuous, so any
change in the order of float32 operations moves a few coefficients across the threshold
and, through the basic estimate, a few step-2 group members; the float32 result differs from
the same algorithm in float64 by up to ~0.15 sigma at isolated pixels (about 1e-3 sigma RMS),
whatever the implementation. Tests therefore pin the arithmetic in float64.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from hsi.arrays import as_tensor, like_input
from hsi.errors import ParameterError

# Bound on the elements of one batch of groups (memory ~ 4 bytes x this x a few).
_GROUP_ELEMENTS = 1 << 20
_SQRT_HALF = float(np.sqrt(0.5))


def _dct_matrix(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Orthonormal DCT-II matrix (n, n): row k is the k-th cosine."""
    i = torch.arange(n, dtype=torch.float64)
    basis = torch.cos(torch.pi * (2 * i[None, :] + 1) * i[:, None] / (2 * n)) * np.sqrt(2.0 / n)
    basis[0] /= np.sqrt(2.0)
    return basis.to(dtype=dtype, device=device)


def _dct2_matrix(patch: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Separable 2-D DCT (p*p, p*p) acting on row-major ``patch x patch`` patches: kron(dct, dct)."""
    dct = _dct_matrix(patch, dtype, device)
    return torch.kron(dct, dct)


def _haar_matrix(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Orthonormal Haar matrix (n, n) for n a power of two."""
    h = torch.ones(1, 1, dtype=torch.float64)
    while h.shape[0] < n:
        m = h.shape[0]
        top = torch.kron(h, torch.tensor([[1.0, 1.0]], dtype=torch.float64))
        bottom = torch.kron(torch.eye(m, dtype=torch.float64), torch.tensor([[1.0, -1.0]], dtype=torch.float64))
        h = torch.cat([top, bottom]) / np.sqrt(2.0)
    return h.to(dtype=dtype, device=device)


def _haar_forward(groups: torch.Tensor, half: torch.Tensor) -> torch.Tensor:
    """Haar transform down the rows of (group, m): ``_haar_matrix(group) @ groups``, one butterfly level first.

    The orthonormal Haar matrix is ``[H_{g/2} (x_even + x_odd); x_even - x_odd] / sqrt(2)``, so
    the pair sums and differences are taken first and only the sums meet a dense matrix,
    ``half = H_{g/2} / sqrt(2)``: a quarter of the multiplies of the ``g x g`` product.
    """
    n = groups.shape[0]
    if n < 2:
        return groups
    even, odd = groups[0::2], groups[1::2]
    out = torch.empty_like(groups)
    torch.mm(half, even + odd, out=out[: n // 2])
    torch.sub(even, odd, out=out[n // 2 :]).mul_(_SQRT_HALF)
    return out


def _haar_inverse(coefs: torch.Tensor, half: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_haar_forward`: ``_haar_matrix(group).T @ coefs``."""
    n = coefs.shape[0]
    if n < 2:
        return coefs
    sums = half.T @ coefs[: n // 2]
    differences = coefs[n // 2 :] * _SQRT_HALF
    out = torch.empty_like(coefs)
    torch.add(sums, differences, out=out[0::2])
    torch.sub(sums, differences, out=out[1::2])
    return out


def _positions(size: int, patch: int, step: int, device: torch.device) -> torch.Tensor:
    """Reference patch corners along one axis: every ``step``, always including the last."""
    last = size - patch
    pos = torch.arange(0, last + 1, step, device=device)
    if pos[-1] != last:
        pos = torch.cat([pos, torch.tensor([last], device=device)])
    return pos


# Reference patches per side of one block-matching tile (tile of refs x tile of refs share one matmul).
_MATCH_TILE = 8


def _window_lookup(
    rel_y: tuple[int, ...], span_y: int, rel_x: tuple[int, ...], span_x: int, radius: int, device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Where a tile's references and their search windows lie in the tile's region of candidates.

    ``rel_y``, ``rel_x``: the references' corners relative to the region's first candidate;
    ``span_y``, ``span_x``: the region's last candidate row and column. Returns the
    references' columns in the region (n_refs,), each window's candidates (1, n_refs,
    (2 radius + 1)^2) in displacement order, and the mask of those outside the image (None
    when there are none): a candidate lies in the image exactly when it lies in the region,
    which spans every candidate of the tile that does.
    """
    offsets = torch.arange(-radius, radius + 1, device=device)
    ty, tx = torch.tensor(rel_y, device=device), torch.tensor(rel_x, device=device)
    cand_y, cand_x = ty[:, None] + offsets, tx[:, None] + offsets  # (ny, n_disp), (nx, n_disp)
    inside = (((cand_y >= 0) & (cand_y <= span_y))[:, None, :, None]
              & ((cand_x >= 0) & (cand_x <= span_x))[None, :, None, :])  # (ny, nx, n_disp, n_disp)
    region_w = span_x + 1
    refs_at = (ty[:, None] * region_w + tx[None, :]).reshape(-1)
    flat = cand_y.clamp(0, span_y)[:, None, :, None] * region_w + cand_x.clamp(0, span_x)[None, :, None, :]
    n_refs = len(rel_y) * len(rel_x)
    outside = None if bool(inside.all()) else ~inside.reshape(1, n_refs, -1)
    return refs_at, flat.reshape(1, n_refs, -1), outside


def block_match(
    images: torch.Tensor, ref_y: torch.Tensor, ref_x: torch.Tensor, patch: int, radius: int, group: int,
    joint: bool = False,
) -> torch.Tensor:
    """Indices of the ``group`` most similar patches to each reference patch.

    images : (b, rows, cols). Patches are ``patch x patch``, addressed by their top-left
    corner as ``y * (cols - patch + 1) + x``; candidates lie within ``radius`` pixels of
    the reference. Returns (b, n_refs, group), most similar first (the reference itself);
    with ``joint`` the images are the channels of one image, distances are summed over
    them and one set of groups (1, n_refs, group) is returned.

    References are taken in square tiles of ``_MATCH_TILE`` x ``_MATCH_TILE``; the patches
    of the region their search windows cover are unfolded from that crop only (memory
    bounded by the tile, not the image), and the ranking distance ``|q|^2 - 2 p.q``
    (``|p - q|^2`` less the reference's own norm) of every reference of the tile to every
    patch of the region is one matrix product. Each reference's own window is then picked
    out by a gather. The region is about ``(8 step + 2 radius)^2`` patches for ``64``
    references, a few times the ``(2 radius + 1)^2`` candidates each actually needs, which
    is the price of doing the work in one BLAS call.
    """
    _, rows, cols = images.shape
    n_disp = 2 * radius + 1
    width, height = cols - patch + 1, rows - patch + 1
    centred = images - images.mean(dim=(1, 2), keepdim=True)  # smaller norms, less cancellation
    stack = centred[None] if joint else centred[:, None]  # (b, c, rows, cols)
    # |q|^2 of every patch, once per image, as a box sum of the squared image.
    norms = (F.avg_pool2d(stack.square(), patch, stride=1) * patch**2).sum(dim=1)  # (b, height, width)
    centre = radius * n_disp + radius
    n_ry, n_rx = ref_y.numel(), ref_x.numel()
    ys, xs = ref_y.tolist(), ref_x.tolist()
    lookups: dict[tuple, tuple] = {}  # every interior tile has the same window layout
    best = images.new_empty((stack.shape[0], n_ry, n_rx, group), dtype=torch.long)
    for i0 in range(0, n_ry, _MATCH_TILE):
        ty = ys[i0 : i0 + _MATCH_TILE]
        ya, yb = max(ty[0] - radius, 0), min(ty[-1] + radius, height - 1)
        for j0 in range(0, n_rx, _MATCH_TILE):
            tx = xs[j0 : j0 + _MATCH_TILE]
            xa, xb = max(tx[0] - radius, 0), min(tx[-1] + radius, width - 1)
            key = (tuple(y - ya for y in ty), yb - ya, tuple(x - xa for x in tx), xb - xa)
            if key not in lookups:
                lookups[key] = _window_lookup(*key, radius, images.device)
            refs_at, flat, outside = lookups[key]
            cands = F.unfold(stack[:, :, ya : yb + patch, xa : xb + patch], patch)  # (b, c*p*p, region)
            region_norms = norms[:, ya : yb + 1, xa : xb + 1].reshape(norms.shape[0], 1, -1)
            dist = torch.baddbmm(region_norms, cands[:, :, refs_at].transpose(1, 2), cands, alpha=-2.0)
            window = dist.gather(2, flat.expand(dist.shape[0], -1, -1))
            if outside is not None:  # a search window cut by an edge of the image
                window.masked_fill_(outside, float("inf"))
            window[:, :, centre] = -float("inf")  # the reference itself comes first
            found = window.topk(group, dim=-1, largest=False, sorted=True).indices
            best[:, i0 : i0 + len(ty), j0 : j0 + len(tx)] = found.reshape(-1, len(ty), len(tx), group)
    best = best.reshape(best.shape[0], -1, group)  # (b, n_ry * n_rx, group)
    dy, dx = best // n_disp - radius, best % n_disp - radius
    ref_yy = ref_y[:, None].expand(-1, n_rx).reshape(1, -1, 1)
    ref_xx = ref_x[None, :].expand(n_ry, -1).reshape(1, -1, 1)
    return (ref_yy + dy) * width + (ref_xx + dx)


def _patch_spectra(images: torch.Tensor, patch: int, dct: torch.Tensor) -> torch.Tensor:
    """2-D DCT of every ``patch x patch`` patch of each image: (b, n_patches, patch**2), row-major corners.

    Coefficient ``(ky, kx)`` is column ``ky * patch + kx`` (the Kronecker DCT on row-major
    patches). Computed once per image and gathered into groups: a patch belongs to many
    groups, and transforming it once instead of once per membership is what makes grouping
    cheap. The transform is separable, so it is two 1-D convolutions (down the columns, then
    along the rows, one group per vertical frequency): ``2 patch`` products per coefficient
    instead of ``patch**2``. Channels-last output puts each patch's coefficients side by side,
    the row layout the gathers want, without a transposing copy.
    """
    b = images.shape[0]
    vertical = F.conv2d(images[:, None], dct.reshape(patch, 1, patch, 1))  # (b, ky, n_rows, cols)
    vertical = vertical.contiguous(memory_format=torch.channels_last)
    spectra = F.conv2d(vertical, dct.repeat(patch, 1).reshape(patch * patch, 1, 1, patch), groups=patch)
    return spectra.permute(0, 2, 3, 1).reshape(b, -1, patch * patch)


def _aggregate(estimate_sum: torch.Tensor, weight_sum: torch.Tensor, images: torch.Tensor, patch: int,
               dct2: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Inverse-transform the summed estimates of every patch position, window them and fold them back.

    ``estimate_sum`` is (b, n_patches, patch**2) in the DCT domain, ``weight_sum`` (b, n_patches).
    The inverse DCT is written as ``dct2.T @ estimate_sum^T`` so that it lands directly in
    ``fold``'s (b, patch**2, n_patches) layout: transposing the (n_patches, patch**2) rows
    afterwards was a strided copy costing more than the product and the fold together.
    """
    b, rows, cols = images.shape
    flat_window = window.reshape(1, -1, 1)
    numerator = F.fold(torch.matmul(dct2.T, estimate_sum.mT).mul_(flat_window), (rows, cols), patch)[:, 0]
    denominator = F.fold(weight_sum[:, None, :] * flat_window, (rows, cols), patch)[:, 0]
    out = numerator / denominator.clamp_min(torch.finfo(images.dtype).tiny)
    return torch.where(denominator > 0, out, images)


def _filter_groups(
    images: torch.Tensor,
    sigma: torch.Tensor,
    matches: torch.Tensor,
    patch: int,
    pilot: torch.Tensor | None,
    threshold: float,
    window: torch.Tensor,
    spectra: torch.Tensor | None = None,
) -> torch.Tensor:
    """Collaborative filtering of matched groups and weighted aggregation.

    Hard thresholding at ``threshold * sigma`` when ``pilot`` is None (BM3D step 1),
    empirical Wiener shrinkage guided by ``pilot`` otherwise (step 2). ``matches`` is
    (b, n_refs, group), or (1, n_refs, group) for groups shared by all images.
    ``spectra`` are the images' patch spectra if already computed (step 1's serve step 2).

    One image at a time: the (n_patches, patch**2) arrays of the pilot's spectra and of the
    summed estimates are the largest temporaries, and this keeps one image's of each.
    """
    return torch.cat([
        _filter_image_groups(
            images[i : i + 1], sigma[i : i + 1], matches[i : i + 1] if matches.shape[0] > 1 else matches, patch,
            None if pilot is None else pilot[i : i + 1], threshold, window,
            None if spectra is None else spectra[i : i + 1])
        for i in range(images.shape[0])
    ])


def _filter_image_groups(
    images: torch.Tensor,
    sigma: torch.Tensor,
    matches: torch.Tensor,
    patch: int,
    pilot: torch.Tensor | None,
    threshold: float,
    window: torch.Tensor,
    spectra: torch.Tensor | None = None,
) -> torch.Tensor:
    """:func:`_filter_groups` on a batch of images at once (arguments as there).

    Groups are gathered group-major, (group, refs x patch**2), so the Haar transform across
    each group is one matrix product for a whole chunk of references (not one tiny product
    per group). Aggregation is linear, so the weighted estimates of every group are summed
    per patch position in the DCT domain and each position is inverse-transformed, windowed
    and folded back once, instead of once per group membership.
    """
    b = images.shape[0]
    group = matches.shape[-1]
    dtype, device = images.dtype, images.device
    dct = _dct_matrix(patch, dtype, device)
    half = _haar_matrix(max(group // 2, 1), dtype, device) * _SQRT_HALF  # see _haar_forward
    if spectra is None:
        spectra = _patch_spectra(images, patch, dct)
    n_patches, n_coefs = spectra.shape[1], spectra.shape[2]
    spectra = spectra.reshape(b * n_patches, n_coefs)
    pilot_spectra = None if pilot is None else _patch_spectra(pilot, patch, dct).reshape(b * n_patches, n_coefs)
    estimate_sum = torch.zeros_like(spectra)
    weight_sum = images.new_zeros(b * n_patches)
    image_offset = (torch.arange(b, device=device) * n_patches).reshape(1, b, 1)
    sig = sigma.reshape(1, b, 1, 1)
    n_refs = matches.shape[1]
    chunk = max(1, _GROUP_ELEMENTS // max(b * group * n_coefs, 1))
    for start in range(0, n_refs, chunk):
        # (group, b, n) member indices, group-major; shared groups are the same for every image.
        members = matches[:, start : start + chunk].permute(2, 0, 1).expand(group, b, -1) + image_offset
        n = members.shape[-1]
        idx = members.reshape(-1)
        coefs = _haar_forward(spectra.index_select(0, idx).reshape(group, -1), half).reshape(group, b, n, n_coefs)
        if pilot_spectra is None:
            keep = coefs.abs() > threshold * sig
            coefs.mul_(keep)
            weight = keep.sum(dim=(0, 3)).clamp_min(1).to(dtype).reciprocal_()  # (b, n)
        else:
            shrink = _haar_forward(pilot_spectra.index_select(0, idx).reshape(group, -1), half)
            shrink = shrink.reshape(group, b, n, n_coefs).square_()
            shrink.div_(shrink + sig**2)  # empirical Wiener: |pilot|^2 / (|pilot|^2 + sigma^2)
            coefs.mul_(shrink)
            weight = shrink.square_().sum(dim=(0, 3)).clamp_min(1e-8).reciprocal_()
        estimate = _haar_inverse(coefs.reshape(group, -1), half).reshape(group, b, n, n_coefs)
        estimate.mul_(weight[None, :, :, None])
        estimate_sum.index_add_(0, idx, estimate.reshape(idx.numel(), n_coefs))
        weight_sum.index_add_(0, idx, weight[None].expand(group, b, n).reshape(-1))
    return _aggregate(estimate_sum.reshape(b, n_patches, n_coefs), weight_sum.reshape(b, n_patches), images,
                      patch, _dct2_matrix(patch, dtype, device), window)


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
    shared_groups: bool = False,
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
    shared_groups : match blocks once on all images jointly (distances summed over them)
        and filter every image with those groups, as colour BM3D filters its chrominance
        with the groups found on luminance: for images of one scene, such as FastHyDe's
        eigen-images, one matching (and one top-k) instead of ``b``.

    Returns
    -------
    The denoised images, same shape and kind as ``images``.

    References
    ----------
    K. Dabov, A. Foi, V. Katkovnik and K. Egiazarian, "Image denoising by sparse 3-D
    transform-domain collaborative filtering", IEEE Trans. Image Process. 16(8):2080-2095, 2007;
    K. Dabov et al., "Color image denoising via sparse 3D collaborative filtering with grouping
    constraint in luminance-chrominance space", IEEE ICIP 2007 (shared groups).
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
    # Groups never outgrow the smallest search window, a reference's in a corner of the image.
    n_candidates = min(radius + 1, rows - patch + 1) * min(radius + 1, cols - patch + 1)
    group_hard = _power_of_two_at_most(min(group_hard, n_candidates))
    group_wiener = _power_of_two_at_most(min(group_wiener, n_candidates))
    ref_y = _positions(rows, patch, step, x.device)
    ref_x = _positions(cols, patch, step, x.device)
    kaiser = torch.kaiser_window(patch, periodic=False, beta=kaiser_beta, dtype=x.dtype, device=x.device)
    window = kaiser[:, None] * kaiser[None, :]
    safe_sig = sig.clamp_min(torch.finfo(x.dtype).tiny)
    spectra = _patch_spectra(x, patch, _dct_matrix(patch, x.dtype, x.device))  # the noisy patches', both steps
    matches = block_match(x, ref_y, ref_x, patch, radius, group_hard, joint=shared_groups)
    basic = _filter_groups(x, safe_sig, matches, patch, None, threshold, window, spectra)
    matches = block_match(basic, ref_y, ref_x, patch, radius, group_wiener, joint=shared_groups)
    final = _filter_groups(x, safe_sig, matches, patch, basic, threshold, window, spectra)
    final = torch.where((sig > 0).reshape(b, 1, 1), final, x)
    return like_input(final[0] if single else final, images)

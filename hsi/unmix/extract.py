"""Endmember extraction from pure (or nearly pure) pixels: VCA, N-FINDR, ATGP, SPA, pp-SPA.

All functions take ``pixels`` (n_pixels, bands) and return ``endmembers`` (bands, n_endmembers)
of the same kind (numpy or torch); the indices of the chosen pixels are available through
the ``*_indices`` variants where the method picks pixels. Work is done in float64 on the
pixels' device; randomness comes only from the ``rng`` argument.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from hsi.arrays import Array, as_tensor, like_input, torch_generator
from hsi.errors import ParameterError
from hsi.unmix.checks import check_n_endmembers, check_pixels

__all__ = ["vca", "nfindr", "atgp", "spa", "pp_spa", "vca_indices", "nfindr_indices", "atgp_indices", "spa_indices", "pp_spa_neighbourhoods", "pp_spa_multiscale",
           "pseudo_points", "angular_neighbourhoods"]


def _prepare(pixels: Array, n_endmembers: int) -> tuple[torch.Tensor, int]:
    data = as_tensor(pixels)
    check_pixels(data)
    k = check_n_endmembers(n_endmembers, data.shape[0], data.shape[1])
    return data.to(torch.float64), k


def _top_eigvecs(matrix: torch.Tensor, n: int) -> torch.Tensor:
    """The ``n`` leading eigenvectors (columns) of a symmetric matrix."""
    _, vectors = torch.linalg.eigh(matrix)
    return vectors[:, -n:].flip(1) if n > 0 else vectors[:, :0]


def _pca_project(data: torch.Tensor, n_components: int) -> torch.Tensor:
    """Mean-removed data projected on its ``n_components`` principal axes, (n_pixels, n_components)."""
    centered = data - data.mean(dim=0)
    basis = _top_eigvecs(centered.T @ centered / data.shape[0], n_components)
    return centered @ basis


def _endmembers_from(pixels: Array, data: torch.Tensor, indices: torch.Tensor):
    chosen = as_tensor(pixels)[indices.to(as_tensor(pixels).device)].T.contiguous()
    return like_input(chosen, pixels)


# --- VCA -----------------------------------------------------------------------------------


def vca_indices(pixels: Array, n_endmembers: int, rng=None, *, snr_db: float | None = None) -> torch.Tensor:
    """Indices of the pixels chosen by VCA (see :func:`vca`)."""
    data, k = _prepare(pixels, n_endmembers)
    generator = torch_generator(rng, data.device)
    n_pixels, n_bands = data.shape
    if snr_db is None:
        snr_db = _vca_snr_db(data, k)
    threshold_db = 15.0 + 10.0 * math.log10(k)
    if snr_db > threshold_db:
        # Projective projection onto the k-dim signal subspace (no mean removal).
        basis = _top_eigvecs(data.T @ data / n_pixels, k)
        reduced = data @ basis
        mean = reduced.mean(dim=0)
        denom = reduced @ mean
        denom = torch.where(denom.abs() < 1e-300, torch.full_like(denom, 1e-300), denom)
        projected = reduced / denom[:, None]
    else:
        # Low SNR: (k-1)-dim affine subspace, lifted by a constant coordinate.
        reduced = _pca_project(data, k - 1)
        lift = reduced.norm(dim=1).max()
        projected = torch.cat([reduced, lift.expand(n_pixels, 1)], dim=1)
    basis_matrix = torch.zeros(k, k, dtype=data.dtype, device=data.device)
    basis_matrix[-1, 0] = 1.0
    indices = torch.empty(k, dtype=torch.int64, device=data.device)
    for i in range(k):
        direction = torch.randn(k, 1, generator=generator, dtype=data.dtype, device=data.device)
        orth = direction - basis_matrix @ (torch.linalg.pinv(basis_matrix) @ direction)
        orth = orth / orth.norm().clamp_min(1e-300)
        scores = (projected @ orth).abs().squeeze(1)
        indices[i] = torch.argmax(scores)
        basis_matrix[:, i] = projected[indices[i]]
    return indices


def _vca_snr_db(data: torch.Tensor, k: int) -> float:
    """VCA's SNR estimate from the signal power in the k-dim subspace (Nascimento 2005, eq. 13)."""
    n_pixels, n_bands = data.shape
    mean = data.mean(dim=0)
    centered = data - mean
    basis = _top_eigvecs(centered.T @ centered / n_pixels, k)
    power_total = float((data**2).mean() * n_bands)
    power_signal = float(((centered @ basis) ** 2).sum() / n_pixels + mean @ mean)
    denom = power_total - power_signal
    if denom <= 0:
        return float("inf")
    numer = power_signal - k / n_bands * power_total
    return 10.0 * math.log10(max(numer, 1e-300) / denom)


def vca(pixels: Array, n_endmembers: int, rng=None, *, snr_db: float | None = None):
    """Vertex component analysis.

    Projects the data onto its signal subspace (projectively at high SNR, affinely at low
    SNR), then repeatedly projects it onto a random direction orthogonal to the endmembers
    found so far and takes the extreme pixel as the next endmember.

    Parameters
    ----------
    pixels : (n_pixels, bands) array or tensor.
    n_endmembers : number of endmembers k (<= bands).
    rng : seed, numpy Generator or torch Generator for the random directions.
    snr_db : signal-to-noise ratio in dB; estimated from the data when None.

    Returns
    -------
    endmembers : (bands, k), pixels of the input.

    References
    ----------
    J. M. P. Nascimento and J. M. Bioucas-Dias, "Vertex component analysis: a fast algorithm
    to unmix hyperspectral data", IEEE TGRS 43(4), 2005.
    """
    indices = vca_indices(pixels, n_endmembers, rng, snr_db=snr_db)
    return _endmembers_from(pixels, None, indices)


# --- ATGP and SPA --------------------------------------------------------------------------


def _successive_projection(data: torch.Tensor, k: int) -> torch.Tensor:
    """Greedy max-norm selection with orthogonal projection after each pick."""
    residual_norms = (data**2).sum(dim=1)
    basis = torch.zeros(data.shape[1], 0, dtype=data.dtype, device=data.device)
    indices = torch.empty(k, dtype=torch.int64, device=data.device)
    for i in range(k):
        index = torch.argmax(residual_norms)
        indices[i] = index
        vector = data[index] - basis @ (basis.T @ data[index])
        # Re-orthogonalise once for stability (classical Gram-Schmidt twice).
        vector = vector - basis @ (basis.T @ vector)
        norm = vector.norm()
        if norm <= 1e-12 * data[index].norm().clamp_min(1e-300):
            residual_norms[index] = -torch.inf
            vector = torch.zeros_like(vector)
        else:
            vector = vector / norm
        basis = torch.cat([basis, vector[:, None]], dim=1)
        residual_norms = residual_norms - (data @ vector) ** 2
        residual_norms[indices[: i + 1]] = -torch.inf
    return indices


def atgp_indices(pixels: Array, n_endmembers: int, rng=None) -> torch.Tensor:
    """Indices of the pixels chosen by ATGP (see :func:`atgp`)."""
    data, k = _prepare(pixels, n_endmembers)
    return _successive_projection(data, k)


def atgp(pixels: Array, n_endmembers: int, rng=None):
    """Automatic target generation process.

    Starts from the brightest pixel and repeatedly takes the pixel with the largest
    residual after orthogonal projection onto the targets found so far.

    Parameters
    ----------
    pixels : (n_pixels, bands) array or tensor.
    n_endmembers : number of endmembers k.

    Returns
    -------
    endmembers : (bands, k), pixels of the input.

    References
    ----------
    H. Ren and C.-I Chang, "Automatic spectral target recognition in hyperspectral imagery",
    IEEE TAES 39(4), 2003.
    """
    return _endmembers_from(pixels, None, atgp_indices(pixels, n_endmembers))


def spa_indices(pixels: Array, n_endmembers: int, rng=None) -> torch.Tensor:
    """Indices of the pixels chosen by SPA (see :func:`spa`)."""
    data, k = _prepare(pixels, n_endmembers)
    sums = data.sum(dim=1, keepdim=True)
    if bool((sums > 0).all()):
        data = data / sums
    return _successive_projection(data, k)


def spa(pixels: Array, n_endmembers: int, rng=None):
    """Successive projection algorithm for separable NMF.

    Pixels are first scaled to unit l1 norm (sum of bands), which maps non-negative mixtures
    of any brightness onto the simplex of the endmembers; then the max-norm pixel is taken and
    the data projected onto its orthogonal complement, k times.

    Parameters
    ----------
    pixels : (n_pixels, bands) non-negative array or tensor.
    n_endmembers : number of endmembers k.

    Returns
    -------
    endmembers : (bands, k), pixels of the input (original scale).

    References
    ----------
    N. Gillis and S. A. Vavasis, "Fast and robust recursive algorithms for separable
    nonnegative matrix factorization", IEEE TPAMI 36(4), 2014.
    """
    return _endmembers_from(pixels, None, spa_indices(pixels, n_endmembers))


# --- N-FINDR -------------------------------------------------------------------------------


def nfindr_indices(pixels: Array, n_endmembers: int, rng=None, *, max_sweeps: int = 10) -> torch.Tensor:
    """Indices of the pixels chosen by N-FINDR (see :func:`nfindr`)."""
    data, k = _prepare(pixels, n_endmembers)
    if max_sweeps < 1:
        raise ParameterError(f"max_sweeps must be >= 1; got {max_sweeps}")
    if k == 1:
        return torch.argmax((data**2).sum(dim=1)).reshape(1)
    reduced = _pca_project(data, k - 1)
    lifted = torch.cat([torch.ones_like(reduced[:, :1]), reduced], dim=1)  # (n, k)
    # Start from ATGP's picks in the reduced space: deterministic and already spread out.
    indices = _successive_projection(lifted, k) if rng is None else torch.randperm(
        data.shape[0], generator=torch_generator(rng, data.device), device=data.device
    )[:k]
    simplex = lifted[indices].T.clone()  # (k, k): one vertex per column
    for _ in range(max_sweeps):
        changed = False
        for j in range(k):
            # det is linear in column j: det(M with column j = v) = adj(M)[j] @ v.
            cofactors = torch.linalg.pinv(simplex)[j] * torch.linalg.det(simplex)
            if float(torch.linalg.det(simplex).abs()) < 1e-300:
                cofactors = _cofactor_row(simplex, j)
            volumes = (lifted @ cofactors).abs()
            best = int(torch.argmax(volumes))
            if volumes[best] > (lifted[indices[j]] @ cofactors).abs() * (1 + 1e-12) and best != int(indices[j]):
                indices[j] = best
                simplex[:, j] = lifted[best]
                changed = True
        if not changed:
            break
    return indices


def _cofactor_row(matrix: torch.Tensor, j: int) -> torch.Tensor:
    """Row j of the adjugate, by explicit minors (used only when the simplex is degenerate)."""
    k = matrix.shape[0]
    row = torch.empty(k, dtype=matrix.dtype, device=matrix.device)
    keep_cols = [c for c in range(k) if c != j]
    for i in range(k):
        keep_rows = [r for r in range(k) if r != i]
        minor = matrix[keep_rows][:, keep_cols]
        row[i] = (-1) ** (i + j) * torch.linalg.det(minor)
    return row


def nfindr(pixels: Array, n_endmembers: int, rng=None, *, max_sweeps: int = 10):
    """N-FINDR: the pixels spanning the simplex of largest volume.

    Works in the (k-1)-dim principal subspace; each sweep replaces every vertex in turn by
    the pixel that maximises the simplex volume (all pixels scored at once through the
    cofactor expansion of the volume determinant), until a sweep changes nothing.

    Parameters
    ----------
    pixels : (n_pixels, bands) array or tensor.
    n_endmembers : number of endmembers k.
    rng : None starts from ATGP's picks (deterministic); a seed/generator starts from random pixels.
    max_sweeps : maximum number of passes over the k vertices.

    Returns
    -------
    endmembers : (bands, k), pixels of the input.

    References
    ----------
    M. E. Winter, "N-FINDR: an algorithm for fast autonomous spectral end-member determination
    in hyperspectral data", Proc. SPIE 3753, 1999.
    """
    return _endmembers_from(pixels, None, nfindr_indices(pixels, n_endmembers, rng, max_sweeps=max_sweeps))


# --- pp-SPA --------------------------------------------------------------------------------


def pp_spa(
    pixels: Array,
    n_endmembers: int,
    *,
    n_neighbors: int | None = None,
    prune_fraction: float = 0.1,
    max_pixels: int = 20000,
    rng=None,
):
    """Pseudo-point SPA: hyperplane projection, KNN denoising, then successive projection.

    1. Project the pixels onto the best-fitting (k-1)-dim affine hyperplane (PCA), which
       removes the noise orthogonal to the simplex.
    2. Replace every point by the average of its ``n_neighbors`` nearest neighbours in that
       hyperplane ("pseudo-points"), after pruning the ``prune_fraction`` of points whose
       neighbourhood is the widest (isolated outliers).
    3. Run SPA on the pseudo-points lifted by a constant coordinate; each endmember is the
       average of the original spectra of the chosen pseudo-point's neighbours.

    Parameters
    ----------
    pixels : (n_pixels, bands) array or tensor.
    n_endmembers : number of endmembers k.
    n_neighbors : neighbours averaged per pseudo-point (default ``ceil(log(n_pixels))``, as
        the paper's analysis suggests a logarithmic neighbourhood).
    prune_fraction : fraction of points with the largest neighbourhood radius removed
        before SPA, in [0, 0.5).
    max_pixels : the neighbour search runs on at most this many randomly drawn pixels.
    rng : seed or generator for that draw.

    Returns
    -------
    endmembers : (bands, k), denoised spectra (averages of pixels), same kind as ``pixels``.

    References
    ----------
    J. Jin, Z. T. Ke, G. Moryoussef, J. Tang and J. Wang, "Improved algorithm and bounds for
    successive projection", ICLR 2024.
    """
    data, k = _prepare(pixels, n_endmembers)
    if data.shape[0] > max_pixels:
        keep = torch.randperm(data.shape[0], generator=torch_generator(rng, data.device), device=data.device)[:max_pixels]
        data = data[keep]
    neighbourhoods = pp_spa_neighbourhoods(data, k, n_neighbors=n_neighbors, prune_fraction=prune_fraction)
    endmembers = data[neighbourhoods].mean(dim=1).T.contiguous()
    return like_input(endmembers.to(as_tensor(pixels).dtype), pixels)


def pp_spa_neighbourhoods(
    data: torch.Tensor, n_endmembers: int, *, n_neighbors: int | None = None, prune_fraction: float = 0.1
) -> torch.Tensor:
    """The pixels averaged into each pp-SPA endmember: (k, n_neighbors) indices into ``data``.

    ``data`` is a finite (n_pixels, bands) tensor; see :func:`pp_spa` for the steps.
    """
    n = data.shape[0]
    n_neighbors = max(1, math.ceil(math.log(n))) if n_neighbors is None else int(n_neighbors)
    return pp_spa_multiscale(data, n_endmembers, (n_neighbors,), prune_fraction=prune_fraction)[0]


def pp_spa_multiscale(
    data: torch.Tensor, n_endmembers: int, sizes, *, prune_fraction: float = 0.1
) -> list[torch.Tensor]:
    """pp-SPA neighbourhoods for several neighbourhood sizes, sharing one projection and one
    nearest-neighbour search (the largest size's); one (k, size) index tensor per size."""
    k = n_endmembers
    if not 0.0 <= prune_fraction < 0.5:
        raise ParameterError(f"prune_fraction must be in [0, 0.5); got {prune_fraction}")
    n = data.shape[0]
    sizes = [int(size) for size in sizes]
    for size in sizes:
        if not 1 <= size <= n:
            raise ParameterError(f"n_neighbors must be in [1, {n}]; got {size}")
    data = data.to(torch.float64)
    reduced = _pca_project(data, max(k - 1, 1))
    neighbours_all, distances_all = _knn(reduced, max(sizes))
    n_keep = n - int(prune_fraction * n)
    result = []
    for size in sizes:
        neighbours = neighbours_all[:, :size]
        pseudo = reduced[neighbours].mean(dim=1)
        kept = torch.argsort(distances_all[:, size - 1])[:n_keep]
        lifted = torch.cat([torch.ones_like(pseudo[kept, :1]), pseudo[kept]], dim=1)
        result.append(neighbours[kept[_successive_projection(lifted, k)]])
    return result


def angular_neighbourhoods(data: torch.Tensor, n_endmembers: int, n_neighbors: int) -> torch.Tensor:
    """Each pixel's ``n_neighbors`` nearest pixels by spectral shape: (n_pixels, n_neighbors) indices.

    pp-SPA's neighbour search (the (k-1)-dim principal hyperplane, Euclidean distance there),
    run on the pixels scaled to unit l2 norm. A fixed count of Euclidean neighbours spans a
    spectral angle inversely proportional to brightness, so on reflectance a dark material
    (water, shade) would be averaged with far more different spectra than a bright one;
    scaled to unit norm, every pixel's neighbourhood has the same angular reach, and pixels
    that differ only by illumination are neighbours. Itself is always its first neighbour.
    """
    k = int(n_endmembers)
    data = data.to(torch.float64)
    unit = data / data.norm(dim=1, keepdim=True).clamp_min(torch.finfo(data.dtype).tiny)
    return _knn(_pca_project(unit, max(k - 1, 1)), int(n_neighbors))[0]


def pseudo_points(pixels: Array, n_endmembers: int, *, n_neighbors: int | None = None):
    """Pixels denoised by averaging each with its nearest neighbours in spectral shape.

    Every pixel is replaced by the mean of the original spectra of its ``n_neighbors``
    nearest pixels (:func:`angular_neighbourhoods`): pp-SPA's pseudo-points, which shrink
    the noise of the points that lie at the vertices of the data simplex (where vertex
    seekers and archetypes sit) by about ``sqrt(n_neighbors)`` at a bias of the order of the
    neighbourhood radius. Each pseudo-point is a convex combination of pixels, so convex
    combinations of pseudo-points are still convex combinations of the pixels.

    Parameters
    ----------
    pixels : (n_pixels, bands) array or tensor.
    n_endmembers : number of endmembers k (sets the (k-1)-dim hyperplane of the search).
    n_neighbors : pixels averaged per pseudo-point, itself included (default
        ``ceil(log(n_pixels))``, the paper's logarithmic neighbourhood); 1 returns the pixels.

    Returns
    -------
    pseudo : (n_pixels, bands), same kind and dtype as ``pixels``.

    References
    ----------
    J. Jin, Z. T. Ke, G. Moryoussef, J. Tang and J. Wang, "Improved algorithm and bounds for
    successive projection", ICLR 2024.
    """
    data, k = _prepare(pixels, n_endmembers)
    n = data.shape[0]
    n_neighbors = max(1, math.ceil(math.log(n))) if n_neighbors is None else int(n_neighbors)
    if not 1 <= n_neighbors <= n:
        raise ParameterError(f"n_neighbors must be in [1, {n}] (the number of pixels); got {n_neighbors}")
    if n_neighbors == 1:
        return pixels
    neighbours = angular_neighbourhoods(data, k, n_neighbors)
    pseudo = torch.zeros_like(data)
    for column in neighbours.T:  # one gather at a time: memory n x bands, not n x K x bands
        pseudo += data[column]
    pseudo /= n_neighbors
    return like_input(pseudo.to(as_tensor(pixels).dtype), pixels)


def _knn(points: torch.Tensor, n_neighbors: int, chunk: int = 2048, margin: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (n, n_neighbors) of each point's nearest neighbours (itself included, nearest
    first) and their distances (n, n_neighbors), by chunked brute force.

    The n x n distance scores are the whole cost, so they are ranked in float32 with one fused
    matrix product per chunk (``||p||^2 - 2 p.q``: the query's own norm does not change its
    ranking); ``margin`` extra candidates absorb float32 rounding, and the candidates are
    re-ranked by their exact distances in the points' dtype, so the neighbours are those of
    an exact search.
    """
    n = points.shape[0]
    n_candidates = min(n, n_neighbors + margin)
    indices = torch.empty(n, n_neighbors, dtype=torch.int64, device=points.device)
    distances = torch.empty(n, n_neighbors, dtype=points.dtype, device=points.device)
    centred = points - points.mean(dim=0)  # distances are shift-invariant; centring keeps float32 accurate
    single = centred.to(torch.float32)
    squared = (single**2).sum(dim=1)
    squared_exact = (centred**2).sum(dim=1)
    for start in range(0, n, chunk):
        block = single[start : start + chunk]
        scores = torch.addmm(squared[None, :], block, single.T, alpha=-2.0)
        candidates = torch.topk(scores, n_candidates, dim=1, largest=False, sorted=False).indices
        query = centred[start : start + chunk]
        # the exact search's own formula, so ties break as they did in float64
        exact = squared_exact[start : start + chunk, None] - 2 * torch.einsum("qd,qcd->qc", query, centred[candidates]) + squared_exact[candidates]
        values, order = torch.topk(exact, n_neighbors, dim=1, largest=False, sorted=True)
        indices[start : start + chunk] = torch.gather(candidates, 1, order)
        distances[start : start + chunk] = values.clamp_min(0).sqrt()
    return indices, distances

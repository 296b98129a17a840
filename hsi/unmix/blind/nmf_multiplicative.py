"""The multiplicative-update NMF solver shared by the NMF unmixing methods (L1/2, correntropy, SS-NMF, RLSU).

Notation inside the NMF modules follows the papers: ``X`` (bands, n_pixels) data,
``M`` (bands, k) endmembers, ``S`` (k, n_pixels) abundances, ``X ≈ M S``. Public functions
take pixels (n_pixels, bands) and return endmembers (bands, k) and abundances (n_pixels, k)
like the rest of :mod:`hsi.unmix`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch

from hsi.arrays import Array, as_tensor, like_input, positive_float, positive_int, torch_generator
from hsi.errors import ParameterError
from hsi.unmix.abundance import fcls
from hsi.unmix.checks import check_n_endmembers, check_pixels
from hsi.unmix.extract import vca

TINY = 1e-9  # floor of the multiplicative updates' denominators and of S (S^(p-1) must stay finite)
INIT_FLOOR = 1e-3  # multiplicative updates cannot revive an exact zero of the FCLS start
MIN_ITER = 200  # iterations run before the stopping test may end the updates


@dataclass
class Problem:
    """The data of one factorisation and the scale-free units its weights are expressed in.

    data : (bands, n_pixels) ``X``, clamped to be non-negative (multiplicative updates need it).
    pixel_energy : mean squared pixel norm ``mean_n ||x_n||^2``: the scale of the fit term's
        gradient with respect to ``S``; every penalty weight is multiplied by it, so a method
        gives the same answer for data in reflectance, in DN or after L2 normalisation.
    delta : weight of the sum-to-one row appended to ``X`` and ``M``.
    """

    data: torch.Tensor
    pixel_energy: float
    delta: float


def check_iterations(max_iter, tol) -> tuple[int, float]:
    """``max_iter`` (integer >= 1) and ``tol`` (>= 0), or a ParameterError naming the bad one."""
    return positive_int(max_iter, "max_iter"), positive_float(tol, "tol", allow_zero=True)


def prepare(pixels: Array, n_endmembers: int, *, delta: float, device=None) -> tuple[torch.Tensor, Problem]:
    """Validate the inputs; return the pixel tensor and the factorisation problem.

    ``delta`` is relative to the root-mean-square pixel norm (the appended row ``delta * 1``
    then weighs the sum-to-one violation like ``delta`` pixel norms, whatever the data scale).
    """
    pixels_t = as_tensor(pixels, device=device)
    check_pixels(pixels_t)
    check_n_endmembers(n_endmembers, pixels_t.shape[0], pixels_t.shape[1])
    delta = positive_float(delta, "delta", allow_zero=True)
    data = pixels_t.T.clamp_min(0.0)
    energy = float(data.pow(2).sum(dim=0).mean())
    if energy <= 0:
        raise ParameterError("pixels are all zero (or negative): nothing to factorise")
    return pixels_t, Problem(data=data.contiguous(), pixel_energy=energy, delta=delta * math.sqrt(energy))


class Task(NamedTuple):
    """One validated NMF run: what :func:`setup` returns and :func:`solve` consumes.

    original : the user's ``pixels`` (numpy or torch: the kind of the results).
    pixels : (n_pixels, bands) tensor. problem : see :class:`Problem`.
    sparsity : absolute sparsity weight ``lambda`` (0: none). max_iter, tol : checked.
    """

    original: Array
    pixels: torch.Tensor
    problem: Problem
    sparsity: float
    max_iter: int
    tol: float


def setup(pixels: Array, n_endmembers: int, *, sparsity, sparsity_scale, delta, max_iter, tol, device=None) -> Task:
    """The checks and data preparation shared by the NMF methods (see ``nmf_l12`` for the parameters)."""
    max_iter, tol = check_iterations(max_iter, tol)
    pixels_t, problem = prepare(pixels, n_endmembers, delta=delta, device=device)
    weight = sparsity_weight(problem, sparsity, sparsity_scale)
    return Task(pixels, pixels_t, problem, weight, max_iter, tol)


def solve(task: Task, endmembers: torch.Tensor, abundances: torch.Tensor, **options):
    """:func:`multiplicative_updates` from the given start; endmembers (bands, k) and abundances
    (n_pixels, k) in the input's kind. ``options``: the engine's keyword arguments."""
    endmembers, abundances, _ = multiplicative_updates(task.problem, endmembers, abundances,
                                                       max_iter=task.max_iter, tol=task.tol, **options)
    return finish(task.original, endmembers, abundances)


def sparsity_weight(problem: Problem, sparsity: float | None, sparsity_scale: float) -> float:
    """Absolute ``lambda`` from the relative setting (see :func:`hsi.unmix.blind.nmf_sparse.nmf_l12`)."""
    if sparsity is None:
        relative = positive_float(sparsity_scale, "sparsity_scale", allow_zero=True) * hoyer_sparsity_weight(problem.data)
    else:
        relative = positive_float(sparsity, "sparsity", allow_zero=True)
    return relative * problem.pixel_energy


def l12_penalty_gradient(weight: float):
    """Gradient ``(weight / 2) S^(-1/2)`` of ``weight * sum_ij S_ij^(1/2)``, for the S update."""
    return lambda abundances: (0.5 * weight) * abundances.rsqrt()


def l12_penalty(weight: float):
    """:func:`l12_penalty_gradient`, or None (no penalty) when ``weight`` is 0."""
    return l12_penalty_gradient(weight) if weight > 0 else None


def vca_fcls_init(pixels: torch.Tensor, n_endmembers: int, rng) -> tuple[torch.Tensor, torch.Tensor]:
    """VCA endmembers (bands, k) and their FCLS abundances as ``S`` (k, n_pixels), floored above 0."""
    generator = torch_generator(rng)
    endmembers = as_tensor(vca(pixels, n_endmembers, rng=generator), dtype=pixels.dtype, device=pixels.device)
    abundances = as_tensor(fcls(pixels, endmembers), dtype=pixels.dtype, device=pixels.device).T
    abundances = abundances.clamp_min(INIT_FLOOR)
    return endmembers.clamp_min(TINY).contiguous(), (abundances / abundances.sum(dim=0, keepdim=True)).contiguous()


def weighted_vca_fcls_init(pixels: torch.Tensor, n_endmembers: int, rng, band_weights: torch.Tensor):
    """Like :func:`vca_fcls_init`, with the bands scaled by ``sqrt(band_weights)`` for VCA's
    choice of pixels and for FCLS (robust methods: a band of pure noise must not pick them)."""
    from hsi.unmix.extract import vca_indices

    scale = band_weights.sqrt().to(pixels.dtype)
    weighted = pixels * scale
    indices = torch.as_tensor(vca_indices(weighted, n_endmembers, torch_generator(rng)), device=pixels.device)
    endmembers = pixels[indices].T.clamp_min(TINY).contiguous()
    abundances = as_tensor(fcls(weighted, endmembers * scale[:, None]), dtype=pixels.dtype, device=pixels.device).T
    abundances = abundances.clamp_min(INIT_FLOOR)
    return endmembers, (abundances / abundances.sum(dim=0, keepdim=True)).contiguous()


def noise_weighted_init(pixels: torch.Tensor, n_endmembers: int, rng, noise_to_weights):
    """The robust methods' start: :func:`weighted_vca_fcls_init` with the band weights
    ``noise_to_weights(noise variance per band)`` (bands,), or :func:`vca_fcls_init` when
    there are too few pixels to estimate the noise."""
    noise = noise_energy_per_band(pixels)
    if noise is None:
        return vca_fcls_init(pixels, n_endmembers, rng)
    return weighted_vca_fcls_init(pixels, n_endmembers, rng, noise_to_weights(noise))


def noise_energy_per_band(pixels: torch.Tensor) -> torch.Tensor | None:
    """Noise variance of every band (HySime's regression estimate), or None with too few pixels."""
    from hsi.estimate.noise import estimate_noise_regression

    if pixels.shape[0] <= pixels.shape[1] + 1:
        return None
    _, covariance = estimate_noise_regression(pixels)
    return covariance.diagonal().clamp_min(0)


def augmented(data: torch.Tensor, endmembers: torch.Tensor, delta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``[X; delta 1^T]`` and ``[M; delta 1^T]``: least squares on these adds ``delta^2 (1 - sum s)^2``
    per pixel, the usual way multiplicative updates enforce sum-to-one (Heinz & Chang 2001)."""
    if delta == 0:
        return data, endmembers
    row_x = torch.full((1, data.shape[1]), delta, dtype=data.dtype, device=data.device)
    row_m = torch.full((1, endmembers.shape[1]), delta, dtype=data.dtype, device=data.device)
    return torch.cat([data, row_x]), torch.cat([endmembers, row_m])


def hoyer_sparsity_weight(data: torch.Tensor) -> float:
    """The L1/2-NMF paper's data-driven regularisation weight, in [0, 1].

    ``lambda = (1/sqrt(L)) sum_l (sqrt(N) - ||x_l||_1 / ||x_l||_2) / (sqrt(N) - 1)`` over the
    band rows ``x_l`` (Qian et al. 2011, Sec. IV, after Hoyer's sparseness measure).
    """
    n_bands, n_pixels = data.shape
    root_n = math.sqrt(n_pixels)
    if n_pixels < 2:
        return 0.0
    ratio = data.abs().sum(dim=1) / data.norm(dim=1).clamp_min(1e-300)
    return float(((root_n - ratio) / (root_n - 1)).sum() / math.sqrt(n_bands))


def relative_change(previous: float, current: float) -> float:
    return abs(previous - current) / max(abs(previous), 1e-300)


def finish(pixels: Array, endmembers: torch.Tensor, abundances_ks: torch.Tensor):
    """Endmembers (bands, k) and abundances (n_pixels, k) in the input's kind (numpy/torch)."""
    return like_input(endmembers, pixels), like_input(abundances_ks.T.contiguous(), pixels)


# --- pixel graphs (SS-NMF's structured term, RRLbS's guidance map) ---------------------------


def lattice_graph(pixels: torch.Tensor, image_shape: tuple[int, int], *, connectivity: int = 8) -> torch.Tensor:
    """Sparse symmetric (n, n) affinity between lattice neighbours of a row-major image.

    ``w_ij = exp(-||x_i - x_j||^2 / sigma^2)`` with ``sigma^2`` the mean squared spectral
    distance over all edges (so the weights are scale-free).

    Parameters
    ----------
    pixels : (rows * cols, bands), row-major order of the (rows, cols) grid.
    image_shape : (rows, cols).
    connectivity : 4 or 8.
    """
    rows, cols = _check_shape(image_shape, pixels.shape[0])
    if connectivity not in (4, 8):
        raise ParameterError(f"connectivity must be 4 or 8; got {connectivity!r}")
    index = torch.arange(rows * cols, device=pixels.device).reshape(rows, cols)
    offsets = [(0, 1), (1, 0)] + ([(1, 1), (1, -1)] if connectivity == 8 else [])
    sources, targets = [], []
    for d_row, d_col in offsets:
        col_from, col_to = max(0, -d_col), cols - max(0, d_col)
        sources.append(index[: rows - d_row, col_from:col_to].reshape(-1))
        targets.append(index[d_row:, col_from + d_col: col_to + d_col].reshape(-1))
    return _affinity(pixels, torch.cat(sources), torch.cat(targets))


def knn_graph(pixels: torch.Tensor, *, n_neighbors: int = 8, chunk: int = 2048) -> torch.Tensor:
    """Sparse symmetric (n, n) affinity between spectral nearest neighbours (no image grid known).

    Each pixel links to its ``n_neighbors`` nearest pixels in Euclidean spectral distance;
    the graph is symmetrised by summing ``W + W^T``; weights as in :func:`lattice_graph`.
    """
    n = pixels.shape[0]
    n_neighbors = min(int(n_neighbors), n - 1)
    if n_neighbors < 1:
        raise ParameterError(f"a pixel graph needs at least 2 pixels; got {n}")
    squared = pixels.pow(2).sum(dim=1)
    neighbours = []
    for start in range(0, n, chunk):
        block = pixels[start:start + chunk]
        distances = squared[start:start + chunk, None] - 2 * block @ pixels.T + squared[None, :]
        distances[torch.arange(block.shape[0]), torch.arange(start, start + block.shape[0])] = torch.inf
        neighbours.append(distances.topk(n_neighbors, dim=1, largest=False).indices)
    targets = torch.cat(neighbours).reshape(-1)
    sources = torch.arange(n, device=pixels.device).repeat_interleave(n_neighbors)
    return _affinity(pixels, sources, targets)


def pixel_graph(pixels: torch.Tensor, image_shape: tuple[int, int] | None) -> torch.Tensor:
    """The 8-neighbour lattice graph when the image grid is known, else the spectral 8-NN graph."""
    if image_shape is None:
        return knn_graph(pixels)
    return lattice_graph(pixels, image_shape)


def _check_shape(image_shape, n_pixels: int) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in image_shape)
    except (TypeError, ValueError):
        raise ParameterError(f"image_shape must be (rows, cols); got {image_shape!r}") from None
    if rows < 1 or cols < 1 or rows * cols != n_pixels:
        raise ParameterError(f"image_shape={tuple(image_shape)} does not hold the {n_pixels} pixels given "
                             "(pixels must be the whole image in row-major order)")
    return rows, cols


def _affinity(pixels: torch.Tensor, sources: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    distances = (pixels[sources] - pixels[targets]).pow(2).sum(dim=1)
    sigma2 = distances.mean().clamp_min(1e-300)
    weights = torch.exp(-distances / sigma2)
    n = pixels.shape[0]
    graph = torch.sparse_coo_tensor(torch.stack([torch.cat([sources, targets]), torch.cat([targets, sources])]),
                                    torch.cat([weights, weights]), (n, n), check_invariants=False)
    return graph.coalesce()


# --- the multiplicative-update engine --------------------------------------------------------


def multiplicative_updates(
    problem: Problem,
    endmembers: torch.Tensor,
    abundances: torch.Tensor,
    *,
    max_iter: int,
    tol: float,
    penalty_gradient=None,
    band_weights=None,
    graph: torch.Tensor | None = None,
    graph_weight: float = 0.0,
    on_check=None,
    check_every: int = 10,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Alternate Lee-Seung style multiplicative updates of ``M`` and ``S``; return the final iterate.

    ``S <- S * (M~^T W X~ + mu S G) / (M~^T W M~ S + mu S D + grad(penalty))`` with ``X~, M~`` the
    sum-to-one augmented factors, ``W`` a diagonal band weighting (robust losses by
    half-quadratic reweighting: band weights cancel in the row-separable ``M`` update), ``G``
    a pixel affinity graph with degrees ``D`` (graph-Laplacian smoothing of the abundances)
    and ``grad(penalty)`` the gradient of a non-negative, non-decreasing sparsity penalty.
    ``M <- M * (X S^T) / (M S S^T)``.

    Parameters
    ----------
    penalty_gradient : ``S -> (k, n)`` non-negative tensor, or None.
    band_weights : ``residual (bands, n) -> (bands,)`` weights, recomputed every ``check_every``
        iterations, or None (plain least squares).
    graph, graph_weight : sparse (n, n) symmetric affinity and its weight ``mu`` (absolute).
    on_check : ``(M, S) -> None`` called every ``check_every`` iterations (e.g. to relearn a map).
    max_iter, tol : stop after ``max_iter`` iterations or, once ``MIN_ITER`` are done, when the
        relative change of the residual norm between two checks is below ``tol``.

    Returns
    -------
    endmembers (bands, k), abundances (k, n), iterations run.
    """
    data = problem.data
    n_bands = data.shape[0]
    degree = None
    if graph is not None and graph_weight > 0:
        degree = torch.sparse.sum(graph, dim=1).to_dense()
    weights = torch.ones(n_bands + (1 if problem.delta > 0 else 0), dtype=data.dtype, device=data.device)
    data_aug, _ = augmented(data, endmembers, problem.delta)
    if band_weights is not None:  # weigh the bands from the start: the initial fit already shows the outliers
        weights = _row_weights(band_weights(data - endmembers @ abundances), problem.delta)
    previous = math.inf
    iteration = 0
    for iteration in range(1, max_iter + 1):
        _, endmembers_aug = augmented(data, endmembers, problem.delta)
        weighted = endmembers_aug * weights[:, None]
        numerator = weighted.T @ data_aug
        denominator = (weighted.T @ endmembers_aug) @ abundances
        if degree is not None:
            numerator = numerator + graph_weight * torch.sparse.mm(graph, abundances.T).T
            denominator = denominator + graph_weight * abundances * degree
        if penalty_gradient is not None:
            denominator = denominator + penalty_gradient(abundances)
        abundances = (abundances * numerator / denominator.clamp_min(TINY)).clamp_min(TINY)
        gram = abundances @ abundances.T
        endmembers = (endmembers * (data @ abundances.T) / (endmembers @ gram).clamp_min(TINY)).clamp_min(TINY)
        if iteration % check_every == 0 or iteration == max_iter:
            residual = data - endmembers @ abundances
            if band_weights is not None:
                weights = _row_weights(band_weights(residual), problem.delta)
            if on_check is not None:
                on_check(endmembers, abundances)
            current = float(residual.norm())
            # Multiplicative updates can crawl early on: no stop before MIN_ITER iterations.
            if iteration >= MIN_ITER and relative_change(previous, current) < tol:
                break
            previous = current
    return endmembers, abundances, iteration


def _row_weights(band: torch.Tensor, delta: float) -> torch.Tensor:
    """Weights of the rows of the augmented factors: the bands' (bands,), then 1 for the sum-to-one row."""
    return torch.cat([band, band.new_ones(1)]) if delta > 0 else band

"""Robust l2,1 representation with learning-based sparsity (RRLbS-style): ``rlsu``."""

from __future__ import annotations

import torch

from hsi.arrays import Array, positive_float
from hsi.unmix.blind import nmf_multiplicative

__all__ = ["rlsu", "l21_band_weights", "mixing_purity"]


def l21_band_weights(band_norms: torch.Tensor) -> torch.Tensor:
    """Half-quadratic weights of ``sum_l ||e_l||_2`` (the l2,1 norm over bands), mean 1.

    ``w_l = 1 / max(||e_l||, median ||e||)``: the l2,1 reweighting ``1 / (2 ||e_l||)`` for
    bands worse than the median, capped below it so that the best-fitted bands do not take
    over the fit (a Huber-type cap, our stabilisation).
    """
    capped = band_norms.clamp_min(band_norms.median().clamp_min(1e-300))
    weights = 1.0 / capped
    return weights / weights.mean()


def mixing_purity(abundances: torch.Tensor) -> torch.Tensor:
    """Hoyer sparseness of each abundance vector, (n,) in [0, 1]: 1 pure, 0 evenly mixed.

    abundances : (k, n).
    """
    k = abundances.shape[0]
    if k < 2:
        return abundances.new_ones(abundances.shape[1])
    root_k = k ** 0.5
    ratio = abundances.sum(dim=0) / abundances.norm(dim=0).clamp_min(1e-300)
    return ((root_k - ratio) / (root_k - 1)).clamp(0.0, 1.0)


def learn_guidance_map(purity: torch.Tensor, graph: torch.Tensor, degree: torch.Tensor, *, n_sweeps: int = 10,
                       initial: torch.Tensor | None = None) -> torch.Tensor:
    """Guidance map ``h`` (n,) minimising ``||h - purity||^2 + beta h^T L h`` (Jacobi sweeps).

    ``beta = 1 / mean degree``: the map follows the current per-pixel purity but is smoothed
    over the pixel graph, so isolated noisy purity estimates do not set a pixel's sparsity.
    """
    beta = 1.0 / degree.mean().clamp_min(1e-300)
    h = purity.clone() if initial is None else initial
    for _ in range(n_sweeps):
        h = (purity + beta * torch.sparse.mm(graph, h[:, None])[:, 0]) / (1 + beta * degree)
    return h.clamp(0.0, 1.0)


def rlsu(
    pixels: Array,
    n_endmembers: int,
    rng=None,
    *,
    image_shape: tuple[int, int] | None = None,
    p_min: float = 0.5,
    sparsity: float | None = None,
    sparsity_scale: float = 0.01,
    delta: float = 2.0,
    max_iter: int = 1000,
    tol: float = 1e-6,
    device=None,
):
    """Blind unmixing with a robust l2,1 loss over bands and a learnt per-pixel l_p sparsity.

    Minimises ``sum_l ||x_l - m_l S||_2 + lambda sum_n ||s_n||_{p_n}^{p_n}`` (``x_l`` the band
    rows: outlier bands cost their residual norm, not its square) with a per-pixel exponent
    ``p_n = 1 - (1 - p_min) h_n``, ``0 < p_min <= p_n <= 1``. The guidance map ``h`` (n,) in
    [0, 1] is learnt along with the factors: every 10 iterations it is re-estimated from the
    current abundances' purity (Hoyer sparseness) smoothed over the pixel graph
    (:func:`learn_guidance_map`). Pixels in mixed areas get ``p_n -> 1``, which under
    sum-to-one is no sparsity pressure at all; nearly pure pixels get ``p_n -> p_min``
    (strong sparsity). The l2,1 loss is minimised by half-quadratic reweighting of the bands
    (:func:`l21_band_weights`) inside the multiplicative updates; the start is VCA + FCLS on
    bands weighted by their estimated noise, so corrupted bands cannot choose the start.

    The pixel graph is the 8-neighbour lattice when ``image_shape`` is given (``pixels`` the
    whole image, row-major), else the spectral 8-nearest-neighbour graph.

    Parameters
    ----------
    pixels : (n_pixels, bands) non-negative data (negative values are clamped to 0).
    n_endmembers : k.
    rng : seed / numpy Generator / torch Generator (VCA's random directions).
    image_shape : (rows, cols) or None.
    p_min : smallest exponent, at the purest pixels, in (0, 1].
    sparsity, sparsity_scale : sparsity weight, as in :func:`hsi.unmix.blind.nmf_sparse.nmf_l12`.
    delta : sum-to-one row weight relative to the RMS pixel norm.
    max_iter, tol : iteration cap and stopping tolerance (see ``nmf_l12``).
    device : torch device (default: the input's).

    Returns
    -------
    endmembers : (bands, k); abundances : (n_pixels, k). numpy for numpy input.

    Notes
    -----
    This follows the paper's model (robust l2,1 representation, adaptive l_p sparsity driven
    by a learnt guidance map); the guidance-map learning step here is our reading of it as a
    graph-smoothed purity estimate, not the paper's exact update.

    References
    ----------
    F. Zhu, Y. Wang, B. Fan, G. Meng and C. Pan, "Effective spectral unmixing via robust
    representation and learning-based sparsity", arXiv:1409.0685, 2014.
    """
    p_min = positive_float(p_min, "p_min")
    if p_min > 1:
        from hsi.errors import ParameterError

        raise ParameterError(f"p_min must be in (0, 1]; got {p_min!r}")
    task = nmf_multiplicative.setup(pixels, n_endmembers, sparsity=sparsity, sparsity_scale=sparsity_scale, delta=delta,
                        max_iter=max_iter, tol=tol, device=device)
    weight = task.sparsity
    data = task.problem.data
    graph = nmf_multiplicative.pixel_graph(data.T, image_shape).to(data.dtype)
    degree = torch.sparse.sum(graph, dim=1).to_dense()
    endmembers, abundances = nmf_multiplicative.noise_weighted_init(
        task.pixels, n_endmembers, rng, lambda noise: l21_band_weights(noise.sqrt()).pow(2))
    state = {"h": learn_guidance_map(mixing_purity(abundances), graph, degree)}

    def exponents() -> torch.Tensor:
        return 1.0 - (1.0 - p_min) * state["h"]

    def penalty_gradient(current: torch.Tensor) -> torch.Tensor:
        p = exponents()
        return weight * p * current.pow(p - 1.0)

    def relearn(_, current: torch.Tensor) -> None:
        state["h"] = learn_guidance_map(mixing_purity(current), graph, degree, initial=state["h"])

    return nmf_multiplicative.solve(
        task, endmembers, abundances, penalty_gradient=penalty_gradient if weight > 0 else None,
        band_weights=lambda residual: l21_band_weights(residual.norm(dim=1)), on_check=relearn,
    )

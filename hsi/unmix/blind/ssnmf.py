"""Structured-sparse NMF (SS-NMF): L1/2 sparsity plus a graph-Laplacian term on the abundances."""

from __future__ import annotations

from hsi.arrays import Array, positive_float
from hsi.unmix.blind import nmf_multiplicative

__all__ = ["ssnmf"]


def ssnmf(
    pixels: Array,
    n_endmembers: int,
    rng=None,
    *,
    image_shape: tuple[int, int] | None = None,
    graph_weight: float = 0.1,
    sparsity: float | None = None,
    sparsity_scale: float = 0.01,
    delta: float = 2.0,
    max_iter: int = 1000,
    tol: float = 1e-6,
    device=None,
):
    """Blind unmixing by structured-sparse NMF.

    Minimises ``0.5 ||X - M S||_F^2 + lambda ||S||_{1/2} + (mu / 2) sum_ij w_ij ||s_i - s_j||^2``
    (the last term is ``mu tr(S L S^T)``, ``L = D - W`` the graph Laplacian): neighbouring,
    spectrally similar pixels get similar abundances while each abundance vector stays sparse.
    Multiplicative updates (``S W`` in the numerator, ``S D`` in the denominator) with the
    sparse affinity ``W`` held as a torch sparse matrix; sum-to-one by the augmented row;
    VCA + FCLS start; final iterate.

    The graph: with ``image_shape`` the 8-neighbour lattice of the image (``pixels`` must
    then be the whole image in row-major order), weighted by spectral similarity
    ``exp(-||x_i - x_j||^2 / sigma^2)``; without it (a pixel sample, as in the ``unmix``
    job) the 8 nearest neighbours in spectral space, weighted the same way.

    Parameters
    ----------
    pixels : (n_pixels, bands) non-negative data (negative values are clamped to 0).
    n_endmembers : k.
    rng : seed / numpy Generator / torch Generator (VCA's random directions).
    image_shape : (rows, cols) of the image the pixels come from, or None.
    graph_weight : ``mu`` in units of the mean squared pixel norm per unit mean degree
        (scale-free: the same answer for any data unit or graph density).
    sparsity, sparsity_scale : L1/2 weight, as in :func:`hsi.unmix.blind.nmf_sparse.nmf_l12`.
    delta : sum-to-one row weight relative to the RMS pixel norm.
    max_iter, tol : iteration cap and stopping tolerance (see ``nmf_l12``).
    device : torch device (default: the input's).

    Returns
    -------
    endmembers : (bands, k); abundances : (n_pixels, k). numpy for numpy input.

    References
    ----------
    F. Zhu, Y. Wang, B. Fan, S. Xiang, G. Meng and C. Pan, "Structured sparse method for
    hyperspectral unmixing", ISPRS J. Photogrammetry and Remote Sensing 88, 101-118, 2014.
    D. Cai, X. He, J. Han and T. S. Huang, "Graph regularized nonnegative matrix
    factorization for data representation", IEEE TPAMI 33(8), 2011 (the Laplacian updates).
    """
    graph_weight = positive_float(graph_weight, "graph_weight", allow_zero=True)
    task = nmf_multiplicative.setup(pixels, n_endmembers, sparsity=sparsity, sparsity_scale=sparsity_scale, delta=delta,
                        max_iter=max_iter, tol=tol, device=device)
    data = task.problem.data
    graph = nmf_multiplicative.pixel_graph(data.T, image_shape).to(data.dtype)
    mean_degree = float(graph.values().sum()) / graph.shape[0]
    endmembers, abundances = nmf_multiplicative.vca_fcls_init(task.pixels, n_endmembers, rng)
    return nmf_multiplicative.solve(
        task, endmembers, abundances, penalty_gradient=nmf_multiplicative.l12_penalty(task.sparsity),
        graph=graph, graph_weight=graph_weight * task.problem.pixel_energy / max(mean_degree, 1e-300),
    )

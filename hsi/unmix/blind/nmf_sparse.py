"""L1/2-sparsity-constrained NMF for blind unmixing (Qian et al. 2011)."""

from __future__ import annotations

from hsi.arrays import Array
from hsi.unmix.blind import nmf_multiplicative
from hsi.unmix.blind.nmf_multiplicative import l12_penalty_gradient

__all__ = ["nmf_l12", "l12_penalty_gradient"]


def nmf_l12(
    pixels: Array,
    n_endmembers: int,
    rng=None,
    *,
    sparsity: float | None = None,
    sparsity_scale: float = 0.01,
    delta: float = 2.0,
    max_iter: int = 1000,
    tol: float = 1e-6,
    device=None,
):
    """Blind unmixing by L1/2-sparsity-constrained non-negative matrix factorisation.

    Minimises ``0.5 ||X - M S||_F^2 + lambda ||S||_{1/2}`` (``||S||_{1/2} = sum_ij S_ij^(1/2)``)
    over non-negative ``M`` (bands, k), ``S`` (k, n) by the paper's multiplicative updates,
    with sum-to-one enforced by appending a row ``delta 1^T`` to ``X`` and ``M``. Starts from
    VCA endmembers and their FCLS abundances; returns the final iterate.

    Parameters
    ----------
    pixels : (n_pixels, bands) non-negative data (negative values are clamped to 0).
    n_endmembers : k.
    rng : seed / numpy Generator / torch Generator (VCA's random directions).
    sparsity : ``lambda`` in units of the mean squared pixel norm; None: the paper's estimate
        from the data's sparseness (:func:`hsi.unmix.blind.nmf_multiplicative.hoyer_sparsity_weight`)
        times ``sparsity_scale``.
    sparsity_scale : multiplies the paper's estimate, which is then expressed relative to the
        data's energy so the weight is scale-free (the same answer in any unit). The paper's
        raw weight on reflectance data (pixel energies of roughly 5 to 20) corresponds to
        0.05 to 0.2; the default 0.01 is milder because on synthetic mixtures with few
        pure pixels the larger values biased the endmembers of mixed scenes (0.06 deg SAD
        at 0, 0.9 at 0.01, 2.9 at 0.05 on tests/unmix/_synthetic.py's mixture).
    delta : sum-to-one row weight, relative to the RMS pixel norm (0 disables sum-to-one).
    max_iter, tol : iteration cap and relative change of the residual norm (checked every
        10 iterations) below which the updates stop.
    device : torch device (default: the input's).

    Returns
    -------
    endmembers : (bands, k); abundances : (n_pixels, k) the factorisation's ``S^T`` (rows
        approximately sum to one). numpy for numpy input.

    References
    ----------
    Y. Qian, S. Jia, J. Zhou and A. Robles-Kelly, "Hyperspectral unmixing via L1/2 sparsity-
    constrained nonnegative matrix factorization", IEEE TGRS 49(11), 4282-4297, 2011.
    """
    task = nmf_multiplicative.setup(pixels, n_endmembers, sparsity=sparsity, sparsity_scale=sparsity_scale, delta=delta,
                        max_iter=max_iter, tol=tol, device=device)
    endmembers, abundances = nmf_multiplicative.vca_fcls_init(task.pixels, n_endmembers, rng)
    return nmf_multiplicative.solve(task, endmembers, abundances, penalty_gradient=nmf_multiplicative.l12_penalty(task.sparsity))

"""Pure-pixel cluster refinement: move an archetype to the centre of its material's pure pixels.

Archetypes (and other hull-seeking endmembers) of a material with intrinsic variability
(illumination, moisture, grain size) land on the hull of that material's pixel cloud, at its
most extreme pixels, not at its centre; the further the fit converges, the further out they
go. Where a material has many (near-)pure pixels, the estimate users want is its typical
spectrum: the centre of the pure-pixel cloud, the maximum-likelihood endmember when the
variability is zero-mean around it. This is N-FINDR's and the endmember-bundle literature's
habit of averaging the purest pixels of each material (Winter 1999; Bateson et al. 2000;
Somers et al. 2011).

The step is only taken where the pure pixels form a genuine cluster, i.e. where the vertex is
a mode of the data density, not the corner of a filled simplex. Its test reads the histogram
of the endmember's FCLS abundance near 1: a material with a pure-pixel cluster piles pixels
into the top band ``a_j >= purity`` (every pixel of the cloud beyond the archetype is clipped
there), whereas pixels spread over a simplex, however concentrated towards a corner by a
Dirichlet law with parameter <= 1, are at most as dense in that band as in the band of equal
width just below it (the density of ``a_j`` is non-increasing towards 1), and a scene without
pure pixels puts almost none there. Where the test fails the endmember is returned exactly as
given.

References
----------
M. E. Winter, "N-FINDR: an algorithm for fast autonomous spectral end-member determination in
hyperspectral data", Proc. SPIE 3753, 1999.
C. A. Bateson, G. P. Asner and C. A. Wessman, "Endmember bundles: a new approach to
incorporating endmember variability into spectral mixture analysis", IEEE TGRS 38(2), 2000.
B. Somers, G. P. Asner, L. Tits and P. Coppin, "Endmember variability in spectral mixture
analysis: a review", Remote Sensing of Environment 115(7), 2011.
"""

from __future__ import annotations

import torch

from hsi.errors import ParameterError
from hsi.unmix.abundance import fcls

__all__ = ["refine_pure_clusters"]


def _check(purity: float, min_pixels: int, min_density_ratio: float, n_iter: int) -> None:
    if not 0.5 <= purity < 1.0:
        raise ParameterError(f"purity must be in [0.5, 1); got {purity}")
    if int(min_pixels) < 2:
        raise ParameterError(f"min_pixels must be >= 2; got {min_pixels}")
    if min_density_ratio <= 1.0:
        raise ParameterError(f"min_density_ratio must be > 1 (a filled simplex gives <= 1); got {min_density_ratio}")
    if int(n_iter) < 1:
        raise ParameterError(f"n_iter must be >= 1; got {n_iter}")


def cluster_test(abundances: torch.Tensor, purity: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per endmember: pixels in the top abundance band and the density ratio to the band below.

    Parameters
    ----------
    abundances : (n_pixels, k) FCLS abundances. purity : the top band is ``[purity, 1]``.

    Returns
    -------
    n_pure : (k,) pixels with ``a_j >= purity``; ratio : (k,) ``n_pure`` over the pixels in
    ``[2 purity - 1, purity)`` (at least one), the band of equal width below.
    """
    width = 1.0 - purity
    n_pure = (abundances >= purity).sum(dim=0)
    n_below = ((abundances >= purity - width) & (abundances < purity)).sum(dim=0)
    return n_pure, n_pure.to(torch.float64) / n_below.clamp_min(1).to(torch.float64)


def _pure_part_centre(pixels: torch.Tensor, endmembers: torch.Tensor, abundances: torch.Tensor, j: int,
                      members: torch.Tensor) -> torch.Tensor:
    """Least-squares endmember ``j`` from its near-pure pixels, the other endmembers' share removed.

    ``e_j = sum_i a_ij (y_i - sum_{l != j} a_il e_l) / sum_i a_ij^2`` over the cluster: the
    mean of the pixels' pure parts, without the pull towards the simplex's interior that the
    few percent of other materials in a near-pure pixel would give a plain mean.
    """
    own = abundances[members, j]
    others = abundances[members].clone()
    others[:, j] = 0.0
    pure_parts = pixels[members] - others @ endmembers.T
    return (own[:, None] * pure_parts).sum(dim=0) / own.pow(2).sum().clamp_min(1e-300)


def refine_pure_clusters(
    pixels: torch.Tensor,
    endmembers: torch.Tensor,
    abundances: torch.Tensor | None = None,
    *,
    purity: float = 0.95,
    min_pixels: int = 20,
    min_density_ratio: float = 3.0,
    n_iter: int = 3,
) -> tuple[torch.Tensor, torch.Tensor, list[dict]]:
    """Replace each endmember whose near-pure pixels form a cluster by that cluster's centre.

    1. FCLS abundances for the given endmembers (or ``abundances`` if given).
    2. Cluster test per endmember (:func:`cluster_test`): at least ``min_pixels`` pixels with
       ``a_j >= purity`` and ``min_density_ratio`` times as many there as in the band of equal
       width below (a filled simplex gives at most 1).
    3. For the endmembers that pass, ``n_iter`` times: each becomes the least-squares centre of
       its pixels with ``a_j >= purity`` (:func:`_pure_part_centre`), then the abundances are
       recomputed by FCLS for the new endmembers.

    Parameters
    ----------
    pixels : (n_pixels, bands) float64. endmembers : (bands, k). abundances : (n_pixels, k) or None.

    Returns
    -------
    endmembers : (bands, k), the refined columns replaced and the others exactly as given;
    abundances : (n_pixels, k) FCLS abundances for them (the given ones when nothing changed);
    report : one dict per endmember (``refined``, ``pure_pixels``, ``density_ratio``,
    ``moved_deg``: the spectral angle between the archetype and its replacement).
    """
    _check(purity, min_pixels, min_density_ratio, n_iter)
    if abundances is None:
        abundances = fcls(pixels, endmembers)
    n_pure, ratio = cluster_test(abundances, purity)
    passed = [j for j in range(endmembers.shape[1])
              if int(n_pure[j]) >= int(min_pixels) and float(ratio[j]) >= min_density_ratio]
    refined = endmembers
    used = {j: int(n_pure[j]) for j in passed}
    if passed:
        current = abundances
        for _ in range(int(n_iter)):
            refined = refined.clone()
            for j in passed:
                members = current[:, j] >= purity
                if int(members.sum()) >= 2:
                    refined[:, j] = _pure_part_centre(pixels, refined, current, j, members)
                    used[j] = int(members.sum())
            current = fcls(pixels, refined)
        abundances = current
    cosine = (refined * endmembers).sum(dim=0) / (refined.norm(dim=0) * endmembers.norm(dim=0)).clamp_min(1e-300)
    moved = torch.rad2deg(torch.arccos(cosine.clamp(-1.0, 1.0)))
    report = [{"refined": j in passed, "pure_pixels": used.get(j, int(n_pure[j])),
               "density_ratio": float(ratio[j]), "moved_deg": float(moved[j]) if j in passed else 0.0}
              for j in range(endmembers.shape[1])]
    return refined, abundances, report

"""Operation counts of the subspace denoiser, for the arithmetic floor of the throughput benchmark.

The count is the method's own arithmetic, not one implementation's: what any BM3D of these
parameters must compute, with fast transforms (separable 2-D DCT of every patch, fast Haar
across groups) and block matching as one ``patch x patch`` distance per candidate. At the
machine's measured matrix-product rate it gives the time the method would take if it ran at
that rate throughout: the floor beside each measured time.
"""

from __future__ import annotations

import inspect

from hsi.restore.classical.bm3d import bm3d


def bm3d_parameters(**options) -> dict:
    """BM3D's defaults (from :func:`hsi.restore.classical.bm3d.bm3d`), updated with ``options``."""
    names = ("patch", "step", "radius", "group_hard", "group_wiener")
    defaults = {name: inspect.signature(bm3d).parameters[name].default for name in names}
    return {**defaults, **{k: v for k, v in options.items() if k in names}}


def bm3d_flops_per_pixel(patch: int = 8, step: int = 3, radius: int = 12, group_hard: int = 16,
                         group_wiener: int = 32) -> float:
    """Floating-point operations per pixel of one image denoised by two-step BM3D.

    Per pixel (one patch position each): five separable 2-D DCTs of ``4 patch^3`` (the noisy
    patches in both steps, the basic estimate's in step 2, and the inverse of each step's
    aggregate). Per reference patch (one every ``step`` pixels in each direction): block
    matching in both steps, ``2 patch^2`` per candidate over the ``(2 radius + 1)^2`` window;
    fast Haar transforms across the group (``2 group patch^2`` each: forward and inverse in
    step 1; noisy, pilot and inverse in step 2); hard thresholding and Wiener shrinkage with
    their weights (2 and 4 per coefficient) and the aggregation sums (1 per coefficient).

    References
    ----------
    K. Dabov, A. Foi, V. Katkovnik and K. Egiazarian, "Image denoising by sparse 3-D
    transform-domain collaborative filtering", IEEE Trans. Image Process. 16(8):2080-2095, 2007.
    """
    p2 = patch * patch
    dct = 5 * 4 * patch ** 3
    matching = 2 * (2 * radius + 1) ** 2 * 2 * p2
    haar = 2 * 2 * group_hard * p2 + 3 * 2 * group_wiener * p2
    filtering = 2 * group_hard * p2 + 4 * group_wiener * p2
    aggregation = (group_hard + group_wiener) * p2
    return dct + (matching + haar + filtering + aggregation) / step ** 2


def tile_cover(rows: int, cols: int, tile: int, margin: int) -> float:
    """Pixels denoised per image pixel when tiles of ``tile`` are cut with ``margin`` around them (clipped)."""
    def along(n: int) -> int:
        return sum(min(start + tile + margin, n) - max(start - margin, 0) for start in range(0, n, tile))

    return along(rows) * along(cols) / (rows * cols)


def subspace_flops(rows: int, cols: int, bands: int, k: int, *, tile: int, margin: int, **bm3d_options) -> float:
    """Operations of FastHyDe on a ``rows x cols x bands`` scene with ``k`` eigen-images.

    Whitening and projection to ``k`` eigen-images and back (``4 bands k + 2 bands`` per
    pixel), then BM3D on each eigen-image in tiles of ``tile`` with ``margin``.

    References
    ----------
    L. Zhuang and J. M. Bioucas-Dias, "Fast hyperspectral image denoising and inpainting based
    on low-rank and sparse representations", IEEE JSTARS 11(3):730-742, 2018.
    """
    pixels = rows * cols
    projections = (4 * bands * k + 2 * bands) * pixels
    denoised = pixels * tile_cover(rows, cols, tile, margin) * k
    return projections + denoised * bm3d_flops_per_pixel(**bm3d_parameters(**bm3d_options))

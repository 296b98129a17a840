"""Pansharpening (MS + PAN) and hyperspectral/multispectral fusion.

Every pansharpening method is a function ``method(ms, pan, *, ratio=None, sensor=None, ...)``:
``ms`` the low-resolution cube (rows, cols, bands), ``pan`` the (ratio*rows, ratio*cols)
image; the ratio is inferred from the shapes; the result is the (ratio*rows, ratio*cols,
bands) cube on the PAN grid. The MS is interpolated internally by
:func:`hsi.degrade.resample.upsample` (Lagrange polynomial, the toolbox's 23-tap filter).

* :mod:`~hsi.pansharpen.cs`: component substitution (PCA, GS, GSA, Brovey, GIHS, BDSD-PC).
* :mod:`~hsi.pansharpen.mra`: multi-resolution analysis (HPF, SFIM, MTF-GLP, -FS, -HPM, -HPM-R, AWLP).
* :mod:`~hsi.pansharpen.hs`: hyperspectral pansharpening (per-band regression gains).
* :mod:`~hsi.pansharpen.fusion`: HS + MS fusion by coupled NMF (also usable with a PAN).
* :mod:`~hsi.pansharpen.zeroshot`: zero-shot band-wise CNN in the spirit of rho-PNN (imports
  Lightning: not imported here).
* :mod:`~hsi.pansharpen.baseline`: EXP, the interpolated MS (the baseline of every table).
* :mod:`~hsi.pansharpen.tile_adapter`: scenes larger than memory, tile by tile.
* :mod:`~hsi.pansharpen.pair_nodata`: which fused pixels are nodata, and the gaps filled before a method sees a tile.
* :mod:`~hsi.pansharpen.protocol`: Wald's reduced-resolution protocol and quality indexes.
"""

from hsi.degrade.resample import upsample
from hsi.pansharpen.baseline import expand
from hsi.pansharpen.cs import bdsd_pc, brovey, gihs, gs, gsa, pca
from hsi.pansharpen.fusion import cnmf, coupled_nmf
from hsi.pansharpen.hs import mtf_glp_hs
from hsi.pansharpen.mra import awlp, hpf, mtf_glp, mtf_glp_fs, mtf_glp_hpm, mtf_glp_hpm_r, sfim

__all__ = [
    "awlp", "bdsd_pc", "brovey", "cnmf", "coupled_nmf", "expand", "gihs", "gs", "gsa", "hpf", "mtf_glp", "mtf_glp_fs", "mtf_glp_hpm",
    "mtf_glp_hpm_r", "mtf_glp_hs", "pca", "sfim", "upsample",
]

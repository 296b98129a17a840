"""EXP: the pansharpening baseline, the MS interpolated onto the PAN grid."""

from __future__ import annotations

from hsi.arrays import Array, infer_ratio, like_input
from hsi.degrade.resample import toolbox_tensor, upsample
from hsi.pansharpen.pair import fuses_multiband


@fuses_multiband
def expand(ms: Array, pan: Array, *, ratio: int | None = None, sensor: str | None = None) -> Array:
    """EXP: the MS interpolated onto the PAN grid, ignoring the PAN (the baseline of every table).

    Same signature as the pansharpening methods; ``pan`` (one band, or a multi-band
    high-resolution cube in HS + MS fusion) only fixes the ratio.

    References
    ----------
    G. Vivone et al., "A critical comparison among pansharpening algorithms", IEEE TGRS 53(5), 2015.
    """
    cube = toolbox_tensor(ms, "ms")
    found = infer_ratio(tuple(cube.shape[:2]), tuple(pan.shape[:2]), ratio)
    return like_input(upsample(cube, found), ms)

"""High-pass modulation (MTF-GLP-HPM, HPM-R, SFIM): the ratio ``P_k / P_k,L`` stays bounded.

A globally fitted PAN equalisation ``a_k P + b_k`` with a negative offset drives the equalised
low-pass through zero where the PAN-to-band relation is not affine; the ratio then blew up
(+-1e6 on the 11-bit WV2 pair at full resolution).
"""

from __future__ import annotations

import numpy as np
import pytest

from hsi.degrade.mtf import decimate, mtf_blur
from hsi.degrade.resample import upsample
from hsi.pansharpen import mra

HPM_METHODS = {"mtf_glp_hpm": mra.mtf_glp_hpm, "mtf_glp_hpm_r": mra.mtf_glp_hpm_r, "sfim": mra.sfim}
#: 8 x the 11-bit full scale of WV2 / IKONOS: no fused DN of a physical scene comes near it
#: (the additive MTF-GLP reaches 5,105 on the whole WV2 pair, at saturated PAN pixels).
ELEVEN_BIT_BOUND = 8 * 2048


def _convex_band_scene(rows: int = 96, seed: int = 0):
    """A positive PAN ``P`` in [0.1, 2] and a positive band ``X = P^3`` that it does not follow
    affinely: moment matching gives ``b < 0`` and an equalised low-pass that crosses zero."""
    rng = np.random.default_rng(seed)
    noise = mtf_blur(rng.standard_normal((rows, rows, 1)), 0.5, 3.0)[:, :, 0]
    pan = 0.1 + 1.9 * (noise - noise.min()) / (noise.max() - noise.min())
    cube = np.stack([pan**3, pan], axis=2)
    ms = decimate(mtf_blur(cube, 0.3, 4), 4)
    return cube, ms, pan


@pytest.mark.parametrize("name", sorted(HPM_METHODS))
def test_near_zero_equalised_lowpass_does_not_blow_up(name):
    cube, ms, pan = _convex_band_scene()
    fused = HPM_METHODS[name](ms, pan, ratio=4)
    assert np.isfinite(fused).all()
    # within the truth's own range, widened by that range on each side
    spread = cube.max() - cube.min()
    assert fused.min() > cube.min() - spread and fused.max() < cube.max() + spread
    # and closer to the truth than the interpolated MS on the convex band
    interpolated = upsample(ms, 4)
    error = np.sqrt(np.mean((fused[..., 0] - cube[..., 0]) ** 2))
    assert error < np.sqrt(np.mean((interpolated[..., 0] - cube[..., 0]) ** 2))


def _wv2(shared_data):
    from hsi.bench.pansharpen import load_pair

    return load_pair(shared_data / "pansharpening" / "imgWV2.mat")


@pytest.mark.parametrize("name", ["mtf_glp_hpm", "mtf_glp_hpm_r"])
def test_real_wv2_crop_at_full_resolution_stays_in_range(name, shared_data):
    """The 96 x 96 MS crop at column 100 held a -19,362 DN pixel (red edge band) before the guard."""
    ms, pan, ratio = _wv2(shared_data)
    fused = HPM_METHODS[name](ms[:96, 100:196], pan[:384, 400:784], ratio=ratio, sensor="WV2")
    assert np.abs(fused).max() < ELEVEN_BIT_BOUND


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mtf_glp_hpm", "mtf_glp_hpm_r"])
def test_real_wv2_pair_at_full_resolution_stays_in_range(name, shared_data):
    """The whole pair: 579 / 423 pixels beyond +-16,384 DN (up to 1e6) before the guard."""
    ms, pan, ratio = _wv2(shared_data)
    fused = HPM_METHODS[name](ms, pan, ratio=ratio, sensor="WV2")
    assert np.abs(fused).max() < ELEVEN_BIT_BOUND

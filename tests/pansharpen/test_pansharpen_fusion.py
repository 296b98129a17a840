"""HS + MS fusion by coupled NMF on a cube with a known linear-mixing structure."""

from __future__ import annotations

import numpy as np

from hsi.degrade.mtf import degrade_resolution, mtf_blur
from hsi.degrade.resample import upsample
from hsi.pansharpen.fusion import coupled_nmf



def test_coupled_nmf_recovers_the_high_resolution_cube():
    rng = np.random.default_rng(0)
    rows = cols = 32
    logits = mtf_blur(rng.standard_normal((rows, cols, 3)) * 3.0, 0.5, 2.0)
    abundances = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    wavelengths = np.linspace(400, 1000, 40)
    endmembers = np.stack([0.2 + 0.6 * np.exp(-((wavelengths - c) / 150) ** 2) for c in (450, 650, 900)], axis=1)
    truth = abundances @ endmembers.T  # (rows, cols, 40)
    srf = np.zeros((4, 40))
    for band, (lo, hi) in enumerate([(400, 500), (500, 600), (600, 700), (750, 1000)]):
        inside = (wavelengths >= lo) & (wavelengths <= hi)
        srf[band, inside] = 1.0 / inside.sum()
    hs = degrade_resolution(truth, 4, 0.3)
    ms = truth @ srf.T
    fused = coupled_nmf(hs, ms, srf, n_endmembers=3, n_outer=2, n_inner=60)
    estimated = coupled_nmf(hs, ms, None, n_endmembers=3, n_outer=2, n_inner=60)
    rmse = lambda x: np.sqrt(np.mean((x - truth) ** 2))  # noqa: E731
    assert fused.shape == truth.shape
    assert rmse(fused) < 0.4 * rmse(upsample(hs, 4))
    assert rmse(estimated) < 0.4 * rmse(upsample(hs, 4))  # spectral response estimated from the data

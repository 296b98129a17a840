"""No-reference pansharpening quality: D_lambda, D_s, QNR, Khan's D_lambda and HQNR."""

import numpy as np
import pytest
import torch

from hsi.degrade.mtf import degrade_resolution
from hsi.errors import InputError, ParameterError
from hsi.metrics import d_lambda, d_lambda_khan, d_s, hqnr, qnr, uiqi

RATIO = 4


@pytest.fixture
def scene(rng):
    """Synthetic truth (64, 64, 4) in [0, 1], its MS (16, 16, 4) by MTF + decimation, a PAN."""
    yy, xx = np.mgrid[0:64, 0:64] / 5.0
    maps = np.stack([np.sin(yy) ** 2, np.cos(xx) ** 2, (yy * xx / 30) % 1.0], axis=-1)
    truth = maps @ rng.uniform(0.1, 1.0, size=(3, 4))
    truth /= truth.max()
    ms = degrade_resolution(truth, RATIO)
    pan = truth.mean(axis=-1)
    return truth, ms, pan


def _upsample_nearest(ms):
    return np.repeat(np.repeat(ms, RATIO, axis=0), RATIO, axis=1)


def test_d_lambda_is_zero_for_pixel_replicated_ms(scene):
    # Each 32 x 32 fused block holds the matching 8 x 8 MS block replicated: same Q per pair.
    _, ms, _ = scene
    assert d_lambda(_upsample_nearest(ms), ms) == pytest.approx(0.0, abs=1e-12)


def test_d_lambda_hand_formula(scene, rng):
    truth, ms, _ = scene
    fused, ms = truth[..., :3] + rng.normal(0, 0.05, size=truth.shape[:2] + (3,)), ms[..., :3]
    n = 3
    terms = [
        abs(uiqi(fused[..., [i]], fused[..., [j]], 32, 32) - uiqi(ms[..., [i]], ms[..., [j]], 8, 8)) ** 2
        for i in range(n)
        for j in range(n)
        if i != j
    ]
    assert d_lambda(fused, ms, block_size=32, p=2) == pytest.approx(np.sqrt(np.mean(terms)), rel=1e-9)


def test_qnr_is_one_when_every_band_is_the_pan(scene):
    # All fused bands = PAN and all MS bands = degraded PAN: every Q is 1 at both scales.
    _, _, pan = scene
    fused = np.repeat(pan[..., None], 3, axis=-1)
    ms = degrade_resolution(fused, RATIO, mtf=0.15)  # the PAN MTF used by d_s by default
    assert d_s(fused, ms, pan, RATIO) == pytest.approx(0.0, abs=1e-12)
    assert qnr(fused, ms, pan, RATIO) == pytest.approx(1.0, abs=1e-12)


def test_qnr_combines_its_distortions_and_drops_with_noise(scene, rng):
    truth, ms, pan = scene
    noisy = truth + rng.normal(0, 0.1, size=truth.shape)
    spectral, spatial = d_lambda(noisy, ms), d_s(noisy, ms, pan, RATIO)
    assert 0 < spectral < 1 and 0 < spatial < 1
    assert qnr(noisy, ms, pan, RATIO, alpha=2, beta=0.5) == pytest.approx((1 - spectral) ** 2 * (1 - spatial) ** 0.5)
    assert qnr(noisy, ms, pan, RATIO) < qnr(truth, ms, pan, RATIO) <= 1.0


def test_khan_d_lambda_is_zero_when_fused_degrades_exactly_to_ms(scene, rng):
    truth, ms, pan = scene
    assert d_lambda_khan(truth, ms, RATIO) == pytest.approx(0.0, abs=1e-12)
    noisy = truth + rng.normal(0, 0.1, size=truth.shape)
    assert d_lambda_khan(noisy, ms, RATIO) > 1e-3  # the MTF blur removes most of the noise
    spectrally_wrong = truth * np.array([1.3, 1.0, 0.8, 1.0]) + np.array([0.0, 0.1, 0.0, 0.0])
    assert d_lambda_khan(spectrally_wrong, ms, RATIO) > 0.02
    assert hqnr(truth, ms, pan, RATIO) == pytest.approx(1.0 - d_s(truth, ms, pan, RATIO), abs=1e-12)
    assert hqnr(noisy, ms, pan, RATIO) < hqnr(truth, ms, pan, RATIO)


def test_numpy_and_torch_inputs_agree(scene, rng):
    truth, ms, pan = scene
    fused = truth + rng.normal(0, 0.05, size=truth.shape)
    as_torch = [torch.from_numpy(np.ascontiguousarray(a)) for a in (fused, ms, pan)]
    assert qnr(*as_torch, RATIO) == qnr(fused, ms, pan, RATIO)
    assert hqnr(*as_torch, RATIO) == hqnr(fused, ms, pan, RATIO)


def test_bad_inputs_raise_teaching_errors(scene):
    truth, ms, pan = scene
    with pytest.raises(ParameterError, match="block_size"):
        d_lambda(truth, ms, block_size=30)
    with pytest.raises(InputError, match="ratio=2"):
        d_s(truth, ms, pan, 2)
    with pytest.raises(InputError, match="share the pixel grid"):
        qnr(truth, ms, pan[:32], RATIO)
    with pytest.raises(InputError, match="bands"):
        d_lambda(truth, ms[..., :3])

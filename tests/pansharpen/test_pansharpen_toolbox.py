"""The classical methods against the reference toolbox's definitions (Vivone et al., IEEE GRSM 2021).

Each test re-derives a toolbox formula independently in numpy/scipy (``GSA.m``, ``AWLP.m``,
``MTF_GLP_HPM.m``, ``MTF_GLP_FS.m``, ``interp23tap.m``) on a small input, or checks a property the
definition implies by hand (exact recovery of bands that the model describes exactly). The
shared building blocks (hsi's interpolator, MTF blur and decimation) are checked against the
toolbox's in ``test_pansharpen_methods.py`` and ``tests/degrade/test_mtf.py``; here they are the
inputs of the re-derivation, so a test fails when a method's own formula departs from the
toolbox's (or from hsi's documented deviation from it).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from hsi.degrade.mtf import decimate, mtf_blur
from hsi.degrade.resample import upsample
from hsi.pansharpen import cs, mra

RATIO = 4
#: The B3 spline of the toolbox's undecimated wavelet (``[1 4 6 4 1] / 16``).
B3 = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _smooth_noise(shape, seed, width):
    rng = np.random.default_rng(seed)
    return ndi.gaussian_filter(rng.standard_normal(shape), width, mode="wrap")


@pytest.fixture(scope="module")
def pair():
    """A positive 3-band MS (16 x 16) whose bands follow the PAN (64 x 64) only in part."""
    pan = 100.0 + 30.0 * _smooth_noise((64, 64), 0, 1.5) + 10.0 * _smooth_noise((64, 64), 1, 4.0)
    own = np.stack([_smooth_noise((64, 64), 2 + k, 3.0) for k in range(3)], axis=2)
    cube = pan[:, :, None] * np.array([0.6, 0.9, 1.2]) + 15.0 * own
    ms = decimate(mtf_blur(cube, 0.3, RATIO), RATIO)
    return ms, pan


def _binomial_lowpass(image, levels):
    """The toolbox's wavelet approximation: ``2 * levels`` B3 splines, whole-sample mirror edges."""
    taps = B3
    for _ in range(2 * levels - 1):
        taps = np.convolve(taps, B3)
    return ndi.correlate1d(ndi.correlate1d(image, taps, axis=0, mode="mirror"), taps, axis=1, mode="mirror")


def test_gsa_is_the_toolbox_gsa(pair):
    """GSA.m step by step: intensity weights regressed at the MS scale on the low-passed, decimated,
    mean-removed PAN; gains cov(MS~_k, I0) / var(I0); detail = mean-removed PAN - I0; band means kept."""
    ms, pan = pair
    ms_up = np.asarray(upsample(ms, RATIO))
    pan0 = pan - pan.mean()
    pan_low = _binomial_lowpass(pan0, 2)[RATIO // 2 :: RATIO, RATIO // 2 :: RATIO]  # imresize(., 1/4, 'nearest')
    design = np.column_stack([(ms - ms.mean(axis=(0, 1))).reshape(-1, 3), np.ones(ms.shape[0] * ms.shape[1])])
    alpha = np.linalg.lstsq(design, pan_low.ravel(), rcond=None)[0]
    up0 = ms_up - ms_up.mean(axis=(0, 1))
    intensity = up0 @ alpha[:3] + alpha[3]
    intensity0 = intensity - intensity.mean()
    gains = [np.cov(intensity0.ravel(), up0[:, :, k].ravel())[0, 1] / np.var(intensity0, ddof=1) for k in range(3)]
    expected = up0 + (pan0 - intensity0)[:, :, None] * np.array(gains)
    expected += ms_up.mean(axis=(0, 1)) - expected.mean(axis=(0, 1))
    np.testing.assert_allclose(cs.gsa(ms, pan, ratio=RATIO), expected, rtol=1e-10, atol=1e-9)


def test_awlp_is_the_toolbox_awlp_with_the_lowpass_equalisation(pair):
    """AWLP.m: F_k = MS~_k + (MS~_k / mean_j MS~_j) (P_k - P_k,L), P_k the PAN equalised to band k.
    hsi's documented deviation: P's deviation for the equalisation is that of its wavelet low-pass."""
    ms, pan = pair
    ms_up = np.asarray(upsample(ms, RATIO))
    assert ms_up.min() > 0  # positive bands: the luminance shares are the toolbox's plain ratio
    shares = ms_up / ms_up.mean(axis=2, keepdims=True)
    pan_low = _binomial_lowpass(pan, 2)
    expected = np.empty_like(ms_up)
    for k in range(3):
        band = ms_up[:, :, k]
        equalised = (pan - pan.mean()) * band.std() / pan_low.std() + band.mean()
        expected[:, :, k] = band + shares[:, :, k] * (equalised - _binomial_lowpass(equalised, 2))
    np.testing.assert_allclose(mra.awlp(ms, pan, ratio=RATIO), expected, rtol=1e-10, atol=1e-8)


def test_awlp_shares_stay_physical_where_the_interpolation_rings_below_zero():
    """A bright disc with a sharp edge: the 23-tap interpolation rings below zero beside it. With
    the ground level set so that the band mean is 1e-3 at the deepest ring (the bright band below
    zero there, the others above), the toolbox's ratio ``MS~_k / mean`` is ~1e5. The shares of
    non-negative radiance stay in [0, bands]; the fused bands stay within twice the MS's span
    of its range, as on the WV2 pair (``test_real_pairs_at_full_resolution_stay_in_range``)."""
    yy, xx = np.mgrid[0:128, 0:128]
    disc = (np.hypot(yy - 61.3, xx - 66.7) < 37.0).astype(float)
    brightness = np.array([2000.0, 150.0, 40.0])
    rings = np.asarray(upsample(decimate(disc[:, :, None], RATIO), RATIO))[:, :, 0]
    ground = -brightness.mean() * rings.min() + 1e-3  # the band mean at the deepest ring is 1e-3
    cube = ground + disc[:, :, None] * brightness
    ms = decimate(cube, RATIO)  # sharp edges, no MTF blur: the interpolation rings
    pan = ground + 700.0 * disc + 20.0 * _smooth_noise((128, 128), 5, 0.7)
    ms_up = np.asarray(upsample(ms, RATIO))
    toolbox_shares = ms_up / (ms_up.mean(axis=2, keepdims=True) + np.finfo(float).eps)
    assert np.abs(toolbox_shares).max() > 1e4  # the case the guard is for
    shares = np.asarray(mra.luminance_shares(torch.from_numpy(ms_up)))
    assert shares.min() >= 0 and shares.max() <= 3 + 1e-12
    fused = mra.awlp(ms, pan, ratio=RATIO)
    span = ms.max() - ms.min()
    assert fused.min() > ms.min() - 2 * span and fused.max() < ms.max() + 2 * span


def test_mtf_glp_fs_recovers_bands_affine_in_the_pan_whatever_their_sign():
    """MTF_GLP_FS.m's gain cov(MS~_k, P) / cov(P_k,L, P) is exact for X_k = a_k P + c_k degraded by
    the model's own MTF: MS~_k = a_k P_k,L + c_k, so g_k = a_k and F_k = a_k P + c_k (an unequalised
    unit-gain injection could not follow the negative a_k)."""
    pan = 50.0 + 10.0 * _smooth_noise((64, 64), 3, 1.2)
    slopes, offsets = np.array([0.8, -0.5, 2.0]), np.array([5.0, 90.0, -20.0])
    cube = pan[:, :, None] * slopes + offsets
    ms = decimate(mtf_blur(cube, 0.3, RATIO), RATIO)
    np.testing.assert_allclose(mra.mtf_glp_fs(ms, pan, ratio=RATIO), cube, rtol=1e-9, atol=1e-8)


def test_mtf_glp_hpm_is_the_toolbox_hpm(pair):
    """MTF_GLP_HPM.m (2021): P_k = PAN equalised to band k, its deviation measured on the PAN blurred
    by a Gaussian of Nyquist gain 0.3; P_k,L its MTF-GLP low-pass; F_k = MS~_k P_k / P_k,L, wherever
    hsi's floor on the divisor is inactive (``test_pansharpen_hpm.py`` tests the floor)."""
    ms, pan = pair
    ms_up = np.asarray(upsample(ms, RATIO))
    spread = np.asarray(mtf_blur(pan[:, :, None], 0.3, RATIO))[:, :, 0].std()
    pan_low = np.asarray(upsample(decimate(mtf_blur(pan[:, :, None], 0.3, RATIO), RATIO), RATIO))[:, :, 0]
    expected = np.empty_like(ms_up)
    unguarded = np.empty(ms_up.shape, dtype=bool)
    for k in range(3):
        equalised = (pan - pan.mean()) * ms_up[:, :, k].std() / spread + ms_up[:, :, k].mean()
        low = np.asarray(upsample(decimate(mtf_blur(equalised[:, :, None], 0.3, RATIO), RATIO), RATIO))[:, :, 0]
        expected[:, :, k] = ms_up[:, :, k] * equalised / low
        # hsi's floor on the divisor (mra._modulation_floor): rho * mean(MS~_k), rho = min/mean of the PAN low-pass
        unguarded[:, :, k] = low >= pan_low.min() / pan_low.mean() * ms_up[:, :, k].mean()
    assert unguarded.mean() > 0.99
    fused = mra.mtf_glp_hpm(ms, pan, ratio=RATIO)
    np.testing.assert_allclose(fused[unguarded], expected[unguarded], rtol=1e-9)


def test_bdsd_pc_recovers_bands_that_are_multiples_of_the_pan():
    """BDSD's model F_k = MS~_k + g_k P - sum_i gamma_ki MS~_i holds exactly for X_k = s_k P with
    g_k = s_k and sum_i gamma_ki s_i = s_k (all >= 0): the reduced-scale fit finds it although the
    bands are collinear (the coefficients are not unique, the fused cube is)."""
    pan = 80.0 + 20.0 * _smooth_noise((64, 64), 4, 1.2)
    cube = pan[:, :, None] * np.array([0.5, 0.8, 1.1, 1.4])
    ms = decimate(mtf_blur(cube, 0.3, RATIO), RATIO)
    np.testing.assert_allclose(cs.bdsd_pc(ms, pan, ratio=RATIO), cube, rtol=1e-6)


def test_ratio_4_interpolation_is_aligned_with_the_toolbox_cascade():
    """hsi evaluates the 12-node polynomial at each quarter phase directly; the toolbox cascades two
    23-tap half-band stages. On a band-limited image the two agree inside the image to 1e-4 of its
    range (a one-pixel misalignment would differ by the image's local slope, ~1e-1 here)."""
    from hsi.bench.pansharpen_toolbox import interp23tap  # the bench's interp23tap.m (circular edges: compared inside)

    image = _smooth_noise((40, 40), 6, 2.5)
    ours = np.asarray(upsample(image, 4))
    theirs = interp23tap(image, 4)
    inside = (slice(24, -24), slice(24, -24))
    assert np.abs(ours - theirs)[inside].max() < 1e-4 * np.ptp(image)
    shifted = np.abs(np.roll(ours, 1, axis=0) - theirs)[inside].max()
    assert shifted > 100 * np.abs(ours - theirs)[inside].max()


CLASSICAL = ("awlp", "bdsd_pc", "mtf_glp_hpm", "mtf_glp", "mtf_glp_fs", "gsa", "mtf_glp_hpm_r")


@pytest.mark.slow
def test_real_pairs_at_full_resolution_stay_in_range(shared_data):
    """Every classical method on the whole WV2 pair at full resolution: a fused band may carry the
    PAN's contrast scaled to the band (the equalisation scales by up to 2.2 on WV2), so it may leave
    the MS's range by up to twice the MS's span, not more; only within 4 PAN pixels of the PAN's
    dead (1 DN) or saturated (2047 DN) pixels, where the detail itself is not a measurement, is the
    injected detail left unbounded. AWLP's ratio to a band mean that the interpolation's ringing
    drove through zero broke this bound before :func:`hsi.pansharpen.mra.luminance_shares`
    (its range now: ``bench_results/pansharpen_s6``, table ``full``, ``min_clean`` / ``max_clean``)."""
    from hsi.bench.pansharpen import load_pair, method_from_config

    ms, pan, ratio = load_pair(shared_data / "pansharpening" / "imgWV2.mat")
    unreliable = ndi.binary_dilation((pan <= pan.min()) | (pan >= pan.max()), iterations=4)
    assert unreliable.mean() < 0.005
    span = ms.max() - ms.min()
    for name in CLASSICAL:
        fused = np.asarray(method_from_config(name)(ms, pan, ratio=ratio, sensor="WV2"))[~unreliable]
        assert ms.min() - 2 * span < fused.min() and fused.max() < ms.max() + 2 * span, name


@pytest.mark.parametrize("gain", [0.35, 0.29, 0.27, 0.26])
def test_toolbox_mtf_filters_reach_094_of_their_nominal_gain_and_hsi_the_gain(gain):
    """At the MS's Nyquist frequency (1/8 cycle per PAN pixel at ratio 4) the toolbox's ``genMTF.m``
    filter (frequency-sampled Gaussian, Kaiser window) responds with 0.93-0.96 of the nominal gain
    at the WV2 and IKONOS gains (0.90 at the 0.11 of WV2's PAN),
    hsi's Gaussian (``hsi.degrade.mtf.mtf_kernel``) with the gain itself: hsi follows the sensor
    model, and the bench's ``toolbox`` table shows the 0.001 Q2n this is worth to MTF-GLP-FS."""
    from hsi.bench.pansharpen_toolbox import mtf_filter
    from hsi.degrade.mtf import mtf_kernel

    offsets = np.arange(41) - 20
    wave = np.cos(2 * np.pi * offsets / 8)[None, :]
    toolbox, ours = mtf_filter(gain, RATIO), mtf_kernel(gain, RATIO)
    assert 0.93 < float((toolbox * wave).sum() / toolbox.sum()) / gain < 0.96
    assert float((ours * wave).sum()) == pytest.approx(gain, abs=1e-9)


def test_gsa_weights_of_collinear_or_zero_bands_are_the_minimum_norm_split():
    """Collinear and all-zero MS bands leave GSA's regression rank-deficient; the weights are the
    minimum-norm solution (equal shares of duplicated bands, nothing on a zero band), not a split that
    follows rounding (the QR driver's split changed with the thread count and moved ERGAS by 0.7 %)."""
    import torch

    from hsi.pansharpen.cs import intensity_weights

    rng = np.random.default_rng(0)
    image = torch.as_tensor(1.0 + rng.random((32, 32)))
    ms = torch.stack([image, image, torch.zeros_like(image)], dim=2)
    weights = intensity_weights(ms, 0.6 * image + 0.1)
    np.testing.assert_allclose(weights.numpy(), [0.3, 0.3, 0.0, 0.1], atol=1e-9)

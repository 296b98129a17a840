"""Pansharpening methods: geometry, a case with a known answer, and real WV2 data vs EXP."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hsi.degrade.mtf import SENSOR_MTF, decimate, degrade_resolution, mtf_blur
from hsi.degrade.resample import bicubic_downsample, lagrange_phase_filters, upsample
from hsi.errors import InputError, ParameterError
from hsi.pansharpen import cs, hs, mra
from hsi.pansharpen.baseline import expand


METHODS = {
    "pca": cs.pca, "gs": cs.gs, "gsa": cs.gsa, "brovey": cs.brovey, "gihs": cs.gihs, "bdsd_pc": cs.bdsd_pc,
    "hpf": mra.hpf, "sfim": mra.sfim, "mtf_glp": mra.mtf_glp,
    "mtf_glp_cbd": lambda ms, pan, **kw: mra.mtf_glp(ms, pan, injection="regression", **kw),
    "mtf_glp_fs": mra.mtf_glp_fs, "mtf_glp_hpm": mra.mtf_glp_hpm, "mtf_glp_hpm_r": mra.mtf_glp_hpm_r, "awlp": mra.awlp, "mtf_glp_hs": hs.mtf_glp_hs,
}


def _texture(rows: int, cols: int, seed: int = 0, waves: float = 0.5) -> np.ndarray:
    """A positive image with detail at every scale: smoothed noise plus gentle gradients."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((rows, cols, 1))
    detail = mtf_blur(noise, 0.6, 2.0)[:, :, 0]
    yy, xx = np.mgrid[0:rows, 0:cols] / max(rows, cols)
    return 1.0 + waves * np.sin(6 * yy) * np.cos(4 * xx) + 0.3 * detail


@pytest.fixture(scope="module")
def rank_one_scene():
    """A high-resolution cube ``X_k = s_k P`` whose PAN is ``P``, and its MTF-degraded MS."""
    pan = _texture(64, 64)
    spectrum = np.array([0.4, 0.7, 1.0, 1.3, 0.9])
    cube = pan[:, :, None] * spectrum
    ms = decimate(mtf_blur(cube, 0.3, 4), 4)
    return cube, ms, pan


def test_upsample_reproduces_cubic_polynomials_and_grid():
    rows = np.arange(40.0)
    image = (rows[:, None] ** 3 / 100.0) * np.ones((1, 40))
    up = upsample(image, 4)
    positions = (np.arange(160) - 2) / 4.0  # low-res pixel i sits at high-res 4 i + 2
    assert np.abs(up[40:120, 80] - positions[40:120] ** 3 / 100.0).max() < 1e-9
    cube = np.random.default_rng(1).random((9, 7, 3))
    for ratio in (2, 3, 4):
        assert np.allclose(decimate(upsample(cube, ratio), ratio), cube, atol=1e-12)


def test_bicubic_downsample_matches_an_independent_antialiased_bicubic():
    # PIL's BICUBIC reduction is the same filter (Keys a = -0.5, stretched by the ratio,
    # centred on each block); PIL renormalises at the edges where we mirror, so compare inside.
    image_module = pytest.importorskip("PIL.Image")
    image = np.random.default_rng(2).random((64, 48)).astype(np.float32)
    ours = bicubic_downsample(image.astype(np.float64), 4)
    theirs = np.asarray(image_module.fromarray(image, mode="F").resize((12, 16), image_module.BICUBIC))
    assert ours.shape == (16, 12)
    assert np.abs(ours - theirs)[3:-3, 3:-3].max() < 1e-6
    flat = bicubic_downsample(np.full((20, 20, 2), 3.0), 4)
    assert flat.shape == (5, 5, 2) and np.allclose(flat, 3.0, atol=1e-12)  # unit DC gain, edges included


@pytest.mark.parametrize("name", sorted(METHODS))
def test_output_geometry_and_kind(name, rank_one_scene):
    _, ms, pan = rank_one_scene
    fused = METHODS[name](ms, pan, sensor="generic")
    assert isinstance(fused, np.ndarray) and fused.shape == (64, 64, 5)
    fused_t = METHODS[name](torch.as_tensor(ms, dtype=torch.float32), torch.as_tensor(pan), sensor="generic")
    assert isinstance(fused_t, torch.Tensor) and fused_t.shape == (64, 64, 5) and fused_t.dtype == torch.float32
    assert np.isfinite(fused).all()


def test_ratio_is_checked(rank_one_scene):
    _, ms, pan = rank_one_scene
    with pytest.raises(InputError, match="integer multiple"):
        mra.mtf_glp(ms, pan[:, :63])
    with pytest.raises(ParameterError, match="ratio=3"):
        cs.gsa(ms, pan, ratio=3)
    with pytest.raises(ParameterError, match="injection"):
        mra.mtf_glp(ms, pan, injection="magic")


@pytest.mark.parametrize("name", ["mtf_glp", "mtf_glp_cbd", "mtf_glp_fs", "mtf_glp_hpm_r"])
def test_glp_recovers_a_cube_proportional_to_the_pan(name, rank_one_scene):
    """When every band is s_k P and the MS is its MTF low-pass, the GLP details are exactly missing ones."""
    cube, ms, pan = rank_one_scene
    fused = METHODS[name](ms, pan, sensor="generic")
    assert np.abs(fused - cube).max() < 1e-9 * np.abs(cube).max()


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_beats_interpolation_on_the_known_case(name, rank_one_scene):
    cube, ms, pan = rank_one_scene
    error = lambda x: np.sqrt(np.mean((x - cube) ** 2))  # noqa: E731
    assert error(METHODS[name](ms, pan, sensor="generic")) < 0.8 * error(expand(ms, pan))


def test_undecimated_wavelet_lowpass_is_the_toolbox_binomial_filter():
    """Two levels of the non-decimated B3 transform pass cos(pi f)^16: 0.28 at the ratio-4 Nyquist frequency."""
    cols = np.arange(96.0)
    image = np.cos(2 * np.pi * cols / 8.0)[None, :] * np.ones((96, 1))  # f = 1/8: Nyquist of ratio 4
    low = mra.undecimated_wavelet_lowpass(torch.as_tensor(image), 2).numpy()
    assert np.abs(low - np.cos(np.pi / 8) ** 16 * image)[20:-20, 20:-20].max() < 1e-9
    flat = mra.undecimated_wavelet_lowpass(torch.full((30, 30), 2.5, dtype=torch.float64), 2)
    assert torch.allclose(flat, torch.tensor(2.5, dtype=torch.float64))  # unit DC gain, edges included


def test_gsa_injects_the_pan_contrast_the_bands_cannot_explain():
    """GSA's detail is the PAN minus its regression on the bands, not a PAN shrunk to that regression:
    on a cube with every band s_k P the fused bands carry the PAN's full contrast."""
    pan = _texture(64, 64, seed=4)
    spectrum = np.array([0.5, 1.0, 1.5])
    cube = pan[:, :, None] * spectrum
    ms = degrade_resolution(cube, 4, "generic")
    fused = cs.gsa(ms, pan, sensor="generic")
    error = lambda x: np.sqrt(np.mean((x - cube) ** 2))  # noqa: E731
    assert error(fused) < 0.05 * error(expand(ms, pan))  # shrinking the PAN to I left 27 %
    detail_std = (fused - expand(ms, pan)).std(axis=(0, 1))
    truth_std = (cube - expand(ms, pan)).std(axis=(0, 1))
    assert np.allclose(detail_std / truth_std, 1.0, atol=0.03)  # shrinking it injected 91 %


def test_detail_regression_gains_ignore_bands_unrelated_to_the_pan():
    pan = _texture(64, 64, seed=2)
    other = _texture(64, 64, seed=3, waves=0.0)
    cube = np.stack([0.5 * pan, 1.5 * pan, other, 2.0 - pan], axis=2)
    ms = degrade_resolution(cube, 4, "generic")
    gains = hs.detail_regression_gains(torch.as_tensor(ms), torch.as_tensor(pan), 4, "generic").numpy()
    assert gains[1] > 2 * gains[0] > 0.3
    assert abs(gains[2]) < 0.3 * gains[1]
    assert gains[3] < -0.3  # inverted contrast gives a negative gain


def test_bdsd_pc_coefficients_are_nonnegative_least_squares():
    rng = np.random.default_rng(0)
    design = torch.as_tensor(rng.random((200, 4)))
    target = torch.as_tensor(rng.random((200, 3)) - 0.3)
    coefficients = cs.nonnegative_least_squares_gram(design.T @ design, design.T @ target)
    assert (coefficients >= 0).all()
    gradient = design.T @ (design @ coefficients - target)  # KKT: zero where positive, >= 0 at zero
    assert torch.all(gradient[coefficients > 1e-9].abs() < 1e-8)
    assert torch.all(gradient[coefficients <= 1e-9] > -1e-8)


@pytest.fixture(scope="module", params=[("WV2", "imgWV2.mat"), ("IKONOS", "imgIK.mat")], ids=["WV2", "IKONOS"])
def real_reduced(request, shared_data):
    """Wald's protocol on a 128 x 128 MS crop of a real pair (MS 32 x 32, PAN 128 x 128), with its sensor."""
    from hsi.bench.pansharpen import load_pair
    from hsi.pansharpen.protocol import reduced_resolution_pair

    sensor, filename = request.param
    ms, pan, ratio = load_pair(shared_data / "pansharpening" / filename)
    return sensor, reduced_resolution_pair(ms[:128, :128], pan[:512, :512], sensor=sensor, ratio=ratio)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_beats_interpolation_on_real_q2n(name, real_reduced):
    from hsi.metrics import q2n

    sensor, pair = real_reduced
    baseline = q2n(pair.reference, expand(pair.ms, pair.pan))
    fused = METHODS[name](pair.ms, pair.pan, sensor=sensor)
    assert fused.shape == pair.reference.shape
    assert q2n(pair.reference, fused) > baseline + 0.02


@pytest.mark.slow
def test_zero_shot_network_beats_interpolation_on_real_q2n(real_reduced):
    from hsi.metrics import q2n
    from hsi.pansharpen.zeroshot import rho_pnn

    sensor, pair = real_reduced
    baseline = q2n(pair.reference, expand(pair.ms, pair.pan))
    fused = rho_pnn(pair.ms, pair.pan, sensor=sensor, first_band_steps=60, band_steps=10)
    assert q2n(pair.reference, fused) > baseline + 0.02


def test_half_sample_filter_is_the_toolbox_23_tap_filter():
    """Ratio 2 with 12 nodes is Aiazzi et al.'s 23-tap half-band filter (toolbox interp23tap.m).

    The toolbox's CDF23 odd taps, 2 * [0.305334091185, -0.072698593239, 0.021809577942,
    -0.005192756653, 0.000807762146, -0.000060081482], are its published values.
    """
    filters, half = lagrange_phase_filters(2, 12)
    toolbox_half = 2 * np.array([0.305334091185, -0.072698593239, 0.021809577942,
                                 -0.005192756653, 0.000807762146, -0.000060081482])
    between = filters[0]  # output halfway between inputs half-1 and half
    np.testing.assert_allclose(between[half:half + 6], toolbox_half, atol=1e-12)
    np.testing.assert_allclose(between[half - 6:half][::-1], toolbox_half, atol=1e-12)
    np.testing.assert_array_equal(filters[1], np.eye(2 * half + 1)[half])  # on-grid samples copied


@pytest.mark.parametrize(
    "sensor, ms_gains, pan_gain",
    [
        ("IKONOS", [0.26, 0.28, 0.29, 0.28], 0.17),
        ("WV2", [0.35] * 7 + [0.27], 0.11),
        ("QB", [0.34, 0.32, 0.30, 0.22], 0.15),
    ],
)
def test_mtf_glp_uses_the_toolbox_nyquist_gains(sensor, ms_gains, pan_gain):
    """MTF-GLP's per-band gains are those of the toolbox's MTF.m / MTF_PAN.m (Vivone et al. 2015)."""
    np.testing.assert_array_equal(mra.ms_nyquist_gains(sensor, len(ms_gains)), ms_gains)
    assert SENSOR_MTF[sensor].pan_gain == pan_gain

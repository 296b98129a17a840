"""The default's abundance step: FCLS, or the MAP under a per-pixel brightness scale learnt from the scene."""

import pickle

import numpy as np
import pytest

from hsi.unmix.abundance import fcls
from hsi.unmix.scaled import ScaledAbundances, fit_scale_prior, scaled_abundances
from tests.unmix._synthetic import synthetic_mixture


def _brightened(scale_std, noise=0.002, seed=0, n_pixels=4000):
    pixels, endmembers, abundances = synthetic_mixture(n_pixels=n_pixels, n_bands=60, n_endmembers=4, noise=0.0, seed=seed)
    rng = np.random.default_rng(seed + 1)
    scales = 1.0 + scale_std * rng.standard_normal(pixels.shape[0])
    noisy = pixels * scales[:, None] + rng.normal(0.0, noise, pixels.shape)
    return noisy, endmembers, abundances, scales


def _rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - b) ** 2)))


def test_brightness_spread_is_found_and_undone():
    pixels, endmembers, abundances, scales = _brightened(scale_std=0.1)
    prior = fit_scale_prior(pixels, endmembers)
    assert prior.model == "scaled"
    assert prior.prior_std == pytest.approx(0.1, rel=0.2)  # the spread put in, noise taken out
    scaled, estimated_scales = scaled_abundances(pixels, endmembers, prior, return_scale=True)
    assert np.allclose(np.asarray(scaled).sum(axis=1), 1.0)
    assert _rmse(scaled, abundances) < 0.3 * _rmse(fcls(pixels, endmembers), abundances)
    assert np.corrcoef(np.asarray(estimated_scales), scales)[0, 1] > 0.95


def test_without_brightness_spread_the_step_is_fcls():
    pixels, endmembers, abundances, _ = _brightened(scale_std=0.0, noise=0.01)
    prior = fit_scale_prior(pixels, endmembers)
    assert prior.model == "fcls" and prior.weight is None
    assert prior.scale_spread == pytest.approx(prior.noise_scale_spread, rel=0.5)  # the scales spread by noise alone
    expected = fcls(pixels / prior.fixed_scale(), endmembers)  # FCLS at the scene's scale, 1 up to noise here
    assert prior.fixed_scale() == pytest.approx(1.0, abs=0.01)
    np.testing.assert_array_equal(np.asarray(ScaledAbundances()(pixels, endmembers)), np.asarray(expected))


def test_the_fitted_step_is_picklable_and_unmixes_windows_as_the_whole():
    pixels, endmembers, _, _ = _brightened(scale_std=0.1)
    fitted = pickle.loads(pickle.dumps(ScaledAbundances().fit(pixels, endmembers)))
    whole = np.asarray(fitted(pixels, endmembers))
    halves = np.concatenate([np.asarray(fitted(part, endmembers)) for part in np.array_split(pixels, 3)])
    np.testing.assert_allclose(halves, whole, atol=1e-12)


def test_the_default_method_reports_its_abundance_model():
    from hsi import methods

    pixels, endmembers, abundances, _ = _brightened(scale_std=0.1)
    method = methods.load("unmix", "edaa_pp_uniform")
    step, record = method.abundance_step(pixels, endmembers)
    assert record["abundance_model"] == "scaled" and record["prior_std"] > 0.05
    assert _rmse(step(pixels, endmembers), abundances) < 0.3 * _rmse(fcls(pixels, endmembers), abundances)


def test_the_record_says_in_words_which_model_and_why():
    bright = fit_scale_prior(*_brightened(scale_std=0.1)[:2]).record()["reason"]
    assert bright.startswith("a brightness scale per pixel") and "noise alone" in bright
    plain = fit_scale_prior(*_brightened(scale_std=0.0, noise=0.01)[:2]).record()["reason"]
    assert plain.startswith("FCLS") and "no more than noise alone" in plain


def test_the_unmix_job_streams_the_model_fitted_on_its_sample(tmp_path, capsys):
    import json

    from hsi.cli import main
    from hsi.io import save_scene
    from hsi.sample_scene import make_sample_scene

    sample = make_sample_scene(n_rows=48, n_cols=40, seed=3)
    rng = np.random.default_rng(0)
    scales = 1.0 + 0.1 * rng.standard_normal(sample.cube.shape[:2])
    cube = (sample.cube * scales[..., None] + rng.normal(0.0, 0.002, sample.cube.shape)).astype(np.float32)
    path = save_scene(sample.to_scene().with_array(cube), tmp_path / "bright.tif")
    out = tmp_path / "run"
    assert main(["unmix", f"input={path}", f"output={out}", "n_endmembers=5", "sample_pixels=500", "quicklook=false",
                 "progress=false"]) == 0
    results = json.loads((out / "abundances_report.json").read_text())["results"]
    assert results["fit"]["abundances"]["abundance_model"] == "scaled"
    assert f"abundance model: {results['fit']['abundances']['reason']}" in capsys.readouterr().out
    # every pixel is reconstructed as its scale times the mixture: the error is the noise, not the brightness
    assert results["reconstruction_rmse"]["median"] < 0.006


def test_in_memory_unmixing_says_which_abundance_model_it_used():
    from hsi import methods
    from hsi.bench.unmix import abundance_model_label

    pixels, _, _, _ = _brightened(scale_std=0.1, n_pixels=1000)
    _, estimated, record = methods.load("unmix", "edaa_pp_uniform").unmix(pixels, 4, rng=0)
    assert record["abundance_model"] == "scaled"
    assert abundance_model_label(record).startswith("scaled (scale spread 0.")
    assert np.allclose(np.asarray(estimated).sum(axis=1), 1.0) and np.asarray(estimated).min() >= 0
    _, _, fixed = methods.load("unmix", "vca_fcls").unmix(pixels, 4, rng=0)
    assert fixed is None and abundance_model_label(fixed) == "fixed"


def test_pixels_the_scale_prior_zeroes_still_get_sum_to_one_abundances():
    # Water or deep shadow below zero (real reflectance products): no non-negative scale fits
    # them, the MAP scale is 0 and b / sum(b) would be 0 / 0; their proportions are FCLS's.
    pixels, endmembers, _, _ = _brightened(scale_std=0.1)
    rng = np.random.default_rng(5)
    pixels[:400] = rng.normal(-0.01, 0.002, (400, pixels.shape[1]))
    prior = fit_scale_prior(pixels, endmembers)
    assert prior.model == "scaled"
    abundances, scales = (np.asarray(value) for value in scaled_abundances(pixels, endmembers, prior, return_scale=True))
    np.testing.assert_allclose(abundances.sum(axis=1), 1.0, atol=1e-9)
    assert (abundances >= 0).all() and (scales[:400] == 0).all()
    np.testing.assert_allclose(abundances[:400], np.asarray(fcls(pixels[:400], endmembers)), atol=1e-12)


def test_the_default_s_abundances_are_the_same_tiled_and_untiled_through_the_job(tmp_path):
    # The prior is fitted once on the sample: 7 x 7 tiles (batched 3 at a time) unmix every
    # pixel as one tile does. A prior fitted per tile would differ from tile to tile.
    import json

    import rasterio

    from hsi.cli import main
    from hsi.io import save_scene
    from hsi.sample_scene import make_sample_scene

    sample = make_sample_scene(n_rows=24, n_cols=20, seed=3)
    rng = np.random.default_rng(1)
    scales = 1.0 + 0.1 * rng.standard_normal(sample.cube.shape[:2])
    cube = (sample.cube * scales[..., None] + rng.normal(0.0, 0.002, sample.cube.shape)).astype(np.float32)
    path = save_scene(sample.to_scene().with_array(cube), tmp_path / "bright.tif")
    outputs = {}
    for tiles in (["tiling.tile=7", "tiling.batch_size=3"], ["tiling.tile=512"]):
        out = tmp_path / tiles[0].replace("=", "_")
        assert main(["unmix", f"input={path}", f"output={out}", "n_endmembers=3", "method.extract.n_outer=10",
                     "quicklook=false", "progress=false", *tiles]) == 0
        assert json.loads((out / "abundances_report.json").read_text())["results"]["fit"]["abundances"][
            "abundance_model"] == "scaled"
        with rasterio.open(out / "abundances.tif") as dataset:
            outputs[tiles[0]] = dataset.read()
    tiled, whole = outputs.values()
    np.testing.assert_array_equal(tiled, whole)


@pytest.mark.parametrize("units", [1.0, 1e4])
def test_the_tightest_prior_the_rule_admits_is_solved_exactly(units):
    # The appended band's weight c = noise_std / prior_std is largest at the switch to FCLS;
    # there the augmented NNLS must still be the exact MAP, in reflectance or radiance units.
    import dataclasses

    from scipy.optimize import nnls as scipy_nnls

    from hsi.unmix.scaled import NEGLIGIBLE_PRIOR_VARIANCE

    pixels, endmembers, _ = synthetic_mixture(n_pixels=300, n_bands=100, n_endmembers=8, noise=0.01, seed=8)
    pixels, endmembers = pixels * units, endmembers * units
    prior = fit_scale_prior(pixels, endmembers)
    tightest = 1.0001 * np.sqrt(NEGLIGIBLE_PRIOR_VARIANCE) * prior.noise_scale_spread
    prior = dataclasses.replace(prior, model="scaled", prior_std=tightest, weight=prior.noise_std / tightest)
    c = prior.weight
    augmented = np.vstack([endmembers, np.full((1, endmembers.shape[1]), c)])
    exact = np.array([scipy_nnls(augmented, np.append(pixel, c * prior.scale_median), maxiter=10000)[0] for pixel in pixels])
    expected = exact / exact.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(np.asarray(scaled_abundances(pixels, endmembers, prior)), expected, atol=1e-8)


def test_without_brightness_spread_every_scale_is_the_scenes_and_the_switch_has_no_jump():
    # A scene uniformly 0.8 x as bright as its endmembers (a calibration gain, a library measured
    # brighter), with no spread beyond noise: the "fcls" model fixes every scale at the prior's
    # mean m (the MAP's limit as tau -> 0), not at 1. It then agrees with the tightest scaled
    # prior the 1 % rule admits, and pure pixels are reconstructed down to the noise.
    import dataclasses

    from hsi.unmix.abundance import reconstruction_rmse
    from hsi.unmix.scaled import NEGLIGIBLE_PRIOR_VARIANCE

    pixels, endmembers, abundances, _ = _brightened(scale_std=0.0, noise=0.005)
    pixels = 0.8 * pixels
    prior = fit_scale_prior(pixels, endmembers)
    assert prior.model == "fcls" and prior.scale_median == pytest.approx(0.8, abs=0.02)
    fixed, scales = (np.asarray(v) for v in scaled_abundances(pixels, endmembers, prior, return_scale=True))
    np.testing.assert_array_equal(scales, prior.scale_median)
    np.testing.assert_allclose(fixed.sum(axis=1), 1.0, atol=1e-9)
    assert _rmse(fixed, abundances) < 0.5 * _rmse(fcls(pixels, endmembers), abundances)
    tightest = 1.0001 * np.sqrt(NEGLIGIBLE_PRIOR_VARIANCE) * prior.noise_scale_spread
    switch = dataclasses.replace(prior, model="scaled", prior_std=tightest, weight=prior.noise_std / tightest)
    assert np.abs(fixed - np.asarray(scaled_abundances(pixels, endmembers, switch))).max() < 0.02
    pure = abundances.max(axis=1) > 0.95
    assert pure.sum() > 10
    error = np.asarray(reconstruction_rmse(pixels[pure], endmembers, fixed[pure] * scales[pure, None]))
    assert np.median(error) < 1.2 * 0.8 * 0.005  # the noise (scaled with the scene), no brightness left over

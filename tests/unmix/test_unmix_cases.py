"""The synthetic unmixing cases: their truth is what they claim (bands, purity, SNR, sum to one)."""

import numpy as np
import pytest

from hsi.bench.unmix_cases import add_noise, build_case, limit_purity, pick_members, sensor_bands


def test_noise_has_the_requested_snr_iid_and_band_dependent():
    rng = np.random.default_rng(0)
    clean = rng.uniform(0.1, 0.5, size=(4000, 120))
    for band_dependent in (False, True):
        noisy = add_noise(clean, 25.0, np.random.default_rng(1), band_dependent=band_dependent)
        noise = noisy - clean
        snr = 10 * np.log10(np.mean(clean**2) / np.mean(noise**2))
        assert abs(snr - 25.0) < 0.1
        per_band = noise.std(axis=0)
        spread = per_band.max() / per_band.min()
        assert (spread > 3.0) if band_dependent else (spread < 1.2)


def test_limit_purity_caps_every_abundance_and_keeps_the_simplex():
    abundances = np.random.default_rng(0).dirichlet(np.full(5, 0.2), size=(30, 30))
    capped = limit_purity(abundances, 0.8)
    assert capped.max() == pytest.approx(0.8)
    assert capped.min() >= 0 and np.allclose(capped.sum(axis=2), 1.0)
    assert np.array_equal(limit_purity(abundances, 1.0), abundances)


def test_pick_members_are_distinct_materials():
    rng = np.random.default_rng(0)
    spectra = np.abs(rng.normal(0.3, 0.1, size=(50, 40)))
    spectra[:, 1] = spectra[:, 0] * 1.5  # same shape as member 0: never both
    chosen = pick_members(spectra, 6, np.random.default_rng(3))
    unit = spectra[:, chosen] / np.linalg.norm(spectra[:, chosen], axis=0)
    angles = np.degrees(np.arccos(np.clip(unit.T @ unit, -1, 1)))[np.triu_indices(6, 1)]
    assert angles.min() >= 5.0 and not {0, 1} <= set(chosen.tolist())


def test_usgs_case_on_emit_bands_without_pure_pixels(shared_data):
    case = build_case("t", endmembers="usgs", sensor="emit", n_endmembers=4, size=32, max_abundance=0.7,
                      snr_db=30, seed=1, data_dir=shared_data)
    emit = sensor_bands("emit", shared_data)
    assert case.cube.shape == (32, 32, case.wavelengths_nm.size) and case.endmembers.shape == (case.wavelengths_nm.size, 4)
    assert np.isin(case.wavelengths_nm, emit.wavelengths_nm).all() and case.wavelengths_nm.size >= emit.wavelengths_nm.size - 2
    assert np.allclose(case.abundances.sum(axis=2), 1.0) and case.abundances.max() <= 0.7 + 1e-12
    residual = case.cube - case.abundances @ case.endmembers.T
    snr = 10 * np.log10(np.mean((case.abundances @ case.endmembers.T) ** 2) / np.mean(residual**2))
    assert abs(snr - 30.0) < 0.3  # no variability: the cube is the linear mixture plus the noise
    again = build_case("t", endmembers="usgs", sensor="emit", n_endmembers=4, size=32, max_abundance=0.7,
                       snr_db=30, seed=1, data_dir=shared_data)
    assert np.array_equal(case.cube, again.cube)  # fixed seed, same scene


def test_emit_library_segments_with_variability_on_enmap_bands(shared_data):
    case = build_case("t", endmembers="emit_library", sensor="enmap", n_endmembers=3, abundances="segments",
                      photo="coffee", size=48, snr_db=40, brightness=0.15, perturbation=0.05, seed=2, data_dir=shared_data)
    assert case.material_names == ("PV", "NPV", "SOIL")
    assert (case.abundances.max(axis=2) > 0.99).mean() > 0.2  # segment interiors are pure
    # Variability: the cube departs from the linear mixture of the reference far more than the noise does.
    residual = case.cube - case.abundances @ case.endmembers.T
    assert np.sqrt(np.mean(residual**2)) > 3 * np.sqrt(np.mean(case.cube**2)) * 10 ** (-40 / 20)


def test_band_correlated_noise_keeps_the_snr_and_correlates_neighbouring_bands():
    clean = np.full((4000, 60), 0.3)
    noisy = add_noise(clean, 30.0, np.random.default_rng(2), band_dependent=False, band_correlation=2.0)
    noise = noisy - clean
    snr = 10 * np.log10(np.mean(clean**2) / np.mean(noise**2))
    assert abs(snr - 30.0) < 0.1
    neighbours = np.corrcoef(noise[:, 30], noise[:, 31])[0, 1]
    assert neighbours > 0.8  # a Gaussian of 2 bands: exp(-1 / (4 * 2^2)) = 0.94
    assert abs(np.corrcoef(noise[:, 10], noise[:, 40])[0, 1]) < 0.1
    plain = add_noise(clean, 30.0, np.random.default_rng(2), band_dependent=False) - clean
    assert abs(np.corrcoef(plain[:, 30], plain[:, 31])[0, 1]) < 0.1

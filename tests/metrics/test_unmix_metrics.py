"""Unmixing scores: spectral angles, Hungarian matching, aRMSE, the scores dict."""

import numpy as np
import pytest
import torch

from hsi.errors import HsiError, InputError, ParameterError
from hsi.metrics import (
    abundance_rmse,
    match_abundances,
    match_endmembers,
    sad_per_endmember,
    spectral_angles_deg,
    unmixing_scores,
)


@pytest.fixture
def scene(rng):
    endmembers = rng.uniform(0.05, 1.0, size=(60, 4))
    abundances = rng.dirichlet(np.ones(4), size=(9, 11))
    return endmembers, abundances


def test_spectral_angles_of_known_vectors():
    a = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    b = np.array([[2.0, 1.0, 1.0], [0.0, 1.0, -1.0], [0.0, 0.0, 0.0]])
    angles = spectral_angles_deg(a, b)
    np.testing.assert_allclose(angles, [[0.0, 45.0, 45.0], [90.0, 45.0, 135.0]], atol=1e-12)


def test_spectral_angle_is_scale_free_and_exact_near_zero(rng):
    spectrum = rng.uniform(size=(100, 1))
    assert spectral_angles_deg(spectrum, 7.5 * spectrum)[0, 0] < 1e-12
    tilted = spectrum.copy()
    tilted[0] += 1e-9  # a tiny angle arccos would round to 0
    assert 0 < spectral_angles_deg(spectrum, tilted)[0, 0] < 1e-6


def test_match_endmembers_recovers_known_permutation_despite_scaling(scene, rng):
    endmembers, _ = scene
    perm_true = np.array([2, 0, 3, 1])
    estimated = endmembers[:, perm_true] * rng.uniform(0.5, 3.0, size=4)
    perm = match_endmembers(estimated, endmembers)
    np.testing.assert_allclose(estimated[:, perm] / estimated[:, perm].max(0), endmembers / endmembers.max(0))
    np.testing.assert_array_equal(perm, np.argsort(perm_true))
    assert np.all(sad_per_endmember(estimated[:, perm], endmembers) < 1e-10)


def test_match_abundances_recovers_known_permutation(scene, rng):
    _, abundances = scene
    perm_true = np.array([3, 1, 0, 2])
    estimated = abundances[..., perm_true] + rng.normal(0, 0.01, size=abundances.shape)
    perm = match_abundances(estimated.reshape(-1, 4), abundances)
    np.testing.assert_array_equal(perm, np.argsort(perm_true))


def test_abundance_rmse_hand_value():
    reference = np.zeros((5, 2))
    estimated = np.zeros((5, 2))
    estimated[0, 0] = 1.0
    assert abundance_rmse(estimated, reference) == pytest.approx(np.sqrt(1 / 10))


def test_unmixing_scores_on_permuted_noisy_result(scene, rng):
    endmembers, abundances = scene
    perm_true = np.array([1, 3, 0, 2])
    noise = rng.normal(0, 0.02, size=abundances.shape)
    scores = unmixing_scores(
        endmembers=2.0 * endmembers[:, perm_true],
        abundances=(abundances + noise)[..., perm_true],
        ref_endmembers=endmembers,
        ref_abundances=abundances,
    )
    assert scores["permutation"] == list(np.argsort(perm_true))
    assert scores["n_endmembers"] == 4
    assert scores["mean_sad_deg"] < 1e-10
    assert scores["abundance_rmse"] == pytest.approx(np.sqrt(np.mean(noise**2)))
    by_maps = unmixing_scores(abundances=abundances[..., perm_true], ref_abundances=abundances, match_by="abundances")
    assert by_maps["permutation"] == scores["permutation"] and by_maps["abundance_rmse"] == 0.0
    assert "mean_sad_deg" not in by_maps


def test_unmixing_scores_known_angle():
    reference = np.array([[1.0, 0.0], [0.0, 1.0]])
    rotated = np.array([[np.cos(np.pi / 6), 0.0], [np.sin(np.pi / 6), 1.0]])  # first column 30 degrees off
    scores = unmixing_scores(endmembers=rotated, ref_endmembers=reference)
    np.testing.assert_allclose(scores["sad_per_endmember_deg"], [30.0, 0.0], atol=1e-12)
    assert scores["mean_sad_deg"] == pytest.approx(15.0)


def test_numpy_and_torch_inputs_agree(scene):
    endmembers, abundances = scene
    estimated = endmembers[:, ::-1] + 0.05
    from_numpy = unmixing_scores(estimated, abundances[..., ::-1], endmembers, abundances)
    from_torch = unmixing_scores(
        torch.from_numpy(estimated.copy()),
        torch.from_numpy(abundances[..., ::-1].copy()),
        torch.from_numpy(endmembers),
        torch.from_numpy(abundances),
    )
    assert from_numpy == from_torch


def test_bad_inputs_raise_teaching_errors(scene):
    endmembers, abundances = scene
    with pytest.raises(InputError, match="number of endmembers"):
        unmixing_scores(endmembers=endmembers[:, :3], ref_endmembers=endmembers)
    with pytest.raises(InputError, match="number of endmembers"):
        match_abundances(abundances[..., :3], abundances)
    with pytest.raises(ParameterError, match="match_by"):
        unmixing_scores(abundances=abundances, ref_abundances=abundances)
    with pytest.raises(ParameterError, match="ref_endmembers"):
        unmixing_scores(endmembers=endmembers, match_by="endmembers")
    with pytest.raises(ParameterError, match="match_by"):
        unmixing_scores(endmembers=endmembers, ref_endmembers=endmembers, match_by="sad")
    zero_column = endmembers.copy()
    zero_column[:, 1] = 0.0
    with pytest.raises(HsiError, match="all-zero"):
        match_endmembers(zero_column, endmembers)

"""Pure-pixel cluster refinement: archetypes of variable materials move to their clusters' centres."""

from functools import partial

import numpy as np
import pytest
import torch

from hsi.errors import ParameterError
from hsi.unmix.abundance import fcls
from hsi.unmix.blind import edaa_pp
from hsi.unmix.blind.pure_clusters import cluster_test, refine_pure_clusters

from tests.unmix._synthetic import sad_deg, synthetic_mixture


def test_refinement_moves_the_archetype_of_a_variable_material_towards_the_truth(shared_data):
    from hsi import methods
    from hsi.bench.unmix_cases import build_case

    # Segments of pure material (blurred boundaries) whose spectra vary pixel to pixel, zero-mean
    # (8 % smooth shape changes): not a bench case (other seed, photo and perturbation).
    case = build_case("t", endmembers="usgs", sensor="enmap", n_endmembers=3, abundances="segments", photo="rocket",
                      size=48, snr_db=30, perturbation=0.08, seed=110, data_dir=shared_data)
    pixels = torch.from_numpy(case.cube.reshape(-1, case.cube.shape[-1]).astype(np.float64))
    archetypes, _ = methods.load("unmix", "edaa_pp_uniform").extract(pixels, 3, rng=0)
    refined, abundances, report = refine_pure_clusters(pixels, archetypes)
    before, after = sad_deg(archetypes.numpy(), case.endmembers), sad_deg(refined.numpy(), case.endmembers)
    assert after < before - 0.3, (before, after)  # measured 1.61 -> 1.17 deg (at 64 x 64: 1.49 -> 0.96)
    moved = [j for j, entry in enumerate(report) if entry["refined"]]
    assert moved and all(report[j]["near_pure_pixels"] >= 20 and report[j]["density_ratio"] >= 3.0 for j in moved)
    kept = [j for j in range(3) if j not in moved]
    assert torch.equal(refined[:, kept], archetypes[:, kept])  # the others exactly as the fit gave them
    assert torch.allclose(abundances, fcls(pixels, refined))


def test_no_cluster_leaves_the_endmembers_bit_for_bit():
    # Dirichlet(1) mixtures contracted so no pixel is purer than 0.8: no vertex is a mode of the data.
    _, endmembers, _ = synthetic_mixture(n_pixels=4, seed=0)
    rng = np.random.default_rng(5)
    abundances = 0.25 + (rng.dirichlet(np.ones(4), size=1500) - 0.25) * (0.8 - 0.25) / 0.75
    pixels = abundances @ endmembers.T + rng.normal(0, 0.002, size=(1500, endmembers.shape[0]))
    plain, plain_abundances = edaa_pp(pixels, 4, rng=0, n_outer=20)
    record = {}
    kept, kept_abundances = edaa_pp(pixels, 4, rng=0, n_outer=20, endmember_refinement=refine_pure_clusters,
                                    fit_record=record)
    assert np.array_equal(kept, plain) and np.array_equal(kept_abundances, plain_abundances)
    assert len(record["refinement"]) == 4
    assert not any(entry["refined"] for entry in record["refinement"])
    assert all(entry["moved_deg"] == 0.0 and entry["density_ratio"] < 3.0 for entry in record["refinement"])


def test_cluster_test_separates_a_pure_spike_from_a_filled_simplex():
    rng = np.random.default_rng(1)
    filled = torch.from_numpy(rng.dirichlet(np.ones(3), size=5000))
    spiked = torch.cat([filled, torch.tensor([[1.0, 0.0, 0.0]]).repeat(200, 1)])
    _, filled_ratio = cluster_test(filled)
    threshold, spiked_ratio = cluster_test(spiked)
    assert float(filled_ratio.max()) < 3.0  # Dirichlet(1): the density of a_j falls towards 1
    assert float(spiked_ratio[0]) > 10.0 and 0.5 < float(threshold[0]) <= 1.0
    assert int((spiked[:, 0] >= threshold[0]).sum()) >= 200


def test_edaa_pp_records_the_refinement_per_endmember():
    pixels, _, _ = synthetic_mixture(n_pixels=600, noise=0.002, seed=3)
    record = {}
    edaa_pp(pixels, 4, rng=0, n_outer=10, endmember_refinement=partial(refine_pure_clusters, n_iter=1),
            fit_record=record)
    assert len(record["refinement"]) == 4
    assert {"refined", "pure_pixels", "near_pure_pixels", "density_ratio", "moved_deg"} <= set(record["refinement"][0])


@pytest.mark.parametrize("kwargs, message", [
    ({"bin_width": 0.5}, "bin_width"), ({"purity": 1.0}, "purity"), ({"min_pixels": 1}, "min_pixels"),
    ({"min_density_ratio": 1.0}, "min_density_ratio"), ({"n_iter": 0}, "n_iter"),
    ({"max_move_share": 0.0}, "max_move_share"),
])
def test_refinement_rejects_bad_parameters(kwargs, message):
    pixels = torch.rand(50, 10, dtype=torch.float64)
    with pytest.raises(ParameterError, match=message):
        refine_pure_clusters(pixels, pixels[:3].T.clone(), **kwargs)


def test_a_move_beyond_the_share_of_the_cluster_spread_is_undone():
    _, endmembers, _ = synthetic_mixture(n_pixels=4, seed=0)
    rng = np.random.default_rng(2)
    fractions = np.concatenate([np.repeat(np.eye(4), 200, axis=0), rng.dirichlet(np.ones(4), size=400)])
    pixels = torch.from_numpy(fractions @ endmembers.T + rng.normal(0, 0.004, size=(1200, endmembers.shape[0])))
    # Archetypes beyond the clusters, as on a converged hull: 5 % further from the mean spectrum.
    start = torch.from_numpy(endmembers + 0.05 * (endmembers - endmembers.mean(axis=1, keepdims=True)))
    _, _, report = refine_pure_clusters(pixels, start)
    assert all(entry["refined"] and 0 < entry["moved_deg"] <= 0.3 * entry["cluster_spread_deg"] for entry in report)
    undone, abundances, report = refine_pure_clusters(pixels, start, max_move_share=1e-6)
    assert torch.equal(undone, start) and torch.equal(abundances, fcls(pixels, start))
    assert not any(entry["refined"] for entry in report)
    assert all(entry["rejected_move_deg"] > 0 and entry["cluster_spread_deg"] > 0 for entry in report)

import numpy as np
import pytest

from hsi.unmix.blind import edaa, edaa_pp

from tests.unmix._synthetic import sad_deg, synthetic_mixture


def test_edaa_pp_recovers_synthetic_endmembers_and_abundances():
    pixels, endmembers, abundances = synthetic_mixture(n_pixels=1500, noise=0.002, seed=2)
    estimate, estimated_abundances = edaa_pp(pixels, 4, rng=0, n_outer=40)
    assert sad_deg(estimate, endmembers) < 1.5
    assert np.allclose(estimated_abundances.sum(axis=1), 1.0, atol=1e-9)
    assert estimated_abundances.min() >= 0


def test_edaa_runs_and_fits():
    pixels, endmembers, _ = synthetic_mixture(n_pixels=800, noise=0.002, seed=3)
    estimate, abundances = edaa(pixels, 4, rng=0, n_restarts=3, n_outer=300)
    residual = pixels - abundances @ estimate.T
    assert np.sqrt((residual**2).mean()) < 0.006
    assert sad_deg(estimate, endmembers) < 2.5


def _score(reference, normalize, endmembers, abundances):
    from hsi.metrics.unmix import unmixing_scores

    k = reference.endmembers.shape[1]
    return unmixing_scores(endmembers, abundances, reference.endmembers, reference.abundances.reshape(-1, k),
                           match_by="abundances")


@pytest.mark.slow
def test_default_blind_method_on_samson(samson):
    pixels = samson.cube.reshape(-1, samson.cube.shape[2])
    pixels = pixels / np.linalg.norm(pixels, axis=1, keepdims=True)  # the bench protocol for Samson
    scores = _score(samson, "l2", *edaa_pp(pixels, 3, rng=0))
    assert scores["mean_sad_deg"] < 1.95  # EDAA (HySUPP) reference: 1.95 deg
    assert scores["abundance_rmse"] < 0.0508  # EDAA: 5.08 x100


@pytest.mark.slow
def test_default_blind_method_on_jasper(jasper):
    pixels = jasper.cube.reshape(-1, jasper.cube.shape[2])
    scores = _score(jasper, "none", *edaa_pp(pixels, 4, rng=0))
    assert scores["abundance_rmse"] < 0.1397  # EDAA (HySUPP): 13.97 x100
    # EDAA (HySUPP) reaches 4.84 deg; measured here 5.04 deg: not beaten yet.
    assert scores["mean_sad_deg"] < 5.5

import numpy as np
import pytest
import torch

from hsi.errors import ParameterError
from hsi.unmix import extract
from hsi.unmix.abundance import fcls

from tests.unmix._synthetic import sad_deg, synthetic_mixture


@pytest.mark.parametrize(
    "method",
    [
        lambda y, k: extract.vca(y, k, rng=0),
        lambda y, k: extract.nfindr(y, k),
        lambda y, k: extract.atgp(y, k),
        lambda y, k: extract.spa(y, k),
    ],
    ids=["vca", "nfindr", "atgp", "spa"],
)
def test_pure_pixel_methods_recover_endmembers(method):
    pixels, endmembers, abundances = synthetic_mixture(noise=0.0005)
    estimate = method(pixels, 4)
    assert estimate.shape == (60, 4)
    assert sad_deg(estimate, endmembers) < 0.5


def test_pp_spa_robust_to_noise():
    pixels, endmembers, _ = synthetic_mixture(n_pixels=4000, noise=0.01, seed=1)
    # pp-SPA averages neighbours, so its endmembers are close even at this noise level
    assert sad_deg(extract.pp_spa(pixels, 4, rng=0), endmembers) < 3.0


def test_pseudo_points_are_means_of_spectral_shape_neighbours():
    pixels, _, _ = synthetic_mixture(n_pixels=600, noise=0.01, seed=4)
    neighbours = extract.angular_neighbourhoods(torch.from_numpy(pixels), 4, 7).numpy()
    pseudo = extract.pseudo_points(pixels, 4, n_neighbors=7)
    assert isinstance(pseudo, np.ndarray) and pseudo.shape == pixels.shape
    assert np.array_equal(neighbours[:, 0], np.arange(600))  # each pixel is its own nearest
    assert np.allclose(pseudo, pixels[neighbours].mean(axis=1), atol=1e-12)
    # Neighbourhoods follow spectral shape, not brightness: dimming pixels changes nothing.
    dimmed = pixels * np.where(np.arange(600) % 2 == 0, 0.1, 1.0)[:, None]
    assert np.array_equal(extract.angular_neighbourhoods(torch.from_numpy(dimmed), 4, 7).numpy(), neighbours)
    assert extract.pseudo_points(pixels, 4, n_neighbors=1) is pixels


def test_pseudo_points_reduce_noise():
    noisy, endmembers, abundances = synthetic_mixture(n_pixels=3000, noise=0.01, seed=5)
    clean = abundances @ endmembers.T
    pseudo = extract.pseudo_points(noisy, 4)  # ceil(log 3000) = 9 neighbours
    rmse_noisy = np.sqrt(((noisy - clean) ** 2).mean())
    rmse_pseudo = np.sqrt(((pseudo - clean) ** 2).mean())
    assert rmse_pseudo < 0.5 * rmse_noisy


def test_pseudo_points_reject_more_neighbours_than_pixels():
    pixels, _, _ = synthetic_mixture(n_pixels=50)
    with pytest.raises(ParameterError, match="n_neighbors"):
        extract.pseudo_points(pixels, 4, n_neighbors=51)


def test_too_many_endmembers_is_a_parameter_error():
    pixels, _, _ = synthetic_mixture(n_bands=10)
    with pytest.raises(ParameterError, match="n_endmembers=11"):
        extract.vca(pixels, 11, rng=0)


@pytest.mark.slow
def test_vca_fcls_on_jasper(jasper):
    pixels = jasper.cube.reshape(-1, jasper.cube.shape[2])
    endmembers = extract.nfindr(pixels, 4)
    from hsi.metrics.unmix import unmixing_scores

    scores = unmixing_scores(endmembers, fcls(pixels, endmembers), jasper.endmembers,
                             jasper.abundances.reshape(-1, 4), match_by="abundances")
    assert scores["mean_sad_deg"] < 10.0
    assert scores["abundance_rmse"] < 0.17

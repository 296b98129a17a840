"""Every unmixing method config instantiates and unmixes a small synthetic mixture."""

import numpy as np
import pytest

from hsi.bench.unmix import load_method

from tests.unmix._synthetic import sad_deg, synthetic_mixture

EXTRACTING = ["vca_fcls", "nfindr_fcls", "atgp_fcls", "spa_fcls", "pp_spa_fcls"]


@pytest.mark.parametrize("name", EXTRACTING)
def test_extracting_configs_recover_endmembers(name):
    pixels, endmembers, _ = synthetic_mixture(n_pixels=1500, noise=0.0005)
    estimate, abundances = load_method(name)(pixels, 4, rng=0)
    assert sad_deg(estimate, endmembers) < 3.0
    assert np.allclose(abundances.sum(axis=1), 1.0, atol=1e-8)


@pytest.mark.parametrize("name", ["sunsal", "clsunsal"])
def test_sparse_configs_pick_the_used_library_members(name):
    from hsi.unmix.sparse import dominant_members
    from tests.unmix.test_unmix_sparse import _library_problem

    pixels, library, used = _library_problem(3)
    method = load_method(name)
    assert method.needs_library
    estimate = method.abundances(pixels, library)
    assert set(dominant_members(estimate, 3).tolist()) == set(used.tolist())


def test_library_fcls_config_gives_the_true_abundances():
    pixels, endmembers, abundances = synthetic_mixture(n_pixels=500, noise=0.0005)
    estimate = load_method("library_fcls").abundances(pixels, endmembers)
    assert np.sqrt(((estimate - abundances) ** 2).mean()) < 0.01

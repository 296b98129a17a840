import numpy as np
import pytest
import torch

from hsi.errors import InputError, ParameterError
from hsi.unmix.abundance import _active_set
from hsi.unmix.library import load_library, resample_library
from hsi.unmix.sparse import clsunsal, dominant_members, sunsal


def _library_problem(seed=0, n_members=40, n_bands=80):
    """A coherent (common 0.3 baseline) but identifiable library: one absorption-like bump
    per member, centres spread over the range so no two members are near-duplicates."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(0, 1, n_bands)
    centres = (np.arange(n_members) + rng.uniform(0.2, 0.8, n_members)) / n_members
    widths = rng.uniform(0.0005, 0.003, n_members)
    library = 0.3 + 0.3 * np.exp(-((grid[:, None] - centres[None, :]) ** 2) / widths[None, :])
    used = np.array([3, 17, 29])
    abundances = rng.dirichlet(np.ones(3), size=400)
    pixels = abundances @ library[:, used].T + rng.normal(0, 0.002, size=(400, n_bands))
    return pixels, library, used


def _exact_nonnegative_lasso(pixels, library, lam):
    """min 0.5||y - M x||^2 + lam sum(x), x >= 0 (SUnSAL's scaling) by the exact batched
    active-set solver: it is NNLS on the normal equations with the right-hand side shifted by lam."""
    norm = np.linalg.norm(library, axis=0).max()
    lib = torch.from_numpy(library / norm)
    rhs = torch.from_numpy(pixels / norm) @ lib - lam
    return _active_set(lib.T @ lib, rhs, sum_to_one=False, max_iter=500, tol=1e-12).numpy()


@pytest.mark.parametrize("seed", [0, 1])
def test_sunsal_reaches_the_exact_nonnegative_lasso_optimum(seed):
    pixels, library, _ = _library_problem(seed)
    exact = _exact_nonnegative_lasso(pixels, library, 5e-4)
    assert np.abs(sunsal(pixels, library, lam=5e-4) - exact).max() < 2e-3


@pytest.mark.parametrize("solver", [lambda y, m: sunsal(y, m, lam=5e-4), lambda y, m: clsunsal(y, m, lam=0.01)],
                         ids=["sunsal", "clsunsal"])
@pytest.mark.parametrize("seed", [0, 1])
def test_sparse_unmixing_picks_the_right_members(solver, seed):
    pixels, library, used = _library_problem(seed)
    abundances = solver(pixels, library)
    assert abundances.min() >= 0
    assert set(dominant_members(abundances, 3).tolist()) == set(used.tolist())
    others = np.setdiff1d(np.arange(library.shape[1]), used)
    assert abundances[:, others].sum(axis=1).mean() < 0.05 * abundances[:, used].sum(axis=1).mean()


def test_clsunsal_is_jointly_sparse():
    pixels, library, used = _library_problem(2)
    abundances = clsunsal(pixels, library, lam=0.01)
    active = np.flatnonzero(abundances.max(axis=0) > 1e-6)
    # The l2,1 penalty switches whole library members off for every pixel at once.
    assert set(used.tolist()) <= set(active.tolist()) and active.size <= 6


def test_sparse_rejects_bad_parameters():
    pixels, library, _ = _library_problem()
    with pytest.raises(InputError, match="library must be"):
        sunsal(pixels, library[:-1])
    with pytest.raises(ParameterError, match="lam"):
        clsunsal(pixels, library, lam=-1)


def test_library_csv_resampling_and_no_overlap(shared_data):
    library = load_library(shared_data / "emit" / "basic_endmember_library.csv")
    assert library.spectra.shape[1] == 5 and library.names[3] == "PV"
    resampled = resample_library(library, np.linspace(420, 2400, 60))
    assert resampled.spectra.shape == (60, 5) and np.isfinite(resampled.spectra).all()
    with pytest.raises(InputError, match="no wavelength overlap"):
        resample_library(library, np.linspace(3000, 4000, 10))

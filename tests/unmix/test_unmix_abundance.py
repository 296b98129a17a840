import numpy as np
import pytest
import torch
from scipy.optimize import minimize, nnls as scipy_nnls

from hsi.errors import InputError
from hsi.unmix.abundance import fcls, nnls, reconstruction_rmse, scls, ucls
from hsi.unmix import abundance


def _exact_fcls(pixels, endmembers):
    k = endmembers.shape[1]
    gram = endmembers.T @ endmembers
    out = []
    for y in pixels:
        rhs = endmembers.T @ y
        res = minimize(lambda a: 0.5 * a @ gram @ a - rhs @ a, np.full(k, 1 / k), jac=lambda a: gram @ a - rhs,
                       method="SLSQP", bounds=[(0, None)] * k,
                       constraints=[{"type": "eq", "fun": lambda a: a.sum() - 1, "jac": lambda a: np.ones(k)}],
                       options={"ftol": 1e-16, "maxiter": 1000})
        out.append(res.x)
    return np.array(out)


@pytest.mark.parametrize("k", [3, 5, 8, pytest.param(18, marks=pytest.mark.slow)])  # 8 and 18 exercise the active-set path, <= 6 the face enumeration
def test_fcls_matches_exact_qp(k):
    rng = np.random.default_rng(k)
    endmembers = rng.uniform(0, 1, size=(40, k))
    pixels = rng.dirichlet(np.full(k, 0.4), size=150) @ endmembers.T + rng.normal(0, 0.05, size=(150, 40))
    pixels[:5] = rng.normal(0, 1, size=(5, 40))  # far outside the simplex
    estimate = fcls(pixels, endmembers)
    assert np.abs(estimate - _exact_fcls(pixels, endmembers)).max() < 1e-5
    assert estimate.min() >= 0.0
    assert np.allclose(estimate.sum(axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize("k", [8, pytest.param(18, marks=pytest.mark.slow)])  # SLSQP on 18 variables is slow
def test_fcls_warm_start_reaches_the_same_optimum(k):
    # edaa_pp calls FCLS with slowly moving endmembers, starting from the previous solution.
    rng = np.random.default_rng(10 + k)
    endmembers = rng.uniform(0, 1, size=(40, k))
    moved = endmembers + rng.normal(0, 0.02, size=endmembers.shape)
    pixels = rng.dirichlet(np.full(k, 0.4), size=150) @ endmembers.T + rng.normal(0, 0.05, size=(150, 40))
    pixels[:5] = rng.normal(0, 1, size=(5, 40))
    previous = fcls(pixels, endmembers)
    previous[:3] = 0.0  # unusable start rows fall back to the cold start
    warm = fcls(pixels, moved, initial=previous)
    assert np.abs(warm - fcls(pixels, moved)).max() < 1e-9
    assert np.abs(warm - _exact_fcls(pixels, moved)).max() < 1e-5


def test_fcls_active_set_equals_enumeration(monkeypatch):
    rng = np.random.default_rng(1)
    endmembers = rng.uniform(0, 1, size=(30, 5))
    pixels = rng.dirichlet(np.full(5, 0.3), size=500) @ endmembers.T + rng.normal(0, 0.05, size=(500, 30))
    enumerated = fcls(pixels, endmembers)
    monkeypatch.setattr(abundance, "_ENUMERATE_MAX_K", 0)
    assert np.abs(fcls(pixels, endmembers) - enumerated).max() < 1e-9


def test_nnls_matches_scipy_and_torch_kind_is_kept():
    rng = np.random.default_rng(2)
    endmembers = rng.uniform(0, 1, size=(25, 6))
    pixels = rng.normal(0.5, 0.4, size=(200, 25))
    reference = np.array([scipy_nnls(endmembers, y)[0] for y in pixels])
    assert np.abs(nnls(pixels, endmembers) - reference).max() < 1e-8
    as_torch = nnls(torch.from_numpy(pixels), torch.from_numpy(endmembers))
    assert isinstance(as_torch, torch.Tensor)
    assert np.abs(as_torch.numpy() - reference).max() < 1e-8


def test_ucls_and_scls_recover_noise_free_abundances():
    rng = np.random.default_rng(3)
    endmembers = rng.uniform(0, 1, size=(20, 4))
    truth = rng.normal(0.25, 0.3, size=(50, 4))
    truth_sto = truth / truth.sum(axis=1, keepdims=True)
    assert np.allclose(ucls(truth @ endmembers.T, endmembers), truth, atol=1e-9)
    assert np.allclose(scls(truth_sto @ endmembers.T, endmembers), truth_sto, atol=1e-9)


def test_fcls_exact_on_pure_mixture_and_rmse_zero():
    rng = np.random.default_rng(4)
    endmembers = rng.uniform(0, 1, size=(20, 4))
    truth = rng.dirichlet(np.ones(4), size=300)
    pixels = truth @ endmembers.T
    estimate = fcls(pixels, endmembers)
    assert np.abs(estimate - truth).max() < 1e-9
    assert reconstruction_rmse(pixels, endmembers, estimate).max() < 1e-9


def test_fcls_rejects_bad_input():
    with pytest.raises(InputError, match="bands"):
        fcls(np.ones((10, 5)), np.ones((6, 2)))
    with pytest.raises(InputError, match="NaN"):
        fcls(np.full((10, 5), np.nan), np.ones((5, 2)))


# The three ways _solve_on_passive solves the rows' KKT systems, forced one at a time.
_KKT_PATHS = {
    "rows": {"_SHARED_SETS_PER_ROW": 10**9, "_ROWS_PER_SET": 10**9},  # every row solved on its own
    "sets": {"_SHARED_SETS_PER_ROW": 10**9, "_ROWS_PER_SET": 0},  # one inverse per set, on its passive set
    "shared": {"_SHARED_SETS_PER_ROW": 0},  # one full (k+1)-square inverse per set
}


def _force_kkt_path(monkeypatch, path):
    for name, value in _KKT_PATHS[path].items():
        monkeypatch.setattr(abundance, name, value)


@pytest.mark.parametrize("bands", [40, 8])  # 8 bands < 12 endmembers: singular KKT systems, pseudo-inverse fallback
def test_row_wise_kkt_solves_equal_shared_inverses(monkeypatch, bands):
    # Large k gives about one passive set per row, solved row by row (LU); a few rows per
    # set (edaa_pp's batched restarts at k = 18) share one inverse on the set's passive
    # variables; small batches share one full inverse per set. All three are the exact
    # optimum, so they agree to rounding.
    rng = np.random.default_rng(bands)
    endmembers = rng.uniform(0, 1, size=(bands, 12))
    moved = endmembers + rng.normal(0, 0.02, size=endmembers.shape)
    pixels = rng.dirichlet(np.full(12, 0.3), size=400) @ endmembers.T + rng.normal(0, 0.03, size=(400, bands))
    results = {}
    for path in _KKT_PATHS:
        _force_kkt_path(monkeypatch, path)
        results[path] = (fcls(pixels, endmembers), fcls(pixels, moved, initial=fcls(pixels, endmembers)),
                         nnls(pixels, endmembers))
    for path in ("sets", "shared"):
        for one, other in zip(results["rows"], results[path]):
            assert np.abs(one - other).max() < 1e-8
    row_wise = results["rows"]
    assert row_wise[0].min() >= 0.0 and np.allclose(row_wise[0].sum(axis=1), 1.0, atol=1e-12)
    # NNLS really is constrained here (some pixels have zeros), so the paths' masks were exercised.
    assert (row_wise[2] == 0).any() and (row_wise[0] == 0).any()


@pytest.mark.parametrize("sum_to_one", [True, False])
def test_padded_row_solves_equal_each_rows_own_system(sum_to_one):
    # The row-wise path solves passive sets of every size in one LU, the smaller ones padded
    # with identity rows: each row must get its own unpadded KKT system's solution (zero off
    # its passive set), whatever the other rows' sizes, with one Gram matrix per row's group.
    rng = np.random.default_rng(5)
    k, n = 9, 60
    endmembers = rng.uniform(0, 1, size=(3, 25, k))
    grams = torch.from_numpy(endmembers.transpose(0, 2, 1) @ endmembers)
    group = torch.from_numpy(np.sort(rng.integers(0, 3, n)))
    rhs = torch.from_numpy(rng.normal(size=(n, k)))
    sizes = np.arange(n) % k + 1  # every size from 1 to k, mixed in one batch
    passive = torch.from_numpy(np.array([rng.permutation(k) < s for s in sizes]))
    solved = abundance._solve_kkt_rows(grams, rhs, passive, sum_to_one, group).numpy()
    for row in range(n):
        support = np.flatnonzero(passive[row].numpy())
        gram = grams[group[row]].numpy()[np.ix_(support, support)]
        b = rhs[row].numpy()[support]
        if sum_to_one:
            s = support.size
            system = np.block([[gram, np.ones((s, 1))], [np.ones((1, s)), np.zeros((1, 1))]])
            expected = np.linalg.solve(system, np.append(b, 1.0))[:s]
        else:
            expected = np.linalg.solve(gram, b)
        assert np.abs(solved[row, support] - expected).max() < 1e-9 * max(1.0, np.abs(expected).max())
        assert (np.delete(solved[row], support) == 0).all()


def test_per_set_kkt_solve_is_taken_when_sets_repeat(monkeypatch):
    # The per-set path must be the one used for a few rows per set (its whole point), and
    # give each row its own set's solution: rows of one set in the middle of others.
    calls = []
    original = abundance._solve_kkt_sets
    monkeypatch.setattr(abundance, "_solve_kkt_sets", lambda *args: calls.append(1) or original(*args))
    rng = np.random.default_rng(3)
    endmembers = rng.uniform(0, 1, size=(30, 14))
    pixels = rng.dirichlet(np.full(14, 0.2), size=60) @ endmembers.T
    pixels = np.repeat(pixels, 3, axis=0)[rng.permutation(180)]  # each passive set on 3 rows
    solved = fcls(pixels, endmembers)
    assert calls
    _force_kkt_path(monkeypatch, "rows")
    assert np.abs(solved - fcls(pixels, endmembers)).max() < 1e-9


@pytest.mark.parametrize("k", [4, 12])  # 4: face enumeration cold, shared inverses warm; 12: row-wise solves
@pytest.mark.parametrize("path", ["rows", "sets", "shared"])
def test_fcls_stack_equals_one_fcls_per_set(monkeypatch, k, path):
    # edaa_pp's restarts solve their abundances in one active-set loop: row for row the same
    # exact optimum as one fcls call per endmember set, cold and warm started, with each set's
    # own tolerance (the sets here differ in scale by 100x).
    _force_kkt_path(monkeypatch, path)
    rng = np.random.default_rng(k)
    sets = np.stack([rng.uniform(0, 1, size=(30, k)) * scale for scale in (1.0, 10.0, 100.0)])
    moved = sets + rng.normal(0, 0.02, size=sets.shape) * sets.mean()
    pixels = rng.dirichlet(np.full(k, 0.3), size=300) @ sets[1].T + rng.normal(0, 0.05, size=(300, 30))
    pixels[:4] = rng.normal(0, 5, size=(4, 30))
    cold = abundance.fcls_stack(pixels, sets)
    warm = abundance.fcls_stack(pixels, moved, initial=cold)
    assert cold.shape == warm.shape == (3, 300, k)
    for s in range(3):
        assert np.abs(cold[s] - fcls(pixels, sets[s])).max() < 1e-9
        assert np.abs(warm[s] - fcls(pixels, moved[s], initial=cold[s])).max() < 1e-9
        assert np.abs(warm[s] - fcls(pixels, moved[s])).max() < 1e-8
    assert warm.min() >= 0.0 and np.allclose(warm.sum(axis=2), 1.0, atol=1e-12)


def test_fcls_stack_refuses_a_single_set_and_a_wrong_start():
    with pytest.raises(InputError, match="stack"):
        abundance.fcls_stack(np.ones((10, 5)), np.ones((5, 2)))
    with pytest.raises(InputError, match="initial abundances"):
        abundance.fcls_stack(np.ones((10, 5)), np.ones((2, 5, 8)), initial=np.ones((2, 9, 8)))


def _degenerate(kind, bands, k, seed):
    """Endmembers with the last one a copy, a multiple, an affine or a linear combination of others
    (seed 2: in radiance-like units, 1e4 x, where G's entries dwarf the sum-to-one row's ones)."""
    rng = np.random.default_rng(seed)
    endmembers = rng.uniform(0.1, 1.0, (bands, k))
    first, second = endmembers[:, 0].copy(), endmembers[:, 1].copy()
    endmembers[:, -1] = {"duplicate": first, "proportional": 1.001 * first, "affine": 0.5 * (first + second),
                         "linear": first + second}[kind]
    pixels = rng.dirichlet(np.ones(k), 200) @ endmembers.T + rng.normal(0.0, 0.01, (200, bands))
    units = 1e4 if seed == 2 else 1.0
    return pixels * units, endmembers * units, units


def _objective(pixels, endmembers, abundances):
    return 0.5 * ((pixels - np.asarray(abundances) @ endmembers.T) ** 2).sum(axis=1)


_DEGENERATE = [(kind, bands, k, seed) for kind in ("duplicate", "proportional", "affine", "linear")
               for bands, k in ((40, 5), (4, 5), (4, 6), (40, 8), (4, 8)) for seed in (0, 2)]


@pytest.mark.parametrize("path", list(_KKT_PATHS))
@pytest.mark.parametrize("kind,bands,k,seed", _DEGENERATE)
def test_every_fcls_path_is_a_minimiser_on_degenerate_endmembers(monkeypatch, kind, bands, k, seed, path):
    # Duplicate, proportional (E5 = 1.001 E1) or dependent endmembers make some faces' KKT
    # systems singular; every path (face enumeration, active set cold and warm, the stack)
    # must still return a feasible point no worse than scipy's NNLS on the augmented system
    # (a row of ones weighted w; its sum-to-one is exact up to 1/w^2, so it may win by that).
    from hsi.unmix.abundance import fcls_stack

    _force_kkt_path(monkeypatch, path)  # each way the active set solves its KKT systems
    pixels, endmembers, units = _degenerate(kind, bands, k, seed)
    weight = 1e4 * endmembers.max()
    augmented = np.vstack([endmembers, np.full((1, k), weight)])
    reference = np.array([scipy_nnls(augmented, np.append(y, weight), maxiter=10000)[0] for y in pixels])
    flat = np.full((pixels.shape[0], k), 1.0 / k)
    paths = {"fcls": fcls(pixels, endmembers), "fcls warm": fcls(pixels, endmembers, initial=flat),
             "stack": fcls_stack(pixels, endmembers[None])[0],
             "stack warm": fcls_stack(pixels, endmembers[None], initial=flat[None])[0]}
    floor = _objective(pixels, endmembers, reference)
    for name, abundances in paths.items():
        abundances = np.asarray(abundances)
        # sum-to-one to 1e-7: a 1.001-proportional pair among 6 endmembers in 4 bands leaves KKT
        # systems of condition ~1e8, whose exact solves still sum to 1 only to ~1e-8
        assert abundances.min() >= 0 and np.abs(abundances.sum(axis=1) - 1).max() < 1e-7, name
        assert (_objective(pixels, endmembers, abundances) - floor).max() < 1e-8 * units**2, name


@pytest.mark.parametrize("kind,bands,k,seed", [case for case in _DEGENERATE if case[2] <= 6])
def test_nnls_is_a_minimiser_on_degenerate_endmembers(kind, bands, k, seed):
    pixels, endmembers, units = _degenerate(kind, bands, k, seed)
    reference = np.array([scipy_nnls(endmembers, y, maxiter=10000)[0] for y in pixels])
    ours = np.asarray(nnls(pixels, endmembers))
    assert ours.min() >= 0
    assert (_objective(pixels, endmembers, ours) - _objective(pixels, endmembers, reference)).max() < 1e-10 * units**2

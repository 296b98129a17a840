"""Abundance estimation for known endmembers: UCLS, NNLS and FCLS, exact and batched.

Every solver works on the normal equations of the linear mixing model
``pixel = endmembers @ abundances + noise``: with ``G = E^T E`` (k x k) and
``b = E^T y`` per pixel, the least-squares objective is ``0.5 a^T G a - b^T a`` up to a
constant, so after one ``(n_pixels, bands) @ (bands, k)`` product all the work is in
k dimensions, whatever the number of bands.

The constrained problems (NNLS, FCLS) are solved *exactly* (to machine precision) by a
batched Lawson-Hanson active-set method: every pixel keeps its own passive set, and the
KKT system of each distinct passive set is inverted once and applied to all the pixels
that share it, so there is no per-pixel Python loop and at most ``2**k`` small inversions
per iteration.
"""

from __future__ import annotations

import torch

from hsi.arrays import Array, as_tensor, like_input
from hsi.errors import InputError, ParameterError
from hsi.unmix.checks import check_pixels

__all__ = ["ucls", "scls", "nnls", "fcls", "fcls_stack", "reconstruction_rmse"]

_CHUNK_PIXELS = 1 << 13  # small enough for the float64 working set to stay in cache
# A warm-started active set does a few cheap passes whose cost is mostly per-call overhead:
# larger chunks halve it (measured at k = 3-8 on 20,000 pixels); 1 << 17 rows hold a blind
# fit's restarts x 10,000 learning pixels in one chunk (8-10 % faster than 1 << 15 at k = 6
# and 18, bench_results/unmix_fit*_s11_chunk_*) and bound the working set (rows x (k+1)^2
# float64, about 0.4 GB at k = 18 when every variable is passive).
_WARM_CHUNK_PIXELS = 1 << 17
_ENUMERATE_MAX_K = 6  # up to 63 faces: enumerating them beats the active-set loop
# Inverting a passive set's full (k+1)-square KKT matrix once pays when it serves enough
# rows: its cost times this margin (the gathers) must stay below the rows' own (s+1)-square
# solves. With about one set per row (large k, or several problem sets batched) each row's
# system is solved directly instead.
_SHARED_SETS_PER_ROW = 4
# Between the two (k near 18, several restarts batched: a few rows per distinct set), each
# distinct set's KKT block is inverted once on its passive set only and applied to its rows,
# when the sets serve at least this many rows each on average: one small inversion per set
# instead of one LU and residual check per row.
_ROWS_PER_SET = 2


def _prepare(pixels: Array, endmembers: Array):
    pixels_t = as_tensor(pixels)
    endmembers_t = as_tensor(endmembers, device=pixels_t.device)
    check_pixels(pixels_t)
    if endmembers_t.ndim != 2:
        raise InputError(f"endmembers must be a (bands, n_endmembers) matrix; got shape {tuple(endmembers_t.shape)}")
    if endmembers_t.shape[0] != pixels_t.shape[1]:
        raise InputError(
            f"endmembers have {endmembers_t.shape[0]} bands but pixels have {pixels_t.shape[1]}; "
            "endmembers must be (bands, n_endmembers)"
        )
    if not bool(torch.isfinite(endmembers_t).all()):
        raise InputError("endmembers contain NaN or infinite values")
    return pixels_t, endmembers_t


def _normal_equations(pixels: torch.Tensor, endmembers: torch.Tensor, start: int, stop: int):
    """``G = E^T E`` and ``b = Y E`` for the pixels ``start:stop``, both in float64."""
    e64 = endmembers.to(torch.float64)
    block = pixels[start:stop].to(torch.float64)
    return e64.T @ e64, block @ e64


def _chunks(n_pixels: int, size: int = _CHUNK_PIXELS):
    for start in range(0, n_pixels, size):
        yield start, min(start + size, n_pixels)


def ucls(pixels: Array, endmembers: Array):
    """Unconstrained least-squares abundances.

    Parameters
    ----------
    pixels : (n_pixels, bands) array or tensor.
    endmembers : (bands, n_endmembers) array or tensor.

    Returns
    -------
    abundances : (n_pixels, n_endmembers), same kind and float dtype as ``pixels``.

    References
    ----------
    N. Keshava and J. F. Mustard, "Spectral unmixing", IEEE Signal Processing Magazine 19(1), 2002.
    """
    pixels_t, endmembers_t = _prepare(pixels, endmembers)
    out = torch.empty(pixels_t.shape[0], endmembers_t.shape[1], dtype=pixels_t.dtype, device=pixels_t.device)
    for start, stop in _chunks(pixels_t.shape[0]):
        gram, rhs = _normal_equations(pixels_t, endmembers_t, start, stop)
        out[start:stop] = (rhs @ torch.linalg.pinv(gram)).to(out.dtype)
    return like_input(out, pixels)


def scls(pixels: Array, endmembers: Array):
    """Sum-to-one constrained least-squares abundances (no non-negativity).

    Parameters and returns as :func:`ucls`; each row of the result sums to one.

    References
    ----------
    D. C. Heinz and C.-I Chang, "Fully constrained least squares linear spectral mixture
    analysis method for material quantification in hyperspectral imagery", IEEE TGRS 39(3), 2001.
    """
    pixels_t, endmembers_t = _prepare(pixels, endmembers)
    k = endmembers_t.shape[1]
    out = torch.empty(pixels_t.shape[0], k, dtype=pixels_t.dtype, device=pixels_t.device)
    passive = torch.ones(1, k, dtype=torch.bool, device=pixels_t.device)
    for start, stop in _chunks(pixels_t.shape[0]):
        gram, rhs = _normal_equations(pixels_t, endmembers_t, start, stop)
        kkt_inverse = _kkt_inverses(gram, passive, sum_to_one=True)[0]
        out[start:stop] = _apply_kkt(kkt_inverse.expand(rhs.shape[0], -1, -1), rhs, passive.expand_as(rhs), True).to(out.dtype)
    return like_input(out, pixels)


def nnls(pixels: Array, endmembers: Array, *, max_iter: int | None = None, tol: float = 1e-10):
    """Non-negative least-squares abundances, solved exactly for all pixels at once.

    Parameters
    ----------
    pixels : (n_pixels, bands) array or tensor.
    endmembers : (bands, n_endmembers) array or tensor.
    max_iter : active-set iterations (default ``10 * n_endmembers + 20``; the method
        normally stops far earlier, when every pixel satisfies the KKT conditions).
    tol : relative tolerance on the KKT dual feasibility.

    Returns
    -------
    abundances : (n_pixels, n_endmembers) >= 0, same kind and float dtype as ``pixels``.

    References
    ----------
    C. L. Lawson and R. J. Hanson, *Solving Least Squares Problems*, ch. 23, Prentice-Hall, 1974.
    """
    return _constrained(pixels, endmembers, sum_to_one=False, max_iter=max_iter, tol=tol)


def fcls(pixels: Array, endmembers: Array, *, max_iter: int | None = None, tol: float = 1e-10,
         initial: Array | None = None):
    """Fully constrained (non-negative, sum-to-one) least-squares abundances, exact and batched.

    Solves ``min_a ||y - E a||^2  s.t.  a >= 0, sum(a) = 1`` for every pixel by a batched
    Lawson-Hanson active-set method on the equality-constrained KKT systems; the result is
    the exact quadratic-programming optimum (not the usual approximation that appends a
    heavily weighted row of ones to the endmembers).

    Parameters
    ----------
    pixels : (n_pixels, bands) array or tensor.
    endmembers : (bands, n_endmembers) array or tensor.
    max_iter : active-set iterations (default ``10 * n_endmembers + 20``).
    tol : relative tolerance on the KKT dual feasibility.
    initial : optional (n_pixels, n_endmembers) feasible abundances to start the active set
        from (its support is the first passive set), e.g. the previous solution when the
        endmembers change little between calls; the optimum reached is the same, in far
        fewer iterations. Without it, ``n_endmembers <= 6`` is solved by enumerating the
        faces of the simplex, which beats a cold active set but not a warm one.

    Returns
    -------
    abundances : (n_pixels, n_endmembers), non-negative, rows summing to one; same kind and
        float dtype as ``pixels``.

    References
    ----------
    D. C. Heinz and C.-I Chang, "Fully constrained least squares linear spectral mixture
    analysis method for material quantification in hyperspectral imagery", IEEE TGRS 39(3), 2001.
    C. L. Lawson and R. J. Hanson, *Solving Least Squares Problems*, Prentice-Hall, 1974.
    """
    return _constrained(pixels, endmembers, sum_to_one=True, max_iter=max_iter, tol=tol, initial=initial)


def fcls_stack(pixels: Array, endmembers: Array, *, max_iter: int | None = None, tol: float = 1e-10,
               initial: Array | None = None):
    """FCLS of the same pixels against several endmember sets at once (e.g. a blind method's restarts).

    One batched active set runs over all ``n_sets x n_pixels`` problems, each row with its
    own set's Gram matrix, so the per-iteration cost of the active-set loop (mostly fixed
    per call once few rows are left) is paid once instead of once per set. Row for row
    the result is :func:`fcls` of ``endmembers[s]`` (the same exact optimum).

    Parameters
    ----------
    pixels : (n_pixels, bands) array or tensor.
    endmembers : (n_sets, bands, n_endmembers) array or tensor.
    max_iter, tol : as in :func:`fcls`.
    initial : optional (n_sets, n_pixels, n_endmembers) warm start, as in :func:`fcls`.
        Without it, ``n_endmembers <= 6`` enumerates each set's faces.

    Returns
    -------
    abundances : (n_sets, n_pixels, n_endmembers), same kind and float dtype as ``pixels``.

    References
    ----------
    As :func:`fcls` (Heinz & Chang 2001; Lawson & Hanson 1974).
    """
    pixels_t = as_tensor(pixels)
    endmembers_t = as_tensor(endmembers, device=pixels_t.device)
    if endmembers_t.ndim != 3:
        raise InputError(f"endmembers must be a stack (n_sets, bands, n_endmembers); got shape {tuple(endmembers_t.shape)}")
    n_sets, _, k = endmembers_t.shape
    for one in endmembers_t:
        _prepare(pixels_t, one)
    if initial is None and k <= _ENUMERATE_MAX_K:
        out = torch.stack([as_tensor(_constrained(pixels_t, one, sum_to_one=True, max_iter=max_iter, tol=tol))
                           for one in endmembers_t])
        return like_input(out, pixels)
    max_iter = 10 * k + 20 if max_iter is None else int(max_iter)
    if max_iter < 1:
        raise ParameterError(f"max_iter must be >= 1; got {max_iter}")
    n = pixels_t.shape[0]
    if initial is not None:
        initial = as_tensor(initial, dtype=torch.float64, device=pixels_t.device)
        if initial.shape != (n_sets, n, k):
            raise InputError(f"initial abundances must be (n_sets, n_pixels, n_endmembers) = {(n_sets, n, k)}; "
                             f"got shape {tuple(initial.shape)}")
    e64 = endmembers_t.to(torch.float64)
    grams = e64.transpose(1, 2) @ e64  # (n_sets, k, k)
    out = torch.empty(n_sets, n, k, dtype=pixels_t.dtype, device=pixels_t.device)
    # Chunks of pixels hold every set's rows: about _WARM_CHUNK_PIXELS rows per active set.
    size = max(1, (_WARM_CHUNK_PIXELS if initial is not None else _CHUNK_PIXELS) // n_sets)
    for start, stop in _chunks(n, size):
        rhs = pixels_t[start:stop].to(torch.float64) @ e64  # (n_sets, m, k), set-major rows
        group = torch.arange(n_sets, device=pixels_t.device).repeat_interleave(stop - start)
        start_point = None if initial is None else initial[:, start:stop].reshape(-1, k)
        solved = _active_set(grams, rhs.reshape(-1, k), sum_to_one=True, max_iter=max_iter, tol=tol,
                             initial=start_point, group=group)
        out[:, start:stop] = solved.reshape(n_sets, stop - start, k).to(out.dtype)
    return like_input(out, pixels)


def reconstruction_rmse(pixels: Array, endmembers: Array, abundances: Array):
    """Per-pixel root-mean-square reconstruction error ``||y - E a|| / sqrt(bands)``, shape (n_pixels,)."""
    pixels_t = as_tensor(pixels)
    endmembers_t = as_tensor(endmembers, dtype=pixels_t.dtype, device=pixels_t.device)
    abundances_t = as_tensor(abundances, dtype=pixels_t.dtype, device=pixels_t.device)
    residual = pixels_t - abundances_t @ endmembers_t.T
    return like_input(residual.pow(2).mean(dim=1).sqrt(), pixels)


# --- the batched active-set solver ----------------------------------------------------------


def _constrained(pixels, endmembers, *, sum_to_one: bool, max_iter: int | None, tol: float, initial=None):
    pixels_t, endmembers_t = _prepare(pixels, endmembers)
    k = endmembers_t.shape[1]
    max_iter = 10 * k + 20 if max_iter is None else int(max_iter)
    if max_iter < 1:
        raise ParameterError(f"max_iter must be >= 1; got {max_iter}")
    out = torch.empty(pixels_t.shape[0], k, dtype=pixels_t.dtype, device=pixels_t.device)
    # A warm start leaves most pixels optimal after one solve on their previous support
    # (measured 4-5x faster than enumerating the 2**k - 1 faces at k = 6).
    faces = _face_solvers(endmembers_t, sum_to_one) if k <= _ENUMERATE_MAX_K and initial is None else None
    if initial is not None and faces is None:
        initial = as_tensor(initial, dtype=torch.float64, device=pixels_t.device)
        if initial.shape != (pixels_t.shape[0], k):
            raise InputError(f"initial abundances must be (n_pixels, n_endmembers) = {(pixels_t.shape[0], k)}; "
                             f"got shape {tuple(initial.shape)}")
    for start, stop in _chunks(pixels_t.shape[0], _CHUNK_PIXELS if initial is None else _WARM_CHUNK_PIXELS):
        gram, rhs = _normal_equations(pixels_t, endmembers_t, start, stop)
        if faces is not None:
            out[start:stop] = _certified_best_face(faces, gram, rhs, sum_to_one, max_iter, tol).to(out.dtype)
        else:
            start_point = None if initial is None or faces is not None else initial[start:stop]
            out[start:stop] = _active_set(gram, rhs, sum_to_one=sum_to_one, max_iter=max_iter, tol=tol,
                                          initial=start_point).to(out.dtype)
    return like_input(out, pixels)


def _face_solvers(endmembers: torch.Tensor, sum_to_one: bool):
    """Every non-empty face's least-squares solution as one affine map of ``b = E^T y``.

    For a support S the equality-constrained solution is ``z_S = K_S^-1 [b_S; 1]`` (``K_S``
    the KKT matrix, bordered by ones with sum-to-one), zero outside S. Stacking all faces,
    ``[z | nu] = b @ weights + offsets`` with ``weights`` (k, F, k + 1) and ``offsets``
    (F, k + 1) (the last column is the sum-to-one multiplier nu, 0 without the constraint),
    so all ``F = 2**k - 1`` faces are solved by one matrix product.
    """
    e64 = endmembers.to(torch.float64)
    gram = e64.T @ e64
    k = gram.shape[0]
    n_faces = 2**k - 1
    weights = torch.zeros(k, n_faces, k + 1, dtype=gram.dtype, device=gram.device)
    offsets = torch.zeros(n_faces, k + 1, dtype=gram.dtype, device=gram.device)
    codes = torch.arange(1, 2**k, device=gram.device)
    masks = (codes[:, None] >> torch.arange(k, device=gram.device)) & 1 == 1
    inverses = _kkt_inverses(gram, masks, sum_to_one=sum_to_one)  # (F, k[+1], k[+1]), one batched call
    for face in range(n_faces):
        support = torch.nonzero(masks[face]).squeeze(1)
        full_inverse = inverses[face]
        outputs = torch.cat([support, torch.tensor([k], device=gram.device)]) if sum_to_one else support
        rows = full_inverse[outputs]  # solution rows of the support (and nu)
        columns = outputs if not sum_to_one else torch.cat([support, torch.tensor([k], device=gram.device)])
        # z_out = rows[:, support] @ b_S (+ rows[:, k] * 1 with sum-to-one)
        weights[support[:, None], face, columns[None, :]] = rows[:, support].T
        if sum_to_one:
            offsets[face, columns] = rows[:, k]
    return weights.reshape(k, n_faces * (k + 1)), offsets


def _best_face(faces, rhs: torch.Tensor, sum_to_one: bool) -> torch.Tensor:
    """Exact constrained optimum by enumeration of the faces of the feasible set.

    The optimum lies in the relative interior of one face, where it equals the
    equality-constrained least-squares solution on that face's support; every other
    feasible face solution is a feasible point, so the feasible face solution of lowest
    objective is the optimum. At a face solution ``z`` with multiplier ``nu`` the objective
    ``0.5 z^T G z - b^T z`` equals ``-0.5 (b^T z + nu)`` (``nu = 0`` without sum-to-one);
    without sum-to-one the empty face (``z = 0``, objective 0) is feasible too.
    """
    weights, offsets = faces
    n, k = rhs.shape
    solutions = (rhs @ weights).reshape(n, -1, k + 1) + offsets  # (n, F, k + 1)
    z = solutions[..., :k]
    value = -0.5 * (torch.einsum("nfk,nk->nf", z, rhs) + solutions[..., k])
    value = value.masked_fill(z.amin(dim=2) < 0, torch.inf)
    best_value, best = value.min(dim=1)
    result = torch.gather(z, 1, best[:, None, None].expand(n, 1, k)).squeeze(1)
    if not sum_to_one:
        result = torch.where((best_value < 0)[:, None], result, torch.zeros_like(result))
    return result


def _certified_best_face(faces, gram: torch.Tensor, rhs: torch.Tensor, sum_to_one: bool, max_iter: int,
                         tol: float) -> torch.Tensor:
    """:func:`_best_face`, with its KKT conditions checked; rows that fail them go on by the active set.

    Enumeration trusts each face's solution: with nearly dependent endmembers (one a multiple
    of another, E5 = 1.001 E1) a face's KKT matrix is so ill-conditioned that its solution,
    and the objective read from it, are off, and the face picked is not the optimum. The
    check is Lawson-Hanson's own (dual feasibility off the support, the tolerance of
    :func:`_active_set`), and the failing rows start the active set from the face found.
    """
    best = _best_face(faces, rhs, sum_to_one)
    gradient = rhs - best @ gram  # negative gradient of 0.5 a^T G a - b^T a
    support = best > 0
    if sum_to_one:
        gradient = gradient - (gradient * support).sum(1, keepdim=True) / support.sum(1, keepdim=True).clamp_min(1)
    dual_tol = tol * (gram.diagonal().abs().max() + rhs.abs().max() + 1e-300)
    failed = torch.nonzero(gradient.masked_fill(support, -torch.inf).amax(dim=1) > dual_tol).squeeze(1)
    if failed.numel():
        best[failed] = _active_set(gram, rhs[failed], sum_to_one=sum_to_one, max_iter=max_iter, tol=tol,
                                   initial=best[failed])
    return best


def _mask_codes(passive: torch.Tensor, group: torch.Tensor | None = None):
    """Group identical (Gram matrix, passive set) pairs.

    Returns the unique masks (U, k), each one's Gram index (U,) (zeros without ``group``)
    and the index of each row's pair (n,).
    """
    n, k = passive.shape
    group = torch.zeros(n, dtype=torch.int64, device=passive.device) if group is None else group
    if k + int(group.max()).bit_length() <= 52:
        weights = torch.ones(k, dtype=torch.int64, device=passive.device) << torch.arange(k, device=passive.device)
        # Codes below 2**53 are exact in float64, where the product is one fast matrix-vector product.
        codes = (passive.to(torch.float64) @ weights.to(torch.float64)).to(torch.int64) + (group << k)
        unique, inverse = torch.unique(codes, return_inverse=True)
        return (unique[:, None] & weights) != 0, unique >> k, inverse
    unique, inverse = torch.unique(torch.cat([group[:, None], passive.to(torch.int64)], dim=1), dim=0, return_inverse=True)
    return unique[:, 1:] != 0, unique[:, 0], inverse


def _kkt_inverses(gram: torch.Tensor, masks: torch.Tensor, *, sum_to_one: bool) -> torch.Tensor:
    """Inverse of the KKT matrix (:func:`_kkt_matrices`) of each passive set."""
    return _inverse(_kkt_matrices(gram, masks, sum_to_one=sum_to_one), bordered=sum_to_one)


def _inverse(matrices: torch.Tensor, bordered: bool = False) -> torch.Tensor:
    """Batched inverse by LU, with the pseudo-inverse only where LU fails or is inaccurate.

    Most passive sets give a well-conditioned KKT matrix, whose inverse is unique, so LU
    (several times cheaper than the SVD behind ``pinv``) gives the same answer; a matrix
    that is singular or nearly so (more passive endmembers than affinely independent
    directions, e.g. k above the subspace dimension) keeps the minimum-norm pseudo-inverse.
    """
    inverse, info = torch.linalg.inv_ex(matrices)
    size = matrices.shape[-1]
    identity = torch.eye(size, dtype=matrices.dtype, device=matrices.device)
    residual = (matrices @ inverse - identity).abs().amax(dim=(-2, -1))
    # LU is backward stable: its residual is of order eps * ||M|| * ||M^-1||; far above that,
    # LU broke down (exactly or numerically singular) and the pseudo-inverse takes over.
    stable = 1e3 * size * torch.finfo(matrices.dtype).eps * matrices.abs().amax(dim=(-2, -1)) * inverse.abs().amax(dim=(-2, -1))
    # A singular matrix (duplicate or dependent endmembers in the set) can pass that test with
    # an "inverse" of size 1e15 built on rounding: its condition number gives it away.
    singular = _scaled_condition(matrices, inverse, bordered) > 1.0 / _PINV_RTOL
    bad = (info != 0) | ~torch.isfinite(residual) | (residual > stable) | singular
    if bool(bad.any()):
        inverse[bad] = _pseudo_inverse(matrices[bad], bordered)
    return inverse


#: Singular values below this share of the largest are taken as zero by the pseudo-inverse
#: fallback. A passive set with duplicate or (affinely) dependent endmembers has a KKT
#: matrix whose null singular values come out of rounding at 1e-17-1e-15 of the largest;
#: the default cut-off (eps x size) keeps some of them and returns solutions of size 1e15.
_PINV_RTOL = 1e-10


def _diagonal_scales(matrices: torch.Tensor) -> torch.Tensor:
    """sqrt of each diagonal entry (floored at 1e-12 of the largest): the variables' own units."""
    diagonal = matrices.diagonal(dim1=-2, dim2=-1).abs()
    return diagonal.clamp_min(1e-12 * diagonal.amax(dim=-1, keepdim=True) + 1e-300).sqrt()


def _scaled_condition(matrices: torch.Tensor, inverse: torch.Tensor, bordered: bool) -> torch.Tensor:
    """Condition of each matrix's variables block after Jacobi scaling, from its computed inverse.

    The bordered KKT matrix mixes G (units of the spectra squared) with the ones of the
    constraint and the identity rows of inactive variables, so the plain ``|M| |M^-1|`` is
    large for a well-posed set in radiance units; scaled by ``sqrt(G_jj G_ll)`` the inverse's
    variables block is unit-free, and of size ~1 / eps only for a singular set.
    """
    n = matrices.shape[-1] - int(bordered)  # the multiplier's row and column (``bordered``) are left out
    scales = _diagonal_scales(matrices[..., :n, :n])
    return (inverse[..., :n, :n].abs() * scales[..., :, None] * scales[..., None, :]).amax(dim=(-2, -1))


def _pseudo_inverse(matrices: torch.Tensor, bordered: bool = False) -> torch.Tensor:
    """Pseudo-inverse with rounding-level singular values dropped (:data:`_PINV_RTOL`), after Jacobi scaling.

    ``D pinv(D M D) D``, ``D`` the inverse square roots of the variables' diagonal (and, with
    ``bordered``, the largest of the roots for the multiplier, so the ones become ~1): without
    it the cut-off, relative to the largest singular value (G's, 1e9 in radiance units), also
    drops the sum-to-one constraint's. For a consistent system, as the KKT systems are, it gives a
    solution of the system (the minimum-norm one in the scaled variables).
    """
    n = matrices.shape[-1] - int(bordered)
    scales = _diagonal_scales(matrices[..., :n, :n])
    d = 1.0 / scales
    if bordered:
        d = torch.cat([d, scales.amax(dim=-1, keepdim=True)], dim=-1)
    scaled = matrices * d[..., :, None] * d[..., None, :]
    return torch.linalg.pinv(scaled, rtol=_PINV_RTOL, hermitian=True) * d[..., :, None] * d[..., None, :]


def _apply_kkt(kkt_inverse: torch.Tensor, rhs: torch.Tensor, passive: torch.Tensor, sum_to_one: bool) -> torch.Tensor:
    masked_rhs = rhs * passive
    if sum_to_one:
        masked_rhs = torch.cat([masked_rhs, torch.ones_like(masked_rhs[:, :1])], dim=1)
    solution = torch.einsum("nij,nj->ni", kkt_inverse, masked_rhs)
    return solution[:, : rhs.shape[1]] * passive


def _solve_on_passive(grams, rhs, passive, sum_to_one, group=None):
    """Least-squares solution of every row on its own passive set (zero outside it).

    ``grams`` (G, k, k); ``group`` (n,) the Gram index of each row (None: all rows use ``grams[0]``).
    """
    k = passive.shape[1]
    masks, mask_group, inverse = _mask_codes(passive, group)
    row_work = int(((passive.sum(dim=1) + 1) ** 3).sum())  # each row's own (s+1)-square system
    if masks.shape[0] * _SHARED_SETS_PER_ROW * (k + 1) ** 3 < row_work:
        # Few distinct passive sets (small k): one inverse per set, applied to all its rows.
        kkt_inverse = _kkt_inverses(grams[mask_group], masks, sum_to_one=sum_to_one)
        return _apply_kkt(kkt_inverse[inverse], rhs, passive, sum_to_one)
    if rhs.shape[0] >= _ROWS_PER_SET * masks.shape[0]:
        # A few rows per set (large k, restarts batched): each set's block inverted once, on its passive set.
        return _solve_kkt_sets(grams, rhs, masks, mask_group, inverse, sum_to_one)
    # Nearly one passive set per row (large k): each row's system is solved on its passive
    # set only, by LU, with no (rows, k+1, k+1) matrix built, inverted or gathered.
    return _solve_kkt_rows(grams, rhs, passive, sum_to_one, group)


def _kkt_matrices(gram: torch.Tensor, masks: torch.Tensor, *, sum_to_one: bool) -> torch.Tensor:
    """KKT matrix of the least-squares problem restricted to each passive set (one per row of ``masks``).

    Variables outside the passive set get an identity row (so they solve to 0); with
    ``sum_to_one`` a bordered row/column of ones over the passive set adds the constraint.
    ``gram`` is one (k, k) matrix or one per mask (n_masks, k, k).
    """
    n_masks, k = masks.shape
    if sum_to_one:
        # G bordered by ones, masked as a whole: rows/columns of passive variables and the
        # multiplier's (always kept) in one pass over (n, k+1, k+1).
        full = _bordered_grams(gram, True)
        kept = torch.cat([masks, torch.ones_like(masks[:, :1])], dim=1).to(gram.dtype)
    else:
        full, kept = gram, masks.to(gram.dtype)
    matrices = full * (kept[:, :, None] * kept[:, None, :])
    matrices.diagonal(dim1=-2, dim2=-1)[:, :k] += 1.0 - kept[:, :k]
    return matrices


def _bordered_grams(grams: torch.Tensor, sum_to_one: bool) -> torch.Tensor:
    """The Gram matrices ((G,) k, k), bordered by a row and column of ones (corner 0) with sum-to-one."""
    if not sum_to_one:
        return grams
    k = grams.shape[-1]
    full = torch.ones(*grams.shape[:-2], k + 1, k + 1, dtype=grams.dtype, device=grams.device)
    full[..., :k, :k] = grams
    full[..., k, k] = 0.0
    return full


def _solve_kkt_rows(grams, rhs, passive, sum_to_one, group=None):
    """Each row's KKT system on its own passive set, all rows in one batched LU.

    A row with ``s`` passive variables needs only the ``s x s`` block of ``G`` (bordered by
    ones with sum-to-one): ``O(s^3)`` per row instead of ``O(k^3)`` (abundances are sparse,
    ``s`` is far below ``k`` when k is large). ``grams``, ``group`` as in
    :func:`_solve_on_passive`.

    Every row's block is gathered at the width of the largest passive set, the rows of a
    smaller set padded with identity rows and columns (zero right-hand side), as
    :func:`_kkt_matrices` treats inactive variables: the padding is decoupled from the
    passive block, keeps LU's pivots and solves to exactly 0, so one solve serves every
    size. The rows are few here (the active set's later steps), and one call instead of one
    per passive-set size saves far more per-call overhead (the solve and its checks) than
    the padding costs in flops.
    """
    n, k = passive.shape
    sizes = passive.sum(dim=1)
    # Each row's passive indices first, ascending (a stable sort of "not passive" per row).
    columns = torch.argsort((~passive).to(torch.int8), dim=1, stable=True)
    solution = torch.zeros(n, k + int(sum_to_one), dtype=rhs.dtype, device=rhs.device)
    # Rows with nothing to solve: an empty passive set is the zero vector (only without
    # sum-to-one); one passive variable under sum-to-one is 1 whatever G (a vertex).
    trivial = 1 if sum_to_one else 0
    vertex = sizes == 1 if sum_to_one else None
    if vertex is not None:
        solution[vertex] = torch.nn.functional.one_hot(columns[vertex, 0], k + 1).to(rhs.dtype)
    rows = torch.nonzero(sizes > trivial).squeeze(1)
    if rows.numel() == 0:
        return solution[:, :k]
    width_used = int(sizes[rows].max())
    columns = columns[rows, :width_used]
    padding = torch.arange(width_used, device=rhs.device) >= sizes[rows, None]
    row_rhs = rhs[rows]
    bordered = _bordered_grams(grams, sum_to_one)
    width = bordered.shape[-1]
    if sum_to_one:
        # the multiplier's index k closes every row's list of variables
        columns = torch.cat([columns, torch.full_like(columns[:, :1], k)], dim=1)
        padding = torch.cat([padding, torch.zeros_like(padding[:, :1])], dim=1)
        row_rhs = torch.cat([row_rhs, torch.ones_like(row_rhs[:, :1])], dim=1)
    index = columns[:, :, None] * width + columns[:, None, :]
    if group is not None:
        index = index + (group[rows] * (width * width))[:, None, None]
    keep = ~padding
    block = bordered.reshape(-1)[index].masked_fill_(~(keep[:, :, None] & keep[:, None, :]), 0.0)
    block.diagonal(dim1=-2, dim2=-1).add_(padding.to(block.dtype))
    block_rhs = torch.gather(row_rhs, 1, columns).masked_fill_(padding, 0.0)
    solved = _solve_batched(block, block_rhs, bordered=sum_to_one)
    solution[rows] = torch.zeros_like(solution[rows]).scatter_(1, columns, solved)
    return solution[:, :k]


def _solve_kkt_sets(grams, rhs, masks, mask_group, inverse, sum_to_one):
    """Each distinct (Gram matrix, passive set) pair's KKT block inverted once, on its passive set only.

    The ``s x s`` block of a set with ``s`` passive variables (bordered by ones with
    sum-to-one) is gathered and inverted once (:func:`_inverse`: LU, the pseudo-inverse where
    LU is unreliable) and applied to every row that has that set: ``O(s^3)`` per set, plus an
    ``O(s^2)`` product per row. ``masks``, ``mask_group``, ``inverse`` as :func:`_mask_codes`
    returns them; ``grams`` as in :func:`_solve_on_passive`.
    """
    k = rhs.shape[1]
    bordered = _bordered_grams(grams, sum_to_one)
    width = bordered.shape[-1]
    flat_grams = bordered.reshape(-1)
    flat_rhs = rhs.reshape(-1)
    set_sizes = masks.sum(dim=1)
    row_sizes = set_sizes[inverse]
    # Each set's position among the sets of its size (filled size by size below).
    position = torch.empty(masks.shape[0], dtype=torch.int64, device=rhs.device)
    solution = torch.zeros_like(rhs)
    flat_solution = solution.view(-1)
    for size in torch.unique(set_sizes).tolist():
        if size == 0:
            continue  # empty passive set: the zero vector (only without sum-to-one)
        if size == 1 and sum_to_one:
            # One passive variable under sum-to-one: it is 1, whatever the Gram matrix (a vertex).
            rows = torch.nonzero(row_sizes == 1).squeeze(1)
            flat_solution[rows * k + masks[inverse[rows]].to(torch.int8).argmax(dim=1)] = 1.0
            continue
        sets = torch.nonzero(set_sizes == size).squeeze(1)
        position[sets] = torch.arange(sets.numel(), device=rhs.device)
        columns = torch.nonzero(masks[sets])[:, 1].reshape(-1, size)  # ascending passive indices, (u, s)
        kkt_columns = columns
        if sum_to_one:
            kkt_columns = torch.cat([columns, torch.full_like(columns[:, :1], k)], dim=1)
        offset = (mask_group[sets] * (width * width))[:, None, None]
        block_inverse = _inverse(flat_grams[offset + kkt_columns[:, :, None] * width + kkt_columns[:, None, :]], bordered=sum_to_one)
        # z_S = K^-1[:s, :s] b_S (+ K^-1[:s, s] for the sum-to-one row's 1).
        weights = block_inverse[:, :size, :size].contiguous()
        rows = torch.nonzero(row_sizes == size).squeeze(1)
        which = position[inverse[rows]]
        entries = (rows * k)[:, None] + columns[which]  # each row's passive entries in the flat (n * k) arrays
        values = torch.bmm(weights[which], flat_rhs[entries][:, :, None])[:, :, 0]
        if sum_to_one:
            values += block_inverse[:, :size, size][which]
        flat_solution[entries.reshape(-1)] = values.reshape(-1)
    return solution


def _solve_batched(matrices: torch.Tensor, rhs: torch.Tensor, bordered: bool = False) -> torch.Tensor:
    """``matrices^-1 rhs`` by batched LU; the minimum-norm pseudo-inverse solution where LU is unreliable.

    LU with partial pivoting is backward stable: its residual ``||K z - r||`` stays of order
    ``eps ||K|| ||z||``; far above that (an exactly or numerically singular ``K``, e.g. more
    passive endmembers than affinely independent directions) the pseudo-inverse takes
    over, as in :func:`_inverse`.
    """
    solution, info = torch.linalg.solve_ex(matrices, rhs)
    residual = (torch.bmm(matrices, solution[:, :, None])[:, :, 0] - rhs).abs().amax(dim=1)
    size = matrices.shape[-1]
    scale = matrices.abs().amax(dim=(-2, -1)) * solution.abs().amax(dim=1) + rhs.abs().amax(dim=1)
    bad = (info != 0) | ~torch.isfinite(residual) | (residual > 1e3 * size * torch.finfo(matrices.dtype).eps * scale)
    # ... or a solution far larger than the right-hand side can explain (in the variables' own
    # units, as in :func:`_scaled_condition`): a singular matrix solved on rounding.
    n = size - int(bordered)
    scales = _diagonal_scales(matrices[:, :n, :n])
    explained = (rhs[:, :n].abs() / scales).amax(dim=1) + (scales.amax(dim=1) if bordered else 0.0)
    bad |= (solution[:, :n].abs() * scales).amax(dim=1) > explained / _PINV_RTOL
    if bool(bad.any()):
        solution[bad] = torch.einsum("nij,nj->ni", _pseudo_inverse(matrices[bad], bordered), rhs[bad])
    return solution


def _active_set(gram: torch.Tensor, rhs: torch.Tensor, *, sum_to_one: bool, max_iter: int, tol: float,
                initial: torch.Tensor | None = None, group: torch.Tensor | None = None) -> torch.Tensor:
    """Lawson-Hanson for ``min 0.5 a^T G a - b^T a, a >= 0 [, sum a = 1]``; rhs (n, k) -> (n, k).

    ``initial`` (n, k), when given, is a warm start: any feasible point whose support is
    taken as the passive set is a valid Lawson-Hanson state (the inner step then moves it to
    the optimum on that support, dropping variables that would turn negative), so the same
    KKT point is reached; rows that are not feasible start from the best vertex.

    ``gram`` is one (k, k) matrix, or a stack (G, k, k) with ``group`` (n,) naming each
    row's matrix in ascending order (rows of one matrix contiguous): G independent problem
    sets solved in one loop, each with the tolerance it would get on its own.
    """
    n, k = rhs.shape
    device = rhs.device
    grams = gram if gram.ndim == 3 else gram[None]
    if group is None:
        group = torch.zeros(n, dtype=torch.int64, device=device)
    # Tolerance per problem set: its largest Gram diagonal and right-hand side.
    rhs_max = torch.zeros(grams.shape[0], dtype=rhs.dtype, device=device).scatter_reduce(
        0, group, rhs.abs().amax(dim=1), reduce="amax")
    scale = grams.diagonal(dim1=-2, dim2=-1).abs().amax(dim=1) + rhs_max + 1e-300
    dual_tol = tol * scale[group]
    usable = None
    if initial is not None:
        start_point = initial.to(rhs.dtype).clamp_min(0.0)
        sums = start_point.sum(dim=1, keepdim=True)
        if sum_to_one:
            usable = (sums[:, 0] > 0) & torch.isfinite(sums[:, 0])
            start_point = start_point / sums.clamp_min(1e-300)
        else:
            usable = torch.isfinite(sums[:, 0])
    if usable is not None and bool(usable.all()):
        current, passive = start_point, start_point > 0
        solving = passive.any(dim=1)  # True: inner (feasibility) step due
    else:
        if sum_to_one:
            # The best single vertex is feasible and optimal on its own passive set.
            diagonal = grams.diagonal(dim1=-2, dim2=-1)[group]  # (n, k)
            start = torch.argmin(0.5 * diagonal - rhs, dim=1)
            passive = torch.nn.functional.one_hot(start, k).bool()
            current = passive.to(rhs.dtype)
        else:
            passive = torch.zeros(n, k, dtype=torch.bool, device=device)
            current = torch.zeros_like(rhs)
        solving = torch.zeros(n, dtype=torch.bool, device=device)
        if usable is not None:
            current = torch.where(usable[:, None], start_point, current)
            passive = torch.where(usable[:, None], start_point > 0, passive)
            solving = usable & passive.any(dim=1)
    done = torch.zeros(n, dtype=torch.bool, device=device)
    for _ in range(max_iter):
        # Outer step (pixels whose iterate is optimal on its passive set): KKT check, add a variable.
        checking = ~done & ~solving
        rows = torch.nonzero(checking).squeeze(1)
        if rows.numel():
            # Most rows due (after a warm start's first step): check them all in place, no gathers.
            every = 2 * rows.numel() > n
            a, p = (current, passive) if every else (current[rows], passive[rows])
            gradient = ((rhs - _times_gram(a, grams, group)) if every
                        else rhs[rows] - _times_gram(a, grams, group[rows]))  # negative gradient of the objective
            if sum_to_one:
                multiplier = (gradient * p).sum(1, keepdim=True) / p.sum(1, keepdim=True).clamp_min(1)
                gradient = gradient - multiplier
            gradient = gradient.masked_fill(p, -torch.inf)
            best, best_index = gradient.max(dim=1)
            if every:
                optimal = best <= dual_tol
                done |= checking & optimal
                grow = torch.nonzero(checking & ~optimal).squeeze(1)
                passive[grow, best_index[grow]] = True
            else:
                optimal = best <= dual_tol[rows]
                done[rows[optimal]] = True
                grow = rows[~optimal]
                passive[grow, best_index[~optimal]] = True
            solving[grow] = True
        rows = torch.nonzero(solving).squeeze(1)
        if rows.numel() == 0:
            if bool(done.all()):
                break
            continue
        # Inner step: solve on the passive set; step back towards it while infeasible.
        every = rows.numel() == n  # a warm start's first step: no gathers or scatters of whole arrays
        a, p = (current, passive) if every else (current[rows], passive[rows])
        z = _solve_on_passive(grams, rhs if every else rhs[rows], p, sum_to_one,
                              None if grams.shape[0] == 1 else group if every else group[rows])
        infeasible = p & (z <= 0)
        feasible_rows = ~infeasible.any(dim=1)
        # A feasible solve is the new iterate as it is (z is zero off the passive set); only
        # the (few) infeasible rows step back towards it and drop a variable.
        a_new, p_new = z, p.clone()
        back = torch.nonzero(~feasible_rows).squeeze(1)
        if back.numel():
            a_b, z_b, p_b = a[back], z[back], p[back]
            ratio = torch.where(infeasible[back], a_b / (a_b - z_b).clamp_min(1e-300), torch.full_like(a_b, torch.inf))
            step = ratio.min(dim=1).values.clamp(0.0, 1.0)
            stepped = a_b + step[:, None] * (z_b - a_b)
            kept = p_b & (stepped > 1e-14 * (a_b.abs().max(dim=1, keepdim=True).values + 1e-300))
            if sum_to_one:
                # Never empty the passive set: keep the largest coefficient.
                empty = ~kept.any(dim=1)
                if bool(empty.any()):
                    kept[empty.nonzero().squeeze(1), stepped[empty].argmax(dim=1)] = True
            a_new[back] = stepped * kept
            p_new[back] = kept
        if every:
            current, passive, solving = a_new, p_new, ~feasible_rows
        else:
            current[rows] = a_new
            passive[rows] = p_new
            solving[rows] = ~feasible_rows
    return current


def _times_gram(values: torch.Tensor, grams: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """``values[i] @ grams[group[i]]`` for every row; ``group`` ascending (one product per matrix)."""
    if grams.shape[0] == 1:
        return values @ grams[0]
    counts = torch.bincount(group, minlength=grams.shape[0]).tolist()
    if min(counts) == max(counts):
        # every matrix serves as many rows (fcls_stack's whole chunks): one batched product
        return (values.reshape(grams.shape[0], counts[0], -1) @ grams).reshape(values.shape[0], -1)
    return torch.cat([part @ matrix for part, matrix in zip(values.split(counts), grams)])

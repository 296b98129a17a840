"""Scores of an unmixing result against reference endmembers and abundances.

Endmember matrices are (bands, n_endmembers); abundances are (n_pixels, n_endmembers) or
(rows, cols, n_endmembers) maps (flattened row-major). Blind unmixing returns endmembers
in an arbitrary order, so scores are computed after matching estimated to reference
endmembers with the Hungarian algorithm (Kuhn 1955), either on the spectral angle
distance (SAD) between spectra or on the RMSE between abundance maps.

Permutation convention: ``perm[j]`` is the estimated endmember matched to reference
endmember ``j``, so ``estimated[:, perm]`` (endmembers) or ``abundances[..., perm]`` lines
up with the reference.

Inputs may be numpy arrays or torch tensors; computations run in torch float64 and
results come back as numpy arrays / Python floats.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from hsi.errors import InputError, ParameterError
from hsi.metrics.checks import as_float64

__all__ = [
    "spectral_angles_deg",
    "match_endmembers",
    "match_abundances",
    "sad_per_endmember",
    "abundance_rmse",
    "unmixing_scores",
]


def _endmember_matrix(array: Any, name: str, device: torch.device | None = None) -> torch.Tensor:
    matrix = as_float64(array, name, device=device)
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise InputError(f"{name} must be a (bands, n_endmembers) matrix; got shape {tuple(matrix.shape)}")
    norms = torch.linalg.vector_norm(matrix, dim=0)
    if bool((norms == 0).any()):
        zero = torch.nonzero(norms == 0)[:, 0].tolist()
        raise InputError(f"{name} has all-zero endmember column(s) {zero}: their spectral angle is undefined")
    return matrix


def _abundance_matrix(array: Any, name: str, device: torch.device | None = None) -> torch.Tensor:
    maps = as_float64(array, name, device=device)
    if maps.ndim not in (2, 3) or maps.numel() == 0:
        raise InputError(
            f"{name} must be (n_pixels, n_endmembers) or (rows, cols, n_endmembers); got shape {tuple(maps.shape)}"
        )
    return maps.reshape(-1, maps.shape[-1])


def _check_counts(first: torch.Tensor, second: torch.Tensor, what: str, axis_names: str) -> None:
    if first.shape != second.shape:
        raise InputError(
            f"estimated and reference {what} must have the same shape {axis_names}; got "
            f"{tuple(first.shape)} and {tuple(second.shape)} (a different number of endmembers "
            "cannot be scored one-to-one)"
        )


def _angles_deg(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Pairwise angles (degrees) between columns, stable near 0: 2 atan2(|u - v|, |u + v|)."""
    unit_first = (first / torch.linalg.vector_norm(first, dim=0)).T
    unit_second = (second / torch.linalg.vector_norm(second, dim=0)).T
    return torch.rad2deg(
        2.0 * torch.atan2(torch.cdist(unit_first, unit_second), torch.cdist(unit_first, -unit_second))
    )


def spectral_angles_deg(a: Any, b: Any) -> np.ndarray:
    """Spectral angle between every column of ``a`` and every column of ``b``, in degrees.

    Parameters
    ----------
    a : (bands, k_a) array or tensor
    b : (bands, k_b) array or tensor
        Spectra as columns (a 1-D array is one spectrum); no column may be all zeros.

    Returns
    -------
    (k_a, k_b) numpy float64 array, degrees in [0, 180]. Scale-free: a column and any
    positive multiple of it are 0 degrees apart.

    References
    ----------
    F. A. Kruse et al., "The spectral image processing system (SIPS)", Remote Sens.
    Environ. 44(2-3):145-163, 1993.
    """
    first = _endmember_matrix(a, "a")
    second = _endmember_matrix(b, "b", device=first.device)
    if first.shape[0] != second.shape[0]:
        raise InputError(f"a and b must have the same number of bands; got {first.shape[0]} and {second.shape[0]}")
    return _angles_deg(first, second).cpu().numpy()


def _hungarian(cost_ref_by_est: np.ndarray) -> np.ndarray:
    """Minimum-cost one-to-one assignment: perm[j] = estimated index for reference j."""
    rows, cols = linear_sum_assignment(cost_ref_by_est)
    perm = np.empty(cost_ref_by_est.shape[0], dtype=np.int64)
    perm[rows] = cols
    return perm


def match_endmembers(estimated: Any, reference: Any) -> np.ndarray:
    """Permutation of estimated endmembers minimising the total spectral angle (Hungarian).

    Parameters
    ----------
    estimated, reference : (bands, n_endmembers) arrays or tensors, same shape

    Returns
    -------
    (n_endmembers,) int64 numpy array ``perm``: ``estimated[:, perm]`` lines up with
    ``reference``.

    References
    ----------
    H. W. Kuhn, "The Hungarian method for the assignment problem", Naval Research
    Logistics Quarterly 2:83-97, 1955.
    """
    est = _endmember_matrix(estimated, "estimated")
    ref = _endmember_matrix(reference, "reference", device=est.device)
    _check_counts(est, ref, "endmembers", "(bands, n_endmembers)")
    return _hungarian(_angles_deg(ref, est).cpu().numpy())


def match_abundances(estimated: Any, reference: Any) -> np.ndarray:
    """Permutation of estimated abundance maps minimising the total per-map RMSE (Hungarian).

    Parameters
    ----------
    estimated, reference : (n_pixels, n_endmembers) or (rows, cols, n_endmembers)
        Arrays or tensors with the same number of pixels and endmembers.

    Returns
    -------
    (n_endmembers,) int64 numpy array ``perm``: ``estimated[..., perm]`` lines up with
    ``reference``.

    References
    ----------
    H. W. Kuhn, "The Hungarian method for the assignment problem", Naval Research
    Logistics Quarterly 2:83-97, 1955.
    """
    est = _abundance_matrix(estimated, "estimated")
    ref = _abundance_matrix(reference, "reference", device=est.device)
    _check_counts(est, ref, "abundances", "(n_pixels, n_endmembers)")
    # cdist over maps: ||ref_i - est_j|| / sqrt(n_pixels) is the RMSE between maps i and j.
    cost = torch.cdist(ref.T, est.T) / np.sqrt(ref.shape[0])
    return _hungarian(cost.cpu().numpy())


def sad_per_endmember(estimated: Any, reference: Any) -> np.ndarray:
    """Spectral angle distance between matching columns (already aligned), in degrees.

    Parameters
    ----------
    estimated, reference : (bands, n_endmembers) arrays or tensors, same shape, columns in
        the same order (apply :func:`match_endmembers` first for blind results).

    Returns
    -------
    (n_endmembers,) numpy float64 array, degrees.

    References
    ----------
    J. M. Bioucas-Dias et al., "Hyperspectral unmixing overview: geometrical, statistical,
    and sparse regression-based approaches", IEEE JSTARS 5(2):354-379, 2012.
    """
    est = _endmember_matrix(estimated, "estimated")
    ref = _endmember_matrix(reference, "reference", device=est.device)
    _check_counts(est, ref, "endmembers", "(bands, n_endmembers)")
    return torch.diagonal(_angles_deg(ref, est)).cpu().numpy().copy()


def abundance_rmse(estimated: Any, reference: Any) -> float:
    """RMSE between abundance maps over all pixels and endmembers (aRMSE).

    ``sqrt(mean_{p, k} (A_est[p, k] - A_ref[p, k])^2)``; maps must already be aligned.

    Parameters
    ----------
    estimated, reference : (n_pixels, n_endmembers) or (rows, cols, n_endmembers)

    References
    ----------
    J. M. Bioucas-Dias et al., "Hyperspectral unmixing overview: geometrical, statistical,
    and sparse regression-based approaches", IEEE JSTARS 5(2):354-379, 2012.
    """
    est = _abundance_matrix(estimated, "estimated")
    ref = _abundance_matrix(reference, "reference", device=est.device)
    _check_counts(est, ref, "abundances", "(n_pixels, n_endmembers)")
    return float(torch.sqrt(((est - ref) ** 2).mean()))


def unmixing_scores(
    endmembers: Any = None,
    abundances: Any = None,
    ref_endmembers: Any = None,
    ref_abundances: Any = None,
    match_by: str = "endmembers",
) -> dict:
    """Match an unmixing result to the reference, then score endmembers and abundances.

    Parameters
    ----------
    endmembers, ref_endmembers : (bands, n_endmembers), optional
        Estimated and reference spectra. Give both or neither.
    abundances, ref_abundances : (n_pixels, n_endmembers) or (rows, cols, n_endmembers), optional
        Estimated and reference abundances. Give both or neither.
    match_by : {"endmembers", "abundances"}
        Match on the spectral angle between endmembers (scale-free) or on the RMSE between
        abundance maps. The chosen pair must be given. One permutation is applied to both
        endmembers and abundances.

    Returns
    -------
    dict with
        ``n_endmembers`` (int), ``matched_by`` (str), ``permutation`` (list of int,
        ``perm[j]`` = estimated index matched to reference ``j``); when endmembers are given
        ``sad_per_endmember_deg`` (list of float, reference order) and ``mean_sad_deg``;
        when abundances are given ``abundance_rmse`` (float).

    Raises
    ------
    ParameterError
        ``match_by`` unknown, or the pair it needs is missing, or nothing to score.
    InputError
        Estimated and reference counts of endmembers (or bands, or pixels) differ.

    References
    ----------
    J. M. Bioucas-Dias et al., "Hyperspectral unmixing overview: geometrical, statistical,
    and sparse regression-based approaches", IEEE JSTARS 5(2):354-379, 2012.
    H. W. Kuhn, "The Hungarian method for the assignment problem", 1955.
    """
    if match_by not in ("endmembers", "abundances"):
        raise ParameterError(f"match_by must be 'endmembers' or 'abundances'; got {match_by!r}")
    have_endmembers = _both_or_neither(endmembers, ref_endmembers, "endmembers")
    have_abundances = _both_or_neither(abundances, ref_abundances, "abundances")
    if not (have_endmembers or have_abundances):
        raise ParameterError("unmixing_scores needs endmembers and/or abundances with their references; got neither")
    if match_by == "endmembers" and not have_endmembers:
        raise ParameterError(
            "match_by='endmembers' needs endmembers and ref_endmembers; pass them or use match_by='abundances'"
        )
    if match_by == "abundances" and not have_abundances:
        raise ParameterError(
            "match_by='abundances' needs abundances and ref_abundances; pass them or use match_by='endmembers'"
        )

    est_e = ref_e = est_a = ref_a = None
    counts = {}
    if have_endmembers:
        est_e = _endmember_matrix(endmembers, "endmembers")
        ref_e = _endmember_matrix(ref_endmembers, "ref_endmembers", device=est_e.device)
        _check_counts(est_e, ref_e, "endmembers", "(bands, n_endmembers)")
        counts["endmembers"] = est_e.shape[1]
    if have_abundances:
        est_a = _abundance_matrix(abundances, "abundances")
        ref_a = _abundance_matrix(ref_abundances, "ref_abundances", device=est_a.device)
        _check_counts(est_a, ref_a, "abundances", "(n_pixels, n_endmembers)")
        counts["abundances"] = est_a.shape[1]
    if len(set(counts.values())) > 1:
        raise InputError(
            f"endmembers have {counts['endmembers']} columns but abundances have {counts['abundances']}"
        )

    perm = match_endmembers(est_e, ref_e) if match_by == "endmembers" else match_abundances(est_a, ref_a)
    scores: dict = {
        "n_endmembers": int(next(iter(counts.values()))),
        "matched_by": match_by,
        "permutation": [int(i) for i in perm],
    }
    index = torch.as_tensor(perm)
    if have_endmembers:
        sad = sad_per_endmember(est_e[:, index.to(est_e.device)], ref_e)
        scores["sad_per_endmember_deg"] = [float(v) for v in sad]
        scores["mean_sad_deg"] = float(np.mean(sad))
    if have_abundances:
        scores["abundance_rmse"] = abundance_rmse(est_a[:, index.to(est_a.device)], ref_a)
    return scores


def _both_or_neither(estimated: Any, reference: Any, what: str) -> bool:
    if (estimated is None) != (reference is None):
        missing = f"ref_{what}" if reference is None else what
        raise ParameterError(f"{what} are scored against ref_{what}: {missing} is missing (got None)")
    return estimated is not None

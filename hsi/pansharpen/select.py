"""Per-scene choice of a pansharpening method by Wald's protocol on the user's own pair.

No pansharpening method is best on every sensor and scene (Vivone et al. 2015, 2021), and the
user has no high-resolution reference to tell which is. Wald's protocol gives one a scale down:
degrade the MS and the PAN by the ratio with the sensor's MTF
(:func:`hsi.pansharpen.protocol.reduced_resolution_pair`), fuse the degraded pair with every
candidate, and compare each result with the original MS. The scale-invariance hypothesis
(Wald et al. 1997) says that what works from ratio^2 to ratio works from ratio to 1, so the
candidates' outputs at full scale are combined as they were at the reduced one.

Two rules, both using nothing but the pair:

* **select**: the candidate with the highest reduced-scale Q2n (ties: lower ERGAS).
* **stack**: an affine combination ``sum_j w_j F_j`` (``sum_j w_j = 1``) of the candidates'
  outputs with one weight per candidate (shared by all bands), fitted by least squares at the
  reduced scale on the bands divided by their means (ERGAS's weighting): stacked regression
  (Wolpert 1992, Breiman 1996); :func:`stacking_weights` says why affine; a light ridge towards
  the pick (:data:`RIDGE_FRACTION`) keeps nearly collinear candidates from taking large
  opposite weights. Weights of either
  sign can extrapolate beyond the best candidate (more detail than any one injects), and can
  also copy an unstable candidate; so the combination is used only when
  it predicts held-out pixels better than the selection does (two-fold cross-validation
  over the left and right halves of the reduced-scale image, each half fitting the weights for
  the other) **and** it does not lower the full-scale HQNR (Aiazzi et al. 2014) below the
  selection's on the pair itself. Otherwise the selection's pick is used.
* **bounded stack**: the same combination clipped, pixel by pixel and band by band, to the
  range of the candidates it combines (no value beyond what one of them gives there). The
  full-scale check weighs it beside the stack and keeps the one of higher HQNR. The candidates'
  own estimates (BDSD's and GSA's regressions, MTF-GLP-FS's gains) change from region to region
  and at full scale, and signed weights of size 1-3 amplify their disagreement: on the IKONOS
  pair the stack reached -2,172 / +8,223 DN on an MS of at most 2,040 and a whole-image HQNR of
  0.807 (``bench_results/pansharpen_s6``, ``full``), the bounded stack -14 / +7,282 (the largest
  value of one candidate, ``mtf_glp_hpm``) and 0.906 (``bench_results/pansharpen_s7``).

Why the full-scale check: the reduced-scale pairs are degraded with exactly the MTF model the
methods assume, a real pair is not; weights that extrapolate between candidates (more detail
than any of them) transfer from ratio^2 to ratio on synthetic degradations, and can amplify
at full scale what the model leaves out. On the WV2 pair itself the stacking had full-scale
HQNR 0.57 against 0.89 for the pick and was refused; on IKONOS it passed (0.92 against 0.83 on
the 128-pixel window checked then) (``bench_results/pansharpen_s5``, ``choice``). On the 256-pixel
window both stacks fail it (WV2 0.56, IKONOS 0.78, against 0.89 and 0.82) and both bounded stacks
pass (0.90, 0.91) (``bench_results/pansharpen_s7``, ``choice``).

The scale dependence is the method's known weakness: rankings at ratio^2 and ratio disagree
when a candidate's own estimation (BDSD's and GSA's regressions, MTF-GLP-FS's gains) behaves
differently on the smaller, twice-blurred pair; the bench reports the choice on each case.

References
----------
L. Wald, T. Ranchin, M. Mangolini, "Fusion of satellite images of different spatial
resolutions: assessing the quality of resulting images", PE&RS 63(6), 1997.
G. Vivone et al., "A critical comparison among pansharpening algorithms", IEEE TGRS 53(5), 2015.
D. H. Wolpert, "Stacked generalization", Neural Networks 5(2), 1992.
A. E. Hoerl, R. W. Kennard, "Ridge regression: biased estimation for nonorthogonal problems",
Technometrics 12(1), 1970.
L. Breiman, "Stacked regressions", Machine Learning 24(1), 1996.
B. Aiazzi et al., "Full-scale assessment of pansharpening methods and data products", Proc.
SPIE 9244, 2014 (HQNR).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

import numpy as np
import scipy.optimize
import torch

from hsi.arrays import Array, infer_ratio
from hsi.errors import InputError, ParameterError
from hsi.pansharpen.protocol import full_resolution_indexes, reduced_resolution_indexes, reduced_resolution_pair

RULES = ("select", "stack")
#: The smallest MS the candidates fuse at the reduced scale (the user's MS decimated by the ratio),
#: in pixels a side. The 23-tap interpolator reads 6 low-resolution pixels on each side of an
#: output and the MTF filters span 41 PAN pixels (10 MS pixels): on a smaller reduced MS every
#: output is an edge, mirrored, and the ranking says more about edge handling than about the
#: methods. At ratio 4 this asks for an MS of 32 x 32, one Q2n block of the scored image. Below
#: it the first candidate is used, and the choice says why (:func:`protocol_too_small`).
MIN_REDUCED_MS_SIDE = 8
#: The full-scale HQNR check fuses the central window of at most this many MS pixels a side
#: with every candidate: the pansharpen job's default assessment window (``assess_size``, the
#: window the job chooses on), so the check sees the candidates estimate their parameters over
#: as much of the scene as the choice is given (the job's tiles, 512 by default, are larger):
#: on a 128-pixel window IKONOS's stack passed with HQNR 0.925 (``bench_results/pansharpen_s6``,
#: ``choice``); fused over 256 pixels the same kind of weights score 0.777 (``pansharpen_s7``).
FULL_SCALE_CHECK_SIDE = 256


def protocol_too_small(ms_shape: tuple[int, ...], ratio: int) -> str | None:
    """Why an MS of ``ms_shape`` is too small for the choice (the reduced pair it fuses), or None."""
    reduced = [side // ratio for side in ms_shape[:2]]
    if min(reduced) >= MIN_REDUCED_MS_SIDE:
        return None
    return (f"the MS it chooses on is {ms_shape[0]}x{ms_shape[1]} pixels: Wald's protocol would fuse it reduced by {ratio} "
            f"({reduced[0]}x{reduced[1]} pixels), and needs at least {MIN_REDUCED_MS_SIDE}x{MIN_REDUCED_MS_SIDE} "
            f"(an MS of {MIN_REDUCED_MS_SIDE * ratio}x{MIN_REDUCED_MS_SIDE * ratio} at ratio {ratio})")


@dataclass
class WaldChoice:
    """What :func:`choose` decided: ``weights`` per candidate (one-hot for a selection)."""

    rule: str
    weights: dict[str, float]
    selected: str
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    held_out_error: dict[str, float] = field(default_factory=dict)
    full_scale_hqnr: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    note: str = ""
    bounded: bool = False
    bands_left_out: list[int] = field(default_factory=list)

    @property
    def applied(self) -> str:
        """What fuses the scene: the pick's name, or ``[bounded ]stack of <names>`` (``selected`` stays the pick)."""
        used = [name for name, weight in self.weights.items() if weight != 0.0]
        if len(used) == 1:
            return used[0]
        return ("bounded stack of " if self.bounded else "stack of ") + ", ".join(used)

    def report(self) -> dict:
        """Plain data for the job report."""
        return {"rule": self.rule, "applied": self.applied, "selected": self.selected, "weights": self.weights,
                "bounded": self.bounded, "reduced_scale_scores": self.scores,
                "held_out_relative_mse": self.held_out_error, "full_scale_hqnr": self.full_scale_hqnr,
                "seconds": self.seconds, "note": self.note, "bands_left_out": self.bands_left_out}


def _as_numpy(image: Array) -> np.ndarray:
    return image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image, dtype=np.float64)


def reduced_scale_outputs(candidates: Mapping[str, Callable], ms: np.ndarray, pan: np.ndarray, *, ratio: int,
                          sensor: str | None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every candidate's fusion of the MTF-degraded pair, and the original MS it should give.

    The pair is cropped to a multiple of the ratio first (the degradation decimates by it).
    """
    too_small = protocol_too_small(ms.shape, ratio)
    if too_small:
        raise InputError(too_small)
    side_rows, side_cols = (ms.shape[0] // ratio) * ratio, (ms.shape[1] // ratio) * ratio
    pair = reduced_resolution_pair(ms[:side_rows, :side_cols], pan[: side_rows * ratio, : side_cols * ratio],
                                   sensor=sensor, ratio=ratio)
    fused = {name: _as_numpy(method(pair.ms, pair.pan, ratio=ratio, sensor=sensor)) for name, method in candidates.items()}
    return fused, _as_numpy(pair.reference)


def _design(fused: Mapping[str, np.ndarray], reference: np.ndarray, columns: slice) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares system of the stacking: one column per candidate, bands divided by the reference's means."""
    scale = 1.0 / np.maximum(np.abs(reference.reshape(-1, reference.shape[2]).mean(axis=0)), 1e-12)
    matrix = np.stack([(image[:, columns] * scale).ravel() for image in fused.values()], axis=1)
    return matrix, (reference[:, columns] * scale).ravel()


#: Ridge strength of the affine stacking (:func:`affine_least_squares`), as a fraction of the mean
#: energy of the candidates' differences. Candidates that nearly coincide (two methods whose outputs
#: differ by a hundredth of their typical difference) leave least squares free to weigh them with
#: large opposite weights that fit the reduced pair no better than modest ones (a synthetic pair:
#: 34 / -32, held-out error equal to 0.02 %; tests/pansharpen/test_pansharpen_select.py) and
#: amplify whatever separates them at full scale. The ridge pulls such directions towards the pick;
#: directions the candidates span with at least this share of their energy are left nearly as fitted.
#: 1e-4 leaves the default's reduced-resolution figures on WV2 and IKONOS unchanged to the fourth
#: decimal (``bench_results/pansharpen_s8``); larger values shrink the real pairs' weights too
#: (1e-2: held-out error 0.1-1 % lower, Q2n 0.0006 lower; scratch runs, not kept).
RIDGE_FRACTION = 1e-4


def stacking_weights(fused: Mapping[str, np.ndarray], reference: np.ndarray, columns: slice = slice(None),
                     nonnegative: bool = False, selected: str | None = None) -> np.ndarray:
    """Weights ``w`` minimising ``sum_k ||(sum_j w_j F_jk - R_k) / mean(R_k)||^2`` (one per candidate),
    under ``sum_j w_j = 1`` (an affine combination).

    Why affine: where the candidates agree (flat ground, every method returns the interpolated
    MS) the combination returns that value, so the stacking cannot rescale the radiometry, as
    unconstrained weights whose sum is not one do. Signs stay free: on the Wald-degraded real
    pairs (WV2, IKONOS; the pair's window and the bench's reduced pair; both two-fold splits)
    the affine weights predicted held-out pixels with 0.930 of the pick's error (geometric
    mean; worst 0.958), unconstrained ones 0.932 (worst 0.959), non-negative ones 0.977 (worst
    1.009) (``bench_results/pansharpen_s6``, table ``stacking_constraints``).

    ``selected``: the pick, towards which the affine weights are ridge-regularised
    (:data:`RIDGE_FRACTION`), so that nearly collinear candidates do not get large opposite weights.

    ``nonnegative``: ``w >= 0`` instead (non-negative least squares, without the sum), the
    constraint Breiman (1996) proposed: free weights of collinear candidates can grow large
    with opposite signs (``wald_select_nonnegative``)."""
    prior = None if selected is None else np.array([float(name == selected) for name in fused])
    return _constrained_weights(*_design(fused, reference, columns), "nonnegative" if nonnegative else "affine", prior)


def affine_least_squares(matrix: np.ndarray, target: np.ndarray, prior: np.ndarray | None = None,
                         ridge_fraction: float | None = None) -> np.ndarray:
    """``argmin ||matrix w - target||^2 + lambda ||w - prior||^2`` subject to ``sum(w) = 1``.

    Without ``prior`` (or with a zero ridge) the plain least-squares solution of the equality-
    constrained problem. With ``prior`` (weights summing to one: the pick), ``w = prior + N u``
    with ``N`` an orthonormal basis of the zero-sum weights, a ridge regression in ``u``
    (Hoerl & Kennard 1970) with ``lambda = ridge_fraction x`` the mean eigenvalue of ``(M N)^T M N``.
    """
    k = matrix.shape[1]
    if k == 1:
        return np.ones(1)
    fraction = RIDGE_FRACTION if ridge_fraction is None else float(ridge_fraction)
    if prior is None or fraction == 0.0:
        last = matrix[:, -1]
        head = np.linalg.lstsq(matrix[:, :-1] - last[:, None], target - last, rcond=None)[0]
        return np.append(head, 1.0 - head.sum())
    basis = np.linalg.svd(np.eye(k) - 1.0 / k)[0][:, : k - 1]  # orthonormal, columns sum to zero
    differences = matrix @ basis
    gram = differences.T @ differences
    strength = fraction * np.trace(gram) / (k - 1)
    u = np.linalg.solve(gram + strength * np.eye(k - 1), differences.T @ (target - matrix @ prior))
    return prior + basis @ u


def _relative_mse(fused: Mapping[str, np.ndarray], reference: np.ndarray, weights: np.ndarray, columns: slice) -> float:
    matrix, target = _design(fused, reference, columns)
    return float(np.mean((matrix @ weights - target) ** 2))


def pick_best(scores: Mapping[str, dict[str, float]]) -> str:
    """The candidate with the highest Q2n (ties: the lower ERGAS)."""
    return max(scores, key=lambda name: (scores[name]["q2n"], -scores[name]["ergas"]))


def held_out_errors(fused: Mapping[str, np.ndarray], reference: np.ndarray, selected: str,
                    nonnegative: bool = False) -> dict[str, float]:
    """Two-fold (left/right halves) cross-validated relative MSE of the stacking, and the same error of ``selected``.

    The stacking is fitted on one half and scored on the other; the selection's pick is the one
    made on the whole image (a slightly optimistic score for it, so the stacking must clearly win).
    """
    half = reference.shape[1] // 2
    folds = ((slice(0, half), slice(half, None)), (slice(half, None), slice(0, half)))
    one_hot = np.array([float(name == selected) for name in fused])
    errors = {"stack": 0.0, "select": 0.0}
    for fit, test in folds:
        errors["stack"] += _relative_mse(fused, reference, stacking_weights(fused, reference, fit, nonnegative, selected), test) / 2
        errors["select"] += _relative_mse(fused, reference, one_hot, test) / 2
    return errors


#: The weightings :func:`constraint_evidence` compares: ``free`` (unconstrained least squares),
#: ``affine`` (the stacking's: weights sum to one), ``nonnegative`` (NNLS, wald_select_nonnegative).
CONSTRAINTS = ("free", "affine", "nonnegative")


def _constrained_weights(matrix: np.ndarray, target: np.ndarray, constraint: str,
                         prior: np.ndarray | None = None) -> np.ndarray:
    if constraint == "free":
        return np.linalg.lstsq(matrix, target, rcond=None)[0]
    if constraint == "affine":
        return affine_least_squares(matrix, target, prior)
    return scipy.optimize.nnls(matrix, target)[0]


def constraint_evidence(fused: Mapping[str, np.ndarray], reference: np.ndarray, selected: str) -> dict[str, dict[str, float]]:
    """Two-fold cross-validated relative MSE of the stacking under each of :data:`CONSTRAINTS`, divided
    by the pick's (``selected``), for the left/right and the top/bottom halves of the reduced-scale
    image: the evidence the stacking's constraint was chosen on (uses only the degraded pair)."""
    evidence = {}
    for split, axes in (("left/right", (0, 1, 2)), ("top/bottom", (1, 0, 2))):
        images = {name: image.transpose(axes) for name, image in fused.items()}
        target = reference.transpose(axes)
        half = target.shape[1] // 2
        folds = ((slice(0, half), slice(half, None)), (slice(half, None), slice(0, half)))
        one_hot = np.array([float(name == selected) for name in images])
        pick = max(sum(_relative_mse(images, target, one_hot, test) for _, test in folds), np.finfo(float).tiny)
        evidence[split] = {
            constraint: sum(_relative_mse(images, target, _constrained_weights(*_design(images, target, fit), constraint), test)
                            for fit, test in folds) / pick
            for constraint in CONSTRAINTS}
    return evidence


#: A band whose mean magnitude in the MS is at most this fraction of the largest band's carries no
#: signal to choose on (a dead band, or one a product zeroes, e.g. in water-vapour absorption).
NO_SIGNAL_FRACTION = 1e-6


def bands_with_signal(reference: np.ndarray) -> np.ndarray:
    """(bands,) True where the MS ``reference`` (rows, cols, bands) has signal to score a fusion on.

    ERGAS divides each band's error by the band's mean and the stacking's design divides by it
    too: a band of zeros makes the first undefined and lets the second weigh noise by 1e12."""
    means = np.abs(reference.reshape(-1, reference.shape[2]).mean(axis=0))
    return means > NO_SIGNAL_FRACTION * means.max()


def choose(candidates: Mapping[str, Callable], ms: Array, pan: Array, *, ratio: int | None = None,
           sensor: str | None = None, rule: str = "stack", full_scale_check: bool = True,
           nonnegative: bool = False) -> WaldChoice:
    """Choose (``rule="select"``) or combine (``rule="stack"``) the candidates on the pair itself.

    Parameters
    ----------
    candidates : name -> pansharpening function ``f(ms, pan, *, ratio, sensor)``.
    ms : (rows, cols, bands) low-resolution MS; pan : (ratio*rows, ratio*cols) PAN.
    rule : "select" or "stack" (the stacking, kept only where it wins the cross-validation).
    full_scale_check : also keep the stacking only where its full-scale HQNR on the pair is at
        least the selection's (costs every candidate's fusion of the pair itself), as it is or
        bounded by the candidates' per-pixel range, whichever has the higher HQNR. HQNR is a
        no-reference index and errs on the side of less detail: on a synthetic pair whose truth
        needs more detail than either candidate injects it preferred the selection to a
        stacking with a third of its ERGAS, so the check is conservative.
    nonnegative : fit the stacking's weights under ``w >= 0`` (:func:`stacking_weights`).

    Returns
    -------
    :class:`WaldChoice` with the weights to apply at full scale and the reduced-scale evidence
    (rule ``"too_small"``, the first candidate and a ``note`` saying why, for an MS whose reduced
    pair is under :data:`MIN_REDUCED_MS_SIDE` pixels a side). Bands without signal
    (:func:`bands_with_signal`) are left out of the scores and the stacking's fit and listed in
    ``bands_left_out``; the weights apply to every band.
    """
    if rule not in RULES:
        raise ParameterError(f"rule must be one of {RULES}; got {rule!r}")
    if not candidates:
        raise ParameterError("candidates must name at least one pansharpening method")
    started = time.perf_counter()
    ms_np = _as_numpy(ms)
    pan_np = _as_numpy(pan)
    pan_np = pan_np[:, :, 0] if pan_np.ndim == 3 and pan_np.shape[2] == 1 else pan_np
    r = infer_ratio(ms_np.shape[:2], pan_np.shape[:2], ratio)
    too_small = protocol_too_small(ms_np.shape, r)
    if too_small:
        first = next(iter(candidates))
        return WaldChoice("too_small", {first: 1.0}, first, seconds=time.perf_counter() - started,
                          note=f"no per-scene choice, {too_small}; used {first}, the first candidate")
    fused, reference = reduced_scale_outputs(candidates, ms_np, pan_np, ratio=r, sensor=sensor)
    scored = bands_with_signal(reference)
    if not scored.any():
        raise InputError(f"the MS ({ms_np.shape[0]}x{ms_np.shape[1]} pixels chosen on) has no band with signal: "
                         f"every band's mean is 0")
    left_out = [int(band) for band in np.flatnonzero(~scored)]
    if left_out:  # scored and fitted on the bands with signal; the weights then apply to every band
        fused = {name: image[:, :, scored] for name, image in fused.items()}
        reference = reference[:, :, scored]
    scores = {name: reduced_resolution_indexes(image, reference, r) for name, image in fused.items()}
    selected = pick_best(scores)
    weights = {name: float(name == selected) for name in fused}
    chosen_rule, errors, hqnr, bounded = "select", {}, {}, False
    if rule == "stack" and len(fused) > 1:
        errors = held_out_errors(fused, reference, selected, nonnegative)
        if errors["stack"] < errors["select"]:
            stacked = dict(zip(fused, (float(w) for w in stacking_weights(fused, reference, nonnegative=nonnegative,
                                                                          selected=selected))))
            if full_scale_check:
                hqnr = full_scale_hqnr(candidates, {"stack": (stacked, False), "bounded_stack": (stacked, True),
                                                    "select": (weights, False)}, ms_np, pan_np, ratio=r, sensor=sensor)
            if not hqnr:
                chosen_rule, weights = "stack", stacked
            else:
                best = "bounded_stack" if hqnr["bounded_stack"] > hqnr["stack"] else "stack"
                if hqnr[best] >= hqnr["select"]:
                    chosen_rule, weights, bounded = "stack", stacked, best == "bounded_stack"
    return WaldChoice(chosen_rule, weights, selected, scores, errors, hqnr, time.perf_counter() - started, bounded=bounded,
                      bands_left_out=left_out)


class RunningSum:
    """``sum_j w_j F_j`` over images added one at a time and, with ``track_range``, the range they
    span value by value: at most three arrays of an image's size however many images are added,
    so a combination never holds every candidate's output at once."""

    def __init__(self, track_range: bool = False):
        self.track_range = bool(track_range)
        self.total = self.low = self.high = None

    def add(self, weight: float, image: np.ndarray) -> None:
        if self.total is None:
            self.total = weight * image
            if self.track_range:
                self.low, self.high = image.copy(), image.copy()
            return
        self.total = self.total + weight * image
        if self.track_range:
            np.minimum(self.low, image, out=self.low)
            np.maximum(self.high, image, out=self.high)

    def result(self, bounded: bool = False) -> np.ndarray:
        """The sum; ``bounded``: clipped, value by value, to the range of the images added."""
        if not bounded:
            return self.total
        if not self.track_range:
            raise ParameterError("a bounded sum needs RunningSum(track_range=True)")
        return np.clip(self.total, self.low, self.high)


def weighted_sum(images: Iterable[tuple[float, np.ndarray]], bounded: bool = False) -> np.ndarray:
    """``sum_j w_j F_j`` over ``(w_j, F_j)`` pairs, one image held at a time; ``bounded``: clipped,
    value by value, to the range the images span (the bounded stack of the module docstring)."""
    running = RunningSum(track_range=bounded)
    for weight, image in images:
        running.add(weight, image)
    return running.result(bounded)


def full_scale_hqnr(candidates: Mapping[str, Callable], options: Mapping[str, tuple[Mapping[str, float], bool]],
                    ms: np.ndarray, pan: np.ndarray, *, ratio: int, sensor: str | None) -> dict[str, float]:
    """HQNR of each ``(weights, bounded)`` option applied at full scale to the pair itself (no reference),
    on its central window of at most :data:`FULL_SCALE_CHECK_SIDE` MS pixels a side.

    Each candidate fuses the window once and is added to the running sum of every distinct set of
    weights that uses it (the stack and the bounded stack share theirs), then dropped: memory
    holds a few full-scale images however many candidates there are, not one per candidate
    (each is the window's size on the PAN grid, in every MS band). A candidate no option weighs
    is not run."""
    ms, pan = central_pair(ms, pan, ratio, FULL_SCALE_CHECK_SIDE)
    keys = {option: tuple(sorted((name, float(w)) for name, w in weights.items() if w != 0.0))
            for option, (weights, _) in options.items()}
    sums = {key: RunningSum(track_range=any(bounded for option, (_, bounded) in options.items() if keys[option] == key))
            for key in keys.values()}
    for name, method in candidates.items():
        users = [(key, dict(key)[name]) for key in sums if name in dict(key)]
        if not users:
            continue
        output = _as_numpy(method(ms, pan, ratio=ratio, sensor=sensor))
        for key, weight in users:
            sums[key].add(weight, output)
        del output
    return {option: full_resolution_indexes(sums[keys[option]].result(bounded), ms, pan, ratio=ratio,
                                            sensor=sensor)["hqnr"]
            for option, (_, bounded) in options.items()}


def central_window(n_rows: int, n_cols: int, size: int) -> tuple[int, int, int, int]:
    """``(top, left, rows, cols)`` of the central window of at most ``size`` x ``size`` MS pixels.

    One definition for the pansharpen job's assessment window and :func:`central_pair`, so the
    window a bench chooses on is the job's."""
    rows, cols = min(int(size), int(n_rows)), min(int(size), int(n_cols))
    return (int(n_rows) - rows) // 2, (int(n_cols) - cols) // 2, rows, cols


def central_pair(ms: np.ndarray, pan: np.ndarray, ratio: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The central window of at most ``size`` x ``size`` MS pixels of a pair, and its PAN.

    The pansharpen job chooses on this window of the scene (its ``assess_size``); a bench that
    fuses a whole pair chooses on the same window so that its rows show what the job does."""
    top, left, rows, cols = central_window(ms.shape[0], ms.shape[1], size)
    return (ms[top : top + rows, left : left + cols],
            pan[top * ratio : (top + rows) * ratio, left * ratio : (left + cols) * ratio])


def combine(candidates: Mapping[str, Callable], weights: Mapping[str, float], ms: Array, pan: Array, *,
            ratio: int | None = None, sensor: str | None = None, bounded: bool = False) -> Array:
    """``sum_j w_j F_j(ms, pan)`` over the candidates with a non-zero weight (``bounded``: see :func:`weighted_sum`)."""
    total = weighted_sum(((weight, _as_numpy(candidates[name](ms, pan, ratio=ratio, sensor=sensor)))
                          for name, weight in weights.items() if weight != 0.0), bounded)
    return torch.from_numpy(total) if isinstance(ms, torch.Tensor) else total


class WaldSelect:
    """Pansharpening method that chooses or combines its candidates per scene (see the module).

    ``fit(ms, pan, ratio=, sensor=)`` fixes the choice on a (crop of the) scene and returns it
    for the report; tiles fused afterwards all use that choice. Called without a fit, it
    chooses on the pair it is given (Wald's protocol one level down), as a bench does.
    """

    def __init__(self, candidates: Mapping[str, Callable], rule: str = "stack", full_scale_check: bool = True,
                 nonnegative: bool = False):
        if rule not in RULES:
            raise ParameterError(f"rule must be one of {RULES}; got {rule!r}")
        if not candidates:
            raise ParameterError("candidates must name at least one pansharpening method")
        self.candidates = dict(candidates)
        self.rule = rule
        self.full_scale_check = bool(full_scale_check)
        self.nonnegative = bool(nonnegative)
        self.choice: WaldChoice | None = None

    def fit(self, ms: Array, pan: Array, *, ratio: int | None = None, sensor: str | None = None) -> dict:
        self.choice = self._choose(ms, pan, ratio, sensor)
        return self.choice.report()

    def __call__(self, ms: Array, pan: Array, *, ratio: int | None = None, sensor: str | None = None) -> Array:
        choice = self.choice or self._choose(ms, pan, ratio, sensor)
        return combine(self.candidates, choice.weights, ms, pan, ratio=ratio, sensor=sensor, bounded=choice.bounded)

    def _choose(self, ms: Array, pan: Array, ratio: int | None, sensor: str | None) -> WaldChoice:
        return choose(self.candidates, ms, pan, ratio=ratio, sensor=sensor, rule=self.rule,
                      full_scale_check=self.full_scale_check, nonnegative=self.nonnegative)

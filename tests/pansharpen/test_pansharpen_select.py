"""wald_select: the per-scene choice by Wald's protocol on the pair, its combination rule and its guards."""

from __future__ import annotations

import numpy as np
import pytest

from hsi import methods
from hsi.bench.pansharpen import PAIRS, load_pair
from hsi.degrade.mtf import decimate, mtf_blur
from hsi.errors import InputError, ParameterError
from hsi.metrics import ergas
from hsi.pansharpen import mra
from hsi.pansharpen.baseline import expand
from hsi.pansharpen.protocol import reduced_resolution_indexes, reduced_resolution_pair
from hsi.pansharpen.select import WaldSelect, choose, combine, reduced_scale_outputs, stacking_weights


def _texture(rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """A positive image with detail at every scale (smoothed noise of two widths on a gradient)."""
    rng = np.random.default_rng(seed)
    fine = mtf_blur(rng.standard_normal((rows, cols, 1)), 0.6, 2.0)[:, :, 0]
    coarse = mtf_blur(rng.standard_normal((rows, cols, 1)), 0.2, 8.0)[:, :, 0]
    yy = np.mgrid[0:rows, 0:cols][0] / rows
    return 2.0 + 0.3 * yy + 0.3 * fine + 0.6 * coarse


@pytest.fixture(scope="module")
def rank_one_pair():
    """A cube ``X_k = s_k P`` (the PAN's detail is every band's), its MTF-degraded MS, and ``P``."""
    pan = _texture(128, 128)
    cube = pan[:, :, None] * np.array([0.5, 0.8, 1.1, 1.4])
    return cube, decimate(mtf_blur(cube, 0.3, 4), 4), pan


def half_detail(ms, pan, *, ratio=None, sensor=None):
    """MTF-GLP with half of its injected detail: a candidate whose best weight is 2, not 1."""
    interpolated = expand(ms, pan, ratio=ratio)
    return interpolated + 0.5 * (mra.mtf_glp(ms, pan, ratio=ratio, sensor=sensor) - interpolated)


def test_stacking_weights_recover_a_known_combination():
    rng = np.random.default_rng(1)
    first, second = 1.0 + rng.random((20, 20, 3)), 1.0 + rng.random((20, 20, 3))
    weights = stacking_weights({"first": first, "second": second}, 0.7 * first + 0.3 * second)
    np.testing.assert_allclose(weights, [0.7, 0.3], atol=1e-10)


def test_stacking_weights_sum_to_one_so_where_the_candidates_agree_the_stack_does_too():
    """A reference 10 % brighter than every candidate: free least squares would rescale by 1.1 and
    brighten flat ground where all candidates agree; the affine fit keeps their common value there."""
    rng = np.random.default_rng(3)
    first, second = 1.0 + rng.random((20, 20, 3)), 1.0 + rng.random((20, 20, 3))
    second[:10] = first[:10]  # the candidates agree on the top half
    weights = stacking_weights({"first": first, "second": second}, 1.1 * first)
    assert abs(weights.sum() - 1.0) < 1e-12
    np.testing.assert_allclose((weights[0] * first + weights[1] * second)[:10], first[:10], rtol=1e-12)


def test_nonnegative_stacking_never_weighs_a_candidate_below_zero():
    """1.6 F1 - 0.6 F2 is reachable only with a negative weight: the affine fit finds it,
    the non-negative fit keeps w >= 0 and still reproduces a non-negative combination exactly."""
    rng = np.random.default_rng(2)
    first, second = 1.0 + rng.random((20, 20, 3)), 1.0 + rng.random((20, 20, 3))
    fused = {"first": first, "second": second}
    free = stacking_weights(fused, 1.6 * first - 0.6 * second)
    bounded = stacking_weights(fused, 1.6 * first - 0.6 * second, nonnegative=True)
    np.testing.assert_allclose(free, [1.6, -0.6], atol=1e-10)
    assert bounded.min() >= 0.0 and bounded[1] == 0.0
    np.testing.assert_allclose(stacking_weights(fused, 0.7 * first + 0.3 * second, nonnegative=True), [0.7, 0.3], atol=1e-8)
    assert methods.load("pansharpen", "wald_select_nonnegative").nonnegative
    assert not methods.load("pansharpen", "wald_select").nonnegative


def _more_detail(share: float, wiggle: float = 0.0):
    """The interpolated MS plus ``share`` of MTF-GLP's detail (and a faint texture of ``wiggle``)."""
    def fused(ms, pan, *, ratio=None, sensor=None):
        interpolated = expand(ms, pan, ratio=ratio)
        out = interpolated + share * (mra.mtf_glp(ms, pan, ratio=ratio, sensor=sensor) - interpolated)
        texture = mtf_blur(np.random.default_rng(out.shape[0]).standard_normal(out.shape), 0.5, 2.0)
        return out + wiggle * texture
    return fused


def test_nearly_collinear_candidates_get_no_large_opposite_weights(rank_one_pair):
    """Two candidates a thousandth of the detail apart: plain least squares weighs them 34 / -32 (what a
    tiny difference amplifies at full scale); the ridge towards the pick keeps every weight under 3 and
    predicts held-out pixels as well (within 1 %), still weighing the interpolation -1.35 for the detail."""
    from hsi.pansharpen import select

    _, ms, pan = rank_one_pair
    candidates = {"exp": expand, "a": _more_detail(0.5), "b": _more_detail(0.501, 1e-5)}
    fused, reference = reduced_scale_outputs(candidates, ms, pan, ratio=4, sensor=None)
    ridged = stacking_weights(fused, reference, selected="b")
    plain = stacking_weights(fused, reference)
    assert np.abs(plain).max() > 20  # the problem the ridge solves
    assert np.abs(ridged).max() < 3 and abs(ridged.sum() - 1.0) < 1e-12 and ridged[0] < -1.0
    errors = select.held_out_errors(fused, reference, "b")
    assert errors["stack"] < 0.2 * errors["select"]
    half = reference.shape[1] // 2
    plain_error = sum(select._relative_mse(fused, reference, stacking_weights(fused, reference, fit), test)
                      for fit, test in ((slice(0, half), slice(half, None)), (slice(half, None), slice(0, half)))) / 2
    assert errors["stack"] < 1.01 * plain_error


def test_selection_picks_the_candidate_that_is_better_at_full_scale(rank_one_pair):
    cube, ms, pan = rank_one_pair
    candidates = {"exp": expand, "mtf_glp": mra.mtf_glp}
    choice = choose(candidates, ms, pan, rule="select")
    assert (choice.rule, choice.selected, choice.weights) == ("select", "mtf_glp", {"exp": 0.0, "mtf_glp": 1.0})
    assert choice.applied == "mtf_glp"
    assert choice.scores["mtf_glp"]["q2n"] > choice.scores["exp"]["q2n"]
    assert ergas(cube, mra.mtf_glp(ms, pan), ratio=4) < 0.5 * ergas(cube, expand(ms, pan), ratio=4)


def test_stacking_learns_the_missing_detail_and_is_kept_only_when_it_predicts_better(rank_one_pair):
    cube, ms, pan = rank_one_pair
    candidates = {"exp": expand, "half_detail": half_detail}
    method = WaldSelect(candidates, rule="stack", full_scale_check=False)
    report = method.fit(ms, pan)
    # twice half the detail minus the interpolation is the whole detail, which the rank-one cube needs
    assert report["rule"] == "stack" and report["selected"] == "half_detail"
    assert report["applied"] == "stack of exp, half_detail"  # the report says a combination fuses the scene
    assert report["held_out_relative_mse"]["stack"] < report["held_out_relative_mse"]["select"]
    assert report["weights"]["half_detail"] > 1.5 and abs(sum(report["weights"].values()) - 1.0) < 0.05
    stacked = method(ms, pan)
    assert ergas(cube, stacked, ratio=4) < 0.6 * ergas(cube, half_detail(ms, pan), ratio=4)
    # a single candidate leaves nothing to combine
    assert choose({"exp": expand}, ms, pan).rule == "select"


def test_a_stacking_that_amplifies_full_scale_artefacts_is_vetoed_by_hqnr(rank_one_pair):
    """A candidate whose full-scale output carries a pattern its reduced-scale one lacks (what a
    real pair has and the MTF model does not): the stacking's weight above one amplifies it."""
    _, ms, pan = rank_one_pair
    checker = 0.15 * (np.indices(pan.shape).sum(axis=0) % 2 - 0.5)[:, :, None]

    def half_detail_with_artefact(low, high, *, ratio=None, sensor=None):
        fused = half_detail(low, high, ratio=ratio, sensor=sensor)
        return fused + checker if fused.shape[:2] == pan.shape else fused

    candidates = {"exp": expand, "half_detail": half_detail_with_artefact}
    unchecked = WaldSelect(candidates, full_scale_check=False).fit(ms, pan)
    method = WaldSelect(candidates)
    checked = method.fit(ms, pan)
    assert unchecked["rule"] == "stack" and unchecked["weights"]["half_detail"] > 1.5 and not unchecked["bounded"]
    hqnr = checked["full_scale_hqnr"]
    assert hqnr["stack"] < hqnr["select"]  # the amplifying stack is vetoed ...
    # ... its bounded version (never beyond the candidates' values) keeps the detail and not the amplification
    assert hqnr["bounded_stack"] >= hqnr["select"] > hqnr["stack"]
    assert checked["rule"] == "stack" and checked["bounded"] and checked["applied"] == "bounded stack of exp, half_detail"
    fused = method(ms, pan)
    outputs = np.stack([expand(ms, pan), half_detail_with_artefact(ms, pan)])
    assert (fused >= outputs.min(axis=0) - 1e-12).all() and (fused <= outputs.max(axis=0) + 1e-12).all()
    unbounded = combine(candidates, checked["weights"], ms, pan)
    assert (unbounded > outputs.max(axis=0) + 1e-3).any()  # what the bound removed
    np.testing.assert_array_equal(fused, np.clip(unbounded, outputs.min(axis=0), outputs.max(axis=0)))


def test_without_full_scale_check_the_stack_is_never_bounded(rank_one_pair):
    cube, ms, pan = rank_one_pair
    report = WaldSelect({"exp": expand, "half_detail": half_detail}, full_scale_check=False).fit(ms, pan)
    assert report["rule"] == "stack" and not report["bounded"] and report["full_scale_hqnr"] == {}


def test_the_full_scale_check_holds_one_candidate_output_at_a_time(rank_one_pair):
    """The check fuses the window with every candidate; each output is added to the options' running
    sums and dropped, so memory does not grow with the candidates (the job's window is 256 MS pixels a
    side in every band). HQNRs are those of the options' combinations of all outputs; a candidate that no
    option weighs is not run."""
    import weakref

    from hsi.pansharpen.protocol import full_resolution_indexes
    from hsi.pansharpen.select import full_scale_hqnr, weighted_sum

    cube, ms, pan = rank_one_pair
    alive, peak = [], []  # weak references to every output returned so far

    def candidate(detail):
        def fuse(ms, pan, *, ratio=None, sensor=None):
            peak.append(sum(ref() is not None for ref in alive))  # earlier outputs still held when this one runs
            output = np.asarray(half_detail(ms, pan, ratio=ratio, sensor=sensor), dtype=np.float64) * detail
            alive.append(weakref.ref(output))
            return output
        return fuse

    candidates = {f"c{k}": candidate(1.0 + 0.01 * k) for k in range(6)}
    candidates["unused"] = lambda *args, **kwargs: pytest.fail("a candidate without weight was run")
    stacked = {f"c{k}": w for k, w in enumerate([1.5, -0.4, 0.3, -0.2, 0.5, -0.7])} | {"unused": 0.0}
    select = {name: float(name == "c2") for name in candidates}
    options = {"stack": (stacked, False), "bounded_stack": (stacked, True), "select": (select, False)}
    hqnr = full_scale_hqnr(candidates, options, ms, pan, ratio=4, sensor=None)
    assert max(peak) <= 1 and len(peak) == 6  # was one held per candidate run before (5 at the last)
    outputs = {name: candidates[name](ms, pan, ratio=4) for name in stacked if name != "unused"}
    for option, (weights, bounded) in options.items():
        fused = weighted_sum(((w, outputs[name]) for name, w in weights.items() if w), bounded)
        assert hqnr[option] == full_resolution_indexes(fused, ms, pan, ratio=4, sensor=None)["hqnr"]
    assert hqnr["bounded_stack"] != hqnr["stack"]


def test_a_band_of_zeros_is_left_out_of_the_choice(rank_one_pair):
    """A dead band (zeros, as products write in absorption bands) has no mean to divide ERGAS or the
    stacking's design by: the choice is made on the other bands, as on the pair without it (it raised
    "ERGAS is undefined" before), and every band is fused."""
    cube, ms, pan = rank_one_pair
    candidates = {"exp": expand, "half_detail": half_detail}
    dead = np.concatenate([ms[:, :, :2], np.zeros(ms.shape[:2] + (1,)), ms[:, :, 2:]], axis=2)
    method = WaldSelect(candidates)
    with_dead, without = method.fit(dead, pan), WaldSelect(candidates).fit(ms, pan)
    assert with_dead["bands_left_out"] == [2] and without["bands_left_out"] == []
    assert with_dead["rule"] == without["rule"] == "stack" and with_dead["selected"] == without["selected"]
    for name, weight in without["weights"].items():
        assert with_dead["weights"][name] == pytest.approx(weight, rel=1e-9)
    for name, scores in without["reduced_scale_scores"].items():
        for index in ("q2n", "ergas"):
            assert with_dead["reduced_scale_scores"][name][index] == pytest.approx(scores[index], rel=1e-9)
    fused = method(dead, pan)
    assert fused.shape == cube.shape[:2] + (5,) and np.isfinite(fused).all() and np.abs(fused[:, :, 2]).max() < 1e-9
    with pytest.raises(InputError, match="no band with signal"):
        WaldSelect(candidates).fit(np.zeros_like(ms), pan)


def test_a_pair_too_small_for_the_protocol_uses_the_first_candidate_and_says_so(rank_one_pair):
    """The guard checks the pair the rule fuses: a 24 x 24 MS (which passed the old check on the MS
    side) is fused at 6 x 6 one level down, under the 8 x 8 the filters need; 32 x 32 (8 x 8) is enough."""
    _, ms, pan = rank_one_pair
    small_ms, small_pan = ms[:24, :24], pan[:96, :96]
    method = WaldSelect({"mtf_glp": mra.mtf_glp, "exp": expand})
    report = method.fit(small_ms, small_pan)
    assert (report["rule"], report["weights"]) == ("too_small", {"mtf_glp": 1.0})
    assert "24x24" in report["note"] and "(6x6 pixels)" in report["note"] and "used mtf_glp" in report["note"]
    assert report["note"].startswith("no per-scene choice, ")  # the console line says plainly what did not happen
    np.testing.assert_array_equal(method(small_ms, small_pan), mra.mtf_glp(small_ms, small_pan))
    assert WaldSelect({"mtf_glp": mra.mtf_glp, "exp": expand}).fit(ms[:32, :32], pan[:128, :128])["rule"] != "too_small"
    with pytest.raises(InputError, match=r"24x24 pixels.*\(6x6 pixels\)"):
        reduced_scale_outputs({"exp": expand}, small_ms, small_pan, ratio=4, sensor=None)


def test_without_fit_each_call_chooses_on_its_own_pair(rank_one_pair):
    _, ms, pan = rank_one_pair
    method = WaldSelect({"exp": expand, "mtf_glp": mra.mtf_glp}, rule="select")
    np.testing.assert_array_equal(method(ms, pan), mra.mtf_glp(ms, pan))
    assert method.choice is None


def test_an_unknown_rule_or_no_candidate_is_refused():
    with pytest.raises(ParameterError, match="rule must be one of"):
        WaldSelect({"exp": expand}, rule="vote")
    with pytest.raises(ParameterError, match="at least one"):
        WaldSelect({})


def test_the_shipped_config_builds_with_the_classical_candidates():
    method = methods.load("pansharpen", "wald_select")
    assert isinstance(method, WaldSelect) and method.rule == "stack" and method.full_scale_check
    assert {"bdsd_pc", "awlp", "mtf_glp_hpm", "mtf_glp", "mtf_glp_fs", "gsa"} <= set(method.candidates)


@pytest.mark.parametrize("sensor", [pytest.param("WV2", marks=pytest.mark.slow), "IKONOS"])
def test_on_the_reduced_real_pairs_it_reaches_the_best_candidate(shared_data, sensor):
    """Issue 17's goal at reduced resolution: Q2n >= every candidate's and ERGAS <= every candidate's."""
    ms, pan, ratio = load_pair(shared_data / "pansharpening" / PAIRS[sensor])
    pair = reduced_resolution_pair(ms, pan, sensor=sensor, ratio=ratio)
    method = methods.load("pansharpen", "wald_select")
    mine = reduced_resolution_indexes(method(pair.ms, pair.pan, sensor=sensor), pair.reference, ratio)
    for name, candidate in method.candidates.items():
        theirs = reduced_resolution_indexes(candidate(pair.ms, pair.pan, sensor=sensor), pair.reference, ratio)
        assert mine["q2n"] >= theirs["q2n"] and mine["ergas"] <= theirs["ergas"], name


def test_combine_applies_the_weights_to_the_candidates(rank_one_pair):
    _, ms, pan = rank_one_pair
    combined = combine({"exp": expand, "mtf_glp": mra.mtf_glp}, {"exp": -1.0, "mtf_glp": 2.0}, ms, pan)
    np.testing.assert_allclose(combined, 2.0 * mra.mtf_glp(ms, pan) - expand(ms, pan), rtol=1e-12)


def test_the_candidates_are_the_methods_own_configs():
    """wald_select composes conf/method/<name>.yaml for each candidate: a change to a method reaches the selection."""
    from omegaconf import OmegaConf

    from hsi.config import compose

    selection = compose("pansharpen", ["method=wald_select"]).method.candidates
    for name, config in selection.items():
        assert OmegaConf.to_container(config) == OmegaConf.to_container(compose("pansharpen", [f"method={name}"]).method), name

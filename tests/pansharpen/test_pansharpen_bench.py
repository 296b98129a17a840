"""The pansharpening benchmark in quick mode: every table filled, sharpening beats interpolation."""

from __future__ import annotations

import numpy as np

from hsi.bench.pansharpen import choice_row, choice_tables, default_against_best, index_agreement, run_benchmark



def test_quick_benchmark_tables(shared_data):
    tables = run_benchmark(str(shared_data), quick=True)
    assert {row["dataset"] for row in tables["reduced"]} == {"WV2", "IKONOS"}
    assert {row["method"] for row in tables["full"]} == {"exp", "gsa", "mtf_glp_hs"}
    for table in ("reduced", "hyperspectral"):
        q = {(row["dataset"], row["method"]): row["q2n"] for row in tables[table]}
        for dataset in {key[0] for key in q}:
            assert q[dataset, "mtf_glp_hs"] > q[dataset, "exp"] + 0.02, (table, dataset)
    for row in tables["full"] + tables["hyperspectral"] + [r for r in tables["reduced"] if r["method"] != "reference"]:
        assert 0.0 < row["qnr"] <= 1.0 and row["time_s"] >= 0.0
    truth = [row for row in tables["reduced"] if row["method"] == "reference"]
    assert len(truth) == 2 and all(row["q2n"] > 0.999 and row["sam_deg"] < 1e-6 and 0.0 < row["hqnr"] <= 1.0 for row in truth)
    assert {row["dataset"] for row in tables["index_agreement"]} == {"WV2", "IKONOS"}
    assert all(-1.0 <= row["spearman_q2n_hqnr"] <= 1.0 and row["rows"] == 4 for row in tables["index_agreement"])
    assert tables["default"] == []  # the default (bdsd_pc) is not among the quick methods
    toolbox = {row["dataset"]: row for row in tables["toolbox"]}  # gsa is the one quick method the toolbox defines
    assert set(toolbox) == {"WV2", "IKONOS"} and all(row["method"] == "gsa" for row in toolbox.values())
    assert all(abs(row["q2n_hsi"] - row["q2n_toolbox"]) < 0.01 and row["rms_difference"] > 0.0 for row in toolbox.values())
    fusion = {row["method"]: row for row in tables["hs_ms_fusion"]}
    assert fusion["cnmf"]["q2n"] > fusion["exp"]["q2n"] + 0.02


def test_index_agreement_is_the_rank_correlation_with_q2n():
    rows = [{"dataset": "A", "q2n": q, "qnr": n, "hqnr": h} for q, n, h in ((0.9, 0.1, 0.8), (0.8, 0.2, 0.7), (0.7, 0.3, 0.9))]
    (row,) = index_agreement(rows + [{"dataset": "B", "q2n": 1.0, "qnr": 1.0, "hqnr": 1.0}])  # B: too few rows
    assert row["dataset"] == "A" and row["spearman_q2n_qnr"] == -1.0 and abs(row["spearman_q2n_hqnr"] + 0.5) < 1e-12  # d = (1, 1, -2): 1 - 6 * 6 / 24


def test_default_is_set_against_the_best_other_classical_method_per_index():
    rows = [{"dataset": "A", "method": m, "q2n": q, "ergas": e} for m, q, e in
            (("reference", 1.0, 0.0), ("exp", 0.6, 9.0), ("rho_pnn", 0.95, 1.0), ("bdsd_pc", 0.86, 2.3),
             ("awlp", 0.87, 2.4), ("mtf_glp_hpm", 0.85, 2.2))]
    rows += [{"dataset": "B", "method": "awlp", "q2n": 0.8, "ergas": 3.0}]  # B: no default row
    (row,) = default_against_best(rows, "bdsd_pc")
    assert (row["dataset"], row["best_q2n_method"], row["best_ergas_method"]) == ("A", "awlp", "mtf_glp_hpm")
    assert (row["q2n"], row["best_other_q2n"], row["ergas"], row["best_other_ergas"]) == (0.86, 0.87, 2.3, 2.2)
    assert not row["q2n_reached"] and not row["ergas_reached"]
    (row,) = default_against_best(rows, "awlp")
    assert row["q2n_reached"] and not row["ergas_reached"] and row["best_q2n_method"] == "bdsd_pc"
    full = [{"dataset": "A", "method": m, "hqnr": h, "qnr": q} for m, h, q in
            (("exp", 0.99, 0.99), ("wald_select", 0.81, 0.84), ("bdsd_pc", 0.90, 0.91), ("awlp", 0.82, 0.70))]
    (row,) = default_against_best(full, "wald_select", higher=("hqnr", "qnr"), lower=())
    assert (row["hqnr"], row["best_other_hqnr"], row["best_hqnr_method"]) == (0.81, 0.90, "bdsd_pc")  # exp is not classical
    assert not row["hqnr_reached"] and not row["qnr_reached"] and "ergas" not in row


def test_choice_rows_name_the_rule_the_pick_and_the_weights_applied():
    report = {"rule": "stack", "selected": "awlp", "weights": {"awlp": 1.25, "gsa": 0.0, "bdsd_pc": -0.25},
              "held_out_relative_mse": {"stack": 0.1, "select": 0.2},
              "full_scale_hqnr": {"stack": 0.9, "bounded_stack": 0.85, "select": 0.8}, "seconds": 1.5}
    row = choice_row(report, dataset="IKONOS", scale="full", method="wald_select")
    assert row == {"dataset": "IKONOS", "scale": "full", "method": "wald_select", "rule": "stack", "selected": "awlp",
                   "weights": "awlp 1.25, bdsd_pc -0.25", "held_out_stack": 0.1, "held_out_select": 0.2,
                   "hqnr_stack": 0.9, "hqnr_bounded_stack": 0.85, "hqnr_select": 0.8, "bounded": False, "choice_s": 1.5}
    too_small = choice_row({"rule": "too_small", "selected": "bdsd_pc", "weights": {"bdsd_pc": 1.0}, "seconds": 0.0})
    assert (too_small["weights"], too_small["held_out_stack"], too_small["hqnr_stack"]) == ("bdsd_pc 1", None, None)
    tables = choice_tables([{**report, "reduced_scale_scores": {"awlp": {"q2n": 0.9, "ergas": 2.0, "sam_deg": 3.0}},
                             "where": {"dataset": "IKONOS", "scale": "full", "method": "wald_select"}}])
    assert tables["choice"][0]["selected"] == "awlp" and tables["choice"][0]["dataset"] == "IKONOS"
    assert tables["choice_scores"] == [{"dataset": "IKONOS", "scale": "full", "method": "wald_select", "candidate": "awlp",
                                        "q2n": 0.9, "ergas": 2.0}]


def test_stacking_constraints_skip_a_level_too_small_for_the_protocol():
    """A quick or cropped run (MS of 64 pixels: its reduced pair is 16 x 16, which the choice would
    fuse at 4 x 4) gets rows for the level the protocol can score, instead of an error after the run."""
    from scipy.ndimage import gaussian_filter

    from hsi.bench.pansharpen import stacking_constraints
    from hsi.degrade.mtf import decimate, mtf_blur
    from hsi.pansharpen.protocol import reduced_resolution_pair

    rng = np.random.default_rng(0)
    pan = 1.0 + 0.3 * gaussian_filter(rng.standard_normal((256, 256)), 1.5)
    cube = pan[:, :, None] * np.array([0.6, 1.0, 1.3]) + 0.05 * gaussian_filter(rng.standard_normal((256, 256, 3)), 3.0)
    ms = decimate(mtf_blur(cube, 0.3, 4), 4)
    rows = stacking_constraints({"generic": (ms, pan, 4)}, {"generic": reduced_resolution_pair(ms, pan, sensor="generic", ratio=4)})
    assert [(row["level"], row["split"]) for row in rows] == [("pair", "left/right"), ("pair", "top/bottom")]
    assert all(0.0 < row["affine_vs_pick"] < 2.0 for row in rows)

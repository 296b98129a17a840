"""The pansharpening benchmark in quick mode: every table filled, sharpening beats interpolation."""

from __future__ import annotations


from hsi.bench.pansharpen import run_benchmark



def test_quick_benchmark_tables(shared_data):
    tables = run_benchmark(str(shared_data), quick=True)
    assert {row["dataset"] for row in tables["reduced"]} == {"WV2", "IKONOS"}
    assert {row["method"] for row in tables["full"]} == {"exp", "gsa", "mtf_glp_hs"}
    for table in ("reduced", "hyperspectral"):
        q = {(row["dataset"], row["method"]): row["q2n"] for row in tables[table]}
        for dataset in {key[0] for key in q}:
            assert q[dataset, "mtf_glp_hs"] > q[dataset, "exp"] + 0.02, (table, dataset)
    for row in tables["full"] + tables["hyperspectral"]:
        assert 0.0 < row["qnr"] <= 1.0 and row["time_s"] >= 0.0
    fusion = {row["method"]: row for row in tables["hs_ms_fusion"]}
    assert fusion["cnmf"]["q2n"] > fusion["exp"]["q2n"] + 0.02

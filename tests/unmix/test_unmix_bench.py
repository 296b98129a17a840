from pathlib import Path

import pytest

from hsi.bench.unmix import run_benchmark
from hsi.errors import ParameterError

SUITE = Path(__file__).resolve().parents[2] / "conf" / "suite" / "unmix.yaml"


def test_quick_benchmark_rows(shared_data):
    tables = run_benchmark(str(shared_data), quick=True)
    rows = tables["unmixing"]
    assert {row["method"] for row in rows} == {"vca_fcls", "nfindr_fcls"}
    for row in rows:
        assert 0 < row["SAD mean (deg)"] < 10 and 0 < row["aRMSE x100"] < 15
    throughput = tables["fcls_throughput"][0]
    assert throughput["max_abs_dev_vs_scipy_qp"] < 1e-4
    assert throughput["pixels_per_s"] > 10_000


def test_synthetic_case_rows_come_from_the_suite_config(shared_data):
    from omegaconf import OmegaConf

    cases = OmegaConf.to_container(OmegaConf.load(SUITE))["cases"]
    assert len(cases) >= 8 and {case["n_endmembers"] for case in cases} >= {3, 8}
    tables = run_benchmark(str(shared_data), methods=["pp_spa_fcls"], scenes=["emitlib_k5"], cases=cases,
                           library_methods=[], fcls_pixels=2000, fcls_check=5)
    (row,) = tables["unmixing"]
    assert row["scene"] == "emitlib_k5" and row["SAD per material (deg)"].startswith("PV")
    # PV, NPV and three soils at 40 dB with pure pixels: pp-SPA finds all five within a degree.
    assert row["SAD mean (deg)"] < 1.0 and row["aRMSE x100"] < 3.0
    with pytest.raises(ParameterError, match="unknown scene"):
        run_benchmark(str(shared_data), methods=["vca_fcls"], scenes=["nowhere"], cases=cases, library_methods=[])


def test_seed_spread_table_summarises_each_seed_of_the_main_table(shared_data):
    from omegaconf import OmegaConf

    cases = OmegaConf.to_container(OmegaConf.load(SUITE))["cases"]
    spread = {"seeds": [0, 3], "methods": ["vca_fcls", "pp_spa_fcls"], "scenes": ["emitlib_k5"]}
    tables = run_benchmark(str(shared_data), methods=["vca_fcls"], scenes=["emitlib_k5"], cases=cases,
                           library_methods=[], fcls_pixels=2000, fcls_check=5, seed_spread=spread)
    rows = {row["method"]: row for row in tables["seed_spread"]}
    assert set(rows) == {"vca_fcls", "pp_spa_fcls"}
    per_seed = [run_benchmark(str(shared_data), methods=["vca_fcls"], scenes=["emitlib_k5"], cases=cases, seed=seed,
                              library_methods=[], fcls_pixels=2000, fcls_check=5)["unmixing"][0] for seed in (0, 3)]
    sads = [row["SAD mean (deg)"] for row in per_seed]
    vca = rows["vca_fcls"]
    assert vca["seeds"] == "0,3"
    assert vca["SAD mean (deg)"] == pytest.approx(sum(sads) / 2) and vca["SAD min"] == pytest.approx(min(sads))
    assert vca["aRMSE x100 mean"] == pytest.approx(sum(row["aRMSE x100"] for row in per_seed) / 2)
    assert vca["SAD per seed"] == ", ".join(f"{value:.3f}" for value in sads)
    # pp-SPA has no randomness: no spread.
    assert rows["pp_spa_fcls"]["SAD min"] == rows["pp_spa_fcls"]["SAD max"]
    with pytest.raises(ParameterError, match="seed_spread needs"):
        run_benchmark(str(shared_data), methods=["vca_fcls"], scenes=["emitlib_k5"], cases=cases, library_methods=[],
                      fcls_pixels=2000, fcls_check=5, seed_spread={"seeds": [], "methods": ["vca_fcls"], "scenes": ["samson"]})


def test_count_table_sets_the_automatic_count_beside_the_reference_count(shared_data):
    from omegaconf import OmegaConf

    cases = OmegaConf.to_container(OmegaConf.load(SUITE))["cases"]
    tables = run_benchmark(str(shared_data), methods=[], scenes=["emitlib_k5", "usgs_emit_k3"], cases=cases,
                           library_methods=[], fcls_pixels=2000, fcls_check=5, count=True)
    rows = {row["scene"]: row for row in tables["count"]}
    assert rows["emitlib_k5"]["reference materials"] == 5 and rows["usgs_emit_k3"]["reference materials"] == 3
    # synthetic linear mixtures with white noise: HySime finds the count exactly
    assert rows["emitlib_k5"]["hysime"] == 5 and rows["usgs_emit_k3"]["hysime"] == 3
    assert {"hfc", "nwhfc"} <= set(rows["emitlib_k5"])
    # the MNF count, from the cube's adjacent pixels, too
    assert rows["emitlib_k5"]["mnf"] == 5 and rows["usgs_emit_k3"]["mnf"] == 3
    assert "sample_scene" not in rows  # the shipped sample's row comes with every scene only
    assert "count" not in run_benchmark(str(shared_data), quick=True, count=True)


def test_count_rows_on_real_products_read_them_as_the_unmix_job_does(shared_data):
    """No reference materials on a product: the row holds each estimator's count only."""
    from hsi.bench.unmix import COUNT_METHODS, product_count_rows

    (row,) = product_count_rows(str(shared_data), ["aviris_ng/ang20160910t185702_2rdn_img"])
    # 425 bands less the 57 noisy water-vapour bands the job's bad_bands=auto leaves out (no bbl)
    assert row["scene"].startswith("aviris_ng/ang20160910t185702_2rdn_img: 25 x 30 x 368")
    assert row["reference materials"] == "-"
    assert all(2 <= row[method] <= 368 for method in COUNT_METHODS)

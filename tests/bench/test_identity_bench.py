"""The identity bench times a product folder's identity afresh and reused from its record."""

from hsi.bench.identity import run_benchmark


def test_identity_bench_reuses_the_recorded_hashes_of_an_unchanged_product(tmp_path):
    rows = run_benchmark(None, cube_mb=2, quality_files=2, quality_mb=1, repeats=1, workdir=str(tmp_path))["identity"]
    assert len(rows) == 1 and rows[0]["files"] == 4 and abs(rows[0]["size_mib"] - 5) < 1e-9
    assert rows[0]["first_check_s"] > 0 and rows[0]["later_check_s"] > 0
    assert not any(tmp_path.iterdir())  # the synthetic product is removed

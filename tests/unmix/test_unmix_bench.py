from hsi.bench.unmix import run_benchmark


def test_quick_benchmark_rows(shared_data):
    tables = run_benchmark(str(shared_data), quick=True)
    rows = tables["unmixing"]
    assert {row["method"] for row in rows} == {"vca_fcls", "nfindr_fcls"}
    for row in rows:
        assert 0 < row["SAD mean (deg)"] < 10 and 0 < row["aRMSE x100"] < 15
    throughput = tables["fcls_throughput"][0]
    assert throughput["max_abs_dev_vs_scipy_qp"] < 1e-4
    assert throughput["pixels_per_s"] > 10_000

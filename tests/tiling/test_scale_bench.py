"""The scale benchmark's quick mode: generates, restores and measures memory."""

from hsi.bench.scale import run_benchmark


def test_quick_scale_run_reports_throughput_and_memory(tmp_path):
    row = run_benchmark(quick=True, method="hyres", workdir=str(tmp_path))["scale"][0]
    assert row["scene"] == "256 x 256 x 32 float32"
    assert row["mpixels_per_s"] > 0
    assert 0 < row["peak_rss_gb"] < 4
    assert list(tmp_path.iterdir()) == []  # the temporary scene and output are removed

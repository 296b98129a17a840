"""The throughput benchmark: its scene, scores, floors, disk check, goals, and (slow) a whole tiny run."""

import json
import sys

import numpy as np
import pytest

pytest.importorskip("skimage")

from hsi.bench.flops import bm3d_flops_per_pixel, subspace_flops, tile_cover  # noqa: E402
from hsi.bench.measure import measured_run  # noqa: E402
from hsi.bench.throughput import (_what_ran, check_free_space, compare_outputs, disk_needed_bytes, goals,  # noqa: E402
                                  hyde_available, make_scene, run_benchmark, streamed_mpsnr)
from hsi.errors import WriteError  # noqa: E402


def test_scene_is_textured_noisy_and_scored_like_mpsnr(tmp_path):
    from hsi.metrics import mpsnr

    noisy, clean = make_scene(tmp_path, 40, 12, sigma=30.0, seed=0, strip_rows=16)
    y, x = np.load(noisy), np.load(clean)
    assert y.shape == x.shape == (40, 40, 12) and y.dtype == np.float32
    assert np.isclose(x.max(), 1.0) and x.min() > 0
    assert np.std(y - x) == pytest.approx(30 / 255, rel=0.05)
    assert np.std(np.diff(x[..., 0], axis=1)) > 1e-3  # photographic texture, not flat fields
    assert streamed_mpsnr(clean, noisy, strip_rows=7) == pytest.approx(mpsnr(x, y), abs=1e-6)


def test_outputs_compare_bit_for_bit_with_nan_equal_to_nan(tmp_path):
    a = np.arange(60, dtype=np.float32).reshape(5, 4, 3)
    a[1, 1] = np.nan
    b = a.copy()
    np.save(tmp_path / "a.npy", a), np.save(tmp_path / "b.npy", b)
    assert compare_outputs(tmp_path / "a.npy", tmp_path / "b.npy", strip_rows=2) == {
        "bit_identical": True, "max_abs_difference": 0.0}
    b[4, 3, 2] = np.nextafter(b[4, 3, 2], np.float32(100))
    np.save(tmp_path / "b.npy", b)
    result = compare_outputs(tmp_path / "a.npy", tmp_path / "b.npy", strip_rows=2)
    assert result["bit_identical"] is False and 0 < result["max_abs_difference"] < 1e-5


def test_hyde_absence_is_a_reason_not_an_error(tmp_path):
    assert "not found" in hyde_available(str(tmp_path / "no-python"))
    assert "not found" in hyde_available(None)


def test_bm3d_count_is_the_hand_count_of_its_steps():
    # patch 2, step 1, radius 0, groups 1 and 2: DCTs 5 * 4 * 8 = 160; per reference: matching
    # 2 passes * 1 candidate * 2 * 4 = 16, Haar 2*2*1*4 + 3*2*2*4 = 64, filtering 2*4 + 4*2*4 = 40,
    # aggregation 3 * 4 = 12
    assert bm3d_flops_per_pixel(patch=2, step=1, radius=0, group_hard=1, group_wiener=2) == 160 + 16 + 64 + 40 + 12
    # matching grows with the search window's area, references thin out with the step squared
    wide = bm3d_flops_per_pixel(radius=24) - bm3d_flops_per_pixel(radius=12)
    assert wide == pytest.approx(2 * (49 ** 2 - 25 ** 2) * 2 * 64 / 9)


def test_tile_cover_counts_each_tile_with_its_clipped_margin():
    assert tile_cover(512, 512, 256, 0) == 1.0
    assert tile_cover(512, 512, 256, 20) == pytest.approx((552 / 512) ** 2)  # 256 + 20 on the inner side only
    assert tile_cover(100, 100, 256, 20) == 1.0  # one tile, margins clipped away


def test_arithmetic_grows_with_pixels_bands_and_subspace():
    small = subspace_flops(256, 256, 200, 5, tile=256, margin=0)
    assert subspace_flops(512, 512, 200, 5, tile=256, margin=0) == pytest.approx(4 * small)
    assert subspace_flops(256, 256, 200, 10, tile=256, margin=0) == pytest.approx(2 * small, rel=0.01)
    assert subspace_flops(256, 256, 400, 5, tile=256, margin=0) - small == pytest.approx((4 * 5 + 2) * 200 * 256 ** 2)


def test_disk_need_counts_two_scenes_and_the_outputs_of_the_largest_size(tmp_path):
    scene = 4000 * 4000 * 200 * 4
    assert disk_needed_bytes([256, 4000], 200, None, keep=False) == int(3 * scene * 1.1)
    assert disk_needed_bytes([256], 200, 4000, keep=False) == int(4 * scene * 1.1)
    assert disk_needed_bytes([256, 512], 200, None, keep=True) > disk_needed_bytes([512], 200, None, keep=False)
    with pytest.raises(WriteError, match="GB free, the throughput suite needs") as refused:
        check_free_space(tmp_path, 10 ** 18)
    assert str(tmp_path) in str(refused.value) and "\n" not in str(refused.value)


def test_a_short_disk_is_refused_in_one_line_before_any_work(tmp_path, capsys):
    from hsi.cli import main

    assert main(["bench", "throughput", f"output={tmp_path / 'tables'}", f"suite.workdir={tmp_path}",
                 "suite.sizes=[400000]", "suite.distributed_size=null", "suite.unmix_size=null"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the throughput suite needs" in err[0]
    assert not (tmp_path / "tables" / "throughput.md").exists()
    assert not any(p.name.startswith("hsi-throughput-") for p in tmp_path.iterdir())


def test_a_chatty_run_does_not_block_and_a_failing_or_slow_one_says_why(tmp_path):
    chatty = [sys.executable, "-c", "import sys; sys.stdout.write('x' * 2_000_000); print('done')"]
    result = measured_run(chatty, tmp_path / "chatty.log")  # more than a pipe holds
    assert result["seconds"] > 0 and result["peak_anonymous_gb"] >= 0
    assert (tmp_path / "chatty.log").read_text().endswith("done\n")
    with pytest.raises(RuntimeError, match="failed \\(3\\).*boom"):
        measured_run([sys.executable, "-c", "print('boom'); raise SystemExit(3)"], tmp_path / "fail.log")
    with pytest.raises(RuntimeError, match="ran past 1 s"):
        measured_run([sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "slow.log", timeout_s=1)


def test_the_report_says_what_auto_chose():
    report = {"method": {"name": "auto", "config": {"gaussian": {"_target_": "hsi.restore.tile_adapter.SubspaceDenoiserTiles"}}},
              "results": {"noise_diagnosis": {"chosen": "gaussian"},
                          "tiling": {"path": "subspace_stream", "k": 6, "tile": 256, "context": 20, "denoise_s": 3.0}},
              "timings": {"setup_s": 2.0, "fit_s": 1.0, "restore_s": 4.0, "total_s": 5.5}}
    assert _what_ran(report) == {"method": "auto: gaussian -> SubspaceDenoiserTiles", "path": "subspace_stream",
                                 "k": 6, "tiling": {"tile": 256, "context": 20}, "in_process_s": 7.5,
                                 "steps": {"fit_s": 1.0, "restore_s": 4.0, "denoise_s": 3.0}}


def test_goals_compare_each_figure_with_its_target():
    rows = [{"size": "256 x 256 x 200", "program": "hsi restore (default)", "us_per_pixel": 100.0},
            {"size": "1024 x 1024 x 200", "program": "hsi restore (default)", "us_per_pixel": 120.0,
             "time_vs_hyde": 0.2, "mpsnr_vs_hyde_db": -0.1, "peak_rss_gb": 1.2},
            {"size": "1024 x 1024 x 200", "program": "HyDe FastHyDe", "us_per_pixel": 999.0}]
    table = {row["goal"]: row for row in goals(rows, [{"run": "dask scheduler + 2 workers x 1 thread", "speed_up": 1.6, "bit_identical": True}], [{"fit_s": 25.0}],
                                               [256, 1024])}
    status = {goal: row["status"] for goal, row in table.items()}
    assert status == {
        "restore time / HyDe's, 1,024": "met", "restore MPSNR - HyDe's (dB), 1,024": "not met",
        "restore peak RSS (GB), 1,024": "met", "restore cost per pixel, largest / smallest over 256-2,048": "met",
        "restore 4,000 x 4,000 x 200 (s)": "not run", "restore 4,000 peak anonymous memory (GB)": "not run",
        "unmix fit on its default sample (s)": "not met",
        "Dask 2 x 1 thread vs one process x 2 threads: speed-up": "measured",
        "Dask output bit-identical to the one-process output": "met"}
    assert table["restore cost per pixel, largest / smallest over 256-2,048"]["measured"] == pytest.approx(1.2)


@pytest.mark.slow
def test_a_tiny_suite_fills_every_table_and_leaves_no_scene(tmp_path):
    pytest.importorskip("distributed")
    variants = [{"name": "one thread", "threads": 1, "overrides": []},
                {"name": "intra-op", "threads": 2, "overrides": ["tiling.tile_workers=1", "tiling.tile_threads=2"]}]
    tables = run_benchmark(sizes=[48], bands=16, distributed_size=48, unmix_size=None, hyde_python=None,
                           workdir=str(tmp_path), run_timeout_s=600, distributed_variants=variants)
    (row,) = tables["throughput"]
    assert row["program"] == "hsi restore (default)" and row["method"].startswith("auto: gaussian")
    assert row["mpsnr_db"] > 30 and row["io_floor_s"] > 0 and row["arith_floor_s"] > 0 and row["k"] >= 1
    assert 0 < row["job_in_process_s"] < row["seconds"] and row["startup_s"] == row["seconds"] - row["job_in_process_s"]
    dist, one_thread, intra_op = tables["distributed"]
    assert dist["run"].startswith("dask") and dist["bit_identical"] is True and dist["speed_up"] > 0
    assert one_thread["run"] == "one thread" and one_thread["bit_identical"] is True
    assert intra_op["run"] == "intra-op" and intra_op["run_s"] > 0  # 48 x 48 tiles: below torch's grain, same bits
    assert "unmix" not in tables  # unmix_size=None (its fit takes minutes on a loaded machine whatever the scene)
    assert any("HyDe skipped" in note["note"] for note in tables["notes"])
    json.dumps(tables)  # the bench job writes them as JSON
    assert list(tmp_path.iterdir()) == []

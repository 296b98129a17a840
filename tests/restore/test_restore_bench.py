"""The restore benchmark's quick mode produces scored rows for every case it runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hsi.bench.restore import degrade, load_method, run_benchmark
from hsi.errors import ParameterError


def test_quick_benchmark_rows(shared_data):
    torch.set_num_threads(1)
    tables = run_benchmark(str(shared_data), quick=True, cases=["iid30", "sr", "inpaint"],
                           quick_methods={"iid": ["fasthyde", "no_such_method"], "sr": ["bicubic"]})
    rows = tables["restore"]
    by = {(row["case"], row["method"]): row for row in rows}
    assert set(by) == {("iid30", "input"), ("iid30", "fasthyde"), ("sr", "bicubic"), ("inpaint", "input"),
                       ("inpaint", "lrtv_inpaint")}
    for row in rows:
        assert {"case", "scene", "method", "MPSNR (dB)", "MSSIM", "SAM (deg)", "time (s)"} <= set(row)
        assert row["scene"] == "samson"
    assert by["iid30", "fasthyde"]["MPSNR (dB)"] > by["iid30", "input"]["MPSNR (dB)"] + 15
    assert by["inpaint", "lrtv_inpaint"]["MPSNR (dB)"] > by["inpaint", "input"]["MPSNR (dB)"] + 10


def test_degradations_are_seeded_and_shaped():
    clean = np.random.default_rng(0).uniform(0, 1, (32, 30, 8)).astype(np.float32)
    first, reference = degrade("complex", clean, np.random.default_rng(1))
    again, _ = degrade("complex", clean, np.random.default_rng(1))
    np.testing.assert_array_equal(first, again)
    low, reference = degrade("sr", clean, np.random.default_rng(1))
    assert reference.shape == (32, 28, 8) and low.shape == (8, 7, 8)
    holed, _ = degrade("inpaint", clean, np.random.default_rng(1))
    assert abs(np.isnan(holed[..., 0]).mean() - 0.8) < 0.01
    with pytest.raises(ParameterError, match="case"):
        degrade("blur", clean, np.random.default_rng(1))


def test_missing_method_is_skipped_not_fatal():
    method, why = load_method("no_such_method")
    assert method is None and "does not exist" in why


def test_generated_scenes_need_no_shared_data_and_score_like_the_real_ones(tmp_path):
    """The scenes settings are chosen on: built in memory, scaled to [0, 1], run through the same protocol."""
    from hsi.bench.restore import load_scene

    for scene, shape in (("sample_scene", (96, 96, 106)), ("textures", (100, 100, 150))):
        cube = load_scene(scene, tmp_path / "absent")
        assert cube.shape == shape and cube.dtype == np.float32 and cube.max() == 1.0 and cube.min() > 0
    torch.set_num_threads(1)
    tables = run_benchmark(str(tmp_path / "absent"), cases=["inpaint"], scenes=["sample_scene"],
                           methods={"inpaint": ["lrtv_inpaint"]})
    by = {row["method"]: row for row in tables["restore"]}
    assert set(by) == {"input", "lrtv_inpaint"} and by["lrtv_inpaint"]["MPSNR (dB)"] > by["input"]["MPSNR (dB)"] + 5
    with pytest.raises(ParameterError, match="textures"):
        run_benchmark(str(tmp_path), cases=["inpaint"], scenes=["sample"])

"""The batch job: one output per scene, failures reported, a re-run resumes."""

import json

import numpy as np
import pytest

from hsi.cli import main
from hsi.io import open_scene, save_scene
from hsi.scene import Scene


def _scenes(folder, n):
    for i in range(n):
        save_scene(Scene.from_array(np.full((6, 5, 3), i, np.float32)), folder / f"s{i}.tif")


def test_batch_converts_every_scene_and_resumes(tmp_path, capsys):
    _scenes(tmp_path, 3)
    (tmp_path / "broken.tif").write_text("not a tiff")
    out = tmp_path / "out"
    args = ["batch", "job=convert", f"inputs=[{tmp_path}/*.tif]", f"output_dir={out}", "output_suffix=.h5"]
    assert main(args) == 2  # the broken file fails, the others are written
    report = json.loads((out / "batch_report.json").read_text())
    status = {e["input"].split("/")[-1]: e["status"] for e in report["results"]["scenes"]}
    assert status == {"broken.tif": "failed", "s0.tif": "done", "s1.tif": "done", "s2.tif": "done"}
    assert open_scene(out / "s2.h5").read().max() == 2
    (tmp_path / "broken.tif").unlink()
    assert main(args) == 0
    report = json.loads((out / "batch_report.json").read_text())
    assert all(e["status"].startswith("skipped") for e in report["results"]["scenes"])


def test_batch_with_no_match_is_a_clear_error(tmp_path, capsys):
    assert main(["batch", "job=convert", f"inputs=[{tmp_path}/*.nothing]", f"output_dir={tmp_path}"]) == 2
    assert "no input matches" in capsys.readouterr().err


@pytest.mark.slow
def test_batch_on_a_local_dask_cluster(tmp_path):
    pytest.importorskip("dask.distributed", reason="dask[distributed] is an optional extra: pip install -e '.[dask]'")
    _scenes(tmp_path, 2)
    out = tmp_path / "out"
    assert main(["batch", "job=convert", f"inputs=[{tmp_path}/*.tif]", f"output_dir={out}", "output_suffix=.npy",
                 "scheduler=local", "workers=2"]) == 0
    assert open_scene(out / "s1.npy").read().max() == 1

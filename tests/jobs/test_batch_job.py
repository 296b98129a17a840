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


@pytest.mark.parametrize("setting, fragment", [("job=foo", "job= must be one of"), ("inputs=[{}/*.nothing]", "no input matches"),
                                              ("output_dir={}/notes.txt", "must be a folder"),
                                              ("output_dir={}/notes.txt/out", "Not a directory")])
def test_a_refused_batch_is_one_line_and_makes_no_output_dir(tmp_path, capsys, setting, fragment):
    """Before (review): a bad job= or pattern left an empty output_dir behind; an output_dir through
    a file was a FileExistsError / NotADirectoryError traceback; a failed scene's path was printed twice."""
    _scenes(tmp_path, 1)
    (tmp_path / "notes.txt").write_text("notes\n")
    out = tmp_path / "out"
    args = {"job": "job=convert", "inputs": f"inputs=[{tmp_path}/*.tif]", "output_dir": f"output_dir={out}"}
    args[setting.split("=")[0]] = setting.format(tmp_path)
    assert main(["batch", *args.values()]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], lines
    assert not out.exists() and (tmp_path / "notes.txt").read_text() == "notes\n"


@pytest.mark.parametrize("overrides, fragment", [
    ("[scale=3]", "job_overrides: scale=3 is used by task=sr only"),
    ("[method=nosuch]", "job_overrides: bad setting for job 'restore': In 'restore': Could not find 'method/nosuch'"),
    ("[tiling.tile=-5]", "job_overrides: tiling.tile must be >= 1; got -5"),
    ("[method=vca_fcls]", "job_overrides: method=vca_fcls is an unmix method"),
    ("[tiling.tiel=8]", "job_overrides: bad setting for job 'restore': unknown setting 'tiling.tiel' (did you mean"),
])
def test_bad_job_overrides_fail_once_before_any_scene(tmp_path, capsys, monkeypatch, overrides, fragment):
    """Before (review): each scene failed on its own ('3 of 3 scenes failed') and output_dir was made."""
    monkeypatch.setattr("hsi.jobs.batch.process_one", _no_scene)
    _scenes(tmp_path, 3)
    out = tmp_path / "out"
    assert main(["batch", "job=restore", f"inputs=[{tmp_path}/*.tif]", f"output_dir={out}",
                 f"job_overrides={overrides}"]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {fragment}"), lines
    assert not out.exists()


def _no_scene(*args, **kwargs):
    raise AssertionError("a scene ran before job_overrides were checked")


def test_a_failed_scene_is_named_once(tmp_path, capsys):
    (tmp_path / "broken.tif").write_text("not a tiff")
    assert main(["batch", "job=convert", f"inputs=[{tmp_path}/*.tif]", f"output_dir={tmp_path / 'out'}"]) == 2
    failed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("failed: ")]
    broken = tmp_path / "broken.tif"
    assert len(failed) == 1 and failed[0].startswith(f"failed: {broken}: not a readable GeoTIFF"), failed


@pytest.mark.slow
def test_batch_on_a_local_dask_cluster(tmp_path):
    pytest.importorskip("dask.distributed", reason="dask[distributed] is an optional extra: pip install -e '.[dask]'")
    _scenes(tmp_path, 2)
    out = tmp_path / "out"
    assert main(["batch", "job=convert", f"inputs=[{tmp_path}/*.tif]", f"output_dir={out}", "output_suffix=.npy",
                 "scheduler=local", "workers=2"]) == 0
    assert open_scene(out / "s1.npy").read().max() == 1

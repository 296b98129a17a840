"""batch trusts only outputs with a matching completion record, works for every job, parses job_overrides."""

import json

import numpy as np
import pytest

from hsi.cli import main
from hsi.io import open_scene
from hsi.io.record import record_path
from hsi.jobs.batch import quote_job_overrides

from tests.faults._helpers import error_lines, lock_held_elsewhere, small_scene


def _report(folder):
    report = json.loads((folder / "batch_report.json").read_text())
    return {e["input"].split("/")[-1]: e for e in report["results"]["scenes"]}


def test_batch_redoes_corrupt_empty_recordless_and_differently_made_outputs(tmp_path, capsys):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for i in range(4):
        small_scene(scenes / f"s{i}.tif", seed=i)
    out = tmp_path / "out"
    args = ["batch", "job=convert", f"inputs=[{scenes}/*.tif]", f"output_dir={out}"]
    assert main(args) == 0
    with open(out / "s0.tif", "r+b") as handle:  # corrupted in place, same size
        handle.seek(300)
        handle.write(b"\x7f" * 16)
    (out / "s1.tif").write_bytes(b"")  # what a full disk used to leave
    record_path(out / "s2.tif").unlink()  # a run killed before it finished
    assert main(args) == 0
    scenes_report = _report(out)
    assert "content hash differs" in scenes_report["s0.tif"]["redone_because"]
    assert "changed size" in scenes_report["s1.tif"]["redone_because"]
    assert "no completion record" in scenes_report["s2.tif"]["redone_because"]
    assert [scenes_report[f"s{i}.tif"]["status"] for i in range(4)] == ["done"] * 3 + ["skipped (complete, made with these settings)"]
    for i in range(4):  # every output is the converted scene again
        assert np.array_equal(open_scene(out / f"s{i}.tif").read(), open_scene(scenes / f"s{i}.tif").read())
    # Other settings for the job: everything is redone, not skipped.
    assert main(args + ["job_overrides=[dtype=float64,block_mb=1]"]) == 0
    scenes_report = _report(out)
    assert all(e["status"] == "done" and "setting dtype" in e["redone_because"] for e in scenes_report.values())
    assert open_scene(out / "s3.tif").dtype == np.float64


def test_batch_output_dir_on_the_inputs_is_refused_or_ignores_its_own_outputs(tmp_path, capsys):
    for i in range(2):
        small_scene(tmp_path / f"s{i}.tif", seed=i)
    args = ["batch", "job=convert", f"inputs=[{tmp_path}/*.tif]", f"output_dir={tmp_path}"]
    assert main(args) == 2  # would write each output onto its input: one line, nothing done
    assert error_lines(capsys.readouterr().err)[0].endswith("choose another output_dir or output_suffix")
    assert main(args + ["output_suffix=_c.tif"]) == 0
    assert main(args + ["output_suffix=_c.tif"]) == 0  # the pattern now also matches s0_c.tif, s1_c.tif
    scenes_report = _report(tmp_path)
    assert scenes_report["s0_c.tif"]["status"].startswith("ignored (an output of this batch")
    assert scenes_report["s0.tif"]["status"].startswith("skipped")
    assert not (tmp_path / "s0_c_c.tif").exists()


def test_job_overrides_parse_as_the_readme_writes_them():
    assert quote_job_overrides(["job=restore", "job_overrides=[method=fasthyde,tiling.tile=256,method.x=[1,2]]"]) == [
        "job=restore", "job_overrides=['method=fasthyde','tiling.tile=256','method.x=[1,2]']"]
    assert quote_job_overrides(["job_overrides=['a=1', \"b=2\"]"]) == ["job_overrides=['a=1',\"b=2\"]"]


@pytest.mark.slow
def test_batch_runs_every_job_that_takes_an_input(tmp_path):
    from hsi.jobs.common import ensure_sample_pair

    for i in range(2):
        small_scene(tmp_path / f"s{i}.tif", seed=i)
    scenes = f"inputs=[{tmp_path}/s*.tif]"
    for job, extra in [("restore", ["job_overrides=[method=tv,tiling.tile=16,tiling.overlap=4]"]), ("convert", []),
                       ("info", []), ("unmix", ["job_overrides=[method=vca_fcls,n_endmembers=2,quicklook=false]"])]:
        out = tmp_path / job
        assert main(["batch", f"job={job}", scenes, f"output_dir={out}", *extra]) == 0, job
        assert all(e["status"] == "done" for e in _report(out).values()), job
    assert (tmp_path / "unmix" / "s1" / "abundances.tif").exists() and (tmp_path / "info" / "s1.json").exists()
    ms, pan = ensure_sample_pair(tmp_path / "pair")
    out = tmp_path / "pansharpen"
    assert main(["batch", "job=pansharpen", f"inputs=[{ms}]", f"pan={pan}", f"output_dir={out}", "job_overrides=[quicklook=false]"]) == 0
    assert open_scene(out / "sample_pair_ms.tif").shape[:2] == open_scene(pan).shape[:2]


def test_a_second_batch_on_one_output_dir_is_refused(tmp_path, capsys):
    small_scene(tmp_path / "s0.tif")
    out = tmp_path / "out"
    with lock_held_elsewhere(out) as pid:
        assert main(["batch", "job=convert", f"inputs=[{tmp_path}/*.tif]", f"output_dir={out}"]) == 2
        assert error_lines(capsys.readouterr().err) == [
            f"error: {out}: output is being written by another hsi run (pid {pid})"]
    assert not (out / "s0.tif").exists()

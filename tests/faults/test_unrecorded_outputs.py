"""A run killed between its output's rename and its completion record: the output looks complete
but nothing vouches for it, so no job trusts it, and none replaces or deletes it unasked."""

import hashlib
import json

import pytest

from hsi.cli import main
from hsi.io import record as record_module
from hsi.io import save_scene
from hsi.io.record import matching_record, record_path
from hsi.jobs.common import output_paths

from tests._job_inputs import scene_and_pair
from tests.faults._helpers import error_lines, small_scene


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return scene_and_pair(tmp_path_factory.mktemp("unrecorded"), n_bands=12, pan_bands=5, seed=3)


def _case(job, inputs, out):
    """(command line, the output file, where its record lives)."""
    scene = inputs["scene"]
    return {
        "restore": (["restore", f"input={scene}", "method=tv", f"output={out / 'r.tif'}", "progress=false"],
                    out / "r.tif", out / "r.tif"),
        "unmix": (["unmix", f"input={scene}", "method=vca_fcls", "n_endmembers=3", f"output={out / 'u'}"],
                  out / "u" / "abundances.tif", out / "u"),
        "pansharpen": (["pansharpen", f"ms={inputs['ms']}", f"pan={inputs['pan']}", "method=gsa", f"output={out / 'p.tif'}"],
                       out / "p.tif", out / "p.tif"),
        "convert": (["convert", f"input={scene}", f"output={out / 'c.h5'}", "progress=false"], out / "c.h5", out / "c.h5"),
    }[job]


def _digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


class Killed(BaseException):
    """What a SIGKILL between the output's rename and the record's write looks like in-process."""


def _killed_before_its_record(monkeypatch, args, sigkill: bool):
    """Run ``args`` with the record's write failing; ``sigkill``: the placeholder stays, as after SIGKILL."""
    def killed(*_, **__):
        raise Killed()

    with monkeypatch.context() as patch:
        patch.setattr(record_module, "write_record", killed)
        if sigkill:  # no finally block runs after a SIGKILL: the reserved placeholder stays
            patch.setattr(record_module, "drop_reservations", lambda: None)
            patch.setattr("hsi.jobs.unmix.drop_reservations", lambda: None)
        with pytest.raises(Killed):
            main(args)
    record_module._reserved.clear()  # what the killed process held dies with it


@pytest.mark.parametrize("sigkill", [True, False], ids=["placeholder_left", "no_record"])
@pytest.mark.parametrize("job", ["restore", "unmix", "pansharpen", "convert"])
def test_an_output_without_its_record_is_named_as_such_and_neither_trusted_nor_touched(
        job, sigkill, inputs, tmp_path, monkeypatch, capsys):
    """Before: `restore resume=true` said only 'does not match this run (output has no completion
    record ...)', and unmix, pansharpen, convert said 'output exists; pass overwrite=true'."""
    args, output, target = _case(job, inputs, tmp_path / "out")
    before_inputs = _digests(inputs["scene"].parent)
    _killed_before_its_record(monkeypatch, args, sigkill)
    assert output.is_file() and output_paths(output)["report"].is_file()  # everything but the record
    assert record_path(target).exists() == sigkill
    written = _digests(tmp_path / "out")
    capsys.readouterr()
    for rerun in ([*args, "resume=true"], args) if job == "restore" else (args,):
        assert main(rerun) == 2
        lines = error_lines(capsys.readouterr().err)
        assert len(lines) == 1 and lines[0].startswith(f"error: {output}: "), lines
        assert "looks complete but cannot be trusted" in lines[0] and "re-run with overwrite=true or remove it" in lines[0]
        assert ("never finished" if sigkill else "has no completion record") in lines[0]
        assert _digests(tmp_path / "out") == written  # nothing trusted, nothing deleted, no record made up
    assert main([*args, "overwrite=true"]) == 0
    assert read_complete(target)
    assert _digests(inputs["scene"].parent) == before_inputs  # inputs never modified


def read_complete(target):
    return json.loads(record_path(target).read_text())["complete"] is True


def test_batch_redoes_an_output_whose_record_was_never_finished_and_keeps_the_complete_one(tmp_path, monkeypatch):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for i in range(2):
        small_scene(scenes / f"s{i}.tif", seed=i)
    out = tmp_path / "out"
    args = ["batch", "job=convert", f"inputs=[{scenes}/*.tif]", f"output_dir={out}"]
    _killed_before_its_record(monkeypatch, ["convert", f"input={scenes / 's0.tif'}", f"output={out / 's0.tif'}",
                                            "progress=false"], sigkill=True)
    assert main(["convert", f"input={scenes / 's1.tif'}", f"output={out / 's1.tif'}", "progress=false"]) == 0
    complete = (out / "s1.tif").stat().st_mtime_ns
    before_inputs = _digests(scenes)
    assert main(args) == 0
    scenes_report = {e["input"].split("/")[-1]: e for e in json.loads((out / "batch_report.json").read_text())["results"]["scenes"]}
    assert scenes_report["s0.tif"]["status"] == "done"
    assert "never finished" in scenes_report["s0.tif"]["redone_because"]
    assert scenes_report["s1.tif"]["status"] == "skipped (complete, made with these settings)"
    assert (out / "s1.tif").stat().st_mtime_ns == complete  # the complete one was not redone
    assert _digests(scenes) == before_inputs
    assert read_complete(out / "s0.tif")

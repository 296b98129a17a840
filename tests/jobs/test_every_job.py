"""Every job goes through one skeleton: the same report keys, outputs validated before any work."""

import json

import pytest

from hsi.cli import main
from hsi.jobs.common import REPORT_KEYS
from hsi.jobs.run import run_job

from tests._job_inputs import scene_and_pair

JOBS = ("info", "convert", "restore", "unmix", "pansharpen", "batch", "train", "bench")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return scene_and_pair(tmp_path_factory.mktemp("every_job"), n_bands=16, pan_bands=6, seed=2)


def _case(job, tiny, out):
    """(command line, the report it writes, the output to pre-create, the first computation after validation)."""
    scene = tiny["scene"]
    return {
        "info": (["info", f"input={scene}", f"report={out / 'info.json'}", "band_table=false", "progress=false"],
                 out / "info.json", out / "info.json", "hsi.jobs.info.describe"),
        "convert": (["convert", f"input={scene}", f"output={out / 'c.h5'}", "progress=false"],
                    out / "c_report.json", out / "c.h5", "hsi.jobs.convert.plan_cast"),
        "restore": (["restore", f"input={scene}", "method=tv", f"output={out / 'r.tif'}", "progress=false"],
                    out / "r_report.json", out / "r.tif", "hsi.jobs.restore.sample_blocks"),
        "unmix": (["unmix", f"input={scene}", "method=vca_fcls", "n_endmembers=3", f"output={out / 'u'}"],
                  out / "u" / "abundances_report.json", out / "u" / "abundances.tif", "hsi.jobs.unmix.sample_pixels"),
        "pansharpen": (["pansharpen", f"ms={tiny['ms']}", f"pan={tiny['pan']}", "method=gsa", f"output={out / 'p.tif'}"],
                       out / "p_report.json", out / "p.tif", "hsi.jobs.pansharpen.coverage_ratio"),
        # batch rewrites its own report on a re-run; what it refuses is a report that would replace an input
        "batch": (["batch", "job=convert", f"inputs=[{scene}]", f"output_dir={out / 'b'}"],
                  out / "b" / "batch_report.json", out / "b" / "batch_report.json", "hsi.jobs.batch.plan"),
        "train": (["train", "debug=smoke", f"output={out / 't'}"],
                  out / "t" / "train_report.json", out / "t" / "train_report.json", "hydra.utils.instantiate"),
        "bench": (["bench", "scale", "suite.rows=16", "suite.cols=16", "suite.bands=6", "suite.tile=16", "suite.overlap=0",
                   "suite.sample_pixels=200", "suite.method=tv", f"output={out / 'bench'}"],
                  out / "bench" / "scale.json", out / "bench" / "scale.md", "hydra.utils.instantiate"),
    }[job]


@pytest.mark.parametrize("job", [pytest.param(job, marks=pytest.mark.slow) if job == "train" else job for job in JOBS])
def test_every_job_writes_a_report_with_exactly_the_report_keys(job, tiny, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args, report_path, _, _ = _case(job, tiny, tmp_path)
    assert main(args) == 0
    report = json.loads(report_path.read_text())
    assert tuple(report) == REPORT_KEYS
    assert report["job"] == ("batch" if job == "batch" else job) and report["hsi_version"]
    assert report["outputs"]["report"] == str(report_path) and report["timings"]["total_s"] > 0
    assert (report["method"] is not None) == (job in ("restore", "unmix", "pansharpen"))
    if job == "batch":
        assert [scene["status"] for scene in report["results"]["scenes"]] == ["done"]
        scene_report = json.loads((tmp_path / "b" / "scene_report.json").read_text())  # the convert it ran
        assert tuple(scene_report) == REPORT_KEYS and scene_report["job"] == "convert"
    if job == "bench":
        assert report["results"]["tables"] and (tmp_path / "bench" / "scale.md").read_text().startswith("# Benchmark")
        # the threads the times were measured with are in the table, as the suite started
        import torch

        assert f"Threads: torch {torch.get_num_threads()} (OMP_NUM_THREADS=" in (tmp_path / "bench" / "scale.md").read_text()
        assert report["results"]["machine"]["start"]["torch_threads"] == torch.get_num_threads()


@pytest.mark.parametrize("job", JOBS)
def test_every_job_refuses_an_existing_output_before_any_work(job, tiny, tmp_path, monkeypatch, capsys):
    """An existing output without overwrite=true: one line, exit 2, the file untouched, nothing computed."""
    args, _, existing, first_work = _case(job, tiny, tmp_path)
    existing.parent.mkdir(parents=True, exist_ok=True)
    existing.write_text("mine\n")
    if job == "batch":  # the batch's inputs include the file its report would replace
        args = [a if not a.startswith("inputs=") else f"inputs=[{tiny['scene']},{existing}]" for a in args]

    def no_work(*_, **__):
        raise AssertionError(f"{job}: work started before the outputs were validated")

    monkeypatch.setattr(first_work, no_work)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert main(args) == 2
    err = capsys.readouterr().err
    named = existing.parent.name if job == "train" else existing.name  # train names its run folder
    assert err.count("\n") == 1 and err.startswith("error: ") and named in err
    assert ("would overwrite the input" if job == "batch" else "exists" if job != "train" else "not empty") in err
    assert existing.read_text() == "mine\n"
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before

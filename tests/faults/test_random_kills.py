"""SIGKILL unmix and a two-input batch at random moments, then run again: nothing half-written is
trusted, nothing complete is redone, and no input is ever modified."""

import hashlib
import json
import random

import numpy as np
import pytest

from hsi.io import open_scene
from hsi.io.record import read_record

from tests.faults._helpers import error_lines, kill_when, run_cli, small_scene, start_cli

pytestmark = pytest.mark.slow


def _digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _random_moment(rng, longest):
    import time

    delay, started = rng.uniform(0.0, longest), time.monotonic()
    return lambda: time.monotonic() - started > delay


def _unmix(source, folder, *extra):
    return ["unmix", f"input={source}", f"output={folder}", "method=vca_fcls", "n_endmembers=3", "quicklook=false",
            "progress=false", *extra]


def test_unmix_killed_at_random_moments_is_never_trusted_half_done(tmp_path):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    source = small_scene(scenes / "in.tif", rows=64, cols=48, bands=12)
    inputs = _digests(scenes)
    reference = tmp_path / "reference"
    assert run_cli(*_unmix(source, reference)).returncode == 0
    expected = open_scene(reference / "abundances.tif").read()
    rng = random.Random(1)
    for attempt in range(5):
        folder = tmp_path / f"run{attempt}"
        killed = kill_when(start_cli(*_unmix(source, folder)), _random_moment(rng, 4.0))
        record = read_record(folder) if folder.is_dir() else None
        again = run_cli(*_unmix(source, folder))
        lines = error_lines(again.stderr)
        if again.returncode == 0:  # nothing of the killed run stood in the way: computed afresh
            assert not killed or record is None or record.get("complete") is not True
        else:  # refused in one line that says what is there; then redone on request
            assert again.returncode == 2 and len(lines) == 1, again.stderr[-2000:]
            assert killed and ("cannot be trusted" in lines[0] or "output exists" in lines[0]
                               or "already complete" in lines[0]), lines
            assert run_cli(*_unmix(source, folder, "overwrite=true")).returncode == 0
        assert read_record(folder)["complete"] is True
        assert np.array_equal(open_scene(folder / "abundances.tif").read(), expected)
    assert _digests(scenes) == inputs


def _batch(scenes, out):
    return ["batch", "job=restore", f"inputs=[{scenes}/*.tif]", f"output_dir={out}",
            "job_overrides=[method=tv,method.n_iter=200,tiling.tile=16,tiling.overlap=4,quicklook=false]"]


def test_a_two_input_batch_killed_at_random_moments_redoes_only_what_is_not_complete(tmp_path):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for i in range(2):
        small_scene(scenes / f"s{i}.tif", rows=96, cols=48, bands=12, seed=i)
    inputs = _digests(scenes)
    reference = tmp_path / "reference"
    assert run_cli(*_batch(scenes, reference)).returncode == 0
    expected = {i: open_scene(reference / f"s{i}.tif").read() for i in range(2)}
    rng = random.Random(2)
    out = tmp_path / "out"
    for _ in range(4):
        kill_when(start_cli(*_batch(scenes, out)), _random_moment(rng, 6.0))
        for i in range(2):  # whatever a record vouches for is the finished result
            record = read_record(out / f"s{i}.tif") if (out / f"s{i}.tif").exists() else None
            if record is not None and record.get("complete") is True:
                assert np.array_equal(open_scene(out / f"s{i}.tif").read(), expected[i])
        assert _digests(scenes) == inputs
        complete = {i: (out / f"s{i}.tif").stat().st_mtime_ns for i in range(2)
                    if (out / f"s{i}.tif").exists() and (read_record(out / f"s{i}.tif") or {}).get("complete") is True}
        finished = run_cli(*_batch(scenes, out))
        assert finished.returncode == 0, finished.stderr[-2000:]
        report = {e["input"].split("/")[-1]: e for e in json.loads((out / "batch_report.json").read_text())["results"]["scenes"]}
        for i in range(2):
            assert np.array_equal(open_scene(out / f"s{i}.tif").read(), expected[i])
            if i in complete:  # complete before the re-run: not redone
                assert report[f"s{i}.tif"]["status"].startswith("skipped"), report
                assert (out / f"s{i}.tif").stat().st_mtime_ns == complete[i]
        assert _digests(scenes) == inputs
    assert not [p for p in out.rglob("*") if p.name.endswith((".part", ".lock", ".partial"))]

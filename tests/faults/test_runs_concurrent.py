"""Two runs on one output: one writes it, the other is refused in one line; batches likewise."""

import time

import numpy as np
import pytest

from hsi.io import open_scene
from hsi.io.lock import is_locked

from tests.faults._helpers import run_cli, small_scene, start_cli

pytestmark = pytest.mark.slow


def _restore(source, output):
    return ["restore", f"input={source}", f"output={output}", "method=tv", "method.n_iter=300", "tiling.tile=16",
            "tiling.overlap=4", "quicklook=false", "progress=false"]


def test_two_restores_on_one_output_one_wins_the_other_gets_one_line(tmp_path):
    source = small_scene(tmp_path / "in.tif", rows=96, cols=48, bands=16)
    reference = tmp_path / "reference.tif"
    assert run_cli(*_restore(source, reference)).returncode == 0
    output = tmp_path / "out.tif"
    runs = [start_cli(*_restore(source, output)) for _ in range(2)]
    results = [(run.wait(timeout=300), run.communicate()[1]) for run in runs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2]
    loser = next(err for code, err in results if code == 2)
    errors = [line for line in loser.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and ("being written by another hsi run (pid" in errors[0] or "output exists" in errors[0])
    assert np.array_equal(open_scene(output).read(), open_scene(reference).read())


def test_a_second_batch_on_a_busy_output_dir_is_refused_and_each_scene_done_once(tmp_path):
    for i in range(4):
        small_scene(tmp_path / f"s{i}.tif", rows=64, cols=48, bands=16, seed=i)
    out = tmp_path / "out"
    batch = ["batch", "job=restore", f"inputs=[{tmp_path}/*.tif]", f"output_dir={out}",
             "job_overrides=[method=tv,method.n_iter=300,tiling.tile=16,tiling.overlap=4,quicklook=false]"]
    first = start_cli(*batch)
    deadline = time.monotonic() + 120
    while not is_locked(out) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    second = run_cli(*batch)
    assert second.returncode == 2
    errors = [line for line in second.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {out}: output is being written by another hsi run (pid {first.pid})"]
    assert first.wait(timeout=300) == 0
    rerun = run_cli(*batch)
    assert rerun.returncode == 0 and "4 already done, 0 to run" in rerun.stdout

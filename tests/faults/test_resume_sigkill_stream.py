"""SIGKILL the default restore (FastHyDe's streamed passes) with resume=true, then rerun: the output is exact.

The streamed path journals its output strips (pass 3); a rerun projects the scene again and
denoises only the eigen-image tiles that reach below the journalled rows. Kills land while
strips are written and at random moments of the projection and denoising passes.
"""

import random
import time

import numpy as np
import pytest

from hsi.io import open_scene
from hsi.io.record import read_record

from tests.faults._helpers import kill_when, run_cli, small_scene, start_cli

pytestmark = pytest.mark.slow


def _args(source, output):
    # 192 x 192 x 64 on two threads: a few seconds of BM3D over nine 64 x 64 eigen-image tiles, then
    # twelve 16-row strips (tiling.memory_mb=1 keeps resume's strips small; eigen-images memmapped).
    return ["restore", f"input={source}", f"output={output}", "tiling.eigen_tile=64", "tiling.memory_mb=1",
            "quicklook=false", "progress=false", "resume=true"]


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sigkill-stream")
    source = small_scene(folder / "in.tif", rows=192, cols=192, bands=64, seed=7)
    reference = folder / "reference.tif"
    result = run_cli(*_args(source, reference), threads=2)
    assert result.returncode == 0, result.stderr[-2000:]
    return source, open_scene(reference).read()


def _strips(partial):
    return sorted(partial.glob("rows_*.npy")) if partial.is_dir() else []


def _start(source, output):
    return start_cli(*_args(source, output), threads=2)


def _finish_and_compare(source, output, expected):
    finished = run_cli(*_args(source, output), threads=2)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert np.array_equal(open_scene(output).read(), expected)
    record = read_record(output)
    assert record["complete"] is True
    assert not output.with_name(output.name + ".partial").exists()
    leftovers = [p.name for p in output.parent.iterdir() if p.name.endswith((".part", ".lock")) or ".eigen-" in p.name]
    assert not leftovers, leftovers
    return record


def test_sigkill_while_strips_are_written_then_resume_is_exact(scene, tmp_path):
    source, expected = scene
    output, partial = tmp_path / "out.tif", tmp_path / "out.tif.partial"
    for _ in range(3):  # killed right after a new strip lands, three times
        before = len(_strips(partial))
        killed = kill_when(_start(source, output), lambda: len(_strips(partial)) > before)
        assert killed and not output.exists()  # nothing at the final path while unfinished
    assert 3 <= len(_strips(partial)) < 12
    _finish_and_compare(source, output, expected)


def test_sigkill_at_random_moments_of_every_pass_then_resume_is_exact(scene, tmp_path):
    source, expected = scene
    output, partial = tmp_path / "out.tif", tmp_path / "out.tif.partial"
    rng = random.Random(0)
    for _ in range(4):
        process = _start(source, output)
        started = time.monotonic()
        delay = rng.uniform(1.0, 6.0)  # after start-up: the fit, the projection, the denoising or the strips

        def ready():
            return (partial / "journal.json").exists() and time.monotonic() - started > delay

        if not kill_when(process, ready):
            break
        assert not output.exists()
    _finish_and_compare(source, output, expected)

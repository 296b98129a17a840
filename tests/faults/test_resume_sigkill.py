"""SIGKILL a resumable restore at strip boundaries and at random moments: the resumed output is exact."""

import random
import time

import numpy as np
import pytest

from hsi.io import open_scene
from hsi.io.record import read_record

from tests.faults._helpers import kill_when, run_cli, small_scene, start_cli

pytestmark = pytest.mark.slow


def _args(source, output):
    # About 13 strips of 0.4 s each on one thread: time to kill between and inside them.
    return ["restore", f"input={source}", f"output={output}", "method=tv", "method.n_iter=300", "tiling.tile=16",
            "tiling.overlap=4", "quicklook=false", "progress=false", "resume=true"]


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sigkill")
    source = small_scene(folder / "in.tif", rows=160, cols=48, bands=16)
    reference = folder / "reference.tif"
    assert run_cli(*_args(source, reference)).returncode == 0
    return source, open_scene(reference).read()


def _strips(partial):
    return sorted(partial.glob("rows_*.npy")) if partial.is_dir() else []


def _finish_and_compare(source, output, expected):
    finished = run_cli(*_args(source, output))
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert np.array_equal(open_scene(output).read(), expected)
    assert read_record(output)["complete"] is True
    assert not output.with_name(output.name + ".partial").exists()
    assert not [p for p in output.parent.iterdir() if p.name.endswith(".part") or p.name.endswith(".lock")]


def test_sigkill_at_strip_boundaries_then_resume_is_exact(scene, tmp_path):
    source, expected = scene
    output, partial = tmp_path / "out.tif", tmp_path / "out.tif.partial"
    for _ in range(3):  # killed right after a new strip lands, three times
        before = len(_strips(partial))
        killed = kill_when(start_cli(*_args(source, output)), lambda: len(_strips(partial)) > before)
        assert killed and not output.exists()  # nothing at the final path while unfinished
    _finish_and_compare(source, output, expected)


def test_sigkill_at_random_moments_including_journal_writes_then_resume_is_exact(scene, tmp_path):
    source, expected = scene
    output, partial = tmp_path / "out.tif", tmp_path / "out.tif.partial"
    rng = random.Random(0)
    for _ in range(4):
        process = start_cli(*_args(source, output))
        delay = rng.uniform(0.0, 0.5)
        started = {}

        def ready():  # a strip being written (its temporary file seen), or a random moment in the tiling
            if not (partial / "journal.json").exists():
                return False
            if any(partial.glob(".rows_*.tmp")):
                return True
            started.setdefault("t", time.monotonic())
            return time.monotonic() - started["t"] > delay

        if not kill_when(process, ready):
            break
        assert not output.exists()
    _finish_and_compare(source, output, expected)

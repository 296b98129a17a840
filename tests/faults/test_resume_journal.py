"""restore resume=true: continues only the same computation, and survives torn journal files."""

import numpy as np
import pytest

from hsi.cli import compose, main
from hsi.io import open_scene
from hsi.jobs import restore
from hsi.tiling.runner import TiledRunner

from tests.faults._helpers import error_lines, small_scene


def _args(source, output, *extra):
    return [f"input={source}", f"output={output}", "method=tv", "method.n_iter=20", "tiling.tile=16", "tiling.overlap=4",
            "tiling.batch_size=1", "progress=false", "quicklook=false", "resume=true", *extra]


def _interrupted(monkeypatch, source, output, after_calls, *extra):
    """Run restore and stop it (as Ctrl-C would) after ``after_calls`` calls of the method."""
    apply, calls = TiledRunner._apply, []

    def stopping(self, batches):
        calls.append(1)
        if len(calls) > after_calls:
            raise KeyboardInterrupt("simulated interruption")
        return apply(self, batches)

    with monkeypatch.context() as patch:
        patch.setattr(TiledRunner, "_apply", stopping)
        with pytest.raises(KeyboardInterrupt):
            restore.run(compose("restore", _args(source, output, *extra)))
    partial = output.with_name(output.name + ".partial")
    assert not output.exists() and sorted(p.name for p in partial.glob("rows_*.npy"))
    return partial


@pytest.fixture
def scene_and_reference(tmp_path):
    source = small_scene(tmp_path / "in.tif", rows=52)
    reference = tmp_path / "reference.tif"
    assert main(["restore", *_args(source, reference, "resume=false")]) == 0
    return source, open_scene(reference).read()


def test_resume_after_an_interruption_equals_the_uninterrupted_run(tmp_path, monkeypatch, scene_and_reference):
    source, expected = scene_and_reference
    output = tmp_path / "out.tif"
    partial = _interrupted(monkeypatch, source, output, after_calls=5)
    assert main(["restore", *_args(source, output)]) == 0
    assert np.array_equal(open_scene(output).read(), expected)
    assert not partial.exists()


def test_resume_ignores_temporary_and_torn_strip_files(tmp_path, monkeypatch, scene_and_reference):
    source, expected = scene_and_reference
    output = tmp_path / "out.tif"
    partial = _interrupted(monkeypatch, source, output, after_calls=5)
    strips = sorted(partial.glob("rows_*.npy"), key=lambda p: int(p.name.split("_")[1]))
    # What a kill during a strip save used to leave (and crashed every later resume), a
    # temporary of today's writer, and a strip torn in half by a non-atomic copy.
    (partial / "rows_40_52.tmp.npy").write_bytes(strips[0].read_bytes()[:100])
    (partial / ".rows_40_52.npy.tmp").write_bytes(b"\x93NUMPY")
    strips[-1].write_bytes(strips[-1].read_bytes()[:-64])
    assert main(["restore", *_args(source, output)]) == 0
    assert np.array_equal(open_scene(output).read(), expected)


def test_resume_with_changed_settings_or_input_is_refused_in_one_line(tmp_path, monkeypatch, capsys,
                                                                       scene_and_reference):
    source, expected = scene_and_reference
    output = tmp_path / "out.tif"
    partial = _interrupted(monkeypatch, source, output, after_calls=5)
    capsys.readouterr()
    assert main(["restore", *_args(source, output, "method.n_iter=21")]) == 2
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and "different settings or input (setting method.n_iter)" in lines[0]
    original = source.read_bytes()
    source.write_bytes(original[:-4] + b"\x00\x00\x80\x3f")  # one value changed, same size
    assert main(["restore", *_args(source, output)]) == 2
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and "input in.tif (content)" in lines[0]
    assert not output.exists() and partial.exists()  # nothing spliced, the partial work kept
    source.write_bytes(original)
    assert main(["restore", *_args(source, output)]) == 0
    assert np.array_equal(open_scene(output).read(), expected)


def test_resume_on_a_written_output_says_whether_its_record_matches(tmp_path, capsys, scene_and_reference):
    """Before (review s9): `resume=true` on a finished output said only 'output exists; pass
    overwrite=true', inviting a redo of a run whose record vouches for it."""
    source, expected = scene_and_reference
    reference = tmp_path / "reference.tif"
    capsys.readouterr()
    assert main(["restore", *_args(source, reference)]) == 2
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and "already complete with these inputs and settings" in lines[0], lines
    assert main(["restore", *_args(source, reference, "method.n_iter=21")]) == 2
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and "does not match this run (made with different setting method.n_iter)" in lines[0], lines
    assert "overwrite=true" in lines[0]
    assert np.array_equal(open_scene(reference).read(), expected)  # refused before any write

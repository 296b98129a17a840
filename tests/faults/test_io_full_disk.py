"""A full disk fails the job with one line and leaves nothing at the output path.

Before: `convert` onto a nearly full file system printed "wrote ...", exited 0 and left a
truncated, unreadable GeoTIFF (GDAL reported the failure on stderr only); at other fill
levels it ended in a rasterio traceback; nothing was fsynced.
"""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest
from _io_faults import SmallDisk, assert_one_line_error, leftovers, run_cli, sample

from hsi.io import open_scene

@pytest.fixture
def small_disk(tmp_path):
    disk = SmallDisk(tmp_path / "disk", size="6m")  # the sample as an uncompressed float32 GeoTIFF is 3.96 MB
    yield disk
    disk.unmount()


def test_convert_onto_a_full_disk_fails_in_one_line_and_leaves_nothing(small_disk, capsys):
    small_disk.fill(800_000)  # less than the 3.96 MB float32 GeoTIFF: fails while tiles are written
    output = small_disk.folder / "out.tif"
    status, out, err = run_cli(capsys, "convert", f"input={sample()}", f"output={output}", "dtype=float32")
    assert_one_line_error(status, err, str(output), "could not write the output", "No space left on device")
    assert "wrote" not in out
    assert not output.exists()
    assert leftovers(small_disk.folder) == []


@pytest.mark.slow
def test_at_every_fill_level_the_output_is_complete_or_absent(tmp_path, small_disk, capsys):
    """Free space swept across the output's size, in 1 kB steps: each run either writes a file
    that reads back exactly or fails in one line leaving nothing (before: a band of fill levels
    where GDAL's directory write failed at close gave "wrote ...", rc 0 and a cut-off file)."""
    reference = tmp_path / "reference.tif"
    assert run_cli(capsys, "convert", f"input={sample()}", f"output={reference}", "dtype=float32")[0] == 0
    size, expected = reference.stat().st_size, open_scene(reference).read()
    output = small_disk.folder / "out.tif"
    outcomes = set()
    # Up to 16 kB above the output's size: a run also keeps its output lock (one page) and the
    # room of its completion record (one page) on that disk.
    for free in range(size - 24_000, size + 16_000, 1_000):
        (small_disk.folder / "filler").unlink(missing_ok=True)
        output.unlink(missing_ok=True)
        output.with_name("out_report.json").unlink(missing_ok=True)  # a complete run's report
        small_disk.fill(free)
        status, out, err = run_cli(capsys, "convert", f"input={sample()}", f"output={output}", "dtype=float32",
                                       "quicklook=false")  # the sweep is about the scene writer
        if status == 0:
            np.testing.assert_array_equal(open_scene(output).read(), expected)
            outcomes.add("complete")
        else:
            line = assert_one_line_error(status, err, str(output), "No space left on device")
            outcomes.add(line.split(" the output")[0].rsplit(" ", 1)[-1])  # write / finish / verify
            assert not output.exists()
        assert leftovers(small_disk.folder) == []
    assert "complete" in outcomes and len(outcomes) > 1, outcomes  # the sweep crossed the boundary


@pytest.mark.parametrize("suffix", [".hdr", ".npy", ".h5", ".mat"])
def test_every_format_fails_cleanly_on_a_full_disk(small_disk, capsys, suffix):
    small_disk.fill(300_000)  # less than the 3.9 MB float32 cube needs in any format
    output = small_disk.folder / f"out{suffix}"
    status, out, err = run_cli(capsys, "convert", f"input={sample()}", f"output={output}", "dtype=float32")
    assert_one_line_error(status, err, "could not")
    assert sorted(p.name for p in small_disk.folder.iterdir()) == ["filler"]


@pytest.mark.slow
def test_restore_onto_a_full_disk_fails_in_one_line_and_leaves_nothing(small_disk, capsys):
    small_disk.fill(600_000)
    output = small_disk.folder / "restored.tif"
    status, out, err = run_cli(capsys, "restore", f"input={sample()}", f"output={output}", "method=tv")
    assert_one_line_error(status, err, "restored", "could not")
    assert sorted(p.name for p in small_disk.folder.iterdir()) == ["filler"]


@pytest.fixture
def disk_full_on_fsync(monkeypatch):
    """Every fsync fails with ENOSPC, as delayed allocation does on a full disk (no root needed)."""
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)


@pytest.mark.parametrize("suffix", [".tif", ".hdr", ".npy", ".h5", ".mat"])
def test_a_write_that_fails_at_fsync_leaves_nothing(tmp_path, capsys, disk_full_on_fsync, suffix):
    output = tmp_path / f"out{suffix}"
    status, out, err = run_cli(capsys, "convert", f"input={sample()}", f"output={output}")
    assert_one_line_error(status, err, "out", "No space left on device")
    assert "wrote" not in out
    assert list(tmp_path.iterdir()) == []


def test_a_tile_write_that_fails_leaves_nothing(tmp_path, capsys, monkeypatch):
    import rasterio.io

    def full(self, *args, **kwargs):
        raise rasterio.errors.RasterioIOError("Write failed: No space left on device")

    monkeypatch.setattr(rasterio.io.DatasetWriter, "write", full)
    output = tmp_path / "out.tif"
    status, out, err = run_cli(capsys, "convert", f"input={sample()}", f"output={output}")
    assert_one_line_error(status, err, str(output), "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_reports_and_quicklooks_fail_cleanly_too(tmp_path, disk_full_on_fsync):
    from hsi.errors import WriteError
    from hsi.jobs.common import write_json
    from hsi.viz import save_rgb_quicklook

    with pytest.raises(WriteError, match=r"r\.json: could not write the output \(No space left on device\)"):
        write_json(tmp_path / "r.json", {"a": 1})
    with pytest.raises(WriteError, match=r"q\.png: could not write"):
        save_rgb_quicklook(np.ones((8, 8, 3)), None, tmp_path / "q.png")
    assert list(tmp_path.iterdir()) == []


def test_a_successful_write_is_complete(tmp_path, capsys):
    output = tmp_path / "out.tif"
    status, out, err = run_cli(capsys, "convert", f"input={sample()}", f"output={output}")
    assert status == 0, err
    np.testing.assert_array_equal(open_scene(output).read(), open_scene(sample()).read())
    assert leftovers(tmp_path) == []

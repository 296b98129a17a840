"""Bad, cut-off or empty files and unwritable places are one line naming the file.

Before (each a traceback, rc 1, unless said): output under an immutable folder; empty `.mat`
and `.npy`; a GeoTIFF whose data is cut off (`info` traceback from rasterio); ENVI headers
with `interleave = xyz` or `bands = 40` for a 50-band binary were accepted silently (rc 0).
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from _io_faults import assert_one_line_error, leftovers, run_cli, sample

from hsi.errors import FormatError
from hsi.io import open_scene, save_scene
from hsi.scene import Scene, Window

ENVI_HEADER = "ENVI\nsamples = 6\nlines = 5\nbands = {bands}\ndata type = 4\ninterleave = {interleave}\nbyte order = 0\n"


@pytest.fixture
def immutable_folder(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
        pytest.skip("chattr +i is not permitted here (needs root on a file system with immutable flags)")
    yield folder
    subprocess.run(["chattr", "-i", str(folder)], check=False)


@pytest.mark.parametrize("output", ["out.tif", "out.hdr", "sub/out.h5"])
def test_output_in_an_immutable_folder_is_one_line(capsys, immutable_folder, output):
    status, out, err = run_cli(capsys, "convert", f"input={sample()}", f"output={immutable_folder / output}")
    assert_one_line_error(status, err, str(immutable_folder), "could not write")
    assert list(immutable_folder.iterdir()) == []


def test_output_in_a_read_only_folder_is_one_line(tmp_path, capsys, monkeypatch):
    import os

    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if mode == os.W_OK else real_access(path, mode, **kw))
    status, out, err = run_cli(capsys, "convert", f"input={sample()}", f"output={tmp_path / 'out.tif'}")
    assert_one_line_error(status, err, "out.tif", "not writable")


@pytest.mark.parametrize("job, setting", [("convert", "output={}/out.tif"), ("info", "report={}/info.json"),
                                          ("unmix", "output={}/unmixed")])
def test_an_output_under_a_file_is_one_line(tmp_path, capsys, job, setting):
    """Before: a FileExistsError traceback from making the lock's folder (rc 1)."""
    notes = tmp_path / "notes.txt"
    notes.write_text("a file where the output path needs a folder\n")
    status, out, err = run_cli(capsys, job, f"input={sample()}", setting.format(notes))
    assert_one_line_error(status, err, str(notes), "Not a directory")
    assert notes.read_text().startswith("a file where") and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("name", ["empty.mat", "empty.npy", "empty.h5", "empty.tif"])
def test_empty_files_are_one_line(tmp_path, capsys, name):
    (tmp_path / name).write_bytes(b"")
    status, out, err = run_cli(capsys, "info", f"input={tmp_path / name}")
    assert_one_line_error(status, err, name)


def test_a_cut_off_geotiff_fails_to_read_instead_of_returning_garbage(tmp_path, capsys):
    path = tmp_path / "cut.tif"
    shutil.copy(sample(), path)
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size * 3 // 10)
    status, out, err = run_cli(capsys, "info", f"input={path}")
    assert_one_line_error(status, err, "cut.tif", "damaged or cut off")
    status, out, err = run_cli(capsys, "convert", f"input={path}", f"output={tmp_path / 'copy.h5'}")
    assert_one_line_error(status, err, "cut.tif")
    assert not (tmp_path / "copy.h5").exists() and leftovers(tmp_path) == []


def test_a_cut_off_tile_is_an_error_not_zeros(tmp_path):
    values = np.random.default_rng(0).uniform(1, 2, (64, 64, 3)).astype(np.float32)
    save_scene(Scene.from_array(values), tmp_path / "a.tif")
    data = (tmp_path / "a.tif").read_bytes()
    (tmp_path / "a.tif").write_bytes(data[: len(data) - 2000])  # last tiles lose their bytes
    scene = open_scene(tmp_path / "a.tif")
    with pytest.raises(FormatError, match=r"a\.tif: cannot read rows .* damaged or cut off"):
        scene.read(Window(0, 0, 64, 64))


def test_envi_header_with_an_unknown_interleave_is_refused(tmp_path, capsys):
    (tmp_path / "a.hdr").write_text(ENVI_HEADER.format(bands=2, interleave="xyz"))
    (tmp_path / "a.img").write_bytes(b"\0" * (6 * 5 * 2 * 4))
    status, out, err = run_cli(capsys, "info", f"input={tmp_path / 'a.hdr'}")
    assert_one_line_error(status, err, "a.hdr", "interleave = xyz")


def test_envi_header_with_too_few_bands_for_its_data_is_refused(tmp_path, capsys):
    (tmp_path / "a.hdr").write_text(ENVI_HEADER.format(bands=40, interleave="bsq"))
    (tmp_path / "a.img").write_bytes(b"\0" * (6 * 5 * 50 * 4))
    status, out, err = run_cli(capsys, "info", f"input={tmp_path / 'a.hdr'}")
    assert_one_line_error(status, err, "a.img", "40 bands", "fits 50 bands")


@pytest.mark.parametrize("args", [["info", "input=scene.xyz"], ["convert", "output=out.xyz"],
                                  ["convert", "output=out.tif", "format=xyz"]])
def test_unknown_formats_are_one_line(tmp_path, capsys, args):
    (tmp_path / "scene.xyz").write_text("?")
    args = [a.replace("=", f"={tmp_path}/", 1) if a.split("=")[0] in ("input", "output") else a for a in args]
    status, out, err = run_cli(capsys, *args)
    assert_one_line_error(status, err, "xyz")

"""Completion records say what made an output; output locks let one run at a time write it."""

import numpy as np
import pytest

from hsi.cli import compose, main
from hsi.io import open_scene
from hsi.errors import OutputLockedError, ParameterError
from hsi.io import record as record_module
from hsi.io.lock import acquire, held, lock_path, release, release_all
from hsi.io.record import differences, fingerprint, matching_record, read_record, record_path
from hsi.jobs.common import run_fingerprint

from tests.faults._helpers import error_lines, lock_held_elsewhere, small_scene


def _restore_args(source, output, *extra):
    return [f"input={source}", f"output={output}", "method=tv", "tiling.tile=16", "tiling.overlap=4", "progress=false",
            "quicklook=false", *extra]


def test_restore_record_names_inputs_settings_and_files_and_detects_changes(tmp_path):
    source, output = small_scene(tmp_path / "in.tif"), tmp_path / "out.tif"
    args = _restore_args(source, output)
    assert main(["restore", *args]) == 0
    record = read_record(output)
    assert record["complete"] is True and record["job"] == "restore"
    assert record["settings"]["method"]["_target_"].endswith(".tv") and record["settings"]["tiling"]["tile"] == 16
    assert record["inputs"][0][0]["size"] == source.stat().st_size and record["inputs"][0][0]["hash"] == "full"
    assert {f["path"] for f in record["files"]} == {"out.tif", "out_report.json"}
    assert not lock_path(output).exists()  # released, and no lock file left behind

    expected = run_fingerprint("restore", compose("restore", args))
    assert matching_record(output, expected) == (True, "")
    ok, why = matching_record(output, run_fingerprint("restore", compose("restore", args + ["method.n_iter=5"])))
    assert not ok and "method.n_iter" in why
    original = source.read_bytes()
    source.write_bytes(original[:-4] + b"\x00\x00\x00\x01")  # same size, other content
    ok, why = matching_record(output, run_fingerprint("restore", compose("restore", args)))
    assert not ok and "input in.tif (content)" in why
    source.write_bytes(original)  # the same content (a newer mtime): a whole-file hash still matches
    assert matching_record(output, run_fingerprint("restore", compose("restore", args))) == (True, "")
    with open(output, "r+b") as handle:
        handle.seek(200)
        handle.write(b"\xff" * 8)  # corrupted in place, same size
    ok, why = matching_record(output, expected)
    assert not ok and "content hash differs" in why
    output.write_bytes(b"")
    assert "changed size" in matching_record(output, expected)[1]
    record_path(output).unlink()
    assert "no completion record" in matching_record(output, expected)[1]


def test_a_product_folders_identity_is_its_files(tmp_path):
    """Before: a product folder's identity was "missing" whatever it held, so a batch or a
    resume trusted an output made from other files under the same folder name."""
    folder = tmp_path / "product"
    folder.mkdir()
    (folder / "SPECTRAL_IMAGE.TIF").write_bytes(b"\x00" * 64)
    (folder / "METADATA.XML").write_bytes(b"<xml/>")
    expected = fingerprint("restore", [folder], {"method": "tv"})
    assert [f["path"] for f in expected["inputs"][0]] == [str((folder / n).resolve()) for n in ("METADATA.XML", "SPECTRAL_IMAGE.TIF")]
    (folder / "SPECTRAL_IMAGE.TIF").write_bytes(b"\x00" * 63 + b"\x01")
    changed = differences(expected, fingerprint("restore", [folder], {"method": "tv"}))
    assert any("SPECTRAL_IMAGE.TIF" in item for item in changed), changed


def test_a_rewritten_output_loses_its_old_record_before_any_work(tmp_path, monkeypatch):
    source, output = small_scene(tmp_path / "in.tif"), tmp_path / "out.tif"
    assert main(["restore", *_restore_args(source, output)]) == 0
    before = open_scene(output).read()
    # A rewrite that fails midway (in the tile runner; impossible tile settings, which used to be
    # found only there, are now refused before the run starts) must not leave the old record
    # beside what may be a new output.
    def fails_midway(*args, **kwargs):
        raise ParameterError("a tile failed midway")

    monkeypatch.setattr("hsi.jobs.restore.run_tiled", fails_midway)
    assert main(["restore", *_restore_args(source, output, "overwrite=true", "method.n_iter=5")]) == 2
    assert not record_path(output).exists()
    assert np.array_equal(open_scene(output).read(), before)  # the writer never replaced it


def test_an_output_locked_by_another_process_is_refused_in_one_line(tmp_path, capsys):
    source, output = small_scene(tmp_path / "in.tif"), tmp_path / "out.tif"
    with lock_held_elsewhere(output) as pid:
        with pytest.raises(OutputLockedError, match=rf"being written by another hsi run \(pid {pid}\)"):
            acquire(output)
        capsys.readouterr()
        assert main(["restore", *_restore_args(source, output)]) == 2
        lines = error_lines(capsys.readouterr().err)
        assert lines == [f"error: {output}: output is being written by another hsi run (pid {pid})"]
        assert not output.exists()
    # The holder was SIGKILLed: the kernel freed its lock, the stale file blocks nothing.
    assert main(["restore", *_restore_args(source, output)]) == 0 and output.exists()


def test_locks_are_reentrant_in_a_process_and_released_selectively(tmp_path):
    first, second = tmp_path / "a.tif", tmp_path / "b.tif"
    kept = held()
    acquire(first), acquire(first), acquire(second)
    release(first)
    assert lock_path(first).exists()  # still held once
    release_all(keep=kept)
    assert not lock_path(first).exists() and not lock_path(second).exists() and held() == kept


def test_large_inputs_are_identified_by_sampled_blocks_and_their_modification_time(tmp_path, monkeypatch):
    monkeypatch.setattr(record_module, "FULL_HASH_BYTES", 2**20)
    monkeypatch.setattr(record_module, "SAMPLE_BLOCK_BYTES", 2**16)
    big = tmp_path / "big.raw"
    big.write_bytes(np.random.default_rng(0).bytes(5 * 2**20))
    before = fingerprint("restore", [big], {"tile": 256})
    assert before["inputs"][0][0]["hash"] == "sampled"
    assert differences(before, fingerprint("restore", [big], {"tile": 256})) == []
    assert differences(before, fingerprint("restore", [big], {"tile": 128})) == ["setting tile"]
    data = bytearray(big.read_bytes())
    data[10] ^= 0xFF  # inside the first sampled block
    big.write_bytes(bytes(data))
    assert differences(before, fingerprint("restore", [big], {"tile": 256})) == ["input big.raw (content)"]
    data[10] ^= 0xFF
    data[2**16 + 5] ^= 0xFF  # between sampled blocks: only the modification time tells
    big.write_bytes(bytes(data))
    assert differences(before, fingerprint("restore", [big], {"tile": 256})) == ["input big.raw (content)"]


def test_record_room_is_reserved_before_work_and_a_placeholder_is_never_trusted(tmp_path):
    from hsi.errors import WriteError
    from hsi.io.record import drop_reservations, reserve, write_record

    output = tmp_path / "out.tif"
    reserve(output)
    assert record_path(output).stat().st_size == record_module.RESERVED_BYTES
    output.write_bytes(b"data")
    expected = fingerprint("convert", [], {"dtype": None})
    assert "record was never finished" in matching_record(output, expected)[1]  # a run still going, or killed
    write_record(output, expected)  # into the reserved room, in place
    assert matching_record(output, expected) == (True, "") and record_path(output).stat().st_size < 4096
    other = tmp_path / "other.tif"
    reserve(other)
    drop_reservations()  # the job ended without completing `other`: no placeholder left behind
    assert not record_path(other).exists() and record_path(output).exists()
    with pytest.raises(WriteError, match="could not reserve room for its completion record"):
        reserve(tmp_path / "out.tif" / "inside-a-file.tif")  # no room (here: not a folder)


def test_a_record_longer_than_its_reserved_room_survives_the_end_of_the_job(tmp_path):
    """Before: a record over RESERVED_BYTES was written beside the room, the room stayed
    listed as a placeholder, and the job's drop_reservations() deleted the finished record
    (`info input=ENMAP_DIR report=x.json`: 12 input files, no record, so batch redid it every run)."""
    from hsi.io.record import drop_reservations, reserve, write_record

    output = tmp_path / "out.tif"
    reserve(output)
    output.write_bytes(b"data")
    expected = fingerprint("convert", [], {"long": "x" * 2 * record_module.RESERVED_BYTES})
    write_record(output, expected)
    drop_reservations()
    assert matching_record(output, expected) == (True, "")

"""A record check reads no unchanged input again (a product folder is hundreds of MB), and still
detects any file of it that changed, even one whose modification time was set back."""

import os

import numpy as np

from hsi.io import record as record_module
from hsi.io.record import fingerprint, matching_record, remember_inputs, write_record


def _product(folder, rng):
    folder.mkdir()
    for name, size in (("SPECTRAL_IMAGE.TIF", 300_000), ("METADATA.XML", 4_000), ("QL_PIXELMASK.TIF", 20_000)):
        (folder / name).write_bytes(rng.bytes(size))
    return folder


def _hashed_files(monkeypatch):
    hashed = []
    real = record_module.content_hash

    def counting(path):
        hashed.append(path.name)
        return real(path)

    monkeypatch.setattr(record_module, "content_hash", counting)
    return hashed


def test_an_unchanged_product_folder_is_not_read_again_and_a_changed_file_is_still_found(tmp_path, monkeypatch):
    product = _product(tmp_path / "ENMAP_L2A", np.random.default_rng(0))
    output = tmp_path / "out.tif"
    output.write_bytes(b"result")
    settings = {"method": "tv"}
    write_record(output, fingerprint("restore", [product], settings))
    record_module._known_hashes.clear()  # a later process: nothing hashed yet
    hashed = _hashed_files(monkeypatch)

    remember_inputs(output)
    assert matching_record(output, fingerprint("restore", [product], settings)) == (True, "")
    assert hashed == ["out.tif"]  # the output's own file; none of the product's three

    # One file rewritten in place, same size, its modification time set back: found all the same.
    target = product / "QL_PIXELMASK.TIF"
    stat = target.stat()
    changed = bytearray(target.read_bytes())
    changed[10_000] ^= 0xFF
    target.write_bytes(bytes(changed))
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert target.stat().st_mtime_ns == stat.st_mtime_ns and target.stat().st_size == stat.st_size
    record_module._known_hashes.clear()
    hashed.clear()
    remember_inputs(output)
    ok, why = matching_record(output, fingerprint("restore", [product], settings))
    assert not ok and "input QL_PIXELMASK.TIF (content)" in why
    assert "QL_PIXELMASK.TIF" in hashed and "SPECTRAL_IMAGE.TIF" not in hashed  # only the changed file re-read


def test_a_record_without_file_states_is_checked_by_reading_the_files(tmp_path, monkeypatch):
    """Records written before file states were kept (no inode / ctime): every file is hashed, as before."""
    product = _product(tmp_path / "P", np.random.default_rng(1))
    output = tmp_path / "out.tif"
    output.write_bytes(b"result")
    expected = fingerprint("restore", [product], {})
    for entry in expected["inputs"][0]:
        for key in ("device", "inode", "ctime_ns"):
            entry.pop(key)
    write_record(output, expected)
    record_module._known_hashes.clear()
    hashed = _hashed_files(monkeypatch)
    remember_inputs(output)
    assert matching_record(output, fingerprint("restore", [product], {})) == (True, "")
    assert sorted(hashed) == ["METADATA.XML", "QL_PIXELMASK.TIF", "SPECTRAL_IMAGE.TIF", "out.tif"]

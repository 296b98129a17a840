"""Completion records: a small JSON manifest written beside an output, last, once it is complete.

A record says what computation made an output: the job, the identity of every input (size,
modification time and a content hash), the job's full resolved settings (method and tiling
included) and hsi's version, plus the files written with their sizes. ``batch`` trusts an
existing output only when its record matches what it would compute now, and ``resume``
uses the same fingerprint, so a changed method, parameter or input is never taken for done.

A file output ``out.tif`` gets ``out.tif.hsi-record.json``; a folder output (``unmix``)
gets ``<folder>/hsi-record.json``. Its room is reserved before any work (:func:`reserve`),
so a disk that fills up during the run cannot leave a finished output without its record;
the record is then written into that room in place and fsynced. A placeholder, or a record
torn by a crash, does not parse as a complete record and is never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable

from hsi import __version__
from hsi.errors import WriteError
from hsi.io.atomic import atomic_write
from hsi.io.guard import input_files, same_file

RECORD_SUFFIX = ".hsi-record.json"
FOLDER_RECORD = "hsi-record.json"
FULL_HASH_BYTES = 64 * 2**20  # files up to this size are hashed whole
SAMPLE_BLOCK_BYTES = 2**20  # larger ones: the first and last MiB and SAMPLE_BLOCKS evenly spaced MiB
SAMPLE_BLOCKS = 16
RESERVED_BYTES = 4096  # room kept for a record from the start of a run (records take 0.5-2 kB)
_reserved: set[Path] = set()  # placeholders this process made and has not yet filled


def record_path(output: Path | str) -> Path:
    """Where the record of ``output`` lives (inside a folder output, beside a file output)."""
    output = Path(output)
    return output / FOLDER_RECORD if output.is_dir() else output.with_name(output.name + RECORD_SUFFIX)


def scene_files(path: Path | str) -> list[Path]:
    """The existing files a scene path stands for, each once (see :func:`hsi.io.guard.input_files`)."""
    files: list[Path] = []
    for file in input_files(path):
        if file.is_file() and file not in files:
            files.append(file)
    return files or [Path(path)]


def content_hash(path: Path) -> tuple[str, str]:
    """``(kind, sha256)``: the whole file when small, else its size, ends and evenly spaced blocks.

    A sampled hash misses an edit between the sampled blocks; the modification time in the
    identity covers that case (a rewrite changes it).
    """
    size = path.stat().st_size
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        if size <= FULL_HASH_BYTES:
            for chunk in iter(lambda: handle.read(2**20), b""):
                digest.update(chunk)
            return "full", digest.hexdigest()
        digest.update(str(size).encode())
        step = (size - SAMPLE_BLOCK_BYTES) // (SAMPLE_BLOCKS + 1)
        for offset in [0] + [step * (k + 1) for k in range(SAMPLE_BLOCKS)] + [size - SAMPLE_BLOCK_BYTES]:
            handle.seek(offset)
            digest.update(handle.read(SAMPLE_BLOCK_BYTES))
    return "sampled", digest.hexdigest()


#: Content hashes of file states already hashed or recorded, by :func:`_state` (see :func:`remember_inputs`).
_known_hashes: dict[tuple, tuple[str, str]] = {}


def _state(path: str, device: Any, inode: Any, size: Any, mtime_ns: Any, ctime_ns: Any) -> tuple | None:
    """A file's state: any write to it changes its change time (``ctime``), which, unlike the
    modification time, no program can set back; with device, inode, size and mtime unchanged too,
    its content is the one hashed in that state. None when a part is unknown (an older record)."""
    state = (path, device, inode, size, mtime_ns, ctime_ns)
    return None if any(part is None for part in state) else state


def file_identity(path: Path | str) -> dict:
    """Size, modification time and content hash of one file (and its device, inode and change
    time, so a later check of an unchanged file reuses the hash instead of reading it again)."""
    path = Path(path)
    if not path.is_file():
        return {"path": str(path.resolve()), "size": None, "mtime_ns": None, "hash": "missing", "sha256": None}
    stat = path.stat()
    state = _state(str(path.resolve()), stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    kind, digest = _known_hashes.get(state) or content_hash(path)
    _known_hashes[state] = (kind, digest)
    return {"path": state[0], "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "hash": kind, "sha256": digest,
            "device": stat.st_dev, "inode": stat.st_ino, "ctime_ns": stat.st_ctime_ns}


def remember_inputs(output: Path | str) -> None:
    """Take the input hashes of ``output``'s record as known for the file states it recorded, so
    checking it against a fresh fingerprint reads no unchanged input (a product folder is
    hundreds of MB); a file written since has another change time and is hashed again."""
    record = read_record(output)
    for files in (record or {}).get("inputs") or []:
        for entry in files if isinstance(files, list) else []:
            if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
                continue
            state = _state(entry.get("path"), entry.get("device"), entry.get("inode"), entry.get("size"),
                           entry.get("mtime_ns"), entry.get("ctime_ns"))
            if state is not None and entry.get("hash") in ("full", "sampled"):
                _known_hashes.setdefault(state, (entry["hash"], entry["sha256"]))


def input_identity(path: Path | str) -> list[dict]:
    """The identity of every file behind a scene path (see :func:`scene_files`)."""
    return [file_identity(p) for p in scene_files(path)]


def _same_file(recorded: dict, current: dict) -> bool:
    """Same content: equal hashes, and for a sampled hash also an equal modification time."""
    if recorded.get("size") != current["size"] or recorded.get("sha256") != current["sha256"]:
        return False
    return current["hash"] == "full" or recorded.get("mtime_ns") == current["mtime_ns"]


def fingerprint(job: str, inputs: Iterable[Path | str | None], settings: dict) -> dict:
    """What determines an output: job, inputs' identities, resolved settings, hsi's version."""
    return {"job": job,
            "inputs": [input_identity(p) for p in inputs if p not in (None, "")],
            "settings": json.loads(json.dumps(settings, default=str)),
            "hsi_version": __version__}


def differences(recorded: dict, expected: dict) -> list[str]:
    """What differs between two fingerprints, in words (empty when they match)."""
    changed = [key for key in ("job", "hsi_version") if recorded.get(key) != expected.get(key)]
    old, new = recorded.get("settings") or {}, expected.get("settings") or {}
    changed += [f"setting {key}" for key in _changed_keys(old, new)]
    old_inputs, new_inputs = recorded.get("inputs") or [], expected.get("inputs") or []
    if len(old_inputs) != len(new_inputs):
        changed.append("number of inputs")
    for old_files, new_files in zip(old_inputs, new_inputs):
        if len(old_files) != len(new_files):
            changed.append(f"input {Path(new_files[0]['path']).name} (files added or removed)")
            continue
        edited = [n for o, n in zip(old_files, new_files) if not _same_file(o, n)]
        if edited:  # name the file that changed (a product folder holds many)
            changed.append(f"input {Path(edited[0]['path']).name} (content)")
    return changed


def _changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        return [k for key in keys for k in _changed_keys(old.get(key), new.get(key), f"{prefix}{key}.")]
    return [] if old == new else [prefix.rstrip(".")]


def output_files(output: Path, extra: Iterable[Path | str | None] = ()) -> list[Path]:
    """The files an output consists of: a folder's files, or the file (with its ENVI partner) and ``extra``."""
    output = Path(output)
    if output.is_dir():
        files = sorted(p for p in output.rglob("*") if p.is_file() and p.name != FOLDER_RECORD)
    else:
        files = scene_files(output)
    files += [Path(p) for p in extra if p not in (None, "") and Path(p) not in files]
    return [p for p in files if p.is_file()]


def write_record(output: Path | str, expected: dict, extra_files: Iterable[Path | str | None] = ()) -> Path:
    """Write the completion record of ``output`` (call it last, once every file is in place)."""
    output = Path(output)
    files = [{"path": os.path.relpath(p, output if output.is_dir() else output.parent), "size": p.stat().st_size,
              "sha256": content_hash(p)[1]} for p in output_files(output, extra_files)]
    record = {**expected, "complete": True, "files": files}
    text = (json.dumps(record, indent=1) + "\n").encode()
    path = record_path(output)
    if path.absolute() not in _reserved or len(text) > RESERVED_BYTES:
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(text))
        _reserved.discard(path.absolute())  # a record now, not a placeholder for drop_reservations to remove
        return path
    try:  # into the reserved room: no new disk blocks needed
        with open(path, "r+b") as handle:
            handle.write(text)
            handle.truncate(len(text))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        raise WriteError(f"{output}: could not write its completion record ({os.strerror(error.errno or 0)})") from None
    _reserved.discard(path.absolute())
    return path


def reserve(output: Path | str) -> Path:
    """Write a placeholder record of :data:`RESERVED_BYTES` for ``output`` before any work.

    A full disk fails here, in one line, rather than after the output is made.
    """
    path = record_path(output)
    placeholder = json.dumps({"complete": False, "note": "reserved for the completion record of a running job"})
    try:
        with open(path, "wb") as handle:
            handle.write(placeholder.encode().ljust(RESERVED_BYTES, b" "))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        try:
            path.unlink(missing_ok=True)
        except OSError:  # no folder to hold it either
            pass
        raise WriteError(f"{output}: could not reserve room for its completion record "
                         f"({os.strerror(error.errno or 0)}); nothing was written") from None
    _reserved.add(path.absolute())
    return path


def drop_reservations() -> None:
    """Remove the placeholders of this process that never became records (a job failed, or extra files)."""
    for path in list(_reserved):
        path.unlink(missing_ok=True)
        _reserved.discard(path)


def forget_record(output: Path | str) -> None:
    """Remove the record of an output about to be rewritten, so a run killed midway leaves no stale one."""
    for path in (Path(output) / FOLDER_RECORD, Path(output).with_name(Path(output).name + RECORD_SUFFIX)):
        if path.is_file():
            path.unlink()


def read_record(output: Path | str) -> dict | None:
    """The record of ``output``, or None when there is none or it cannot be read."""
    try:
        record = json.loads(record_path(output).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def wrote_unchanged(output: Path | str, path: Path | str) -> bool:
    """True when the complete record of ``output`` lists ``path`` among the files its run wrote and
    ``path`` still has the size and content hash recorded (so removing it loses nothing but that run's file)."""
    output, path = Path(output), Path(path)
    record = read_record(output)
    if record is None or record.get("complete") is not True or not path.is_file():
        return False
    base = output if output.is_dir() else output.parent
    for entry in record.get("files", []):
        if isinstance(entry, dict) and same_file(base / str(entry.get("path")), path):
            return path.stat().st_size == entry.get("size") and content_hash(path)[1] == entry.get("sha256")
    return False


def owner_of(path: Path | str) -> Path | None:
    """The output whose completion record (in ``path``'s folder) lists ``path`` as one of its files,
    or None. ``a.tif`` and ``a.h5`` share ``a_report.json`` by the path rule: this says whose it is."""
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        return None
    for found in sorted(folder.glob("*" + RECORD_SUFFIX)) + [folder / FOLDER_RECORD]:
        owner = folder if found.name == FOLDER_RECORD else found.with_name(found.name[:-len(RECORD_SUFFIX)])
        record = read_record(owner) if found.is_file() else None
        entries = record.get("files", []) if isinstance(record, dict) else []
        if any(isinstance(e, dict) and same_file(folder / str(e.get("path")), path) for e in entries):
            return owner
    return None


def unrecorded_reason(output: Path | str) -> str:
    """Why an existing ``output`` has no complete record to vouch for it, in words ('' when it has one).

    Outputs are renamed into place whole and their record is written after them, so a run
    killed between the two leaves an output that looks complete and is not vouched for: it may
    be that run's whole output, or an older one it was replacing. Either way it is never trusted.
    """
    path = record_path(output)
    looks = "it looks complete but cannot be trusted"
    if not path.exists():
        return (f"output exists but has no completion record (a run stopped after writing it and before recording it "
                f"complete, or hsi did not make it): {looks}")
    record = read_record(output)
    if record is None or record.get("complete") is not True:
        return (f"output exists but its completion record was never finished (the run that claimed it stopped before "
                f"recording it complete): {looks}")
    return ""


def matching_record(output: Path | str, expected: dict) -> tuple[bool, str]:
    """``(True, "")`` when ``output`` is complete and made by ``expected``; else ``(False, why)``."""
    output = Path(output)
    if not output.exists():
        return False, "no output yet"
    unrecorded = unrecorded_reason(output)
    if unrecorded:
        return False, unrecorded
    record = read_record(output)
    base = output if output.is_dir() else output.parent
    for entry in record.get("files", []):
        target = base / entry["path"]
        if not target.is_file():
            return False, f"{entry['path']} is missing"
        if target.stat().st_size != entry["size"]:
            return False, f"{entry['path']} changed size since it was written ({target.stat().st_size} != {entry['size']} bytes)"
        if content_hash(target)[1] != entry.get("sha256"):
            return False, f"{entry['path']} changed since it was written (content hash differs)"
    changed = differences(record, expected)
    if changed:
        return False, "made with different " + ", ".join(changed)
    return True, ""

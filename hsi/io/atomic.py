"""Output files that appear whole or not at all: temporary sibling, fsync, rename.

Every file hsi writes (scenes, reports, quicklooks, tables) goes through here. The
temporary name carries the host and process id (``.NAME.HOST.PID-RANDOM.part``), so a
later writer of the same output can tell the debris of a killed run (its process is
gone) from a write in progress, and removes only the former.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import uuid
from pathlib import Path
from typing import Callable, Iterable

from hsi.errors import WriteError

_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def temporary_sibling(path: Path) -> Path:
    """A hidden temporary name in the output's folder, so the final rename is atomic."""
    path = Path(path)
    return path.with_name(f".{path.name}.{_HOST}.{os.getpid()}-{uuid.uuid4().hex[:8]}.part")


def _owner_pid(candidate: Path, output: Path) -> int | None:
    pattern = rf"\.{re.escape(output.name)}\.{re.escape(_HOST)}\.(\d+)-[0-9a-f]{{8}}\.part(\..+)?"
    match = re.fullmatch(pattern, candidate.name)
    return int(match.group(1)) if match else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete this output's temporary files left by runs on this host that are no longer alive."""
    path = Path(path)
    removed = []
    if not path.parent.is_dir():
        return removed
    for candidate in path.parent.glob(f".{_glob_escape(path.name)}.*.part*"):
        pid = _owner_pid(candidate, path)
        if pid is not None and pid != os.getpid() and not _alive(pid) and candidate.is_file():
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def _glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def reserve_space(path: Path) -> None:
    """Allocate the whole of an (empty, sparse) file now, so a full disk fails here.

    Memory-mapped writers otherwise meet the full disk as a SIGBUS in the middle of the run.
    """
    fd = os.open(path, os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        if size:
            os.posix_fallocate(fd, 0, size)
    except OSError as error:
        if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # file systems without fallocate
            raise
    finally:
        os.close(fd)


def sync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_folder(folder: Path) -> None:
    """Make a rename durable; file systems that cannot sync a folder are let through."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as error:
        if error.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def publish(parts: Iterable[tuple[Path, Path]]) -> None:
    """fsync every temporary file, rename each onto its final path in order, fsync the folders."""
    parts = [(Path(t), Path(f)) for t, f in parts]
    for temporary, _ in parts:
        sync_file(temporary)
    for temporary, final in parts:
        os.replace(temporary, final)
    for folder in {final.parent for _, final in parts}:
        sync_folder(folder)


def failure(path: Path, error: BaseException) -> WriteError:
    """The one-line error for an output that could not be written."""
    if isinstance(error, OSError) and error.errno:
        cause = os.strerror(error.errno)  # h5py's and GDAL's own texts run over several lines
        if error.filename and Path(error.filename).name != Path(path).name and not Path(error.filename).name.startswith("."):
            cause += f": {error.filename}"
    else:
        cause = " ".join(str(error).split()) or type(error).__name__
    return WriteError(f"{path}: could not write the output ({cause}); nothing was left at that path")


def atomic_write(path: Path | str, write: Callable[[Path], None]) -> Path:
    """Call ``write(temporary_path)``, then fsync and rename the result onto ``path``.

    On any failure the temporary file is removed; an ``OSError`` becomes a :class:`WriteError`
    naming ``path`` and the cause (disk full, read-only folder, ...).
    """
    path = Path(path)
    temporary = temporary_sibling(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        write(temporary)
        publish([(temporary, path)])
    except OSError as error:
        raise failure(path, error) from error
    finally:
        temporary.unlink(missing_ok=True)
    return path

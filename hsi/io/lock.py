"""Output locks: one hsi run at a time may write an output.

A lock is an exclusive ``flock`` on ``<output>.lock`` (beside a file or a folder output) that
holds the owner's pid. The kernel drops it when the owner exits, however it dies (SIGKILL
included), so a stale lock file never blocks a later run; the owner removes the file when it
releases the lock. Locks are re-entrant within a process (a job that opens the same output
twice, tests that run jobs in-process) and exclusive between processes.
"""

from __future__ import annotations

import errno
import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from hsi.errors import OutputLockedError
from hsi.io.atomic import failure

LOCK_SUFFIX = ".lock"

_held: dict[Path, tuple[int, int]] = {}  # lock file -> (descriptor, re-entry count)


def lock_path(output: Path | str) -> Path:
    output = Path(output).expanduser().absolute()
    return output.with_name(output.name + LOCK_SUFFIX)


def _owner(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        pid = ""
    return f"pid {pid}" if pid.isdigit() else "pid unknown"


def acquire(output: Path | str) -> Path:
    """Take the lock of ``output`` (kept until :func:`release` or the process ends).

    Raises :class:`OutputLockedError` naming the owner's pid when another process holds it.
    In a folder where no file can be created (read-only, immutable, missing and not creatable)
    nothing is locked: no run can write the output there either, and the output checks that
    follow say so in one line; any other failure to make the lock file (a file where a folder
    of the path should be) is that one line here.
    """
    path = lock_path(output).absolute()
    if path in _held:
        fd, count = _held[path]
        _held[path] = (fd, count + 1)
        return path
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.ENOSPC):
                return path
            if error.errno == errno.EEXIST:  # mkdir met a file where the path needs a folder
                error = NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), error.filename)
            raise failure(Path(output), error) from None  # e.g. a place where nothing can be made (/proc)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputLockedError(f"{Path(output)}: output is being written by another hsi run ({_owner(path)})") from None
        # The previous owner may have removed the file between our open and our flock:
        # then we hold a lock on a deleted file, so start again on the current one.
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError:  # a full disk: the lock holds without the pid
        pass
    _held[path] = (fd, 1)
    return path


def release(output: Path | str) -> None:
    """Give the lock of ``output`` back (the last release of a re-entered lock removes the file)."""
    path = lock_path(output).absolute()
    if path not in _held:
        return
    fd, count = _held.pop(path)
    if count > 1:
        _held[path] = (fd, count - 1)
        return
    try:
        path.unlink(missing_ok=True)  # while still locked, so no other process holds a lock on it
    finally:
        os.close(fd)


def held() -> set[Path]:
    """The lock files this process holds now."""
    return set(_held)


def release_all(keep: set[Path] = frozenset()) -> None:
    """Give back every lock this process holds but those in ``keep`` (a job ended, successfully or not)."""
    for path in list(_held):
        if path not in keep:
            _held[path] = (_held[path][0], 1)
            release(path.with_name(path.name[: -len(LOCK_SUFFIX)]))


@contextmanager
def output_lock(output: Path | str) -> Iterator[Path]:
    """``with output_lock(path):`` holds the lock of ``path`` for the block."""
    path = acquire(output)
    try:
        yield path
    finally:
        release(output)


def is_locked(output: Path | str) -> bool:
    """Whether some process (this one included) holds the lock of ``output`` right now."""
    path = lock_path(output).absolute()
    if path in _held:
        return True
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False

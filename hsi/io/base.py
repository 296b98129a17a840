"""What every format module shares: the input check, the writer protocol, picklable readers."""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
from pathlib import Path
from typing import Callable

import numpy as np

from hsi.errors import HsiError, InputError
from hsi.io.atomic import atomic_write, failure, publish, reserve_space  # noqa: F401  (atomic_write: for callers)
from hsi.scene import Scene, Window


def require_file(path: Path, what: str = "input") -> Path:
    """The path itself, or a clear error when it does not exist or is a directory."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: {what} file not found")
    if path.is_dir():
        raise InputError(f"{path}: {what} is a directory, expected a file")
    return path


class SceneWriter:
    """Writes windows of a ``(rows, cols, bands)`` cube, in any order, to a temporary file.

    ``close()`` finishes the file, checks it (:meth:`_verify`), fsyncs and renames it into
    place; leaving the ``with`` block on an exception, or any failure while writing or
    closing, removes the temporary files instead, so no half-written output ever appears.
    A failed write (disk full, I/O error) is raised as one :class:`WriteError` naming the
    output. Subclasses set ``self._parts``: ``(temporary, final)`` path pairs, renamed in order.
    """

    def __init__(self, path: Path, like: Scene):
        self.path = Path(path)
        self.like = like
        self.shape = like.shape
        self.dtype = np.dtype(like.dtype)
        self._parts: list[tuple[Path, Path]] = []
        self._closed = False

    @classmethod
    def outputs(cls, path: Path, **options) -> tuple[Path, ...]:
        """Every final file a writer of ``path`` creates or replaces (for the input guards)."""
        return (Path(path),)

    # subclasses implement these
    def _write(self, window: Window, block: np.ndarray) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        """Flush and close file handles before the rename."""

    def _verify(self) -> None:
        """Check the finished temporary file; raise when it is not what was written."""

    def write(self, window: Window, block: np.ndarray) -> None:
        """Write ``block`` of shape ``(window.height, window.width, bands)``."""
        expected = (window.height, window.width, self.shape[2])
        if block.shape != expected:
            raise InputError(f"{self.path}: block of shape {block.shape} does not fit window {window} (expected {expected})")
        if window.clip(self.shape[0], self.shape[1]) != window:
            raise InputError(f"{self.path}: window {window} is outside the {self.shape[0]} x {self.shape[1]} output")
        try:
            self._write(window, np.asarray(block).astype(self.dtype, copy=False))
        except HsiError:
            raise
        except Exception as error:  # whatever the format library raises for a failed write
            self.abort()
            raise failure(self.path, error) from error

    def close(self) -> Path:
        if not self._closed:
            try:
                self._finish()
                self._verify()
                publish(self._parts)
            except HsiError:
                self.abort()
                raise
            except Exception as error:
                self.abort()
                raise failure(self.path, error) from error
            self._closed = True
        return self.path

    def abort(self) -> None:
        """Drop the temporary files; errors while closing a failed file are not the news."""
        if self._closed:
            return
        self._closed = True
        try:
            self._finish()
        except Exception:
            pass
        finally:
            for temporary, _ in self._parts:
                Path(temporary).unlink(missing_ok=True)

    def __enter__(self) -> "SceneWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


_LIBC = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_MADV_DONTNEED = getattr(mmap, "MADV_DONTNEED", 4)


def release_pages(view: np.ndarray) -> None:
    """Unmap from this process the pages under ``view``, a view of a shared file mapping.

    Pages of a memory-mapped file stay in the process's resident set until they are
    unmapped: a streamed output written through a map of the whole file would hold the whole
    output (0.9 GB at 1,024 x 1,024 x 200) by the end. ``madvise(MADV_DONTNEED)`` on a shared
    file mapping only drops the mapping of those pages: what was written stays in the page
    cache (dirty pages are still written back, the fsync at close still covers them), and a
    later access maps them again. Only whole pages are released, starting at the page that
    holds ``view``'s first byte (maps are page-aligned, so that page is the map's own).
    """
    start, end = np.lib.array_utils.byte_bounds(view)
    first = start - start % mmap.PAGESIZE
    if _LIBC.madvise(ctypes.c_void_p(first), ctypes.c_size_t(end - first), _MADV_DONTNEED) != 0:
        raise OSError(ctypes.get_errno(), "madvise(MADV_DONTNEED) failed on an output map")


class MemmapWriter(SceneWriter):
    """A writer through a ``(rows, cols, bands)`` memory map of a preallocated temporary file.

    Subclasses create the file and call :meth:`_map`; the space is reserved first, so a
    full disk is an error at the start, not a SIGBUS halfway through. Each written window's
    pages are released from the process (:func:`release_pages`), so a streamed output does not
    hold the whole file resident.
    """

    _memmap = None
    _shared = False

    def _map(self, file: Path, open_view: Callable[[], np.ndarray]) -> None:
        reserve_space(file)
        self._memmap = open_view()
        # only a shared map keeps what was written when its pages are released (a private one would lose it)
        self._shared = isinstance(self._memmap, np.memmap) and self._memmap.mode in ("r+", "w+")

    def _write(self, window: Window, block: np.ndarray) -> None:
        view = self._memmap[window.rows, window.cols, :]
        view[...] = block
        if self._shared:
            release_pages(view)

    def _finish(self) -> None:
        if self._memmap is not None:
            self._memmap.flush()
            self._memmap = None


class LazyHandle:
    """Mixin for readers that keep an open file handle but must stay picklable (Dask)."""

    _handle = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_handle"] = None
        return state

"""What every format module shares: atomic output files and the writer protocol."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable

import numpy as np

from hsi.errors import InputError, OutputExistsError
from hsi.scene import Scene, Window


def require_file(path: Path, what: str = "input") -> Path:
    """The path itself, or a clear error when it does not exist or is a directory."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: {what} file not found")
    if path.is_dir():
        raise InputError(f"{path}: {what} is a directory, expected a file")
    return path


def check_output(path: Path, overwrite: bool, inputs: tuple[Path, ...] = ()) -> Path:
    """Refuse to overwrite an input ever, and an existing output unless ``overwrite``."""
    path = Path(path)
    resolved = path.resolve()
    for source in inputs:
        if source is not None and Path(source).resolve() == resolved:
            raise OutputExistsError(f"{path}: output would overwrite the input; choose another output path")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: output exists; pass overwrite=true to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def temporary_sibling(path: Path) -> Path:
    """A hidden temporary name in the same folder, so the final rename is atomic."""
    path = Path(path)
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")


class SceneWriter:
    """Writes windows of a ``(rows, cols, bands)`` cube, in any order, to a temporary file.

    ``close()`` renames the finished file(s) into place; leaving the ``with`` block on an
    exception removes them instead, so a failed job never leaves a half-written output.
    Subclasses set ``self._parts``: ``(temporary, final)`` path pairs, renamed in order.
    """

    def __init__(self, path: Path, like: Scene):
        self.path = Path(path)
        self.like = like
        self.shape = like.shape
        self.dtype = np.dtype(like.dtype)
        self._parts: list[tuple[Path, Path]] = []
        self._closed = False

    # subclasses implement these two
    def _write(self, window: Window, block: np.ndarray) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        """Flush and close file handles before the rename."""

    def write(self, window: Window, block: np.ndarray) -> None:
        """Write ``block`` of shape ``(window.height, window.width, bands)``."""
        expected = (window.height, window.width, self.shape[2])
        if block.shape != expected:
            raise InputError(f"{self.path}: block of shape {block.shape} does not fit window {window} (expected {expected})")
        if window.clip(self.shape[0], self.shape[1]) != window:
            raise InputError(f"{self.path}: window {window} is outside the {self.shape[0]} x {self.shape[1]} output")
        self._write(window, np.asarray(block).astype(self.dtype, copy=False))

    def close(self) -> Path:
        if not self._closed:
            self._finish()
            for temporary, final in self._parts:
                os.replace(temporary, final)
            self._closed = True
        return self.path

    def abort(self) -> None:
        if self._closed:
            return
        try:
            self._finish()
        finally:
            for temporary, _ in self._parts:
                Path(temporary).unlink(missing_ok=True)
            self._closed = True

    def __enter__(self) -> "SceneWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(temporary_path)`` then rename the result to ``path``."""
    path = Path(path)
    temporary = temporary_sibling(path)
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


class LazyHandle:
    """Mixin for readers that keep an open file handle but must stay picklable (Dask)."""

    _handle = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_handle"] = None
        return state

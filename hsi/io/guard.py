"""Output guards: no write may replace an input, and none replaces an output unasked.

A writer touches more than the path it was given (an ENVI header and its binary file, a
``.npy`` and its sidecar, GDAL's ``.aux.xml``); an input is more than its path too (an
ENVI header names a data file). Both sides are compared as files (same inode, through
symbolic and hard links), not as strings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from hsi.errors import InputError, OutputExistsError, WriteError
from hsi.io import envi, numpy_io
from hsi.io.atomic import failure


def input_files(path: Path | str | None) -> list[Path]:
    """Every file a scene at ``path`` is made of (ENVI header + binary, ``.npy`` + sidecar,
    a product folder's files).

    A product folder (EnMAP, Landsat) is read from the files in it, so those files are the
    input: no output may replace one, and a changed one changes the input's identity.
    """
    if path in (None, ""):
        return []
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    files = [path]
    suffix = path.suffix.lower()
    if suffix in envi.SUFFIXES or (suffix in envi.DATA_SUFFIXES and envi.header_path_for(path).exists()):
        header = envi.header_path_for(path)
        files.append(header)
        try:
            files.append(envi.data_path_for(header))
        except InputError:
            pass
    if suffix in numpy_io.SUFFIXES:
        files.append(numpy_io.sidecar_path(path))
    return files


def same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name one file: equal real paths, or the same inode."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def refuse_inputs(output: Path, touched: Iterable[Path], inputs: Iterable[Path | None]) -> None:
    """Raise when writing ``output`` would create or replace any file of ``inputs``."""
    sources = [f for source in inputs for f in input_files(source)]
    for target in touched:
        for source in sources:
            if same_file(target, source):
                what = "" if same_file(target, output) else f" (it writes {Path(target).name})"
                raise OutputExistsError(f"{output}: output would overwrite the input {source}{what}; "
                                        "choose another output path")


def check_output(path: Path, overwrite: bool, inputs: Iterable[Path | None] = (),
                 touched: Iterable[Path] | None = None) -> Path:
    """Refuse to replace an input ever, and an existing output unless ``overwrite``.

    ``touched`` lists every file the writer creates or replaces (default: ``path`` alone).
    The output's folder is created here, so a read-only place fails before any work.
    """
    path = Path(path)
    touched = [path] if touched is None else [Path(t) for t in touched]
    refuse_inputs(path, touched, inputs)
    if path.is_dir():
        raise OutputExistsError(f"{path}: output is a folder; give a file name")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: output exists; pass overwrite=true to replace it")
    make_folder(path.parent)
    if not os.access(path.parent, os.W_OK):
        raise WriteError(f"{path}: could not write the output (the folder {path.parent} is not writable)")
    return path


def make_folder(folder: Path) -> Path:
    """``mkdir -p`` whose failure (read-only, immutable, a file in the way) is one line."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise failure(Path(folder), error) from None
    return Path(folder)


def check_output_folder(folder: Path, files: Iterable[str], overwrite: bool,
                        inputs: Iterable[Path | None] = ()) -> Path:
    """A folder a job fills with ``files``: refuse one that is a file, one whose files-to-be
    written include an input, and (unless ``overwrite``) one that already holds files."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputExistsError(f"{folder}: output must be a folder, but a file has that name")
    refuse_inputs(folder, [folder / name for name in files], inputs)
    if folder.exists() and any(folder.iterdir()) and not overwrite:
        raise OutputExistsError(f"{folder}: output folder is not empty; pass overwrite=true to reuse it")
    return make_folder(folder)

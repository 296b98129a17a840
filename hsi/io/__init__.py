"""Open and write hyperspectral scenes in any supported format, chosen by extension.

>>> scene = open_scene("flight.hdr")                 # lazy: nothing read yet
>>> block = scene.read(Window(0, 0, 256, 256), bands=[10, 20, 30])
>>> save_scene(scene, "flight.tif")                   # streamed block by block, atomic

Formats: ENVI (.hdr, or the binary beside it), GeoTIFF (.tif/.tiff), HDF5 (.h5/.hdf5),
MATLAB (.mat, v5 and v7.3) and NumPy (.npy). ``format=`` overrides the extension.
Mission products (EMIT, EnMAP, ... files or folders) are recognised first: see
:mod:`hsi.io.products`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from hsi.errors import FormatError, HsiError
from hsi.io import envi, geotiff, hdf5, matlab, numpy_io, products
from hsi.io import guard
from hsi.io.atomic import failure, remove_stale_temporaries, temporary_sibling
from hsi.io.base import SceneWriter
from hsi.scene import Scene, Window

__all__ = ["open_scene", "save_scene", "create_writer", "check_output", "output_files", "format_of", "FORMATS",
           "Window", "Scene"]

DEFAULT_BLOCK_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Format:
    name: str
    suffixes: tuple[str, ...]
    open: Callable[..., Scene]
    writer: type[SceneWriter]


FORMATS = {
    f.name: f
    for f in (
        Format("envi", envi.SUFFIXES, envi.open_envi, envi.EnviWriter),
        Format("geotiff", geotiff.SUFFIXES, geotiff.open_geotiff, geotiff.GeoTiffWriter),
        Format("hdf5", hdf5.SUFFIXES, hdf5.open_hdf5, hdf5.Hdf5Writer),
        Format("matlab", matlab.SUFFIXES, matlab.open_matlab, matlab.MatlabWriter),
        Format("npy", numpy_io.SUFFIXES, numpy_io.open_npy, numpy_io.NpyWriter),
    )
}


def format_of(path: Path | str, format: str | None = None, *, reading: bool = False) -> Format:
    """The format named by ``format``, else by the path's extension (ENVI binaries too)."""
    path = Path(path)
    if format is not None:
        if format.lower() not in FORMATS:
            raise FormatError(f"{path}: unknown format {format!r}; choose one of {', '.join(FORMATS)}")
        return FORMATS[format.lower()]
    suffix = path.suffix.lower()
    for candidate in FORMATS.values():
        if suffix in candidate.suffixes:
            return candidate
    if reading and suffix in envi.DATA_SUFFIXES and envi.header_path_for(path).exists():
        return FORMATS["envi"]
    known = ", ".join(s for f in FORMATS.values() for s in f.suffixes)
    raise FormatError(f"{path}: unknown file extension {suffix or '(none)'!r}; supported: {known} (or pass format=)")


def open_scene(path: Path | str, format: str | None = None, **options) -> Scene:
    """Open a scene lazily. ``options`` go to the format's reader (e.g. ``key``, ``layout``)."""
    path = Path(path)
    if not path.exists() and not (path.suffix.lower() in envi.DATA_SUFFIXES and envi.header_path_for(path).exists()):
        raise FormatError(f"{path}: input file not found")
    product = products.detect(path) if format is None else None
    if product is not None:
        if options:
            raise FormatError(f"{path}: a {product.name} product is read from its own layout; "
                              f"reader options ({', '.join(options)}) do not apply (pass format= to read it as a plain file)")
        return product.open(path)
    return format_of(path, format, reading=True).open(path, **options)


def output_files(path: Path | str, format: str | None = None, **options) -> tuple[Path, ...]:
    """Every file writing ``path`` creates or replaces; just ``path`` for non-scene files."""
    path = Path(path)
    try:
        fmt = format_of(path, format)
    except FormatError:
        if format is not None:
            raise
        return (path,)
    return fmt.writer.outputs(path, **options)


def check_output(path: Path | str, overwrite: bool, inputs=(), format: str | None = None, **options) -> Path:
    """Refuse an output that would replace any file of an input, or an existing output unasked."""
    return guard.check_output(Path(path), overwrite, inputs, output_files(path, format, **options))


def create_writer(
    path: Path | str,
    like: Scene,
    *,
    overwrite: bool = False,
    format: str | None = None,
    inputs: tuple[Path, ...] = (),
    **options,
) -> SceneWriter:
    """A writer for a scene shaped and described like ``like`` (see :meth:`Scene.derived`).

    Use it as a context manager; the file appears under ``path`` only when the block ends
    without an exception. ``inputs`` are paths that must never be overwritten (every file
    of each, e.g. an ENVI header's binary). Temporary files that killed runs left for the
    same output are removed first.
    """
    path = Path(path)
    fmt = format_of(path, format)
    inputs = tuple(inputs) + ((like.path,) if like.path else ())
    guard.check_output(path, overwrite, inputs, fmt.writer.outputs(path, **options))
    temporary = temporary_sibling(path)
    try:
        remove_stale_temporaries(path)
        return fmt.writer(path, like, temporary=temporary, **options)
    except BaseException as error:
        for debris in path.parent.glob(temporary.name + "*"):
            debris.unlink(missing_ok=True)
        if isinstance(error, HsiError) or not isinstance(error, Exception):
            raise
        raise failure(path, error) from error


def save_scene(
    scene: Scene,
    path: Path | str,
    *,
    overwrite: bool = False,
    format: str | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    dtype: np.dtype | type | None = None,
    progress: bool = False,
    **options,
) -> Path:
    """Write ``scene`` to ``path`` block by block (memory bounded by ``block_bytes``)."""
    like = scene if dtype is None else scene.derived(dtype=dtype)
    writer = create_writer(path, like if like.path is None else like.derived(), overwrite=overwrite, format=format,
                           inputs=(scene.path,) if scene.path else (), **options)
    windows = list(scene.windows(scene.block_rows_for(block_bytes)))
    if progress:
        from tqdm import tqdm

        windows = tqdm(windows, desc=f"writing {Path(path).name}", unit="block")
    with writer:
        for window in windows:
            writer.write(window, scene.read(window))
    return writer.path

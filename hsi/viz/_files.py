"""Atomic figure and image writing shared by the quicklook and plot modules."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hsi.errors import ParameterError


def image_format(path: Path) -> str:
    """The file format matplotlib should write, from the suffix (PNG when there is none)."""
    fmt = Path(path).suffix[1:].lower() or "png"
    supported = FigureCanvasAgg.get_supported_filetypes()
    if fmt not in supported:
        raise ParameterError(f"{path}: cannot write images of type '.{fmt}'; use one of {sorted(supported)}")
    return fmt


def write_atomically(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(temporary_path)`` then move the result onto ``path`` in one step.

    The temporary file sits in the destination folder so :func:`os.replace` never crosses
    file systems; a reader never sees a half-written image, and a failed write leaves no debris.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600 files; give the image the usual mode
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def new_figure(width_in: float, height_in: float) -> Figure:
    """A figure on the Agg canvas: no pyplot, no global backend state, no screen needed."""
    figure = Figure(figsize=(width_in, height_in), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, path: str | os.PathLike) -> Path:
    """Write ``figure`` atomically to ``path`` (format from the suffix)."""
    path = Path(path)
    fmt = image_format(path)
    return write_atomically(path, lambda temporary: figure.savefig(temporary, format=fmt))

"""Figure and image files for the quicklook and plot modules, written through hsi.io.atomic."""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hsi.errors import ParameterError
from hsi.io.atomic import atomic_write


def image_format(path: Path) -> str:
    """The file format matplotlib should write, from the suffix (PNG when there is none)."""
    fmt = Path(path).suffix[1:].lower() or "png"
    supported = FigureCanvasAgg.get_supported_filetypes()
    if fmt not in supported:
        raise ParameterError(f"{path}: cannot write images of type '.{fmt}'; use one of {sorted(supported)}")
    return fmt


def new_figure(width_in: float, height_in: float) -> Figure:
    """A figure on the Agg canvas: no pyplot, no global backend state, no screen needed."""
    figure = Figure(figsize=(width_in, height_in), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, path: str | os.PathLike) -> Path:
    """Write ``figure`` atomically to ``path`` (format from the suffix)."""
    path = Path(path)
    fmt = image_format(path)
    return atomic_write(path, lambda temporary: figure.savefig(temporary, format=fmt))

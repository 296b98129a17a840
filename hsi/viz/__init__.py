"""Quicklooks and plots, drawn with matplotlib's Agg canvas (no screen, no pyplot state)."""

from hsi.viz.plots import plot_spectra, save_band_maps, save_error_map
from hsi.viz.quicklook import (
    TRUE_COLOUR_NM,
    rgb_bands,
    rgb_image,
    save_before_after,
    save_rgb_quicklook,
    stretch_limits,
)

__all__ = [
    "TRUE_COLOUR_NM",
    "plot_spectra",
    "rgb_bands",
    "rgb_image",
    "save_band_maps",
    "save_before_after",
    "save_error_map",
    "save_rgb_quicklook",
    "stretch_limits",
]

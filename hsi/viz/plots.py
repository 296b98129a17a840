"""Figures of results: spectra (e.g. endmembers), per-pixel maps (abundances) and error maps."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from hsi.errors import ParameterError
from hsi.viz._files import new_figure, save_figure
from hsi.viz.quicklook import _as_numpy


def _check_labels(labels: Sequence[str] | None, n: int, what: str) -> list[str]:
    if labels is None:
        return [f"{what} {i}" for i in range(n)]
    labels = [str(label) for label in labels]
    if len(labels) != n:
        raise ParameterError(f"labels has {len(labels)} entries for {n} {what}s")
    return labels


def plot_spectra(
    wavelengths_nm,
    spectra,
    labels: Sequence[str] | None,
    path: str | os.PathLike,
    title: str | None = None,
    ylabel: str = "reflectance",
) -> Path:
    """Line plot of spectra against wavelength (nm), or band index when wavelengths are None.

    Parameters
    ----------
    wavelengths_nm : (bands,) band centres in nm, or None.
    spectra : (bands, n) spectra, one per column (a 1-D array is one spectrum); NaN values
        (e.g. bad bands) leave gaps in the lines.
    labels : n legend entries, or None.
    """
    spectra = _as_numpy(spectra).astype(np.float64)
    if spectra.ndim == 1:
        spectra = spectra[:, None]
    if spectra.ndim != 2:
        raise ParameterError(f"spectra must be (bands, n); got shape {spectra.shape}")
    if wavelengths_nm is None:
        x, xlabel = np.arange(spectra.shape[0]), "band"
    else:
        x, xlabel = np.asarray(wavelengths_nm, dtype=np.float64).reshape(-1), "wavelength (nm)"
        if x.size != spectra.shape[0]:
            raise ParameterError(f"wavelengths_nm has {x.size} values for spectra of {spectra.shape[0]} bands")
    labels = _check_labels(labels, spectra.shape[1], "spectrum")
    figure = new_figure(7.0, 4.0)
    axes = figure.subplots()
    for column, label in enumerate(labels):
        axes.plot(x, spectra[:, column], label=label, linewidth=1.2)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    if labels:
        axes.legend(fontsize="small")
    if title:
        axes.set_title(title)
    return save_figure(figure, path)


def save_band_maps(
    maps,
    labels: Sequence[str] | None,
    path: str | os.PathLike,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    n_cols: int = 4,
) -> Path:
    """A grid of maps with one colour bar each, e.g. abundances (pass vmin=0, vmax=1 to share a scale).

    Parameters
    ----------
    maps : (rows, cols, n) maps; NaN pixels are left blank.
    labels : n panel titles, or None.
    """
    maps = _as_numpy(maps).astype(np.float64)
    if maps.ndim == 2:
        maps = maps[:, :, None]
    if maps.ndim != 3 or maps.shape[2] < 1:
        raise ParameterError(f"maps must be (rows, cols, n); got shape {maps.shape}")
    if n_cols < 1:
        raise ParameterError(f"n_cols must be >= 1; got {n_cols}")
    n = maps.shape[2]
    labels = _check_labels(labels, n, "map")
    grid_cols = min(n, n_cols)
    grid_rows = math.ceil(n / grid_cols)
    aspect = maps.shape[0] / maps.shape[1]
    figure = new_figure(3.2 * grid_cols, 3.2 * grid_rows * aspect + 0.4)
    axes = figure.subplots(grid_rows, grid_cols, squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if index >= n:
            continue
        shown = ax.imshow(maps[:, :, index], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_title(labels[index])
        figure.colorbar(shown, ax=ax, shrink=0.8)
    return save_figure(figure, path)


def save_error_map(
    errors,
    path: str | os.PathLike,
    label: str,
    cmap: str = "magma",
    vmax: float | None = None,
    title: str | None = None,
) -> Path:
    """One per-pixel error map (e.g. spectral angle or RMSE) with a labelled colour bar.

    Parameters
    ----------
    errors : (rows, cols) non-negative errors; NaN pixels are left blank.
    label : colour-bar label, with units (e.g. "SAM (degrees)").
    vmax : top of the colour scale; default the 99th percentile of finite values, so a few
        outliers do not flatten the map (larger values show the top colour).
    """
    errors = _as_numpy(errors).astype(np.float64)
    if errors.ndim != 2:
        raise ParameterError(f"errors must be a (rows, cols) map; got shape {errors.shape}")
    finite = errors[np.isfinite(errors)]
    if vmax is None:
        vmax = float(np.percentile(finite, 99)) if finite.size else 1.0
    vmin = min(0.0, float(finite.min())) if finite.size else 0.0
    if vmax <= vmin:
        vmax = vmin + 1.0
    figure = new_figure(5.0, 4.0 * errors.shape[0] / errors.shape[1] + 0.5)
    axes = figure.subplots()
    shown = axes.imshow(errors, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    axes.set_axis_off()
    if title:
        axes.set_title(title)
    figure.colorbar(shown, ax=axes, label=label, extend="max" if finite.size and finite.max() > vmax else "neither")
    return save_figure(figure, path)

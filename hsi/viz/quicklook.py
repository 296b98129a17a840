"""True-colour quicklooks of hyperspectral cubes: band choice, robust stretch, PNG output.

Cubes are ``(rows, cols, bands)``; reflectance or radiance, any scale. The stretch is a
per-channel linear percentile stretch computed over valid pixels only, so nodata and NaN
never set the contrast; invalid pixels are written fully transparent (alpha 0).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import matplotlib.image
import numpy as np

from hsi.errors import ParameterError
from hsi.io.atomic import atomic_write
from hsi.viz._files import image_format, new_figure, save_figure

#: Red, green and blue band centres used for true colour, in nanometres.
TRUE_COLOUR_NM = (640.0, 550.0, 460.0)


def rgb_bands(
    wavelengths_nm: Sequence[float] | np.ndarray | None,
    targets_nm: Sequence[float] = TRUE_COLOUR_NM,
    n_bands: int | None = None,
) -> tuple[int, int, int]:
    """Indices of the bands nearest to the red, green and blue targets.

    Parameters
    ----------
    wavelengths_nm : (bands,) band centres in nm, or None when unknown.
    targets_nm : three wavelengths in nm (default 640, 550, 460: true colour).
    n_bands : number of bands; needed only when ``wavelengths_nm`` is None, in which case
        the bands at 3/4, 1/2 and 1/4 of the range are used (long to short wavelength when
        bands are in increasing order, as in nearly every sensor).

    Returns
    -------
    (r, g, b) : band indices.
    """
    if len(targets_nm) != 3:
        raise ParameterError(f"targets_nm must hold 3 wavelengths (red, green, blue); got {list(targets_nm)}")
    if wavelengths_nm is None:
        if n_bands is None or n_bands < 1:
            raise ParameterError(f"n_bands must be >= 1 when wavelengths_nm is None; got {n_bands}")
        return tuple(int(round(f * (n_bands - 1))) for f in (0.75, 0.5, 0.25))
    wavelengths = np.asarray(wavelengths_nm, dtype=np.float64).reshape(-1)
    if wavelengths.size == 0 or not np.all(np.isfinite(wavelengths)):
        raise ParameterError("wavelengths_nm must be a non-empty list of finite band centres in nm")
    return tuple(int(np.argmin(np.abs(wavelengths - float(t)))) for t in targets_nm)


def _as_numpy(array) -> np.ndarray:
    if hasattr(array, "detach"):  # a torch tensor, converted without importing torch here
        array = array.detach().cpu().numpy()
    return np.asarray(array)


def _rgb_channels(cube, wavelengths_nm, bands, nodata_mask) -> tuple[np.ndarray, np.ndarray]:
    """The three chosen bands as float64 ``(rows, cols, 3)`` and the valid-pixel mask ``(rows, cols)``."""
    cube = _as_numpy(cube)
    if cube.ndim == 2:
        cube = cube[:, :, None]
    if cube.ndim != 3:
        raise ParameterError(f"cube must be (rows, cols, bands); got shape {cube.shape}")
    n_bands = cube.shape[2]
    if bands is None:
        if wavelengths_nm is not None and np.asarray(wavelengths_nm).size != n_bands:
            raise ParameterError(
                f"wavelengths_nm has {np.asarray(wavelengths_nm).size} values for a cube of {n_bands} bands"
            )
        bands = rgb_bands(wavelengths_nm, n_bands=n_bands)
    bands = [int(b) for b in np.asarray(bands).reshape(-1)]
    if len(bands) not in (1, 3) or min(bands) < -n_bands or max(bands) >= n_bands:
        raise ParameterError(f"bands must be 1 or 3 indices in 0..{n_bands - 1}; got {bands}")
    channels = cube[:, :, bands if len(bands) == 3 else bands * 3].astype(np.float64)
    valid = np.all(np.isfinite(channels), axis=2)
    if nodata_mask is not None:
        mask = _as_numpy(nodata_mask).astype(bool)
        if mask.ndim == 3:
            mask = mask.any(axis=2)
        if mask.shape != valid.shape:
            raise ParameterError(f"nodata_mask has shape {mask.shape}; expected {valid.shape} (rows, cols)")
        valid &= ~mask
    return channels, valid


def stretch_limits(
    cube,
    wavelengths_nm=None,
    bands: Sequence[int] | None = None,
    percentiles: tuple[float, float] = (2.0, 98.0),
    nodata_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Per-channel ``(3, 2)`` array of (low, high) values that :func:`rgb_image` maps to 0 and 255.

    Computed over valid pixels only; an image with no valid pixel gets limits (0, 1).
    """
    low, high = percentiles
    if not 0.0 <= low < high <= 100.0:
        raise ParameterError(f"percentiles must satisfy 0 <= low < high <= 100; got {percentiles}")
    channels, valid = _rgb_channels(cube, wavelengths_nm, bands, nodata_mask)
    if not valid.any():
        return np.tile([0.0, 1.0], (3, 1))
    return np.percentile(channels[valid], [low, high], axis=0).T


def rgb_image(
    cube,
    wavelengths_nm=None,
    bands: Sequence[int] | None = None,
    percentiles: tuple[float, float] = (2.0, 98.0),
    nodata_mask: np.ndarray | None = None,
    limits: np.ndarray | None = None,
) -> np.ndarray:
    """An 8-bit RGBA rendering of three bands of a cube.

    Parameters
    ----------
    cube : (rows, cols, bands) array (numpy or torch).
    wavelengths_nm : (bands,) band centres in nm, used to pick true-colour bands; or None.
    bands : explicit (r, g, b) band indices (one index gives a grey image); overrides wavelengths.
    percentiles : the (low, high) percentiles of valid pixels mapped to 0 and 255, per channel.
    nodata_mask : (rows, cols) or (rows, cols, bands) boolean, True where pixels are missing.
        Non-finite pixels are always treated as missing.
    limits : (3, 2) explicit (low, high) per channel, e.g. from :func:`stretch_limits` on
        another image so that two renderings share one stretch; overrides ``percentiles``.

    Returns
    -------
    (rows, cols, 4) uint8 RGBA; alpha is 0 on missing pixels and 255 elsewhere.
    """
    channels, valid = _rgb_channels(cube, wavelengths_nm, bands, nodata_mask)
    if limits is None:
        limits = stretch_limits(cube, wavelengths_nm, bands, percentiles, nodata_mask)
    limits = np.asarray(limits, dtype=np.float64)
    if limits.shape != (3, 2):
        raise ParameterError(f"limits must have shape (3, 2) (low, high per channel); got {limits.shape}")
    low, high = limits[:, 0], limits[:, 1]
    span = np.where(high > low, high - low, 1.0)  # a flat channel maps to black, not NaN
    scaled = np.clip((channels - low) / span, 0.0, 1.0)
    rgba = np.zeros(channels.shape[:2] + (4,), dtype=np.uint8)
    rgba[:, :, :3] = np.where(valid[:, :, None], np.round(np.nan_to_num(scaled) * 255.0), 0).astype(np.uint8)
    rgba[:, :, 3] = np.where(valid, 255, 0).astype(np.uint8)
    return rgba


def save_rgb_quicklook(
    cube,
    wavelengths_nm,
    path: str | os.PathLike,
    bands: Sequence[int] | None = None,
    nodata_mask: np.ndarray | None = None,
    percentiles: tuple[float, float] = (2.0, 98.0),
    upscale: int = 1,
) -> Path:
    """Write a pixel-exact RGBA quicklook (one image pixel per scene pixel) and return its path.

    ``upscale`` repeats each pixel ``upscale`` times in both directions (nearest neighbour), for
    small scenes. The file is written atomically; the format follows the suffix (PNG by default).
    """
    if int(upscale) < 1:
        raise ParameterError(f"upscale must be an integer >= 1; got {upscale}")
    rgba = rgb_image(cube, wavelengths_nm, bands, percentiles, nodata_mask)
    if upscale > 1:
        rgba = np.repeat(np.repeat(rgba, int(upscale), axis=0), int(upscale), axis=1)
    path = Path(path)
    fmt = image_format(path)
    return atomic_write(path, lambda temporary: matplotlib.image.imsave(temporary, rgba, format=fmt))


def _crop_box(crop, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """``(row, col, height, width)`` from a tuple, or the central quarter for ``"center"``."""
    rows, cols = shape
    if isinstance(crop, str):
        if crop != "center":
            raise ParameterError(f"crop must be 'center' or (row, col, height, width); got {crop!r}")
        return rows * 3 // 8, cols * 3 // 8, max(rows // 4, 1), max(cols // 4, 1)
    row, col, height, width = (int(v) for v in crop)
    if height < 1 or width < 1 or row < 0 or col < 0 or row + height > rows or col + width > cols:
        raise ParameterError(f"crop {tuple(crop)} (row, col, height, width) is outside the {rows} x {cols} image")
    return row, col, height, width


def save_before_after(
    before,
    after,
    wavelengths_nm,
    path: str | os.PathLike,
    titles: tuple[str, str] = ("before", "after"),
    same_stretch: bool = True,
    bands: Sequence[int] | None = None,
    crop: tuple[int, int, int, int] | str | None = None,
    percentiles: tuple[float, float] = (2.0, 98.0),
) -> Path:
    """Side-by-side true-colour renderings of two cubes with the same bands, e.g. noisy and restored.

    Parameters
    ----------
    before, after : (rows, cols, bands) cubes with the same band count (sizes may differ, as in
        pansharpening, where ``after`` is larger by the resolution ratio).
    wavelengths_nm : (bands,) band centres in nm, or None.
    path : output image (PNG unless the suffix says otherwise).
    titles : captions of the two panels.
    same_stretch : stretch both with the limits computed on ``before``, so brightness and noise
        are comparable; otherwise each image gets its own stretch.
    crop : None, ``"center"`` or ``(row, col, height, width)`` in ``before``'s pixels: adds a
        second row of panels zoomed on that window (scaled to ``after``'s size when it differs).
    """
    before, after = _as_numpy(before), _as_numpy(after)
    if before.ndim != 3 or after.ndim != 3 or before.shape[2] != after.shape[2]:
        raise ParameterError(
            "before and after must be (rows, cols, bands) cubes with the same bands; "
            f"got {before.shape} and {after.shape}"
        )
    if len(titles) != 2:
        raise ParameterError(f"titles must hold 2 captions; got {list(titles)}")
    if bands is None:
        bands = rgb_bands(wavelengths_nm, n_bands=before.shape[2])
    limits = stretch_limits(before, None, bands, percentiles)
    images = [
        rgb_image(cube, None, bands, percentiles, limits=limits if same_stretch else None)
        for cube in (before, after)
    ]
    panels = [images]
    if crop is not None:
        row, col, height, width = _crop_box(crop, before.shape[:2])
        zoomed = []
        for image in images:
            scale_r, scale_c = image.shape[0] / before.shape[0], image.shape[1] / before.shape[1]
            r0, c0 = int(round(row * scale_r)), int(round(col * scale_c))
            n_r, n_c = max(int(round(height * scale_r)), 1), max(int(round(width * scale_c)), 1)
            zoomed.append(image[r0 : r0 + n_r, c0 : c0 + n_c])
        panels.append(zoomed)
    figure = new_figure(8.0, 4.0 * len(panels))
    axes = figure.subplots(len(panels), 2, squeeze=False)
    for r, row_images in enumerate(panels):
        for c, image in enumerate(row_images):
            axes[r, c].imshow(image, interpolation="nearest")
            axes[r, c].set_title(titles[c] if r == 0 else f"{titles[c]} (zoom)")
            axes[r, c].set_axis_off()
    return save_figure(figure, path)

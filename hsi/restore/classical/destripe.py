"""Destriping: remove constant offsets of whole columns (or rows) band by band."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from hsi.arrays import as_tensor, like_input, per_band
from hsi.errors import InputError, ParameterError
from hsi.estimate.noise import noise_std_per_band

AXES = ("cols", "rows", "both")
#: Standard deviation of a sample median relative to the sample's (Gaussian data, large n).
_MEDIAN_EFFICIENCY = float(np.sqrt(np.pi / 2))


def _neighbour_medians(lines: torch.Tensor, window: int) -> tuple[torch.Tensor, ...]:
    """Running medians along the last axis: centred over ``window``, and of the ``window // 2``
    neighbours on the left and on the right."""
    windows = _windows(lines, window)
    half = window // 2
    centred = windows.median(dim=-1).values
    left = windows[..., :half].median(dim=-1).values
    right = windows[..., half + 1 :].median(dim=-1).values
    return tuple(m.reshape(lines.shape) for m in (centred, left, right))


def _windows(lines: torch.Tensor, window: int) -> torch.Tensor:
    """``(n, length, window)`` sliding windows along the last axis, ends reflected."""
    half = window // 2
    pad_mode = "reflect" if lines.shape[-1] > half else "replicate"
    padded = F.pad(lines.reshape(-1, 1, lines.shape[-1]), (half, half), mode=pad_mode)
    return padded.unfold(-1, window, 1)[:, 0]


def _middle(values: torch.Tensor) -> torch.Tensor:
    """Median along the last axis, the mean of the two middle values for an even count
    (``torch.median`` returns the lower one, a bias of a fraction of the spread)."""
    ordered = values.sort(dim=-1).values
    n = ordered.shape[-1]
    return 0.5 * (ordered[..., (n - 1) // 2] + ordered[..., n // 2])


def _other_medians(lines: torch.Tensor, window: int) -> tuple[torch.Tensor, ...]:
    """As :func:`_neighbour_medians`, but the centred median leaves the line itself out."""
    windows = _windows(lines, window)
    half = window // 2
    others = torch.cat([windows[..., :half], windows[..., half + 1 :]], dim=-1)
    return tuple(_middle(m).reshape(lines.shape) for m in (others, windows[..., :half], windows[..., half + 1 :]))


def _median_and_spread(detail: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Median down each column (dim 1) and the mean absolute deviation from it."""
    median = detail.median(dim=1).values
    return median, (detail - median[:, None]).abs().mean(dim=1)


def _line_median_and_spread(detail: torch.Tensor, line: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """As :func:`_median_and_spread`, down each line of a ``(rows, cols)`` line index that holds at
    most one pixel per row (a shear): the rows are shifted so each line is a column, the rest NaN."""
    bands, rows, cols = detail.shape
    sheared = torch.full((bands, rows, int(line.max()) + 1), float("nan"), dtype=detail.dtype, device=detail.device)
    sheared.scatter_(2, line[None].expand(bands, rows, cols), detail)
    median = sheared.nanmedian(dim=1).values
    return median, (sheared - median[:, None]).abs().nanmean(dim=1)


def shear_lines(n_rows: int, n_cols: int, angle_deg: float, device=None) -> torch.Tensor:
    """``(rows, cols)`` index of the stripe line through each pixel, for stripes at ``angle_deg``
    (|angle| <= 45) to the columns: ``col - round(row tan(angle))``, from 0. Each row holds each
    line once, so a row's neighbours across lines are its own neighbouring pixels, unresampled."""
    shift = torch.round(torch.arange(n_rows, dtype=torch.float64) * np.tan(np.radians(angle_deg))).long()
    line = torch.arange(n_cols)[None, :] - shift[:, None]
    return (line - line.min()).to(device)


#: Lines at an angle with fewer pixels than this fraction of the rows are not destriped.
_MIN_LINE_FRACTION = 0.5
#: A one-sided comparison replaces the centred one when its spread is below this fraction.
_SIDE_PREFERENCE = 0.75


def column_offsets(
    cube: torch.Tensor, noise_std: torch.Tensor, window: int = 9, threshold: float = 3.0,
    line: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-band offset of every column: ``(cols, bands)``.

    Each pixel is compared with the running median of its row over ``window`` columns (which
    ignores isolated stripes and cancels smooth gradients); down a column, the median of that
    difference is the column's offset, robust to impulses. Beside a scene edge, other stripes
    in the window can tip the median across the edge; the difference then varies down the
    column (rows where the edge is, rows where it is not), and the comparison with the
    ``window // 2`` neighbours on one side only is used instead when its mean absolute
    deviation is clearly smaller. Offsets within ``threshold`` standard errors of zero (noise
    ``noise_std`` per band, standard error of a median over ``rows`` values) are set to zero,
    leaving clean columns untouched.
    """
    offsets = _offsets(cube, _neighbour_medians, window, line)
    if line is None:
        root_n = np.sqrt(cube.shape[0])
    else:  # pixels along each line; the short lines of the corners are not judged (a few pixels of scene)
        count = torch.bincount(line.flatten()).to(cube.dtype)[:, None]
        offsets = torch.where(count >= _MIN_LINE_FRACTION * cube.shape[0], offsets, torch.zeros_like(offsets))
        root_n = count.sqrt()
    # A difference holds one pixel's noise minus a median of neighbours: about 1.2 sigma.
    standard_error = noise_std * 1.2 * _MEDIAN_EFFICIENCY / root_n
    return torch.where(offsets.abs() > threshold * standard_error, offsets, torch.zeros_like(offsets))


def refined_offsets(cube: torch.Tensor, detected: torch.Tensor, window: int = 9,
                    line: torch.Tensor | None = None) -> torch.Tensor:
    """Remaining offsets ``(cols, bands)`` of the columns found striped; ``detected`` (cols, bands)
    is what has been subtracted from each column so far (zero: not striped).

    The detection's running median includes the column itself, which pulls it towards the
    stripe: the offset comes out shrunk towards zero, by more where the row is textured (a
    fraction of the spread of the row's values in the window), and once the remainder is
    within the threshold it is never corrected. Here the reference leaves the column out and
    is the unbiased middle of the other values (or of one side's, as in
    :func:`column_offsets`), and no threshold applies (the column is known to be striped);
    a remainder that would turn a column's total correction to the other sign is cut at zero.
    """
    offsets = _offsets(cube, _other_medians, window, line)
    offsets = torch.where(detected != 0, offsets, torch.zeros_like(offsets))
    flipped = torch.sign(detected + offsets) == -torch.sign(detected)
    return torch.where(flipped, -detected, offsets)


def _offsets(cube: torch.Tensor, references, window: int, line: torch.Tensor | None = None) -> torch.Tensor:
    """Median down each column of the difference with the best of the ``references`` (centred,
    left, right running medians of ``(bands, rows, cols)`` lines): ``(cols, bands)``; with a
    ``line`` index ``(rows, cols)`` (stripes at an angle), down each line: ``(lines, bands)``."""
    lines = cube.permute(2, 0, 1)  # (bands, rows, cols)
    centred, left, right = references(lines, window)
    along = _median_and_spread if line is None else lambda detail: _line_median_and_spread(detail, line)
    offsets, spread = along(lines - centred)
    for side in (left, right):
        side_offsets, side_spread = along(lines - side)
        better = side_spread < _SIDE_PREFERENCE * spread
        offsets = torch.where(better, side_offsets, offsets)
        spread = torch.where(better, side_spread, spread)
    return offsets.T


def destripe(
    cube: torch.Tensor | np.ndarray,
    *,
    noise_std: torch.Tensor | np.ndarray | None = None,
    axis: str = "cols",
    window: int = 9,
    threshold: float = 3.0,
    n_passes: int = 3,
    n_refine: int = 3,
    angle_deg: float = 0.0,
    device: torch.device | str | None = None,
) -> torch.Tensor | np.ndarray:
    """Remove stripes (constant offsets of whole columns and/or rows) from every band.

    Push-broom and whisk-broom sensors give each detector its own gain and offset, which
    shows as stripes along the flight direction. Each column's offset is estimated
    robustly as the median, down the column, of the difference between the image and the
    median of its neighbouring columns on one side (:func:`column_offsets`: a moment-matching
    estimate made robust to the scene's edges and to impulse noise), and subtracted; offsets
    not significantly different from zero are left alone. The columns found striped are then
    re-estimated against their neighbours alone (:func:`refined_offsets`). Random noise is not removed: compose with a denoiser
    (``conf/method/destripe_fasthyde.yaml``).

    Parameters
    ----------
    cube : (rows, cols, bands), numpy or torch, finite values.
    noise_std : (bands,) random-noise standard deviation, cube units; the wavelet MAD
        estimate (blind to column and row stripes) when None.
    axis : "cols" (vertical stripes: one offset per column), "rows", or "both" (columns then rows).
    window : odd width, in pixels, of the neighbourhood across lines (>= 3; ``window // 2`` each side).
    threshold : offsets smaller than this many standard errors are treated as zero.
    n_passes : detection passes (>= 1), each on the output of the one before.
    n_refine : passes (>= 0) that re-estimate the offsets of the columns found striped without
        the detection's shrinkage towards zero (:func:`refined_offsets`).
    angle_deg : angle of the stripes to the columns, degrees in (-90, 90] (``axis="cols"``
        only): an orthorectified product's stripes follow its rotated track
        (:func:`hsi.estimate.stripe_direction.stripe_direction` measures it). Each "column"
        is then a line of the shear ``col - round(row tan(angle))`` (of the transposed cube
        beyond 45 degrees): rows keep their pixels, so nothing is resampled; the offsets are
        estimated and subtracted along those lines.

    Returns
    -------
    The destriped cube, same shape and kind.

    References
    ----------
    F. L. Gadallah, F. Csillag and E. J. M. Smith, "Destriping multisensor imagery with moment
    matching", Int. J. Remote Sens. 21(12):2505-2511, 2000; J. S. Chen, Y. Shao, H. Guo,
    W. Wang and B. Zhu, "Destriping CMODIS data by power filtering", IEEE TGRS 41(9), 2003
    (column statistics against their local reference).
    """
    if axis not in AXES:
        raise ParameterError(f"axis must be one of {AXES}; got {axis!r}")
    if int(window) != window or window < 3 or window % 2 == 0:
        raise ParameterError(f"window must be an odd integer >= 3 (pixels); got {window}")
    if int(n_passes) < 1:
        raise ParameterError(f"n_passes must be >= 1; got {n_passes}")
    if int(n_refine) < 0:
        raise ParameterError(f"n_refine must be >= 0; got {n_refine}")
    if not threshold >= 0:
        raise ParameterError(f"threshold must be >= 0 (standard errors); got {threshold}")
    angle_deg = float(angle_deg)
    if not -90.0 < angle_deg <= 90.0:
        raise ParameterError(f"angle_deg must be in (-90, 90] degrees from the columns; got {angle_deg}")
    if angle_deg != 0.0 and axis != "cols":
        raise ParameterError(f"angle_deg turns column stripes; it needs axis='cols', got axis={axis!r}")
    x = as_tensor(cube, name="cube", ndim=3, device=device)
    if not bool(torch.isfinite(x).all()):
        raise InputError("cube contains NaN or infinite values; fill them first (lrtv_inpaint)")
    if noise_std is None:
        sigma = torch.nan_to_num(noise_std_per_band(x))
    else:
        sigma = per_band(noise_std, x.shape[2], device=x.device, dtype=x.dtype)
        sigma = torch.nan_to_num(sigma)
    along = [axis_ for axis_ in ("cols", "rows") if axis in (axis_, "both")]
    # (rows, cols, bands) views in which the lines of each axis are the columns.
    view = {"cols": lambda cube_: cube_, "rows": lambda cube_: cube_.transpose(0, 1)}
    line = None
    if angle_deg != 0.0:  # lines at an angle: of the cube, or beyond 45 deg of the transposed cube
        steep = abs(angle_deg) > 45.0
        if steep:
            view["cols"] = view["rows"]
        turned = (90.0 - angle_deg if angle_deg > 0 else -90.0 - angle_deg) if steep else angle_deg
        line = shear_lines(*view["cols"](x).shape[:2], turned, device=x.device)
    spread = (lambda offsets: offsets[None]) if line is None else (lambda offsets: offsets[line])
    detected = {axis_: torch.zeros((view[axis_](x).shape[1] if line is None else int(line.max()) + 1, x.shape[2]),
                                   dtype=x.dtype, device=x.device) for axis_ in along}
    out = x
    # Each pass compares columns with neighbours corrected by the passes before: a column
    # mis-corrected because most of its neighbours were stripes is put right next time.
    for _ in range(int(n_passes)):
        for axis_ in along:
            offsets = column_offsets(view[axis_](out), sigma, int(window), float(threshold), line)
            detected[axis_] += offsets
            out = view[axis_](view[axis_](out) - spread(offsets))
    for _ in range(int(n_refine)):
        for axis_ in along:
            offsets = refined_offsets(view[axis_](out), detected[axis_], int(window), line)
            detected[axis_] += offsets
            out = view[axis_](view[axis_](out) - spread(offsets))
    return like_input(out, cube)

"""Which way a scene's stripes run: the dominant direction of band-specific line structure.

A push-broom detector element that reads high or low draws a stripe along the flight track.
In swath geometry the stripes run along the image columns (what
:func:`hsi.estimate.bands.column_stripe_fraction` tests); on an orthorectified product (EnMAP
L2A, say) the track is rotated on the map grid and so are the stripes, which a column test
cannot see. Here the direction is measured as the angle whose projection profile holds the
most line energy (a discrete Radon transform over angles):

1. Scene structure is shared by spectrally neighbouring bands, stripes are not: each band
   minus its least-squares fit by its two neighbours leaves the band-specific part (noise,
   stripes, a little spectral contrast at edges).
2. For each angle ``theta`` the residual of each band is averaged along lines at ``theta`` to
   the columns (bins one pixel wide across them, over valid pixels only: fill is no data),
   and the profile minus its running median over ``WIDTH`` bins is the fine line structure.
3. The energy of a bin is its squared fine value times its pixel count, so that noise gives
   the same expected energy at every angle (the variance of a mean of ``n`` values is
   ``sigma^2 / n``); a stripe adds ``n d^2``, which only the stripes' own angle collects.
   What an angle *scores* is the split-third part of that energy: the product of the fine
   values of each line's first and last thirds, times the pixel count. A stripe runs the
   whole line and gives both thirds its offset, so it keeps ``n d^2``; white noise, and noise
   correlated over less than a third of a line (real sensors' residuals are: 0.38 between
   diagonal neighbours on the AVIRIS-NG radiance crop, which scored 4.6 at 45 deg on the
   plain energy), has no expected product. Lines shorter than ``MIN_LINE_PIXELS`` are not
   measured.
4. Each band's split-third energy is divided by the band's median plain energy over angles
   (what noise and scene give it at any angle) and the score of an angle is the mean of that
   over bands, so stripes in a minority of bands still count; the direction is the best angle
   of a 1-degree search over 180 degrees, refined to 0.1 degree, and its *contrast* is that
   score over the median plain score over angles: near 0 without stripes (below 0.5 on the
   stripe-free scenes measured, see ``MIN_CONTRAST``), about the stripes' energy over the
   noise's with them.

Angles are measured from the image columns, in degrees in (-90, 90]: 0 is stripes along the
columns, positive when a stripe moves to higher columns as rows increase (image x right,
y down), +-90 along the rows.

References
----------
J. Radon (1917) and the projection-profile (Radon transform) detection of line features;
J. Torres, S. O. Infante, "Wavelet analysis for the elimination of striping noise in satellite
images", Opt. Eng. 40(7), 2001 (stripes as line-concentrated energy). H. Shen, L. Zhang,
"A MAP-based algorithm for destriping and inpainting of remotely sensed images", IEEE TGRS
47(5), 2009 (the band-specific stripe model).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hsi.arrays import as_tensor

#: The stripes' direction is reported as found when its score is at least this many times the
#: median plain score over angles. Without stripes the best of 180 angles gives 0.05-0.24 (white
#: noise, 25 x 30 to 64 x 64, 100-425 bands) and at most 0.46 (cubes mixed from Kodak photos and
#: the synthetic sample scene, 25 x 30 to 64 x 64, 12 + 4 each; 25 x 30 measured without the
#: line-length rule, as the AVIRIS-NG crop's 1.97 at 47.9 deg); stripes at one angle
#: (amplitude 0.05) in 5 of 106 bands of the 96 x 96 sample give 8.1, in half the bands 106;
#: the EnMAP L2A tile 126 at -12.9 deg.
MIN_CONTRAST = 2.0
#: Lines shorter than this (median over a projection's bins) are not measured: their first
#: and last thirds, whose products are the score, must lie further apart than the short-range
#: correlation of real sensors' noise (on the AVIRIS-NG radiance crop 0.38 between diagonal
#: neighbours, falling to 0.05 eight pixels apart), which a 25 x 30 scene cannot provide.
MIN_LINE_PIXELS = 32
#: Width, in bins, of the running median that leaves the fine line structure.
WIDTH = 7
#: Bins with fewer pixels than this fraction of the fullest bin (the corners of a rotated
#: projection) are left out.
MIN_BIN_FILL = 0.25
#: At most this many pixel-band values enter each projection (bands are strided to fit).
MAX_VALUES = 4_000_000
#: Stripes within this angle of the columns count as along them: the search resolves about
#: atan(1 / rows), 0.9 deg on the 64-row blocks restore samples (column stripes are found at
#: 0 +- 0.2 deg on 128-row scenes, up to 0.5 deg off on 64-row blocks).
ALONG_COLUMNS_DEG = 1.0
#: ``max_values`` for sampled blocks (restore's diagnosis and its destriping step): about 0.2 s
#: on 8 blocks of 64 x 64 x 106 on one CPU thread.
BLOCKS_MAX_VALUES = 250_000
#: Coarse search step and the refinement step around the best coarse angle, degrees.
COARSE_STEP_DEG, FINE_STEP_DEG = 1.0, 0.1


@dataclass
class StripeDirection:
    """What :func:`stripe_direction` measured.

    angle_deg : direction of the strongest line structure, degrees from the columns (see the module).
    contrast : its split-third line energy over the median plain energy over angles (near 0
        without stripes; 0 when nothing could be measured).
    found : ``contrast >= MIN_CONTRAST``.
    """

    angle_deg: float
    contrast: float
    found: bool

    @property
    def along_columns(self) -> bool:
        """Found and within ``ALONG_COLUMNS_DEG`` of the columns (what the column stripe test sees)."""
        return self.found and abs(self.angle_deg) <= ALONG_COLUMNS_DEG

    def as_dict(self) -> dict:
        return {"angle_deg_from_columns": self.angle_deg, "contrast": self.contrast, "found": self.found,
                "along_columns": self.along_columns}


def band_specific_residual(cube: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """(rows, cols, n): bands ``1, 1 + stride, ...`` (up to the last but one), each minus its
    least-squares fit by its two neighbouring bands (and a constant) over the valid pixels: what
    the neighbours share (scene structure, also where it scales with brightness, as radiance
    does) goes; a band's own stripes stay."""
    rows, cols, bands = cube.shape
    pixels = cube.reshape(-1, bands)
    valid = torch.isfinite(pixels).all(dim=1)
    data = pixels[valid]
    data = data - data.mean(dim=0)
    centre = torch.arange(1, bands - 1, stride, device=cube.device)
    design = torch.stack([data[:, centre - 1], data[:, centre + 1]], dim=-1).transpose(0, 1)  # (n, pixels, 2)
    target = data[:, centre].T[..., None]  # (n, pixels, 1)
    gram = design.transpose(1, 2) @ design
    ridge = 1e-9 * gram.diagonal(dim1=1, dim2=2).mean(dim=1).clamp_min(torch.finfo(cube.dtype).tiny)
    weights = torch.linalg.solve(gram + ridge[:, None, None] * torch.eye(2, dtype=cube.dtype), design.transpose(1, 2) @ target)
    residual = torch.full((pixels.shape[0], centre.numel()), float("nan"), dtype=cube.dtype)
    residual[valid] = (target - design @ weights)[..., 0].T
    return residual.reshape(rows, cols, centre.numel())


def _line_energy(rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor,
                 angle_deg: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per band, the mean noise-normalised energy of the fine line structure of the projection at
    ``angle_deg``, and its split-third part: the product of the fine structures of the lines'
    first and last thirds along the lines, which only structure that runs the whole line (a
    stripe) keeps; noise correlated over a few pixels along the lines (0.38
    between diagonal neighbours on the AVIRIS-NG radiance crop) has no expected product."""
    theta = np.deg2rad(angle_deg)
    across = cols * np.cos(theta) - rows * np.sin(theta)
    along = cols * np.sin(theta) + rows * np.cos(theta)
    bins = torch.round(across - across.min()).long()
    n_bins = int(bins.max()) + 1
    # the first and last thirds along the lines: a third apart, so noise correlated over less
    # than a third of a line's length does not correlate them
    first, last = along < torch.quantile(along, 1 / 3), along > torch.quantile(along, 2 / 3)
    profiles, counts = [], []
    for third in (first, last):
        count = torch.zeros(n_bins, dtype=values.dtype).index_add_(0, bins[third], torch.ones_like(across[third]))
        sums = torch.zeros(n_bins, values.shape[1], dtype=values.dtype).index_add_(0, bins[third], values[third])
        profiles.append(sums)
        counts.append(count)
    total = torch.zeros(n_bins, dtype=values.dtype).index_add_(0, bins, torch.ones_like(across))
    kept = (total >= MIN_BIN_FILL * total.max()) & (torch.minimum(*counts) >= MIN_BIN_FILL / 3 * total.max())
    if int(kept.sum()) < WIDTH or float(total[kept].median()) < MIN_LINE_PIXELS:
        zero = torch.zeros(values.shape[1], dtype=values.dtype)
        return zero, zero
    total = total[kept]
    whole = torch.zeros(n_bins, values.shape[1], dtype=values.dtype).index_add_(0, bins, values)[kept] / total[:, None]
    fine = whole - _running_median(whole, WIDTH)
    thirds = [sums[kept] / count[kept, None] for sums, count in zip(profiles, counts)]
    fine_thirds = [third - _running_median(third, WIDTH) for third in thirds]
    return (total[:, None] * fine * fine).mean(dim=0), (total[:, None] * fine_thirds[0] * fine_thirds[1]).mean(dim=0)


def _running_median(profile: torch.Tensor, width: int) -> torch.Tensor:
    """The median of each ``width`` consecutive rows of ``profile`` (edges reflected), by an
    odd-even transposition sorting network of elementwise min/max: 8x faster than
    ``unfold(...).median(-1)``, which this search calls some 200 times per scene."""
    half = width // 2
    padded = torch.cat([profile[1 : half + 1].flip(0), profile, profile[-half - 1 : -1].flip(0)], dim=0)
    values = [padded[k : k + profile.shape[0]] for k in range(width)]
    for sweep in range(width):
        for i in range(sweep % 2, width - 1, 2):
            values[i], values[i + 1] = torch.minimum(values[i], values[i + 1]), torch.maximum(values[i], values[i + 1])
    return values[half]


def _projection_inputs(block: torch.Tensor, stride: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """``(rows, cols, residual values)`` of a block's valid pixels (every ``stride``-th band), or
    None when too small to measure."""
    live = torch.isfinite(block).flatten(0, 1).any(dim=0)
    block = block[:, :, live]
    if block.shape[2] < 3 or min(block.shape[:2]) < 2 * WIDTH:
        return None
    residual = band_specific_residual(block, stride)
    valid = torch.isfinite(residual).all(dim=2)
    if int(valid.sum()) < 4 * WIDTH * WIDTH:
        return None
    rows, cols = (index.to(block.dtype) for index in torch.nonzero(valid, as_tuple=True))
    values = residual[valid]
    return rows, cols, values - values.median(dim=0).values


def stripe_direction(cube: torch.Tensor | np.ndarray, *, max_values: int = MAX_VALUES) -> StripeDirection:
    """The direction of a scene's band-specific line structure (stripes) and how strong it is.

    Parameters
    ----------
    cube : (rows, cols, bands), or sampled blocks (n_blocks, rows, cols, bands) whose bands all
        enter the score; at least 3 bands and 2 * ``WIDTH`` pixels on a side. A pixel with
        a non-finite value in any live band (fill) is left out; all-fill bands are ignored.
    max_values : at most this many pixel-band values per projection (bands are strided to fit).

    Returns
    -------
    :class:`StripeDirection` (``found`` false, contrast 0, when nothing can be measured: fewer
    than 3 bands, or lines shorter than ``MIN_LINE_PIXELS`` at every angle).
    """
    x = as_tensor(cube, name="cube", ndim=(3, 4), dtype=torch.float64)
    x = x if x.ndim == 4 else x[None]
    stride = max(1, int(np.ceil(x.numel() / max_values)))  # bands strided so the projections stay bounded
    groups: list[tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]] = []
    for inputs in (_projection_inputs(block, stride) for block in x):
        if inputs is None:
            continue
        rows, cols, values = inputs
        # blocks with the same valid pixels share one projection: their bands side by side
        same = next((g for g in groups if g[0].shape == rows.shape and torch.equal(g[0], rows)
                     and torch.equal(g[1], cols)), None)
        if same is None:
            groups.append((rows, cols, [values]))
        else:
            same[2].append(values)
    if not groups:
        return StripeDirection(0.0, 0.0, False)
    groups = [(rows, cols, torch.cat(values, dim=1)) for rows, cols, values in groups]

    def energy(angles: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:  # each (angles, bands of every block)
        per_angle = [[_line_energy(*group, a) for group in groups] for a in angles]
        return tuple(torch.stack([torch.cat([e[part] for e in row]) for row in per_angle]) for part in (0, 1))

    coarse = np.arange(-90.0 + COARSE_STEP_DEG, 90.0 + COARSE_STEP_DEG / 2, COARSE_STEP_DEG)
    coarse_energy, coarse_split = energy(coarse)
    typical = coarse_energy.median(dim=0).values  # per band (of a block): what noise and scene give at any angle
    keep = typical > 0
    if not bool(keep.any()):
        return StripeDirection(0.0, 0.0, False)
    score = lambda e: (e[..., keep] / typical[keep]).mean(dim=-1)  # noqa: E731
    scores = score(coarse_split)
    best = float(coarse[int(scores.argmax())])
    fine = best + np.arange(-COARSE_STEP_DEG, COARSE_STEP_DEG + FINE_STEP_DEG / 2, FINE_STEP_DEG)
    fine_scores = score(energy(fine)[1])
    angle = float(fine[int(fine_scores.argmax())])
    angle = round(angle - 180.0 if angle > 90.0 else angle + 180.0 if angle <= -90.0 else angle, 1)
    contrast = float(fine_scores.max() / score(coarse_energy).median())
    return StripeDirection(angle, round(contrast, 2), contrast >= MIN_CONTRAST)


def destriping_angle(cube: torch.Tensor | np.ndarray, *, max_values: int = MAX_VALUES) -> float:
    """The angle, degrees from the columns, to destripe ``cube`` along: the measured stripe
    direction when stripes are found at an angle to the columns, else 0 (columns: the push-broom
    geometry, and what column destriping did before directions were measured)."""
    found = stripe_direction(cube, max_values=max_values)
    return found.angle_deg if found.found and not found.along_columns else 0.0

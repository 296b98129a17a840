"""Which noise a scene carries: the diagnosis behind ``restore method=auto``.

From spatial blocks sampled across a scene (``(n_blocks, rows, cols, bands)``, see
:func:`hsi.tiling.sample_blocks`) this measures, per band and overall:

- **noise level**: the robust wavelet estimate per band
  (:func:`hsi.estimate.noise.noise_std_per_band`, median over blocks) and its spread across
  bands (90th / 10th percentile): near 1 for i.i.d. noise, larger for band-dependent noise;
- **stripes**: the fraction of columns whose mean is a band-specific outlier
  (:func:`hsi.estimate.bands.column_stripe_fraction`, the test ``info`` uses), per band;
- **dead lines**: columns of a live band that are constant over a whole block (a dead
  detector element reads one value);
- **impulses**: the fraction of values that are band-specific spatial outliers. Each band is
  high-passed in space (value minus the mean of its four neighbours) and then across bands
  (minus the mean of the two neighbouring bands' high-pass), which cancels scene edges (shared
  by neighbouring bands) and leaves noise; column medians are removed (stripes are column
  offsets, not impulses) and a value is an outlier beyond ``OUTLIER_Z`` robust standard
  deviations (the deviation from a low quantile of the residual, which impulses on most
  pixels of a band do not inflate). Gaussian noise puts 2e-9 of its values there;
  salt-and-pepper puts most of its corrupted fraction;
- **clipped bands**: bands with more than ``CLIPPED_FRACTION`` of their values at the band's
  minimum or maximum (saturation); reported, not acted on;
- **stripe direction**: the angle to the columns of the strongest band-specific line
  structure (:func:`hsi.estimate.stripe_direction.stripe_direction`): stripes of an
  orthorectified product run along the rotated flight track, which the column test cannot
  see. Stripes found at an angle make the scene ``mixed_stripes``: robust_fasthyde measures
  the direction on its cleaned cube and destripes along it, and its sparse-outlier step takes
  what destriping along sheared lines leaves of stripes drawn on the pixel grid at an angle
  (on the synthetic sample at -25 deg +0.7 dB over destriping + FastHyDe).

The noise model follows from the physics of these measures, not from any benchmark scene:
impulses or dead lines -> ``mixed`` (sparse outliers that a Gaussian model spreads over the
image), ``mixed_stripes`` when stripes come with them; stripes alone -> ``stripes`` (column
offsets, removed by destriping before a Gaussian denoiser); otherwise ``gaussian`` (i.i.d. or
band-dependent: FastHyDe whitens each band by its own level, so one model covers both; the
spread says which). Stripes are a model of their own because destriping a scene without
stripes is not free: it takes column-aligned scene structure (field edges, roads) for stripes.

References
----------
H. Zhang, W. He, L. Zhang, H. Shen, Q. Yuan, "Hyperspectral image restoration using low-rank
matrix recovery", IEEE TGRS 52(8), 2014 (the mixed-noise model: Gaussian + sparse impulses,
dead lines, stripes). R. E. Roger, J. F. Arnold, "Reliably estimating the noise in AVIRIS
hyperspectral images", Int. J. Remote Sens. 17(10), 1996 (spectral differencing).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from hsi.estimate.bands import STRIPED_MIN_FRACTION, column_stripe_fraction
from hsi.estimate.noise import MAD_TO_STD, noise_std_per_band
from hsi.estimate.stripe_direction import BLOCKS_MAX_VALUES, StripeDirection, stripe_direction

#: A value is an impulse beyond this many robust standard deviations of the band's residual
#: (from the median of its 8 spatial neighbours) ...
OUTLIER_Z = 5.0
#: ... while both neighbouring bands stay within this many at the same pixel.
VETO_Z = 3.0
#: Impulse fraction (of all values) above which the scene has impulse noise: above what Gaussian
#: noise gives on the textured synthetic scenes of the tests (< 1e-3), far below any salt-and-pepper
#: corruption worth removing.
IMPULSE_FRACTION = 5e-3
#: Fraction of (band, column) pairs constant over a block above which the scene has dead lines.
DEAD_LINE_FRACTION = 1e-3
#: The scene is striped when at least this fraction of its bands (and at least 2) are.
STRIPED_BAND_FRACTION = 0.02
#: A band is clipped when more than this fraction of its values sit at its minimum or maximum.
CLIPPED_FRACTION = 0.01
#: Band-dependent ("non-i.i.d.") noise when the 90th / 10th percentile noise ratio exceeds this.
NON_IID_SPREAD = 1.5
#: Quantile of |residual| that sets the noise scale of the impulse test, and its value for a
#: unit Gaussian (the inverse normal CDF at 0.55).
LOW_QUANTILE = 0.1
HALF_NORMAL_LOW_QUANTILE = 0.12566
#: Median noise level below this fraction of the median band spread: no measurable noise.
NOISE_FREE = 1e-4
#: At most this many blocks enter the diagnosis (evenly picked): 8 blocks of 64 x 64 resolve fractions of 3e-5.
MAX_BLOCKS = 8

MODELS = ("gaussian", "stripes", "mixed", "mixed_stripes")


@dataclass
class NoiseDiagnosis:
    """What :func:`diagnose_noise` measured and the noise model it implies.

    noise_std_per_band : (bands,) robust wavelet noise std, cube units.
    noise_spread : 90th / 10th percentile of ``noise_std_per_band`` over live bands.
    stripe_fraction_per_band : (bands,) fraction of columns that are stripes.
    impulse_fraction_per_band : (bands,) fraction of values that are impulses.
    dead_line_fraction : fraction of (band, column) pairs of live bands constant over a block.
    striped_bands, clipped_bands : band indices.
    model : one of :data:`MODELS`; ``reasons`` says why.
    stripe_direction : the direction of the strongest band-specific line structure.
    """

    noise_std_per_band: np.ndarray
    noise_spread: float
    stripe_fraction_per_band: np.ndarray
    impulse_fraction_per_band: np.ndarray
    dead_line_fraction: float
    striped_bands: list[int]
    clipped_bands: list[int]
    model: str
    reasons: list[str] = field(default_factory=list)
    stripe_direction: StripeDirection = field(default_factory=lambda: StripeDirection(0.0, 1.0, False))

    @property
    def impulse_fraction(self) -> float:
        return float(self.impulse_fraction_per_band.mean()) if self.impulse_fraction_per_band.size else 0.0

    @property
    def iid(self) -> bool:
        return self.noise_spread <= NON_IID_SPREAD

    def as_dict(self) -> dict:
        """JSON-ready summary (per-band arrays as lists)."""
        return {
            "model": self.model,
            "reasons": self.reasons,
            "noise": "i.i.d." if self.iid else "band-dependent",
            "noise_spread_p90_p10": self.noise_spread,
            "impulse_fraction": self.impulse_fraction,
            "dead_line_fraction": self.dead_line_fraction,
            "striped_bands": self.striped_bands,
            "clipped_bands": self.clipped_bands,
            "stripe_direction": self.stripe_direction.as_dict(),
            "noise_std_per_band": self.noise_std_per_band.tolist(),
            "stripe_fraction_per_band": self.stripe_fraction_per_band.tolist(),
            "impulse_fraction_per_band": self.impulse_fraction_per_band.tolist(),
        }


#: Batcher's odd-even merge sorting network for 8 values (19 compare-exchanges).
_SORT_8 = ((0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3), (4, 6), (5, 7), (1, 2), (5, 6),
           (0, 4), (1, 5), (2, 6), (3, 7), (2, 4), (3, 5), (1, 2), (3, 4), (5, 6))
#: Values per band in the subset whose smallest gap bounds the quantisation step from above.
STEP_SUBSET = 4096


def _selection_steps(network, wanted: int) -> list[tuple[int, int, bool, bool]]:
    """The compare-exchanges of a sorting ``network`` that output ``wanted`` depends on, each with
    whether its min and its max are used: ``(i, j, min_used, max_used)``, in network order."""
    needed, steps = {wanted}, []
    for i, j in reversed(network):
        if i in needed or j in needed:
            steps.append((i, j, i in needed, j in needed))
            needed |= {i, j}
    return steps[::-1]


_MEDIAN_OF_8 = _selection_steps(_SORT_8, 3)


def _lower_median_of_8(values: list[torch.Tensor]) -> torch.Tensor:
    """Elementwise 4th smallest of 8 same-shape tensors: ``torch.stack(values, -1).median(-1)``
    (the lower median of an even count), by the part of a sorting network of elementwise
    min/max that leads to it: a few passes over the data instead of a sort per element."""
    values = list(values)
    for i, j, min_used, max_used in _MEDIAN_OF_8:
        low = torch.minimum(values[i], values[j]) if min_used else None
        high = torch.maximum(values[i], values[j]) if max_used else None
        values[i], values[j] = low, high
    return values[3]


def _smallest_gap(values: torch.Tensor) -> torch.Tensor:
    """Per row, the smallest positive difference between two of its values (inf when all are equal)."""
    gaps = values.sort(dim=1).values.diff(dim=1)
    return torch.where(gaps > 0, gaps, torch.full_like(gaps, float("inf"))).amin(dim=1)


def _quantisation_step(values: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
    """Per band (rows of ``values``), the smallest positive difference between its values (0 when
    constant), exactly where the impulse test needs it: where ``low <= 2 * step`` may hold.

    The smallest gap within an evenly spaced subset of a band bounds the band's from above, so
    a band whose ``low`` exceeds twice the subset's gap cannot be coarse and needs no full sort
    (float data with noise); the others (quantised or constant bands) are sorted whole.
    """
    stride = max(1, values.shape[1] // STEP_SUBSET)
    step = _smallest_gap(values[:, ::stride])
    unsure = low <= 2 * step
    if bool(unsure.any()):
        step[unsure] = _smallest_gap(values[unsure])
    return torch.where(torch.isfinite(step), step, torch.zeros_like(step))


def _neighbour_median(planes: torch.Tensor) -> torch.Tensor:
    """The lower median of each value's 8 neighbours in ``(bands, rows, cols)`` planes.

    Edges are reflected, not replicated: a replicated border puts the pixel itself among its
    own neighbours, which shrinks the residuals of a border that is a quarter of a 16 x 16 block.
    """
    rows, cols = planes.shape[1:]
    padded = F.pad(planes[:, None], (1, 1, 1, 1), mode="reflect")[:, 0]
    ring = [padded[:, 1 + dr : 1 + dr + rows, 1 + dc : 1 + dc + cols] for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc]
    return _lower_median_of_8(ring)


def _impulses(blocks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Band-specific spatial outliers of ``(n_blocks, rows, cols, bands)`` blocks, and the blocks
    with them replaced by the median of their 8 neighbours (for the stripe test, whose column
    means impulses would move). Returns ``(outliers, cleaned)``, both shaped like ``blocks``.

    The noise scale of each band is pooled over the blocks: a scene with fill values comes as
    many small clean sub-blocks (:func:`hsi.nodata.clean_blocks`), and a low quantile of one
    8 x 8 block's 64 residuals is too unsteady a scale (a quarter of the bands read noise as
    impulses).
    """
    planes = blocks.permute(0, 3, 1, 2).to(torch.float32)  # (n, bands, rows, cols); float32 halves the sort time
    n, bands, rows, cols = planes.shape
    median = torch.stack([_neighbour_median(block) for block in planes])  # block by block: bounded memory
    residual = planes - median
    residual = residual - residual.median(dim=2, keepdim=True).values  # column offsets are stripes, not impulses
    # The noise scale from a low quantile of |residual|: the median breaks down on bands where
    # impulses touch most pixels, a low quantile does not. Removing the column medians set one
    # value per column to exactly 0 (the median itself): those are no noise samples, and skipped
    # (on 16-row blocks they pulled the quantile, hence the scale, down by 60 %).
    magnitudes = residual.abs().transpose(0, 1).flatten(1)  # (bands, n * rows * cols)
    rank = n * cols + max(1, int(LOW_QUANTILE * n * (rows - 1) * cols))
    low = magnitudes.kthvalue(rank, dim=1).values
    scale = low / HALF_NORMAL_LOW_QUANTILE
    # Quantised data (integer DN) whose noise spans few steps: the low quantile falls on the
    # first steps and cannot resolve the noise, so those bands take the median (MAD) scale,
    # and never less than one quantisation step.
    step = _quantisation_step(planes.transpose(0, 1).flatten(1), low)
    coarse = low <= 2 * step
    mad = magnitudes.median(dim=1).values / MAD_TO_STD
    scale = torch.where(coarse, torch.maximum(mad, step), scale)
    z = residual.abs() / scale.clamp_min(torch.finfo(torch.float32).tiny)[:, None, None]
    # An outlier in band b that the neighbouring bands share is scene structure (an edge, a
    # one-pixel target), not an impulse: impulses strike bands independently.
    quiet = torch.cat([z[:, 1:2], z, z[:, -2:-1]], dim=1) < VETO_Z
    outliers = (z > OUTLIER_Z) & quiet[:, :-2] & quiet[:, 2:]
    cleaned = torch.where(outliers, median, planes).to(blocks.dtype)
    return outliers.permute(0, 2, 3, 1), cleaned.permute(0, 2, 3, 1)


def diagnose_noise(blocks: np.ndarray | torch.Tensor) -> NoiseDiagnosis:
    """Diagnose the noise of a scene from sampled blocks (see the module docstring).

    Parameters
    ----------
    blocks : (n_blocks, rows, cols, bands) or one (rows, cols, bands) block; blocks with
        non-finite values are skipped. At least 8 x 8 pixels and 3 bands.

    Returns
    -------
    :class:`NoiseDiagnosis`; ``model`` is "gaussian" when nothing can be measured.
    """
    data = torch.as_tensor(np.asarray(blocks) if not isinstance(blocks, torch.Tensor) else blocks, dtype=torch.float64)
    if data.ndim == 3:
        data = data[None]
    finite = torch.isfinite(data).flatten(1).all(dim=1)
    data = data[finite]
    if data.shape[0] > MAX_BLOCKS:
        data = data[torch.linspace(0, data.shape[0] - 1, MAX_BLOCKS).round().long()]
    bands = data.shape[-1] if data.ndim == 4 else 0
    if data.shape[0] == 0 or min(data.shape[1:3]) < 8 or bands < 3:
        empty = np.zeros(bands)
        return NoiseDiagnosis(empty, 1.0, empty, empty, 0.0, [], [], "gaussian", ["too little finite data to diagnose"])
    sigma = torch.stack([noise_std_per_band(block) for block in data]).median(dim=0).values
    spread_of_band = data.flatten(0, 2).std(dim=0)
    live = spread_of_band > 1e-6 * spread_of_band.max().clamp_min(torch.finfo(data.dtype).tiny)
    constant = data.std(dim=1) <= 1e-3 * sigma.clamp_min(torch.finfo(data.dtype).tiny)  # (blocks, cols, bands)
    dead_lines = float((constant & live).to(torch.float64).mean()) * bands / max(int(live.sum()), 1)
    dead_line_bands = (constant & live).flatten(0, 1).any(dim=0)
    outliers, cleaned = _impulses(data)
    impulses = outliers.flatten(0, 2).sum(dim=0)
    impulse_fraction = torch.where(live, impulses.to(torch.float64), 0.0) / (data.shape[0] * data.shape[1] * data.shape[2])
    stripe = torch.stack([column_stripe_fraction(block, sigma) for block in cleaned]).mean(dim=0)
    values = data.flatten(0, 2)
    at_limits = (values == values.min(dim=0).values) | (values == values.max(dim=0).values)
    clipped = (at_limits.to(torch.float64).mean(dim=0) > CLIPPED_FRACTION) & live
    live_sigma = sigma[live & (sigma > 0)]
    spread = float(torch.quantile(live_sigma, 0.9) / torch.quantile(live_sigma, 0.1)) if live_sigma.numel() else 1.0
    rows, cols = data.shape[1:3]
    # A dead line is also a column offset, and impulses move column means: the stripe test is
    # only trusted on bands free of both.
    clean_columns = ~dead_line_bands & (impulse_fraction <= IMPULSE_FRACTION)
    striped = (stripe >= STRIPED_MIN_FRACTION) & (stripe * cols >= 2) & live & clean_columns
    model, reasons = _model(float(impulse_fraction.mean()), dead_lines, int(striped.sum()), int(live.sum()))
    if live.any() and float(sigma[live].median()) < NOISE_FREE * float(spread_of_band[live].median()):
        model, reasons = "gaussian", ["no measurable noise"]
    direction = stripe_direction(cleaned, max_values=BLOCKS_MAX_VALUES)
    if direction.found and not direction.along_columns:
        angled = f"stripes at {direction.angle_deg:g} deg to the columns (line contrast {direction.contrast:g})"
        # Stripes drawn at an angle on the pixel grid (a resampled track) are 1 / cos(angle)
        # columns apart, so a sheared line of the destriping holds pixels of two stripes where
        # they cross it: what destriping leaves is sparse, which the robust branch removes
        # (robust_fasthyde destripes along the direction it measures).
        if model in ("gaussian", "stripes"):
            model, reasons = "mixed_stripes", [angled, "remnants of destriping along it are sparse"]
        elif model == "mixed":
            model, reasons = "mixed_stripes", reasons + [angled]
        else:
            reasons.append(angled)
    return NoiseDiagnosis(
        noise_std_per_band=sigma.numpy(),
        noise_spread=spread,
        stripe_fraction_per_band=stripe.numpy(),
        impulse_fraction_per_band=impulse_fraction.numpy(),
        dead_line_fraction=dead_lines,
        striped_bands=torch.nonzero(striped).flatten().tolist(),
        clipped_bands=torch.nonzero(clipped).flatten().tolist(),
        model=model,
        reasons=reasons,
        stripe_direction=direction,
    )


def _model(impulse_fraction: float, dead_lines: float, n_striped: int, n_live: int) -> tuple[str, list[str]]:
    """The noise model the measures imply, with the reasons in words."""
    reasons = []
    if impulse_fraction > IMPULSE_FRACTION:
        reasons.append(f"impulse fraction {impulse_fraction:.2e} > {IMPULSE_FRACTION:.0e}")
    if dead_lines > DEAD_LINE_FRACTION:
        reasons.append(f"dead-line fraction {dead_lines:.2e} > {DEAD_LINE_FRACTION:.0e}")
    striped = n_striped >= max(2, STRIPED_BAND_FRACTION * n_live)
    if striped:
        reasons.append(f"{n_striped} of {n_live} bands striped")
    if reasons and not striped:
        return "mixed", reasons
    if reasons and len(reasons) > 1:
        return "mixed_stripes", reasons
    if striped:
        return "stripes", reasons + ["no impulses or dead lines"]
    return "gaussian", ["no impulses, dead lines or column stripes"]

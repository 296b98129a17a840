"""Seeded noise models for hyperspectral denoising experiments.

Every function takes a cube ``(rows, cols, bands)`` (numpy or torch) and an ``rng``
(``numpy.random.Generator`` or ``torch.Generator``) and returns the same kind of array.
Sigmas and amplitudes are in the cube's data units; the defaults that carry a scale
(``10/255 .. 70/255``, stripe amplitude 0.25, salt/pepper at the cube's max/min) follow
the literature, which works on cubes min-max normalised to [0, 1].

Functions that need to tell a benchmark what they did return :class:`Degraded`: the
noisy cube plus the per-band Gaussian sigma and boolean masks of the pixels that were
overwritten or offset (impulse, stripes, dead lines).

The mixed "complex" case (:func:`complex_noise`) is the one used by the deep HSI denoising
benchmarks on ICVL/CAVE (Wei et al. 2021, QRNN3D, "mixture" case), which generalises the
mixed Gaussian + impulse + dead-line + stripe simulations of Zhang et al. (LRMR, 2014) and
He et al. (LRTV, 2016):

1. non-i.i.d. Gaussian noise on every band, ``sigma_b ~ U[10/255, 70/255]``;
2. the bands are shuffled and split into disjoint thirds (``floor(bands / 3)`` each):
   * impulse (salt & pepper, half each) on the first third, the corrupted fraction of each
     band drawn from ``{0.1, 0.3, 0.5, 0.7}``;
   * stripes on the second third: ``floor(0.05 cols) .. floor(0.15 cols)`` random columns
     per band, each column offset by a constant drawn from ``U[-0.25, 0.25]``;
   * dead lines on the last third: ``floor(0.05 cols) .. floor(0.15 cols)`` random columns
     per band set to 0.

References
----------
H. Zhang, W. He, L. Zhang, H. Shen, Q. Yuan, "Hyperspectral image restoration using low-rank
matrix recovery", IEEE TGRS 52(8):4729-4743, 2014 (LRMR).
W. He, H. Zhang, L. Zhang, H. Shen, "Total-variation-regularized low-rank matrix factorization
for hyperspectral image restoration", IEEE TGRS 54(1):178-188, 2016 (LRTV).
K. Wei, Y. Fu, H. Huang, "3-D quasi-recurrent neural network for hyperspectral image
denoising", IEEE TNNLS 32(1):363-375, 2021 (QRNN3D; complex-noise cases).
B. Rasti, P. Scheunders, P. Ghamisi, G. Licciardi, J. Chanussot, "Noise reduction in
hyperspectral imagery: overview and application", Remote Sensing 10(3):482, 2018 (HyDe benchmarks).
A. Foi, M. Trimeche, V. Katkovnik, K. Egiazarian, "Practical Poissonian-Gaussian noise modeling
and fitting for single-image raw-data", IEEE TIP 17(10):1737-1754, 2008.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from hsi.arrays import as_tensor, like_input
from hsi.degrade import draws
from hsi.errors import ParameterError

__all__ = [
    "Degraded",
    "gaussian_noise",
    "noniid_gaussian_noise",
    "poisson_gaussian_noise",
    "impulse_noise",
    "stripes",
    "dead_lines",
    "complex_noise",
]

Array = Any  # np.ndarray | torch.Tensor, the kind of the input cube


@dataclass
class Degraded:
    """A degraded cube and the truth about its degradation.

    Attributes
    ----------
    cube : ``(rows, cols, bands)`` degraded cube, same kind as the input (integers -> float32).
    sigma_per_band : ``(bands,)`` float64 numpy, standard deviation of the additive Gaussian
        part per band in data units (for Poisson-Gaussian noise: the root-mean-square
        standard deviation over the band's pixels), or None when no Gaussian noise was added.
    impulse_mask, stripe_mask, dead_line_mask : ``(rows, cols, bands)`` booleans of the input's
        kind, True where that corruption touched the pixel, or None when not applied.
    impulse_bands, stripe_bands, dead_line_bands : sorted band indices (int64 numpy) carrying
        each corruption, or None.
    """

    cube: Array
    sigma_per_band: np.ndarray | None = None
    impulse_mask: Array | None = None
    stripe_mask: Array | None = None
    dead_line_mask: Array | None = None
    impulse_bands: np.ndarray | None = None
    stripe_bands: np.ndarray | None = None
    dead_line_bands: np.ndarray | None = None

    @property
    def corrupted_mask(self) -> Array | None:
        """True where a pixel was overwritten or offset (impulse | stripes | dead lines)."""
        masks = [m for m in (self.impulse_mask, self.stripe_mask, self.dead_line_mask) if m is not None]
        if not masks:
            return None
        union = masks[0]
        for mask in masks[1:]:
            union = union | mask
        return union


# --- validation ---------------------------------------------------------------------------
def _sigma_vector(sigma: Any, n_bands: int, name: str = "sigma") -> np.ndarray:
    values = np.asarray(sigma, dtype=np.float64).reshape(-1)
    if values.size not in (1, n_bands) or not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ParameterError(
            f"{name} must be a non-negative scalar or one value per band ({n_bands}); got {sigma!r}"
        )
    return np.broadcast_to(values, (n_bands,)).copy()


def _range_pair(value: Any, name: str, low: float = 0.0, high: float = math.inf) -> tuple[float, float]:
    pair = np.asarray(value, dtype=np.float64).reshape(-1)
    if pair.size == 1:
        pair = np.repeat(pair, 2)
    if pair.size != 2 or not (low <= pair[0] <= pair[1] <= high):
        raise ParameterError(f"{name} must be a value or a (low, high) pair within [{low}, {high}]; got {value!r}")
    return float(pair[0]), float(pair[1])


def _band_indices(bands: Any, n_bands: int) -> np.ndarray:
    if bands is None:
        return np.arange(n_bands, dtype=np.int64)
    index = np.asarray(bands).reshape(-1)
    if index.dtype == bool:
        if index.size != n_bands:
            raise ParameterError(f"bands as a boolean mask needs {n_bands} entries; got {index.size}")
        return np.flatnonzero(index).astype(np.int64)
    if index.size and (index.dtype.kind not in "iu" or index.min() < -n_bands or index.max() >= n_bands):
        raise ParameterError(f"bands must be band indices in [0, {n_bands}); got {bands!r}")
    return np.unique(index.astype(np.int64) % n_bands)


def _column_counts(rng: draws.Rng, n_cols: int, n_bands: int, count: int | None, fraction: Any, name: str) -> np.ndarray:
    """Per-band number of affected columns: ``count``, or uniform in a fraction range of ``n_cols``."""
    if count is not None:
        if int(count) != count or not 0 <= count <= n_cols:
            raise ParameterError(f"{name} must be an integer in [0, {n_cols}] (columns); got {count}")
        return np.full(n_bands, int(count), dtype=np.int64)
    low, high = _range_pair(fraction, "fraction", 0.0, 1.0)
    return draws.integers(rng, int(math.floor(low * n_cols)), int(math.floor(high * n_cols)) + 1, n_bands)


def _random_columns(rng: draws.Rng, counts: np.ndarray, n_cols: int, like: torch.Tensor) -> torch.Tensor:
    """``(n_bands, n_cols)`` boolean: ``counts[b]`` distinct random columns per band (ranks of
    uniform draws, so it is one vectorised draw for all bands)."""
    scores = draws.uniform(rng, (counts.size, n_cols), 0.0, 1.0, draws.float64_like(like))
    ranks = scores.argsort(dim=1).argsort(dim=1)
    return ranks < torch.as_tensor(counts, device=like.device)[:, None]


def _line_index(n_rows: int, n_cols: int, angle_deg: float, device) -> torch.Tensor:
    """``(rows, cols)`` index of the one-pixel-wide line at ``angle_deg`` to the columns through each pixel."""
    theta = math.radians(angle_deg)
    rows, cols = torch.meshgrid(torch.arange(n_rows, dtype=torch.float64), torch.arange(n_cols, dtype=torch.float64),
                                indexing="ij")
    across = torch.round(cols * math.cos(theta) - rows * math.sin(theta))
    return (across - across.min()).long().to(device)


def _full_mask(columns: torch.Tensor, bands: np.ndarray, shape: tuple[int, int, int]) -> torch.Tensor:
    """Expand per-band column selections to a ``(rows, cols, bands)`` mask."""
    mask = torch.zeros(shape, dtype=torch.bool, device=columns.device)
    if bands.size:
        mask[:, :, torch.as_tensor(bands, device=columns.device)] = columns.T.unsqueeze(0)
    return mask


# --- Gaussian -----------------------------------------------------------------------------
def _add_gaussian(cube: torch.Tensor, sigma_per_band: np.ndarray, rng: draws.Rng) -> torch.Tensor:
    sigma = torch.as_tensor(sigma_per_band, dtype=cube.dtype, device=cube.device)
    return cube + draws.normal(rng, tuple(cube.shape), cube) * sigma


def gaussian_noise(
    cube: np.ndarray | torch.Tensor,
    sigma: float | Sequence[float] | np.ndarray,
    rng: np.random.Generator | torch.Generator,
) -> np.ndarray | torch.Tensor:
    """Add zero-mean Gaussian noise, i.i.d. over pixels (and over bands for a scalar sigma).

    Parameters
    ----------
    cube : ``(rows, cols, bands)``, numpy or torch.
    sigma : standard deviation in data units (e.g. ``30 / 255`` for [0, 1] data), scalar or
        one per band.
    rng : ``numpy.random.Generator`` or ``torch.Generator``.

    Returns
    -------
    noisy : same shape and kind as ``cube`` (integers -> float32).

    References
    ----------
    The AWGN setting of HSI denoising benchmarks, e.g. Wei et al., IEEE TNNLS 2021.
    """
    rng = draws.check_rng(rng)
    tensor = as_tensor(cube, name="cube", ndim=3)
    noisy = _add_gaussian(tensor, _sigma_vector(sigma, tensor.shape[2]), rng)
    return like_input(noisy, cube)


def noniid_gaussian_noise(
    cube: np.ndarray | torch.Tensor,
    rng: np.random.Generator | torch.Generator,
    sigma_range: tuple[float, float] = (10 / 255, 70 / 255),
) -> Degraded:
    """Gaussian noise whose standard deviation differs per band, ``sigma_b ~ U[sigma_range]``.

    Parameters
    ----------
    cube : ``(rows, cols, bands)``, numpy or torch.
    rng : ``numpy.random.Generator`` or ``torch.Generator``.
    sigma_range : ``(low, high)`` in data units; default ``[10, 70] / 255`` for [0, 1] data.

    Returns
    -------
    Degraded : ``cube`` and ``sigma_per_band`` (``(bands,)`` float64).

    References
    ----------
    Wei et al., IEEE TNNLS 2021 (non-i.i.d. case); He et al., IEEE TGRS 2016.
    """
    rng = draws.check_rng(rng)
    tensor = as_tensor(cube, name="cube", ndim=3)
    low, high = _range_pair(sigma_range, "sigma_range")
    sigma = draws.uniform(rng, (tensor.shape[2],), low, high, draws.float64_like(tensor)).cpu().numpy()
    noisy = _add_gaussian(tensor, sigma, rng)
    return Degraded(like_input(noisy, cube), sigma_per_band=sigma)


def poisson_gaussian_noise(
    cube: np.ndarray | torch.Tensor,
    peak: float,
    rng: np.random.Generator | torch.Generator,
    read_sigma: float = 0.0,
) -> Degraded:
    """Signal-dependent shot noise plus Gaussian read noise: ``y = Poisson(peak * x) / peak + n``.

    The noise variance at a pixel is ``max(x, 0) / peak + read_sigma**2``: ``peak`` is the
    number of photo-electrons collected at data value 1 (so ``1 / peak`` is the gain).
    Negative values are treated as zero signal.

    Parameters
    ----------
    cube : ``(rows, cols, bands)``, numpy or torch, in data units (1 = ``peak`` electrons).
    peak : electrons per data unit, > 0 (larger = less shot noise).
    rng : ``numpy.random.Generator`` or ``torch.Generator``.
    read_sigma : standard deviation of the additive Gaussian read noise, data units.

    Returns
    -------
    Degraded : ``cube`` and ``sigma_per_band`` = ``sqrt(mean_b(max(x, 0)) / peak + read_sigma**2)``,
        the root-mean-square noise standard deviation of each band.

    References
    ----------
    Foi et al., IEEE TIP 2008 (Poissonian-Gaussian model).
    """
    rng = draws.check_rng(rng)
    peak = float(peak)
    if not peak > 0 or not math.isfinite(peak):
        raise ParameterError(f"peak must be a positive number of electrons per data unit; got {peak}")
    read = float(_sigma_vector(read_sigma, 1, "read_sigma")[0])
    tensor = as_tensor(cube, name="cube", ndim=3)
    signal = tensor.clamp(min=0)
    noisy = draws.poisson(rng, signal * peak) / peak + (tensor - signal)
    if read > 0:
        noisy = noisy + draws.normal(rng, tuple(tensor.shape), tensor) * read
    sigma = torch.sqrt(signal.double().mean(dim=(0, 1)) / peak + read**2).cpu().numpy()
    return Degraded(like_input(noisy, cube), sigma_per_band=sigma)


# --- sparse corruptions -------------------------------------------------------------------
def impulse_noise(
    cube: np.ndarray | torch.Tensor,
    fraction: float | Sequence[float],
    bands: Sequence[int] | np.ndarray | None,
    rng: np.random.Generator | torch.Generator,
    *,
    salt_vs_pepper: float = 0.5,
    values: tuple[float, float] | None = None,
) -> Degraded:
    """Salt-and-pepper noise: each pixel of the chosen bands is replaced with probability ``fraction``.

    Parameters
    ----------
    cube : ``(rows, cols, bands)``, numpy or torch.
    fraction : probability in [0, 1] that a pixel is corrupted, scalar or one per chosen band.
    bands : band indices (or a boolean mask over bands) to corrupt; None = every band.
    rng : ``numpy.random.Generator`` or ``torch.Generator``.
    salt_vs_pepper : probability that a corrupted pixel becomes salt (high) rather than pepper.
    values : ``(pepper, salt)`` values; default ``(min, max)`` of the input cube, i.e. 0 and 1
        for a min-max normalised cube as in the literature.

    Returns
    -------
    Degraded : ``cube``, ``impulse_mask`` and ``impulse_bands``.

    References
    ----------
    Zhang et al., IEEE TGRS 2014 (LRMR); Wei et al., IEEE TNNLS 2021.
    """
    rng = draws.check_rng(rng)
    tensor = as_tensor(cube, name="cube", ndim=3)
    band_index = _band_indices(bands, tensor.shape[2])
    per_band = np.asarray(fraction, dtype=np.float64).reshape(-1)
    if per_band.size not in (1, band_index.size) or np.any(per_band < 0) or np.any(per_band > 1):
        raise ParameterError(
            f"fraction must be in [0, 1], a scalar or one per chosen band ({band_index.size}); got {fraction!r}"
        )
    salt_share = float(salt_vs_pepper)
    if not 0.0 <= salt_share <= 1.0:
        raise ParameterError(f"salt_vs_pepper must be in [0, 1]; got {salt_vs_pepper}")
    if values is None:
        pepper, salt = float(tensor.min()), float(tensor.max())
    else:
        pepper, salt = (float(v) for v in values)

    n_rows, n_cols, _ = tensor.shape
    shape = (n_rows, n_cols, int(band_index.size))
    hit = draws.uniform(rng, shape, 0.0, 1.0, draws.float64_like(tensor))
    salty = draws.uniform(rng, shape, 0.0, 1.0, draws.float64_like(tensor)) < salt_share
    hit = hit < torch.as_tensor(np.broadcast_to(per_band, (band_index.size,)).copy(), device=tensor.device)
    impulses = torch.full(shape, pepper, dtype=tensor.dtype, device=tensor.device).masked_fill_(salty, salt)
    index = torch.as_tensor(band_index, device=tensor.device)
    noisy = tensor.clone()
    noisy[:, :, index] = torch.where(hit, impulses, tensor[:, :, index])
    mask = torch.zeros(tensor.shape, dtype=torch.bool, device=tensor.device)
    mask[:, :, index] = hit
    return Degraded(
        like_input(noisy, cube), impulse_mask=like_input(mask, cube), impulse_bands=band_index
    )


def stripes(
    cube: np.ndarray | torch.Tensor,
    bands: Sequence[int] | np.ndarray | None,
    rng: np.random.Generator | torch.Generator,
    *,
    n_stripes: int | None = None,
    fraction: float | tuple[float, float] = (0.05, 0.15),
    amplitude: float = 0.25,
    angle_deg: float = 0.0,
) -> Degraded:
    """Column stripes: a constant offset added down whole columns of the chosen bands.

    Models a pushbroom detector element with a wrong offset (the stripe runs along-track,
    i.e. down a column of the ``(rows, cols, bands)`` cube). With ``angle_deg`` the stripes
    run at that angle to the columns, as on an orthorectified product whose flight track is
    rotated on the map grid: one-pixel-wide lines ``round(col cos a - row sin a) = const``
    (positive angles lean to higher columns down the rows) take the place of columns.

    Parameters
    ----------
    cube : ``(rows, cols, bands)``, numpy or torch.
    bands : band indices (or boolean mask) to stripe; None = every band.
    rng : ``numpy.random.Generator`` or ``torch.Generator``.
    n_stripes : striped columns per band; if None, drawn per band uniformly in
        ``[floor(fraction[0] * cols), floor(fraction[1] * cols)]``.
    fraction : fraction (or ``(low, high)`` range) of columns striped per band.
    amplitude : each striped column gets an offset drawn from ``U[-amplitude, amplitude]``
        (data units; 0.25 for [0, 1] data as in QRNN3D).
    angle_deg : angle of the stripes to the columns, degrees in (-90, 90] (0: columns).

    Returns
    -------
    Degraded : ``cube``, ``stripe_mask`` (whole columns, or lines at ``angle_deg``) and ``stripe_bands``.

    References
    ----------
    Wei et al., IEEE TNNLS 2021; He et al., IEEE TGRS 2016.
    """
    rng = draws.check_rng(rng)
    tensor = as_tensor(cube, name="cube", ndim=3)
    amplitude = float(amplitude)
    if not amplitude >= 0 or not math.isfinite(amplitude):
        raise ParameterError(f"amplitude must be a non-negative offset in data units; got {amplitude}")
    angle_deg = float(angle_deg)
    if not -90.0 < angle_deg <= 90.0:
        raise ParameterError(f"angle_deg must be in (-90, 90] degrees from the columns; got {angle_deg}")
    band_index = _band_indices(bands, tensor.shape[2])
    line = None if angle_deg == 0.0 else _line_index(tensor.shape[0], tensor.shape[1], angle_deg, tensor.device)
    n_cols = tensor.shape[1] if line is None else int(line.max()) + 1  # columns, or lines at the angle
    counts = _column_counts(rng, n_cols, band_index.size, n_stripes, fraction, "n_stripes")
    columns = _random_columns(rng, counts, n_cols, tensor)
    offsets = draws.uniform(rng, (band_index.size, n_cols), -amplitude, amplitude, tensor) * columns
    noisy = tensor.clone()
    if line is not None:
        index = torch.as_tensor(band_index, device=tensor.device, dtype=torch.long)
        noisy[:, :, index] += offsets.T[line]
        mask = torch.zeros(tuple(tensor.shape), dtype=torch.bool, device=tensor.device)
        mask[:, :, index] = columns.T[line]
        return Degraded(like_input(noisy, cube), stripe_mask=like_input(mask, cube), stripe_bands=band_index)
    if band_index.size:
        index = torch.as_tensor(band_index, device=tensor.device)
        noisy[:, :, index] += offsets.T.unsqueeze(0)
    mask = _full_mask(columns, band_index, tuple(tensor.shape))
    return Degraded(like_input(noisy, cube), stripe_mask=like_input(mask, cube), stripe_bands=band_index)


def dead_lines(
    cube: np.ndarray | torch.Tensor,
    bands: Sequence[int] | np.ndarray | None,
    rng: np.random.Generator | torch.Generator,
    *,
    n_lines: int | None = None,
    fraction: float | tuple[float, float] = (0.05, 0.15),
    value: float = 0.0,
) -> Degraded:
    """Dead lines: whole columns of the chosen bands set to ``value`` (0: a dead detector).

    Parameters
    ----------
    cube : ``(rows, cols, bands)``, numpy or torch.
    bands : band indices (or boolean mask); None = every band.
    rng : ``numpy.random.Generator`` or ``torch.Generator``.
    n_lines : dead columns per band; if None, drawn per band uniformly in
        ``[floor(fraction[0] * cols), floor(fraction[1] * cols)]``.
    fraction : fraction (or ``(low, high)`` range) of columns killed per band.
    value : the value a dead line reads.

    Returns
    -------
    Degraded : ``cube``, ``dead_line_mask`` and ``dead_line_bands``.

    References
    ----------
    Zhang et al., IEEE TGRS 2014 (LRMR); Wei et al., IEEE TNNLS 2021.
    """
    rng = draws.check_rng(rng)
    tensor = as_tensor(cube, name="cube", ndim=3)
    band_index = _band_indices(bands, tensor.shape[2])
    n_cols = tensor.shape[1]
    counts = _column_counts(rng, n_cols, band_index.size, n_lines, fraction, "n_lines")
    columns = _random_columns(rng, counts, n_cols, tensor)
    mask = _full_mask(columns, band_index, tuple(tensor.shape))
    noisy = tensor.masked_fill(mask, float(value))
    return Degraded(
        like_input(noisy, cube), dead_line_mask=like_input(mask, cube), dead_line_bands=band_index
    )


def complex_noise(
    cube: np.ndarray | torch.Tensor,
    rng: np.random.Generator | torch.Generator,
    *,
    sigma_range: tuple[float, float] = (10 / 255, 70 / 255),
    band_fraction: float = 1 / 3,
    impulse_fractions: Sequence[float] = (0.1, 0.3, 0.5, 0.7),
    stripe_fraction: float | tuple[float, float] = (0.05, 0.15),
    stripe_amplitude: float = 0.25,
    dead_line_fraction: float | tuple[float, float] = (0.05, 0.15),
) -> Degraded:
    """The mixed ("complex") noise case of the HSI denoising literature.

    Recipe (Wei et al. 2021, "mixture" case; after Zhang et al. 2014 and He et al. 2016):

    1. non-i.i.d. Gaussian on all bands, ``sigma_b ~ U[sigma_range]`` (default [10, 70] / 255);
    2. shuffle the bands and take three disjoint groups of ``floor(band_fraction * bands)``:
       impulse noise on the first (salt/pepper at the clean cube's max/min, half each; the
       corrupted fraction of each band drawn from ``impulse_fractions``), stripes on the
       second (``stripe_fraction`` of the columns, offsets ``U[-stripe_amplitude,
       stripe_amplitude]``), dead lines on the third (``dead_line_fraction`` of the
       columns set to 0).

    Parameters
    ----------
    cube : ``(rows, cols, bands)``, numpy or torch, normally min-max normalised to [0, 1]
        (the default sigmas and stripe amplitude assume that scale).
    rng : ``numpy.random.Generator`` or ``torch.Generator``.
    sigma_range, band_fraction, impulse_fractions, stripe_fraction, stripe_amplitude,
    dead_line_fraction : the recipe's knobs (defaults = the published recipe).
        ``band_fraction`` must be in [0, 1/3] so the three groups stay disjoint.

    Returns
    -------
    Degraded : every field set: ``sigma_per_band``, the three masks and band groups.

    References
    ----------
    Wei et al., IEEE TNNLS 2021 (QRNN3D); Zhang et al., IEEE TGRS 2014 (LRMR); He et al.,
    IEEE TGRS 2016 (LRTV).
    """
    rng = draws.check_rng(rng)
    tensor = as_tensor(cube, name="cube", ndim=3)
    if not 0.0 <= band_fraction <= 1 / 3 + 1e-12:
        raise ParameterError(f"band_fraction must be in [0, 1/3] (three disjoint groups); got {band_fraction}")
    choices = np.asarray(impulse_fractions, dtype=np.float64).reshape(-1)
    if choices.size == 0 or np.any(choices < 0) or np.any(choices > 1):
        raise ParameterError(f"impulse_fractions must be values in [0, 1]; got {impulse_fractions!r}")
    pepper, salt = float(tensor.min()), float(tensor.max())

    gaussian = noniid_gaussian_noise(tensor, rng, sigma_range)
    n_bands = tensor.shape[2]
    n_group = int(math.floor(band_fraction * n_bands + 1e-9))
    order = draws.permutation(rng, n_bands)
    groups = [np.sort(order[i * n_group : (i + 1) * n_group]) for i in range(3)]
    per_band_fraction = choices[draws.integers(rng, 0, choices.size, n_group)]

    impulse = impulse_noise(gaussian.cube, per_band_fraction, groups[0], rng, values=(pepper, salt))
    striped = stripes(impulse.cube, groups[1], rng, fraction=stripe_fraction, amplitude=stripe_amplitude)
    dead = dead_lines(striped.cube, groups[2], rng, fraction=dead_line_fraction)
    return Degraded(
        like_input(dead.cube, cube),
        sigma_per_band=gaussian.sigma_per_band,
        impulse_mask=like_input(impulse.impulse_mask, cube),
        stripe_mask=like_input(striped.stripe_mask, cube),
        dead_line_mask=like_input(dead.dead_line_mask, cube),
        impulse_bands=groups[0],
        stripe_bands=groups[1],
        dead_line_bands=groups[2],
    )

"""Bad-band detection: dead, noisy and striped bands, with the numbers behind each flag."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hsi.errors import ParameterError
from hsi.estimate._arrays import to_tensor
from hsi.estimate.noise import MAD_TO_STD, noise_std_per_band

#: A band is dead when its spread is below this fraction of the median band spread.
DEAD_RELATIVE_STD = 1e-4
#: A band is dead when fewer than this fraction of its pixels are finite.
DEAD_MIN_FINITE = 0.5
#: A band is noisy when its signal-to-noise ratio (signal variance / noise variance) is below this.
NOISY_SNR_DB = 6.0
#: A column is a stripe when its mean departs from the local (median-filtered) column profile
#: by more than this many robust standard deviations of that departure.
STRIPE_Z = 6.0
#: Width, in columns, of the median filter giving the local column profile.
STRIPE_FILTER_WIDTH = 7
#: A band is striped when at least this fraction of its columns (and at least 2) are stripes.
STRIPED_MIN_FRACTION = 0.02


@dataclass
class BandReport:
    """Per-band quality report; every array has one entry per band.

    dead, noisy, striped : bool flags.
    noise_std : robust wavelet noise standard deviation, cube units.
    snr_db : 10 log10(signal variance / noise variance).
    stripe_fraction : fraction of columns detected as stripes.
    finite_fraction : fraction of finite pixels.
    """

    dead: np.ndarray
    noisy: np.ndarray
    striped: np.ndarray
    noise_std: np.ndarray
    snr_db: np.ndarray
    stripe_fraction: np.ndarray
    finite_fraction: np.ndarray

    @property
    def bad(self) -> np.ndarray:
        """True where a band is dead, noisy or striped."""
        return self.dead | self.noisy | self.striped

    def as_dict(self) -> dict[str, list]:
        """JSON-ready lists (band indices of each flag plus the per-band numbers)."""
        return {
            "dead_bands": np.flatnonzero(self.dead).tolist(),
            "noisy_bands": np.flatnonzero(self.noisy).tolist(),
            "striped_bands": np.flatnonzero(self.striped).tolist(),
            "noise_std": self.noise_std.tolist(),
            "snr_db": self.snr_db.tolist(),
            "stripe_fraction": self.stripe_fraction.tolist(),
        }


def column_stripe_fraction(
    cube: torch.Tensor,
    noise_std: torch.Tensor,
    *,
    z: float = STRIPE_Z,
    width: int = STRIPE_FILTER_WIDTH,
) -> torch.Tensor:
    """Fraction of columns per band whose mean is a band-specific outlier.

    The column-mean profile of each band (rows averaged) minus its running median over
    ``width`` columns leaves the fine column structure. Scene structure (edges, roads) is
    shared by spectrally neighbouring bands, stripes are not: the fine structure of band
    ``b`` is fitted (one gain) by the mean fine structure of bands ``b-2 .. b+2`` (``b``
    excluded) and a column is a stripe when the misfit exceeds ``z`` times the larger of
    the misfits' robust spread and the noise of a column mean (``noise_std / sqrt(rows)``).
    Stripes on the same columns of many neighbouring bands are therefore not detected.
    Returns (bands,).
    """
    rows, cols, bands = cube.shape
    half = width // 2
    if cols < width or bands < 3:
        return torch.zeros(bands, dtype=cube.dtype, device=cube.device)
    profile = torch.nanmean(cube, dim=0)  # (cols, bands)
    padded = torch.cat([profile[1 : half + 1].flip(0), profile, profile[-half - 1 : -1].flip(0)], dim=0)
    fine = profile - padded.unfold(0, width, 1).median(dim=-1).values
    fine = torch.nan_to_num(fine)
    # Mean fine structure of the spectral neighbours (up to 2 on each side, edges reflected).
    neighbours = torch.zeros_like(fine)
    count = torch.zeros(bands, dtype=cube.dtype, device=cube.device)
    index = torch.arange(bands, device=cube.device)
    for offset in (-2, -1, 1, 2):
        source = index + offset
        valid = (source >= 0) & (source < bands)
        neighbours[:, valid] += fine[:, source[valid]]
        count[valid] += 1
    neighbours = neighbours / count.clamp_min(1)
    gain = (fine * neighbours).sum(0) / (neighbours * neighbours).sum(0).clamp_min(torch.finfo(cube.dtype).tiny)
    misfit = fine - gain * neighbours
    spread = misfit.abs().median(dim=0).values / MAD_TO_STD
    floor = noise_std / np.sqrt(rows)
    threshold = z * torch.maximum(spread, floor)
    return (misfit.abs() > threshold).to(cube.dtype).mean(dim=0)


def flag_bands(
    cube: torch.Tensor | np.ndarray,
    *,
    noisy_snr_db: float = NOISY_SNR_DB,
    dead_relative_std: float = DEAD_RELATIVE_STD,
    stripe_z: float = STRIPE_Z,
    striped_min_fraction: float = STRIPED_MIN_FRACTION,
) -> BandReport:
    """Flag dead, noisy and striped bands of a cube.

    Rules (thresholds are the module constants, overridable here):

    - **dead**: fewer than half the pixels finite, or the band's standard deviation below
      ``dead_relative_std`` times the median standard deviation over bands (constant or zero band).
    - **noisy**: ``snr_db < noisy_snr_db``, with noise from the wavelet MAD estimate
      (:func:`hsi.estimate.noise.noise_std_per_band`) and signal variance = band variance
      minus noise variance.
    - **striped**: at least ``striped_min_fraction`` of the columns (and at least 2) have a
      mean that departs from the band's running-median column profile, beyond what the
      spectral neighbours explain, by more than ``stripe_z`` robust standard deviations
      (see :func:`column_stripe_fraction`); stripes are assumed to run along columns
      (push-broom along-track), as do those of the benchmark's complex-noise case.

    Parameters
    ----------
    cube : (rows, cols, bands); NaN marks missing pixels.

    Returns
    -------
    :class:`BandReport`.

    References
    ----------
    D. L. Donoho, "De-noising by soft-thresholding", IEEE Trans. Inf. Theory 41(3), 1995
    (wavelet MAD noise); H. Shen and L. Zhang, "A MAP-based algorithm for destriping and
    inpainting of remotely sensed images", IEEE TGRS 47(5), 2009 (column-mean stripe model).
    """
    for name, value in (("noisy_snr_db", noisy_snr_db), ("stripe_z", stripe_z)):
        if not np.isfinite(value):
            raise ParameterError(f"{name} must be finite; got {value}")
    if not 0.0 <= dead_relative_std < 1.0:
        raise ParameterError(f"dead_relative_std must be in [0, 1); got {dead_relative_std}")
    if not 0.0 < striped_min_fraction <= 1.0:
        raise ParameterError(f"striped_min_fraction must be in (0, 1]; got {striped_min_fraction}")
    x, _ = to_tensor(cube, name="cube", ndim=3, dtype=torch.float64)
    rows, cols, bands = x.shape
    finite = torch.isfinite(x)
    finite_fraction = finite.reshape(-1, bands).to(torch.float64).mean(dim=0)
    mean = torch.nanmean(x.reshape(-1, bands), dim=0)
    centred = torch.where(finite, x - mean, torch.zeros_like(x)).reshape(-1, bands)
    std = torch.sqrt((centred ** 2).sum(dim=0) / finite.reshape(-1, bands).sum(dim=0).clamp_min(1))
    noise = torch.nan_to_num(noise_std_per_band(x), nan=0.0)
    median_std = std.median()
    dead = (finite_fraction < DEAD_MIN_FINITE) | (std <= dead_relative_std * median_std) | (std == 0)
    tiny = torch.finfo(torch.float64).tiny
    signal_var = (std ** 2 - noise ** 2).clamp_min(tiny)
    snr_db = 10 * torch.log10(signal_var / (noise ** 2).clamp_min(tiny))
    noisy = (snr_db < noisy_snr_db) & ~dead
    stripe_fraction = column_stripe_fraction(x, noise, z=stripe_z)
    striped = (stripe_fraction >= striped_min_fraction) & (stripe_fraction * cols >= 2) & ~dead
    as_numpy = lambda t: t.cpu().numpy()  # noqa: E731
    return BandReport(
        dead=as_numpy(dead),
        noisy=as_numpy(noisy),
        striped=as_numpy(striped),
        noise_std=as_numpy(noise),
        snr_db=as_numpy(snr_db),
        stripe_fraction=as_numpy(stripe_fraction),
        finite_fraction=as_numpy(finite_fraction),
    )

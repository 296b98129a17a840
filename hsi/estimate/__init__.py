"""Noise and signal estimation: per-band noise, signal subspace (HySime), virtual dimensionality, bad bands."""

from hsi.estimate.noise import (
    estimate_noise_regression,
    noise_std_from_blocks,
    noise_std_per_band,
    noise_std_spectral,
    shift_differences,
)
from hsi.estimate.subspace import hfc, hysime, mnf_dimension

__all__ = ["estimate_noise_regression", "noise_std_from_blocks", "noise_std_per_band", "noise_std_spectral", "hysime", "hfc", "mnf_dimension", "shift_differences"]

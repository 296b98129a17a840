"""Seeded, documented degradations of ``(rows, cols, bands)`` cubes.

* :mod:`hsi.degrade.noise`: Gaussian (i.i.d. / per band), Poisson-Gaussian, impulse, stripes,
  dead lines and the mixed "complex" case; results that need it come as :class:`Degraded`.
* :mod:`hsi.degrade.mtf`: sensor MTF blur, Gaussian blur, decimation (Wald's protocol).
* :mod:`hsi.degrade.masks`: observation masks (True = observed) and :func:`apply_mask`.
* :mod:`hsi.degrade.srf`: spectral response functions, MS/PAN synthesis from HS cubes.
* :mod:`hsi.degrade.resample`: interpolation onto a grid ``ratio`` times finer and antialiased
  reduction (pansharpening's EXP step, the PAN at the MS scale for QNR).

Every random function takes ``rng`` (a ``numpy.random.Generator`` or a ``torch.Generator``)
and returns the same kind of array it was given.
"""

from hsi.degrade.masks import apply_mask, block_mask, random_band_pixel_mask, random_pixel_mask, stripe_mask
from hsi.degrade.mtf import (
    SENSOR_MTF,
    SensorMTF,
    decimate,
    degrade_pan,
    degrade_resolution,
    gaussian_blur,
    mtf_blur,
    mtf_kernel,
    mtf_kernel_1d,
    sensor_mtf,
)
from hsi.degrade.noise import (
    Degraded,
    complex_noise,
    dead_lines,
    gaussian_noise,
    impulse_noise,
    noniid_gaussian_noise,
    poisson_gaussian_noise,
    stripes,
)
from hsi.degrade.srf import SENSOR_SRF, SensorSRF, box_srf, gaussian_srf, sensor_srf, srf_matrix, synthesize

__all__ = [
    "apply_mask",
    "block_mask",
    "random_band_pixel_mask",
    "random_pixel_mask",
    "stripe_mask",
    "SENSOR_SRF",
    "SensorSRF",
    "box_srf",
    "gaussian_srf",
    "sensor_srf",
    "srf_matrix",
    "synthesize",
    "Degraded",
    "complex_noise",
    "dead_lines",
    "gaussian_noise",
    "impulse_noise",
    "noniid_gaussian_noise",
    "poisson_gaussian_noise",
    "stripes",
    "SENSOR_MTF",
    "SensorMTF",
    "decimate",
    "degrade_pan",
    "degrade_resolution",
    "gaussian_blur",
    "mtf_blur",
    "mtf_kernel",
    "mtf_kernel_1d",
    "sensor_mtf",
]

"""A synthetic scene with spatially smooth abundance maps (for the spatial unmixing methods)."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from tests.unmix._synthetic import synthetic_mixture


def spatial_mixture(rows=32, cols=32, n_bands=60, n_endmembers=4, noise=0.002, seed=0, sharpness=3.0):
    """Pixels (rows*cols, bands) row-major, endmembers (bands, k), abundances (rows*cols, k).

    Abundances are the softmax of smooth random fields (Gaussian-filtered noise, 5 px), so
    neighbouring pixels have similar mixtures and each material has nearly pure regions.
    """
    rng = np.random.default_rng(seed)
    _, endmembers, _ = synthetic_mixture(n_pixels=n_endmembers, n_bands=n_bands, n_endmembers=n_endmembers, seed=seed)
    field = gaussian_filter(rng.normal(size=(rows, cols, n_endmembers)), sigma=(5, 5, 0), mode="wrap")
    field = sharpness * field / field.std()
    abundances = np.exp(field)
    abundances = (abundances / abundances.sum(axis=-1, keepdims=True)).reshape(-1, n_endmembers)
    pixels = abundances @ endmembers.T + rng.normal(0, noise, size=(rows * cols, n_bands))
    return pixels, endmembers, abundances

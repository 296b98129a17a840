"""A synthetic linear mixture with known endmembers and abundances (pure pixels present)."""

from __future__ import annotations

import numpy as np


def synthetic_mixture(n_pixels=2000, n_bands=60, n_endmembers=4, noise=0.001, seed=0):
    rng = np.random.default_rng(seed)
    wavelengths = np.linspace(0, 1, n_bands)
    centres = rng.uniform(0, 1, size=(n_endmembers, 3))
    endmembers = np.stack(
        [0.2 + sum(0.25 * np.exp(-((wavelengths - c) ** 2) / 0.02) for c in cs) for cs in centres], axis=1
    )
    abundances = rng.dirichlet(np.full(n_endmembers, 0.6), size=n_pixels)
    abundances[:n_endmembers] = np.eye(n_endmembers)  # pure pixels
    pixels = abundances @ endmembers.T + rng.normal(0, noise, size=(n_pixels, n_bands))
    return pixels, endmembers, abundances


def sad_deg(estimated, reference):
    """Mean SAD (deg) after the best assignment of estimated to reference columns."""
    from scipy.optimize import linear_sum_assignment

    est = estimated / np.linalg.norm(estimated, axis=0)
    ref = reference / np.linalg.norm(reference, axis=0)
    angles = np.degrees(np.arccos(np.clip(est.T @ ref, -1, 1)))
    rows, cols = linear_sum_assignment(angles)
    return float(angles[rows, cols].mean())

"""A deterministic synthetic hyperspectral scene: the shipped sample and a test fixture.

The scene is a linear mixture ``cube = abundances @ endmembers.T + noise`` of five materials
with analytic reflectance spectra (green vegetation, dry soil, water, concrete, dry vegetation)
over a VNIR-SWIR grid (400-2500 nm, 20 nm steps, 106 bands). Abundances combine smooth fields
(filtered Gaussian noise) with sharp structures (crop fields with straight boundaries, a
meandering river, a sub-pixel road, an urban block), sum to one, are non-negative and include
pure pixels of every material. Noise is Gaussian, per band, larger at the ends of the range and
much larger in the atmospheric water-vapour bands (1350-1450 and 1800-1950 nm), which are
flagged as bad bands, as in atmospherically corrected imagery.

The spectra are smooth continua (monotone cubic through a few anchor values) multiplied by
Gaussian absorption features at the wavelengths documented for each material.

References
----------
R. N. Clark et al., "High spectral resolution reflectance spectroscopy of minerals", JGR 1990
(hydroxyl 1400 nm, water 1900 nm, Al-OH 2200 nm and carbonate 2340 nm features).
G. S. Okin et al., "Practical limits on hyperspectral vegetation discrimination in arid and
semiarid environments", RSE 2001, and R. F. Kokaly, R. N. Clark, "Spectroscopic determination of
leaf biochemistry", RSE 1999 (cellulose/lignin 2100 and 2300 nm features of dry vegetation).
J. M. Bioucas-Dias et al., "Hyperspectral unmixing overview", IEEE JSTARS 2012 (linear mixing
model).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from scipy.interpolate import PchipInterpolator
from scipy.ndimage import gaussian_filter

from hsi.errors import ParameterError

MATERIAL_NAMES = ("green vegetation", "dry soil", "water", "concrete", "dry vegetation")
VEGETATION, SOIL, WATER, CONCRETE, DRY_VEGETATION = range(5)

#: Atmospheric water-vapour absorption windows (nm) flagged as bad bands.
WATER_VAPOUR_NM = ((1350.0, 1450.0), (1800.0, 1950.0))


def default_wavelengths_nm() -> tuple[np.ndarray, np.ndarray]:
    """Band centres 400, 420, ..., 2500 nm (106 bands) and their FWHM (22 nm, slightly overlapping)."""
    wavelengths = np.arange(400.0, 2500.0 + 1.0, 20.0)
    return wavelengths, np.full_like(wavelengths, 22.0)


# --- spectra ------------------------------------------------------------------------------
def _continuum(wavelengths_nm: np.ndarray, anchors: list[tuple[float, float]]) -> np.ndarray:
    nm, value = np.array(anchors, dtype=np.float64).T
    return PchipInterpolator(nm, value, extrapolate=True)(wavelengths_nm)


def _absorptions(wavelengths_nm: np.ndarray, features: list[tuple[float, float, float]]) -> np.ndarray:
    """Product of ``1 - depth * gauss(centre, sigma)`` over ``(centre_nm, sigma_nm, depth)`` features."""
    factor = np.ones_like(wavelengths_nm)
    for centre, sigma, depth in features:
        factor *= 1.0 - depth * np.exp(-0.5 * ((wavelengths_nm - centre) / sigma) ** 2)
    return factor


def green_vegetation(wavelengths_nm: np.ndarray) -> np.ndarray:
    """Leaf canopy: chlorophyll absorptions (blue, 670 nm), green peak, red edge at ~718 nm,
    NIR plateau, liquid-water absorptions at 970, 1200, 1450 and 1940 nm."""
    wl = np.asarray(wavelengths_nm, dtype=np.float64)
    visible = 0.032 + 0.085 * np.exp(-0.5 * ((wl - 555.0) / 32.0) ** 2)
    red_edge = 1.0 / (1.0 + np.exp(-(wl - 718.0) / 12.0))
    plateau = _continuum(
        wl, [(400, 0.50), (750, 0.50), (900, 0.51), (1100, 0.49), (1300, 0.45), (1650, 0.36),
             (1850, 0.30), (2200, 0.22), (2500, 0.12)]
    )
    water = _absorptions(wl, [(975, 25, 0.07), (1190, 45, 0.14), (1450, 65, 0.55), (1940, 80, 0.70), (2500, 150, 0.3)])
    return visible * (1.0 - red_edge) + plateau * red_edge * water


def dry_soil(wavelengths_nm: np.ndarray) -> np.ndarray:
    """Bare soil: reflectance rising through the visible (iron oxides), broad 900 nm ferric
    feature, weak 1400/1900 nm hydration and the clay Al-OH feature at 2200 nm."""
    wl = np.asarray(wavelengths_nm, dtype=np.float64)
    continuum = _continuum(
        wl, [(400, 0.07), (500, 0.11), (600, 0.19), (750, 0.25), (1000, 0.29), (1300, 0.33),
             (1700, 0.37), (2100, 0.38), (2500, 0.33)]
    )
    return continuum * _absorptions(wl, [(900, 80, 0.05), (1410, 25, 0.08), (1910, 35, 0.10), (2205, 25, 0.14)])


def water(wavelengths_nm: np.ndarray) -> np.ndarray:
    """Slightly turbid water: low, a green maximum, near zero beyond 900 nm."""
    wl = np.asarray(wavelengths_nm, dtype=np.float64)
    return _continuum(
        wl, [(400, 0.045), (480, 0.050), (570, 0.055), (650, 0.030), (700, 0.022), (760, 0.010),
             (850, 0.006), (1000, 0.003), (2500, 0.002)]
    )


def concrete(wavelengths_nm: np.ndarray) -> np.ndarray:
    """Concrete / urban surfaces: bright and nearly flat, weak hydration features, carbonate at 2340 nm."""
    wl = np.asarray(wavelengths_nm, dtype=np.float64)
    continuum = _continuum(
        wl, [(400, 0.18), (550, 0.26), (800, 0.31), (1200, 0.34), (1700, 0.35), (2200, 0.33), (2500, 0.29)]
    )
    return continuum * _absorptions(wl, [(1450, 40, 0.04), (1940, 50, 0.06), (2340, 30, 0.08)])


def dry_vegetation(wavelengths_nm: np.ndarray) -> np.ndarray:
    """Non-photosynthetic vegetation (litter, straw): no red edge, rising continuum, cellulose and
    lignin features at 1730, 2100 and 2300 nm, residual water at 1450/1940 nm."""
    wl = np.asarray(wavelengths_nm, dtype=np.float64)
    continuum = _continuum(
        wl, [(400, 0.05), (500, 0.10), (600, 0.17), (700, 0.24), (900, 0.31), (1200, 0.37),
             (1650, 0.44), (2000, 0.40), (2250, 0.38), (2500, 0.30)]
    )
    features = [(1200, 40, 0.04), (1450, 50, 0.12), (1730, 25, 0.05), (1940, 60, 0.15),
                (2100, 40, 0.20), (2300, 30, 0.10)]
    return continuum * _absorptions(wl, features)


def material_endmembers(wavelengths_nm: np.ndarray) -> np.ndarray:
    """``(bands, 5)`` reflectance of the :data:`MATERIAL_NAMES` at the given band centres (nm)."""
    wl = np.asarray(wavelengths_nm, dtype=np.float64)
    return np.stack([f(wl) for f in (green_vegetation, dry_soil, water, concrete, dry_vegetation)], axis=1)


# --- abundances ---------------------------------------------------------------------------
def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma_px: float) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian random field with correlation length ~``sigma_px`` pixels."""
    field = gaussian_filter(rng.standard_normal(shape), sigma_px, mode="wrap")
    return (field - field.mean()) / max(field.std(), 1e-12)


def _one_hot(material: int, shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape + (len(MATERIAL_NAMES),))
    out[..., material] = 1.0
    return out


def _cover(abundances: np.ndarray, coverage: np.ndarray, top: np.ndarray) -> np.ndarray:
    """Lay ``top`` abundances over ``abundances`` with per-pixel ``coverage`` in [0, 1] (sum to one is kept)."""
    coverage = np.clip(coverage, 0.0, 1.0)[..., None]
    return coverage * top + (1.0 - coverage) * abundances


def _line_coverage(distance_px: np.ndarray, half_width_px: float) -> np.ndarray:
    """Area fraction of a pixel covered by a strip of ``half_width_px`` at ``distance_px`` from its axis."""
    return np.clip(half_width_px + 0.5 - np.abs(distance_px), 0.0, 1.0)


def _natural_background(rng, shape) -> np.ndarray:
    """Smooth mixtures of vegetation, soil and dry vegetation (softmax of random fields)."""
    logits = np.zeros(shape + (len(MATERIAL_NAMES),)) - np.inf
    for material in (VEGETATION, SOIL, DRY_VEGETATION):
        logits[..., material] = 2.5 * _smooth_field(rng, shape, 6.0)
    weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return weights / weights.sum(axis=-1, keepdims=True)


def _crop_fields(rng, abundances, rows, cols) -> np.ndarray:
    """Rectangular parcels (top-left 60 % x 55 %) with straight, sharp boundaries."""
    n_rows, n_cols = abundances.shape[:2]
    top, left = 0.60 * n_rows, 0.55 * n_cols
    row_edges = np.sort(rng.uniform(0.15, 0.85, 2)) * top
    col_edges = np.sort(rng.uniform(0.1, 0.9, 3)) * left
    parcel_row = np.searchsorted(row_edges, rows + 0.5)
    parcel_col = np.searchsorted(col_edges, cols + 0.5)
    inside = (rows < top) & (cols < left)
    within = _smooth_field(rng, (n_rows, n_cols), 3.0)
    # (dominant material, secondary material, mean secondary fraction): pure crops, bare soil, stubble
    kinds = [(VEGETATION, SOIL, 0.0), (SOIL, DRY_VEGETATION, 0.0), (DRY_VEGETATION, SOIL, 0.15),
             (VEGETATION, SOIL, 0.25), (SOIL, VEGETATION, 0.1), (DRY_VEGETATION, VEGETATION, 0.0)]
    order = rng.permutation(len(kinds))
    for index in range(3 * 4):
        dominant, secondary, mean = kinds[order[index % len(kinds)]]
        parcel = inside & (parcel_row == index // 4) & (parcel_col == index % 4)
        # Pure parcels (mean 0) stay exactly pure; mixed ones vary smoothly around their mean.
        secondary_fraction = np.clip(mean * (1.0 + 0.6 * within), 0.0, 0.9) if mean > 0 else np.zeros_like(within)
        parcel_abundances = (1.0 - secondary_fraction)[..., None] * _one_hot(dominant, within.shape)
        parcel_abundances[..., secondary] += secondary_fraction
        abundances = np.where(parcel[..., None], parcel_abundances, abundances)
    return abundances


def _urban_block(rng, abundances, rows, cols) -> np.ndarray:
    """Concrete in the bottom-left corner with street trees, and a pure plaza."""
    n_rows, n_cols = abundances.shape[:2]
    top, right = 0.68 * n_rows, 0.40 * n_cols
    trees = np.clip(0.25 + 0.25 * _smooth_field(rng, (n_rows, n_cols), 1.5), 0.0, 0.8)
    block = (rows >= top) & (cols < right)
    plaza = block & (np.abs(rows - (top + n_rows) / 2) < 2.5) & (np.abs(cols - right / 2) < 2.5)
    urban = _one_hot(CONCRETE, trees.shape)
    urban = _cover(urban, np.where(plaza, 0.0, trees), _one_hot(VEGETATION, trees.shape))
    return np.where(block[..., None], urban, abundances)


def _river(rng, abundances, rows, cols) -> np.ndarray:
    """A meandering river (pure water in its core) with a riparian vegetation strip."""
    n_rows, n_cols = abundances.shape[:2]
    phase = rng.uniform(0, 2 * np.pi)
    centre = n_cols * (0.72 + 0.07 * np.sin(2 * np.pi * 1.3 * rows / n_rows + phase))
    distance = cols + 0.5 - centre
    shape = abundances.shape[:2]
    riparian = np.clip(1.0 - np.abs(distance) / 6.0, 0.0, 1.0) * 0.8
    abundances = _cover(abundances, riparian, _one_hot(VEGETATION, shape))
    return _cover(abundances, _line_coverage(distance, 2.2), _one_hot(WATER, shape))


def _road(abundances, rows, cols) -> np.ndarray:
    """A straight road about 25 m wide (under one 30 m pixel: mixed pixels along its length)."""
    n_rows, n_cols = abundances.shape[:2]
    start, end = np.array([0.62 * n_rows, 0.0]), np.array([0.42 * n_rows, float(n_cols)])
    direction = (end - start) / np.linalg.norm(end - start)
    distance = (rows + 0.5 - start[0]) * direction[1] - (cols + 0.5 - start[1]) * direction[0]
    return _cover(abundances, _line_coverage(distance, 0.4), _one_hot(CONCRETE, abundances.shape[:2]))


def material_abundances(n_rows: int, n_cols: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_rows, n_cols, 5)`` abundances: non-negative, summing to one, with pure pixels of each material."""
    rows, cols = np.mgrid[0:n_rows, 0:n_cols].astype(np.float64)
    abundances = _natural_background(rng, (n_rows, n_cols))
    abundances = _crop_fields(rng, abundances, rows, cols)
    abundances = _urban_block(rng, abundances, rows, cols)
    abundances = _river(rng, abundances, rows, cols)
    abundances = _road(abundances, rows, cols)
    abundances = np.clip(abundances, 0.0, None)
    return abundances / abundances.sum(axis=-1, keepdims=True)


# --- noise and the scene ------------------------------------------------------------------
def water_vapour_bands(wavelengths_nm: np.ndarray) -> np.ndarray:
    """True for bands whose centre lies in an atmospheric water-vapour window (:data:`WATER_VAPOUR_NM`)."""
    wl = np.asarray(wavelengths_nm, dtype=np.float64)
    return np.any([(wl >= lo) & (wl <= hi) for lo, hi in WATER_VAPOUR_NM], axis=0)


def noise_sigma_per_band(wavelengths_nm: np.ndarray, noise_sigma: float, bad_band_sigma: float) -> np.ndarray:
    """Per-band noise standard deviation (reflectance units): ``noise_sigma`` mid-range, up to
    2x at 400 nm and 2x at 2500 nm (low sensor response), ``bad_band_sigma`` in water-vapour bands."""
    wl = np.asarray(wavelengths_nm, dtype=np.float64)
    shape = 1.0 + 1.0 * np.exp(-(wl - 400.0) / 60.0) + 1.0 / (1.0 + np.exp(-(wl - 2350.0) / 50.0))
    sigma = noise_sigma * shape
    return np.where(water_vapour_bands(wl), bad_band_sigma, sigma)


@dataclass(frozen=True)
class SampleScene:
    """A synthetic scene with its ground truth.

    cube : (rows, cols, bands) float32 reflectance, ``abundances @ endmembers.T`` plus noise.
    abundances : (rows, cols, n_endmembers) float32, non-negative, summing to one.
    endmembers : (bands, n_endmembers) float32 reflectance.
    material_names : one name per endmember.
    wavelengths_nm, fwhm_nm : (bands,) band centres and widths in nm.
    bad_bands : (bands,) bool, True in the water-vapour windows (all False when not flagged).
    sigma_per_band : (bands,) standard deviation of the added Gaussian noise, reflectance units.
    """

    cube: np.ndarray
    abundances: np.ndarray
    endmembers: np.ndarray
    material_names: tuple[str, ...]
    wavelengths_nm: np.ndarray
    fwhm_nm: np.ndarray
    bad_bands: np.ndarray
    sigma_per_band: np.ndarray

    def to_scene(self):
        """An in-memory :class:`hsi.scene.Scene` with the sample's spectral and georeferencing metadata."""
        from hsi.scene import Scene

        return Scene.from_array(
            self.cube,
            wavelengths_nm=self.wavelengths_nm,
            fwhm_nm=self.fwhm_nm,
            bad_bands=self.bad_bands,
            **sample_scene_metadata(),
        )


def make_sample_scene(
    n_rows: int = 96,
    n_cols: int = 96,
    wavelengths_nm: np.ndarray | None = None,
    fwhm_nm: np.ndarray | None = None,
    seed: int = 0,
    noise_sigma: float = 0.004,
    bad_band_sigma: float = 0.03,
    flag_bad_bands: bool = True,
) -> SampleScene:
    """Build the synthetic sample scene (deterministic: one seed gives bit-identical arrays on one platform).

    Parameters
    ----------
    n_rows, n_cols : size in pixels (>= 16 each); 30 m pixels in :func:`sample_scene_metadata`.
    wavelengths_nm, fwhm_nm : band centres and widths in nm within 350-2600 nm; default
        :func:`default_wavelengths_nm` (400-2500 nm, 106 bands). ``fwhm_nm`` defaults to 1.1 x
        the band spacing.
    seed : seed of the ``numpy.random.Generator`` used for the layout and the noise.
    noise_sigma : noise standard deviation mid-range (reflectance units); 0 gives a noise-free cube.
    bad_band_sigma : noise standard deviation in the water-vapour bands (1350-1450, 1800-1950 nm).
    flag_bad_bands : mark the water-vapour bands in ``bad_bands`` (their noise is added either way
        unless ``bad_band_sigma`` is 0).
    """
    if int(n_rows) < 16 or int(n_cols) < 16:
        raise ParameterError(f"n_rows and n_cols must be >= 16; got {n_rows} x {n_cols}")
    if noise_sigma < 0 or bad_band_sigma < 0:
        raise ParameterError(f"noise_sigma and bad_band_sigma must be >= 0; got {noise_sigma}, {bad_band_sigma}")
    if wavelengths_nm is None:
        wavelengths_nm, default_fwhm = default_wavelengths_nm()
        fwhm_nm = default_fwhm if fwhm_nm is None else fwhm_nm
    wavelengths = np.asarray(wavelengths_nm, dtype=np.float64).reshape(-1)
    if wavelengths.size < 3 or np.any(np.diff(wavelengths) <= 0) or wavelengths[0] < 350 or wavelengths[-1] > 2600:
        raise ParameterError("wavelengths_nm must be >= 3 increasing band centres within 350-2600 nm")
    if fwhm_nm is None:
        fwhm_nm = 1.1 * np.gradient(wavelengths)
    fwhm = np.asarray(fwhm_nm, dtype=np.float64).reshape(-1)
    if fwhm.size != wavelengths.size:
        raise ParameterError(f"fwhm_nm has {fwhm.size} values for {wavelengths.size} wavelengths")

    rng = np.random.default_rng(seed)
    abundances = material_abundances(int(n_rows), int(n_cols), rng)
    endmembers = material_endmembers(wavelengths)
    sigma = noise_sigma_per_band(wavelengths, noise_sigma, bad_band_sigma)
    # An explicit sum over materials rather than a BLAS product: its rounding never depends on
    # the thread count, so one seed gives bit-identical cubes on one platform.
    clean = sum(abundances[..., k, None] * endmembers[:, k] for k in range(endmembers.shape[1]))
    cube = clean + rng.standard_normal(clean.shape) * sigma
    bad = water_vapour_bands(wavelengths) if flag_bad_bands else np.zeros(wavelengths.size, bool)
    return SampleScene(
        cube=cube.astype(np.float32),
        abundances=abundances.astype(np.float32),
        endmembers=endmembers.astype(np.float32),
        material_names=MATERIAL_NAMES,
        wavelengths_nm=wavelengths,
        fwhm_nm=fwhm,
        bad_bands=bad,
        sigma_per_band=sigma,
    )


def sample_scene_metadata() -> dict[str, Any]:
    """Georeferencing and radiometry of the sample, as :class:`hsi.scene.Scene` keyword arguments.

    UTM zone 11N (EPSG:32611), 30 m north-up pixels with the top-left corner at
    (350000 E, 3810000 N), nodata -9999, values in reflectance units.
    """
    return {
        "crs": CRS.from_epsg(32611),
        "transform": Affine(30.0, 0.0, 350000.0, 0.0, -30.0, 3810000.0),
        "nodata": -9999.0,
        "units": "reflectance",
        "band_names": None,
        "metadata": {"description": "hsi synthetic sample scene: " + ", ".join(MATERIAL_NAMES)},
    }

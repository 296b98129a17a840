"""Synthetic unmixing scenes with known truth, built from shipped spectra on real sensor bands.

Samson and Jasper Ridge are the only real scenes with reference abundances, and hsi's
methods were developed on them; these cases test the unmixing methods on scenes they were
not tuned on. Every ingredient is real or physically motivated, nothing is taken from the
two dev scenes:

- **Endmembers**: members of the USGS splib04 library (convolved to AVIRIS), of the EMIT
  team's basic soil / NPV / PV library, or k-means centroids of a real EMIT reflectance crop
  (a fixed, method-neutral choice: centroids are neither extreme pixels nor archetypes, so no
  vertex or archetype method is favoured; the scene built from them has a known truth, the
  crop itself has none). Spectra are resampled (SPy's Gaussian band resampler) to the band
  centres of a real sensor: EMIT's good bands (from the crop's ENVI header) or EnMAP's
  nominal centres without the bands the shipped L2A tile leaves empty.
- **Abundances** with spatial structure: a smoothed-Dirichlet field (softmax of Gaussian
  random fields, patchy like land cover) or a segment map of a ``skimage.data`` photograph
  (SLIC superpixels, one material or a Dirichlet mixture per segment, boundaries blurred).
  ``max_abundance < 1`` contracts every pixel towards the centroid of the simplex so the
  scene has no pure pixel (the vertex seekers' assumption fails).
- **Spectral variability**: a per-pixel brightness factor (illumination, topography: the
  extended linear mixing model's scaling, Drumetz et al. 2016) and smooth per-pixel
  multiplicative perturbations of each endmember's spectrum.
- **Noise**: zero-mean Gaussian at a given SNR (signal power over noise power), i.i.d. or
  with a band-dependent variance following a Gaussian profile over the bands (the
  non-i.i.d. model of Bioucas-Dias & Nascimento 2008).

References
----------
R. N. Clark et al., USGS digital spectral library splib04 (public domain).
L. Drumetz, M.-A. Veganzones, S. Henrot, R. Phlypo, J. Chanussot and C. Jutten, "Blind
hyperspectral unmixing using an extended linear mixing model to address spectral
variability", IEEE TIP 25(8), 2016.
J. M. Bioucas-Dias and J. M. P. Nascimento, "Hyperspectral subspace identification",
IEEE TGRS 46(8), 2008.
R. Achanta et al., "SLIC superpixels compared to state-of-the-art superpixel methods",
IEEE TPAMI 34(11), 2012.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hsi.datasets.benchmarks import UnmixingBenchmark
from hsi.errors import InputError, ParameterError
from hsi.settings import shared_data_dir
from hsi.unmix.library import SpectralLibrary, complete_members, load_library, resample_library

USGS_FILE = ("usgs_library", "usgs_splib04_aviris.mat")
EMIT_CROP = ("emit", "emit20250324t221005_jpl_unmix_ex.hdr")
EMIT_LIBRARY = ("emit", "basic_endmember_library.csv")
ENMAP_TILE = ("satellite", "enmap_l2a_hyspecnet")
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field")
_MIN_ANGLE_DEG = 5.0  # library members closer than this are one material for unmixing


@dataclass(frozen=True)
class SensorBands:
    """Band centres (and widths when the sensor gives them) of a real sensor, in nm."""

    name: str
    wavelengths_nm: np.ndarray
    fwhm_nm: np.ndarray | None


def _path(data_dir: Path | None, parts: tuple[str, ...]) -> Path:
    path = Path(data_dir or shared_data_dir()).joinpath(*parts)
    if not path.exists():
        raise InputError(f"{path}: not found (the unmixing cases need the shared data folder; set HSI_SHARED_DATA)")
    return path


def sensor_bands(name: str, data_dir: Path | None = None) -> SensorBands:
    """EMIT's good bands (the crop's header, ``bbl``) or EnMAP's nominal centres minus the
    bands the shipped L2A tile holds only nodata in (water vapour)."""
    import warnings

    from hsi.io import open_scene

    if name == "emit":
        scene = open_scene(_path(data_dir, EMIT_CROP))
        good = ~scene.bad_bands if scene.bad_bands is not None else np.ones(scene.n_bands, bool)
        return SensorBands("emit", scene.wavelengths_nm[good], scene.fwhm_nm[good])
    if name == "enmap":
        with warnings.catch_warnings():  # the tile has no METADATA.XML: nominal centres, said by the reader
            warnings.simplefilter("ignore")
            scene = open_scene(_path(data_dir, ENMAP_TILE))
            pixels = scene.read(physical=True)
        good = ~np.isnan(pixels).all(axis=(0, 1))
        return SensorBands("enmap", scene.wavelengths_nm[good], None)
    raise ParameterError(f"unknown sensor {name!r}; choose emit or enmap")


def usgs_library(data_dir: Path | None = None) -> SpectralLibrary:
    """USGS splib04 on its AVIRIS bands (:func:`load_library`'s ``datalib`` rule), its members
    complete on every band."""
    return complete_members(load_library(_path(data_dir, USGS_FILE)), None)[0]


def _on_bands(library: SpectralLibrary, bands: SensorBands) -> tuple[np.ndarray, SensorBands]:
    """The library on the sensor bands inside its wavelength range (and those bands)."""
    source = library.wavelengths_nm
    inside = (bands.wavelengths_nm >= source.min()) & (bands.wavelengths_nm <= source.max())
    kept = SensorBands(bands.name, bands.wavelengths_nm[inside], None if bands.fwhm_nm is None else bands.fwhm_nm[inside])
    return resample_library(library, kept.wavelengths_nm, kept.fwhm_nm).spectra, kept


def _angles_deg(spectra: np.ndarray) -> np.ndarray:
    unit = spectra / np.linalg.norm(spectra, axis=0)
    return np.degrees(np.arccos(np.clip(unit.T @ unit, -1.0, 1.0)))


def pick_members(spectra: np.ndarray, n_endmembers: int, rng: np.random.Generator) -> np.ndarray:
    """k random library members, redrawn one at a time until every pair is >= 5 deg apart
    and each is a plausible surface (peak reflectance 0.05-1)."""
    candidates = np.flatnonzero((spectra.max(axis=0) >= 0.05) & (spectra.max(axis=0) <= 1.0) & (spectra.min(axis=0) >= 0))
    angles = _angles_deg(spectra)
    chosen: list[int] = []
    for index in rng.permutation(candidates):
        if all(angles[index, other] >= _MIN_ANGLE_DEG for other in chosen):
            chosen.append(int(index))
        if len(chosen) == n_endmembers:
            return np.array(chosen)
    raise ParameterError(f"the library has no {n_endmembers} members >= {_MIN_ANGLE_DEG} deg apart")


def _gaussian_fields(shape: tuple[int, int], n_fields: int, smoothness_px: float, rng) -> np.ndarray:
    """(rows, cols, n_fields) standardised Gaussian random fields of correlation length ~smoothness_px."""
    from scipy.ndimage import gaussian_filter

    fields = np.stack([gaussian_filter(rng.standard_normal(shape), smoothness_px, mode="wrap") for _ in range(n_fields)], axis=2)
    fields -= fields.mean(axis=(0, 1))
    return fields / fields.std(axis=(0, 1))


def dirichlet_field(shape, n_endmembers: int, rng, *, smoothness_px: float, sharpness: float) -> np.ndarray:
    """Softmax of k smooth Gaussian fields: patchy abundances, near-pure where one field dominates."""
    logits = sharpness * _gaussian_fields(shape, n_endmembers, smoothness_px, rng)
    logits -= logits.max(axis=2, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=2, keepdims=True)


def segment_map(shape, n_endmembers: int, rng, *, photo: str, n_segments: int, blur_px: float) -> np.ndarray:
    """Abundances from SLIC superpixels of a ``skimage.data`` photograph.

    Two segments in three are one material, the others a Dirichlet(1) mixture; each map is
    then blurred by ``blur_px`` so boundaries are mixed, as between real fields.
    """
    import skimage.data
    from scipy.ndimage import gaussian_filter
    from skimage.segmentation import slic
    from skimage.transform import resize

    if photo not in PHOTOS:
        raise ParameterError(f"unknown photo {photo!r}; choose from {PHOTOS}")
    image = resize(getattr(skimage.data, photo)(), shape, anti_aliasing=True)
    labels = slic(image, n_segments=n_segments, compactness=10, start_label=0,
                  channel_axis=-1 if image.ndim == 3 else None)
    n_labels = int(labels.max()) + 1
    mixtures = rng.dirichlet(np.ones(n_endmembers), size=n_labels)
    pure = rng.random(n_labels) < 2 / 3
    mixtures[pure] = np.eye(n_endmembers)[rng.integers(0, n_endmembers, int(pure.sum()))]
    abundances = mixtures[labels]
    if blur_px > 0:
        abundances = np.stack([gaussian_filter(abundances[:, :, j], blur_px) for j in range(n_endmembers)], axis=2)
    return abundances / abundances.sum(axis=2, keepdims=True)


def limit_purity(abundances: np.ndarray, max_abundance: float) -> np.ndarray:
    """Contract every pixel towards the simplex centroid so no abundance exceeds ``max_abundance``."""
    k = abundances.shape[-1]
    top = float(abundances.max())
    if max_abundance >= top:
        return abundances
    factor = (max_abundance - 1.0 / k) / (top - 1.0 / k)
    return (abundances - 1.0 / k) * factor + 1.0 / k


def add_noise(clean: np.ndarray, snr_db: float, rng, *, band_dependent: bool,
              band_correlation: float = 0.0) -> np.ndarray:
    """Gaussian noise with total SNR ``snr_db``; band-dependent variance ~ a Gaussian over bands;
    ``band_correlation`` > 0: the noise of neighbouring bands correlated (each pixel's noise
    smoothed along the bands by a Gaussian of that many bands, then brought back to unit variance),
    as resampling to the band grid and detector cross-talk leave it."""
    from scipy.ndimage import gaussian_filter1d

    n_bands = clean.shape[-1]
    variance = float(np.mean(clean**2)) / 10.0 ** (snr_db / 10.0)
    profile = np.ones(n_bands)
    if band_dependent:
        centre, width = rng.uniform(0, n_bands), n_bands / 6.0
        profile = np.exp(-((np.arange(n_bands) - centre) ** 2) / (2 * width**2))
        profile /= profile.mean()
    noise = rng.standard_normal(clean.shape)
    if band_correlation > 0:
        noise = gaussian_filter1d(noise, float(band_correlation), axis=-1)
        noise /= noise.std()
    return clean + noise * np.sqrt(variance * profile)


def mix(endmembers: np.ndarray, abundances: np.ndarray, rng, *, brightness: float, perturbation: float) -> np.ndarray:
    """``y = psi * sum_j a_j (e_j * (1 + perturbation * d_j))``: ELMM scaling and smooth per-pixel shape changes.

    ``psi = exp(brightness * field)`` is a smooth per-pixel factor; ``d_j`` is a per-pixel
    random combination of two smooth spectral shapes (a tilt and a broad bump) per endmember.
    """
    rows, cols, k = abundances.shape
    bands = endmembers.shape[0]
    if perturbation > 0:
        axis = np.linspace(-1.0, 1.0, bands)
        centres = rng.uniform(-0.5, 0.5, k)
        shapes = np.stack([np.tile(axis[:, None], (1, k)), np.exp(-((axis[:, None] - centres) ** 2) / 0.1)], axis=0)
        weights = rng.standard_normal((rows, cols, 2, k))
        distortion = np.einsum("rcsk,sbk->rcbk", weights, shapes)  # (rows, cols, bands, k)
        varied = endmembers[None, None] * (1.0 + perturbation * distortion)
        clean = np.einsum("rcbk,rck->rcb", varied, abundances)
    else:
        clean = abundances @ endmembers.T
    if brightness > 0:
        clean = clean * np.exp(brightness * _gaussian_fields((rows, cols), 1, 6.0, rng))
    return clean


def _case_endmembers(source: str, n_endmembers: int, bands: SensorBands, data_dir, rng):
    """(endmembers (bands, k), their names, the sensor bands kept) for one case."""
    if source == "usgs":
        library = usgs_library(data_dir)
        spectra, kept = _on_bands(library, bands)
        chosen = pick_members(spectra, n_endmembers, rng)
        return spectra[:, chosen], [library.names[i].split()[0] for i in chosen], kept
    if source == "emit_library":
        library = load_library(_path(data_dir, EMIT_LIBRARY))
        library = SpectralLibrary(library.spectra / 10000.0, library.wavelengths_nm, library.names)  # stored x 10000
        spectra, kept = _on_bands(library, bands)
        order = [library.names.index(n) for n in ("PV", "NPV")] + [i for i, n in enumerate(library.names) if n == "SOIL"]
        chosen = np.array(order[:n_endmembers])
        return spectra[:, chosen], [library.names[i] for i in chosen], kept
    if source == "emit_crop_kmeans":
        return _crop_centroids(n_endmembers, bands, data_dir, rng)
    raise ParameterError(f"unknown endmember source {source!r}; choose usgs, emit_library or emit_crop_kmeans")


def _crop_centroids(n_endmembers: int, bands: SensorBands, data_dir, rng):
    """k-means centroids of the real EMIT crop's good bands (k-means++ seeding from ``rng``)."""
    from scipy.cluster.vq import kmeans2

    from hsi.io import open_scene

    if bands.name != "emit":
        raise ParameterError("endmembers=emit_crop_kmeans needs sensor=emit (the crop's own bands)")
    scene = open_scene(_path(data_dir, EMIT_CROP))
    good = ~scene.bad_bands
    pixels = scene.read(physical=True)[:, :, good].reshape(-1, int(good.sum())).astype(np.float64)
    centroids, _ = kmeans2(pixels, n_endmembers, minit="++", seed=rng)
    return centroids.T, [f"cluster_{j + 1}" for j in range(n_endmembers)], bands


def build_case(
    name: str,
    *,
    endmembers: str,
    sensor: str,
    n_endmembers: int,
    abundances: str = "dirichlet",
    photo: str = "astronaut",
    size: int = 64,
    max_abundance: float = 1.0,
    snr_db: float = 30.0,
    band_noise: bool = False,
    noise_band_correlation: float = 0.0,
    brightness: float = 0.0,
    perturbation: float = 0.0,
    seed: int = 0,
    data_dir: str | Path | None = None,
) -> UnmixingBenchmark:
    """One synthetic scene with its truth, as an :class:`UnmixingBenchmark` (fixed by ``seed``).

    Parameters
    ----------
    endmembers : ``usgs`` (random USGS members >= 5 deg apart), ``emit_library`` (PV, NPV,
        then soils of the EMIT basic library) or ``emit_crop_kmeans``.
    sensor : ``emit`` or ``enmap`` band set.
    abundances : ``dirichlet`` (smoothed-Dirichlet field) or ``segments`` (SLIC map of ``photo``).
    size : rows = cols of the scene.
    max_abundance : 1 keeps pure pixels; below 1 none is purer than that.
    snr_db, band_noise : noise level and whether its variance depends on the band.
    noise_band_correlation : width (bands) over which the noise of neighbouring bands is
        correlated (0: independent bands).
    brightness, perturbation : spectral variability (log-brightness std, relative shape change).
    """
    rng = np.random.default_rng(seed)
    bands = sensor_bands(sensor, Path(data_dir) if data_dir else None)
    spectra, names, bands = _case_endmembers(endmembers, int(n_endmembers), bands, data_dir, rng)
    shape = (int(size), int(size))
    if abundances == "dirichlet":
        fractions = dirichlet_field(shape, int(n_endmembers), rng, smoothness_px=size / 12.0, sharpness=3.0)
    elif abundances == "segments":
        fractions = segment_map(shape, int(n_endmembers), rng, photo=photo, n_segments=40, blur_px=1.5)
    else:
        raise ParameterError(f"unknown abundances {abundances!r}; choose dirichlet or segments")
    fractions = limit_purity(fractions, float(max_abundance))
    clean = mix(spectra, fractions, rng, brightness=float(brightness), perturbation=float(perturbation))
    cube = add_noise(clean, float(snr_db), rng, band_dependent=bool(band_noise),
                     band_correlation=float(noise_band_correlation))
    return UnmixingBenchmark(name=name, cube=cube, wavelengths_nm=bands.wavelengths_nm, endmembers=spectra,
                             abundances=fractions, material_names=tuple(names))

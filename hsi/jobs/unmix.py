"""Unmix a scene: endmembers learnt on a pixel sample, abundances streamed window by window."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import hydra
import numpy as np
from omegaconf import DictConfig

from hsi.errors import InputError, ParameterError
from hsi.io import create_writer, open_scene
from hsi.jobs.common import complete_output, config_dict, input_scene, prepare_output_dir, write_json
from hsi.scene import Scene
from hsi.unmix.abundance import reconstruction_rmse
from hsi.unmix.preprocess import preprocess

ERROR_MAP_MAX_PIXELS = 16_000_000  # the reconstruction-error map is kept in memory up to this size


def kept_bands(scene: Scene) -> np.ndarray:
    """Indices of the bands used: all but the scene's bad bands."""
    if scene.bad_bands is None:
        return np.arange(scene.n_bands)
    kept = np.flatnonzero(~scene.bad_bands)
    if kept.size == 0:
        raise InputError(f"{scene.describe()}: every band is flagged bad")
    return kept


def sample_pixels(scene: Scene, bands: np.ndarray, n_pixels: int, rng: np.random.Generator, block_rows: int):
    """At most ``n_pixels`` valid (no NaN/nodata) pixels drawn uniformly, reading block by block."""
    total = scene.n_rows * scene.n_cols
    keep_probability = min(1.0, 1.5 * n_pixels / total)
    chosen = []
    for window in scene.windows(block_rows):
        block = scene.read(window, bands=bands, physical=True).reshape(-1, bands.size)
        valid = np.isfinite(block).all(axis=1)
        pick = valid & (rng.random(valid.size) < keep_probability)
        chosen.append(block[pick])
    pixels = np.concatenate(chosen) if chosen else np.empty((0, bands.size), np.float32)
    if pixels.shape[0] == 0:
        raise InputError(f"{scene.describe()}: no valid pixel (every pixel is nodata or NaN)")
    if pixels.shape[0] > n_pixels:
        pixels = pixels[rng.choice(pixels.shape[0], n_pixels, replace=False)]
    return pixels


def write_endmembers_csv(path: Path, wavelengths_nm, endmembers: np.ndarray, names: list[str]) -> Path:
    """``wavelength_nm`` then one column per endmember (band index when wavelengths are unknown)."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["wavelength_nm", *names])
        for i, row in enumerate(endmembers):
            writer.writerow([f"{wavelengths_nm[i]:.4f}" if wavelengths_nm is not None else i,
                             *(f"{v:.8g}" for v in row)])
    return path


def _reference_endmembers(path: Path, wavelengths_nm, kept: np.ndarray, n_scene_bands: int) -> np.ndarray:
    """Reference endmembers (bands used, k) from a library-like file (CSV with wavelengths, .mat, .sli)."""
    from hsi.unmix.library import load_library, resample_library

    library = load_library(path)
    if library.wavelengths_nm is None and library.spectra.shape[0] == n_scene_bands:
        return library.spectra[kept]  # on the scene's full band grid
    return resample_library(library, wavelengths_nm).spectra


def _read_abundances(path: Path) -> np.ndarray:
    scene = open_scene(path)
    return scene.read(physical=True).reshape(-1, scene.n_bands)


def reference_scores(cfg: DictConfig, endmembers: np.ndarray, abundance_path: Path, wavelengths_nm,
                     kept: np.ndarray, n_scene_bands: int) -> dict:
    """SAD (deg) per endmember and abundance RMSE after Hungarian matching.

    ``reference=`` holds endmembers (.csv/.mat/.sli library file) or an abundance raster;
    ``reference_abundances=`` an abundance raster on the scene's grid. With abundances the
    matching is on abundance RMSE (HySUPP's protocol), else on spectral angle.
    """
    from hsi.metrics.unmix import unmixing_scores

    ref_endmembers = ref_abundances = None
    for key in ("reference", "reference_abundances"):
        if not cfg.get(key):
            continue
        path = Path(str(cfg[key])).expanduser()
        if key == "reference" and path.suffix.lower() in (".csv", ".mat", ".sli", ".hdr"):
            ref_endmembers = _reference_endmembers(path, wavelengths_nm, kept, n_scene_bands)
        else:
            ref_abundances = _read_abundances(path)
    estimate = None
    if ref_abundances is not None:
        estimate = _read_abundances(abundance_path)
        if ref_abundances.shape[0] != estimate.shape[0]:
            raise InputError(f"reference abundances have {ref_abundances.shape[0]} pixels, the scene {estimate.shape[0]}")
        valid = np.isfinite(ref_abundances).all(axis=1) & np.isfinite(estimate).all(axis=1)
        estimate, ref_abundances = estimate[valid], ref_abundances[valid]
    scores = unmixing_scores(
        endmembers=endmembers if ref_endmembers is not None else None,
        abundances=estimate,
        ref_endmembers=ref_endmembers,
        ref_abundances=ref_abundances,
        match_by="abundances" if ref_abundances is not None else "endmembers",
    )
    scores["abundance_rmse_x100"] = None if scores.get("abundance_rmse") is None else 100 * scores["abundance_rmse"]
    return scores


def library_endmembers(cfg: DictConfig, wavelengths_nm, fwhm_nm, kept: np.ndarray, n_scene_bands: int):
    """The spectral library resampled to the bands used: ((bands, members), names)."""
    from hsi.unmix.library import load_library, resample_library

    library = load_library(Path(str(cfg.library)).expanduser())
    if library.wavelengths_nm is None and library.spectra.shape[0] == n_scene_bands:
        spectra = library.spectra[kept]
    else:
        spectra = resample_library(library, wavelengths_nm, fwhm_nm).spectra
    if not np.isfinite(spectra).all():
        raise InputError(f"{cfg.library}: the library has missing values (NaN) on the image's bands")
    return spectra, list(library.names)


def count_endmembers(cfg: DictConfig, sample: np.ndarray, n_bands: int) -> tuple[int, str]:
    """``n_endmembers`` from the config: an integer, or ``auto`` (method ``n_endmembers_method``)."""
    if str(cfg.n_endmembers) == "auto":
        from hsi.unmix.count import estimate_n_endmembers

        method = str(cfg.get("n_endmembers_method", "hysime"))
        k = estimate_n_endmembers(sample, method=method, false_alarm=float(cfg.get("false_alarm", 1e-3)))
        return k, f"auto ({method})"
    try:
        k = int(cfg.n_endmembers)
    except (TypeError, ValueError):
        raise ParameterError(f"n_endmembers must be an integer or 'auto'; got {cfg.n_endmembers!r}") from None
    if k < 1:
        raise ParameterError(f"n_endmembers must be >= 1; got {k}")
    if k > n_bands:
        raise ParameterError(f"n_endmembers={k} is larger than the number of usable bands ({n_bands})")
    return k, "given"


#: What the job writes into its output folder (checked against the inputs before any work).
OUTPUT_FILES = ("abundances.tif", "abundances.tif.aux.xml", "endmembers.csv", "report.json", "abundances.png",
                "endmembers.png", "reconstruction_error.png")


def run(cfg: DictConfig) -> dict:
    started = time.perf_counter()
    scene = input_scene(cfg)
    folder = prepare_output_dir(cfg.output, cfg.overwrite, inputs=(scene.path, cfg.get("reference"), cfg.get("library")),
                                files=OUTPUT_FILES)
    rng = np.random.default_rng(int(cfg.seed))
    bands = kept_bands(scene)
    wavelengths = None if scene.wavelengths_nm is None else scene.wavelengths_nm[bands]
    block_rows = scene.block_rows_for(int(cfg.block_bytes), itemsize=4)
    sample = sample_pixels(scene, bands, int(cfg.sample_pixels), rng, block_rows)
    sample, record = preprocess(sample, normalize=str(cfg.normalize))
    record["kept_bands"] = bands.tolist()
    record["removed_bad_bands"] = int(scene.n_bands - bands.size)
    method = hydra.utils.instantiate(cfg.method)
    fit_started = time.perf_counter()
    if cfg.get("library"):
        fwhm = None if scene.fwhm_nm is None else scene.fwhm_nm[bands]
        endmembers, names = library_endmembers(cfg, wavelengths, fwhm, bands, scene.n_bands)
        if str(cfg.normalize) == "l2":
            endmembers = endmembers / np.linalg.norm(endmembers, axis=0, keepdims=True).clip(1e-12)
        n_endmembers, count_source = endmembers.shape[1], f"library ({cfg.library})"
    else:
        if method.needs_library:
            raise ParameterError(f"method {method.name!r} unmixes onto a spectral library: pass library=FILE")
        n_endmembers, count_source = count_endmembers(cfg, sample, bands.size)
        # A scene small enough to be sampled whole comes back complete and in row-major order:
        # spatial methods (SS-NMF, RLSU, CNNAEU) then get its pixel grid.
        whole_grid = sample.shape[0] == scene.n_rows * scene.n_cols
        record["spatial_grid"] = bool(whole_grid and method.spatial)
        image_shape = (scene.n_rows, scene.n_cols) if whole_grid else None
        endmembers = np.asarray(method.endmembers(sample, n_endmembers, rng=int(cfg.seed), image_shape=image_shape),
                                dtype=np.float64)
        names = [f"endmember_{i + 1}" for i in range(n_endmembers)]
    fit_seconds = time.perf_counter() - fit_started

    template = scene.derived(n_bands=n_endmembers, dtype=np.float32, band_names=names, wavelengths_nm=None)
    template.nodata = float("nan")
    abundance_path = folder / "abundances.tif"
    keep_map = scene.n_rows * scene.n_cols <= ERROR_MAP_MAX_PIXELS
    error_map = np.full((scene.n_rows, scene.n_cols), np.nan, np.float32) if keep_map else None
    errors = []
    abundance_started = time.perf_counter()
    with create_writer(abundance_path, template, overwrite=bool(cfg.overwrite)) as writer:
        for window in scene.windows(block_rows):
            block = scene.read(window, bands=bands, physical=True).reshape(-1, bands.size)
            valid = np.isfinite(block).all(axis=1)
            out = np.full((block.shape[0], n_endmembers), np.nan, np.float32)
            if valid.any():
                pixels = preprocess(block[valid], normalize=str(cfg.normalize))[0]
                abundances = np.asarray(method.abundances(pixels, endmembers.astype(pixels.dtype)))
                out[valid] = abundances
                rmse = np.asarray(reconstruction_rmse(pixels, endmembers.astype(pixels.dtype), abundances))
                errors.append(rmse.astype(np.float32))
                if error_map is not None:
                    tile = np.full(block.shape[0], np.nan, np.float32)
                    tile[valid] = rmse
                    error_map[window.rows, window.cols] = tile.reshape(window.height, window.width)
            writer.write(window, out.reshape(window.height, window.width, n_endmembers))
    abundance_seconds = time.perf_counter() - abundance_started
    errors = np.concatenate(errors)
    write_endmembers_csv(folder / "endmembers.csv", wavelengths, endmembers, names)
    report = {
        "job": "unmix",
        "input": scene.describe(),
        "method": config_dict(cfg.method),
        "settings": config_dict(cfg),
        "n_endmembers": n_endmembers,
        "n_endmembers_source": count_source,
        "preprocessing": record,
        "sample_pixels": int(sample.shape[0]),
        "reconstruction_rmse": {"mean": float(errors.mean()), "median": float(np.median(errors)),
                                "p95": float(np.percentile(errors, 95)), "max": float(errors.max()),
                                "units": "same as the pre-processed pixels"},
        "fit_seconds": fit_seconds,
        "abundance_seconds": abundance_seconds,
        "outputs": {"abundances": str(abundance_path), "endmembers": str(folder / "endmembers.csv")},
    }
    if cfg.get("reference") or cfg.get("reference_abundances"):
        report["reference_scores"] = reference_scores(cfg, endmembers, abundance_path, wavelengths, bands, scene.n_bands)
    if cfg.quicklook:
        from hsi.viz import plot_spectra, save_band_maps, save_error_map

        maps = open_scene(abundance_path).read(physical=True)
        report["quicklooks"] = {
            "abundances": str(save_band_maps(maps, names, folder / "abundances.png", vmin=0, vmax=1)),
            "endmembers": str(plot_spectra(wavelengths, endmembers, names, folder / "endmembers.png",
                                           title="endmembers")),
        }
        if error_map is not None:
            report["quicklooks"]["reconstruction_error"] = str(
                save_error_map(error_map, folder / "reconstruction_error.png", label="reconstruction RMSE"))
    report["seconds"] = time.perf_counter() - started
    write_json(folder / "report.json", report)
    complete_output("unmix", cfg, folder)
    print(f"unmixed {scene.describe()} into {n_endmembers} endmembers in {report['seconds']:.1f} s: "
          f"{abundance_path}, {folder / 'endmembers.csv'}, {folder / 'report.json'}")
    return report

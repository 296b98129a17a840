"""Unmix a scene: endmembers learnt on a pixel sample, abundances streamed tile by tile.

Outputs, in the folder ``output=DIR``: ``abundances.tif`` (the main output, one band per
endmember), ``endmembers.csv``, ``endmembers.png``, ``reconstruction_error.png`` (central
window) and, by the job path rule applied to the main output, ``abundances_report.json`` and
``abundances_quicklook.png`` (abundance maps of the central window). Abundances, their
reconstruction error and the reference scores are computed while the abundances stream
through :mod:`hsi.tiling`; nothing is read back from the output.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from hsi import methods
from hsi.errors import InputError, ParameterError
from hsi.io import create_writer, open_scene
from hsi.io.atomic import atomic_write
from hsi.io.record import drop_reservations
from hsi.jobs.common import central_window, finish, input_scene, refuse_constant, require_spectra, start
from hsi.jobs.ortho import wants_ortho, write_orthorectified
from hsi.jobs.unmix_inputs import bands_in_library, load_scene_library, scene_library, spectra_on_bands, usable_bands
from hsi.nodata import empty_bands
from hsi.scene import Scene, Window
from hsi.tiling.runner import TiledRunner
from hsi.tiling.sampling import sample_neighbour_pairs, sample_pixels
from hsi.unmix.abundance import reconstruction_rmse
from hsi.unmix.preprocess import preprocess


def write_endmembers_csv(path: Path, wavelengths_nm, endmembers: np.ndarray, names: list[str],
                         bands: np.ndarray) -> Path:
    """``wavelength_nm`` (or the scene's 0-based ``band`` index when it has no wavelengths) then one
    column per endmember; ``bands`` are the scene bands the rows stand for (empty bands left out)."""
    rows = [["wavelength_nm" if wavelengths_nm is not None else "band", *names]]
    for i, row in enumerate(endmembers):
        label = f"{wavelengths_nm[i]:.4f}" if wavelengths_nm is not None else str(int(bands[i]))
        rows.append([label, *(f"{v:.8g}" for v in row)])

    def write(temporary: Path) -> None:
        with open(temporary, "w", newline="") as handle:
            csv.writer(handle).writerows(rows)

    return atomic_write(path, write)


def _reference_endmembers(path: Path, wavelengths_nm, kept: np.ndarray, n_scene_bands: int) -> np.ndarray:
    """Reference endmembers (bands used, k) from a library-like file (CSV with wavelengths, .mat, .sli)."""
    from hsi.unmix.library import load_library

    return spectra_on_bands(path, load_library(path), wavelengths_nm, None, kept, n_scene_bands)


class AbundanceTiles:
    """Tile function: abundances (k bands) then reconstruction RMSE (1 band) of every valid pixel.

    Pixels with a missing value in any kept band are NaN in every output band.
    """

    def __init__(self, abundances, endmembers: np.ndarray, bands: np.ndarray, normalize: str):
        self.abundances, self.endmembers, self.bands, self.normalize = abundances, endmembers, bands, normalize

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        n, rows, cols, _ = batch.shape
        k = self.endmembers.shape[1]
        pixels = batch[..., self.bands].reshape(-1, self.bands.size)
        valid = np.isfinite(pixels).all(axis=1)
        out = np.full((pixels.shape[0], k + 1), np.nan, np.float32)
        if valid.any():
            kept = preprocess(pixels[valid], normalize=self.normalize)[0]
            endmembers = self.endmembers.astype(kept.dtype)
            with_scale = getattr(self.abundances, "with_scale", None)
            if with_scale is None:
                abundances = np.asarray(self.abundances(kept, endmembers))
                mixing = abundances
            else:  # the pixel is reconstructed as its brightness scale times the mixture
                abundances, scales = (np.asarray(value) for value in with_scale(kept, endmembers))
                mixing = abundances * scales[:, None]
            out[valid, :k] = abundances
            out[valid, k] = np.asarray(reconstruction_rmse(kept, endmembers, mixing))
        return out.reshape(n, rows, cols, k + 1)


class AbundanceScores:
    """Abundance RMSE against a reference raster, accumulated window by window (HySUPP matching).

    Keeps the (reference, estimate) matrix of summed squared differences over pixels valid in
    both, so the Hungarian matching on per-map RMSE and the aRMSE of the matched maps come out
    exactly as on whole arrays, with memory independent of the scene size.
    """

    def __init__(self, reference: Scene, k: int):
        if reference.n_bands != k:
            raise InputError(f"{reference.describe()}: reference abundances have {reference.n_bands} bands, "
                             f"the unmixing {k} endmembers")
        self.reference = reference
        self.squared = np.zeros((k, k), np.float64)
        self.count = 0

    def add(self, window: Window, estimate: np.ndarray) -> None:
        reference = self.reference.read(window, physical=True).reshape(-1, self.squared.shape[0]).astype(np.float64)
        estimate = estimate.reshape(-1, self.squared.shape[0]).astype(np.float64)
        valid = np.isfinite(reference).all(axis=1) & np.isfinite(estimate).all(axis=1)
        reference, estimate = reference[valid], estimate[valid]
        self.squared += (reference**2).sum(0)[:, None] + (estimate**2).sum(0)[None, :] - 2 * reference.T @ estimate
        self.count += int(valid.sum())

    def permutation(self) -> np.ndarray:
        """``perm[j]``: the estimated map matched to reference map ``j`` (minimum total RMSE)."""
        from scipy.optimize import linear_sum_assignment

        cost = np.sqrt(np.maximum(self.squared, 0) / max(self.count, 1))
        return linear_sum_assignment(cost)[1]

    def rmse(self, permutation: np.ndarray) -> float:
        matched = self.squared[np.arange(len(permutation)), permutation].sum()
        return float(np.sqrt(max(matched, 0) / max(self.count * len(permutation), 1)))


def reference_scores(endmembers: np.ndarray, ref_endmembers: np.ndarray | None, abundance_scores: AbundanceScores | None) -> dict:
    """SAD (deg) per endmember and abundance RMSE after Hungarian matching.

    With reference abundances the matching is on abundance RMSE (HySUPP's protocol), else on
    spectral angle.
    """
    from hsi.metrics.unmix import sad_per_endmember, unmixing_scores

    if abundance_scores is None:
        scores = unmixing_scores(endmembers=endmembers, ref_endmembers=ref_endmembers, match_by="endmembers")
        scores["abundance_rmse_x100"] = None
        return scores
    permutation = abundance_scores.permutation()
    scores = {"n_endmembers": int(endmembers.shape[1]), "matched_by": "abundances",
              "permutation": [int(i) for i in permutation], "abundance_rmse": abundance_scores.rmse(permutation)}
    if ref_endmembers is not None:
        sad = np.asarray(sad_per_endmember(endmembers[:, permutation], ref_endmembers))
        scores["sad_per_endmember_deg"] = [float(v) for v in sad]
        scores["mean_sad_deg"] = float(np.mean(sad))
    scores["abundance_rmse_x100"] = 100 * scores["abundance_rmse"]
    return scores


def references(cfg: DictConfig, scene: Scene, wavelengths_nm, kept: np.ndarray):
    """``(reference endmembers or None, reference abundance scene or None)`` from ``reference=`` / ``reference_abundances=``.

    ``reference=`` holds endmembers (.csv/.mat/.sli library file) or an abundance raster;
    ``reference_abundances=`` an abundance raster on the scene's grid.
    """
    ref_endmembers = ref_abundances = None
    for key in ("reference", "reference_abundances"):
        if not cfg.get(key):
            continue
        path = Path(str(cfg[key])).expanduser()
        if key == "reference" and path.suffix.lower() in (".csv", ".mat", ".sli", ".hdr"):
            ref_endmembers = _reference_endmembers(path, wavelengths_nm, kept, scene.n_bands)
        else:
            ref_abundances = open_scene(path)
            if ref_abundances.shape[:2] != scene.shape[:2]:
                raise InputError(f"{ref_abundances.describe()}: reference abundances are {ref_abundances.n_rows} x "
                                 f"{ref_abundances.n_cols}, the scene {scene.n_rows} x {scene.n_cols}")
    return ref_endmembers, ref_abundances


def count_endmembers(cfg: DictConfig, sample: np.ndarray, n_bands: int,
                     differences: Callable[[], np.ndarray] | None = None) -> tuple[int, str]:
    """``n_endmembers`` from the config: an integer, or ``auto`` (method ``n_endmembers_method``).

    ``differences`` gives the differences of adjacent pixels (pre-processed like ``sample``) that a
    spatial count method needs; it is called only then, since it reads the scene once more.
    """
    if str(cfg.n_endmembers) == "auto":
        from hsi.unmix.count import SPATIAL_METHODS, estimate_n_endmembers

        def estimate(name: str) -> int:
            shifts = differences() if name in SPATIAL_METHODS and differences is not None else None
            return estimate_n_endmembers(sample, method=name, false_alarm=float(cfg.false_alarm),
                                         shift_differences=shifts)

        method = str(cfg.n_endmembers_method)
        k = estimate(method)
        # A second estimator as a check: on real scenes spectral variability inflates every count,
        # HySime's and MNF's most (bench_results/unmix_count_s8: 67 / 45 and 18 / 26 for Samson's 3 and
        # Jasper Ridge's 4 reference materials, NWHFC, the default, 7 and 10); a wide disagreement is
        # worth a line.
        other = "nwhfc" if method == "hysime" else "hysime"
        check = estimate(other)
        if max(k, check) > 2 * min(k, check):
            print(f"warning: the endmember count estimates disagree ({method} {k}, {other} {check}): spectral "
                  "variability within materials inflates them; give n_endmembers= if the number of materials is known")
        return k, f"estimated by {method} ({other}: {check})"
    return given_endmembers(cfg, n_bands), "given"


def neighbour_differences(cfg: DictConfig, scene: Scene, bands: np.ndarray) -> np.ndarray:
    """Differences of ``sample_pixels`` pairs of adjacent valid pixels, pre-processed like the sample
    (the noise estimate of ``n_endmembers_method=mnf``)."""
    rng = np.random.default_rng(int(cfg.seed))
    first, second = sample_neighbour_pairs(scene, bands, int(cfg.sample_pixels), rng,
                                           scene.block_rows_for(int(cfg.block_bytes), itemsize=4))
    normalize = str(cfg.normalize)
    return np.asarray(preprocess(second, normalize=normalize)[0]) - np.asarray(preprocess(first, normalize=normalize)[0])


def check_endmember_count(cfg: DictConfig, method, scene: Scene, n_bands: int, library) -> None:
    """Refuse, before any output is made, what the fit would refuse after sampling: a library
    method without ``library=``, a given count out of range, ``auto`` on fewer pixels than bands."""
    if library is not None:
        return
    if method.needs_library:
        raise ParameterError(f"method {method.name!r} unmixes onto a spectral library: pass library=FILE")
    if str(cfg.n_endmembers) != "auto":
        given_endmembers(cfg, n_bands)
    elif scene.n_rows * scene.n_cols <= n_bands:
        raise InputError(f"{scene.describe()}: n_endmembers=auto needs more pixels ({scene.n_rows * scene.n_cols}) "
                         f"than bands used ({n_bands}); pass n_endmembers=K")


def given_endmembers(cfg: DictConfig, n_bands: int) -> int:
    """The integer ``n_endmembers``, checked against the bands used."""
    try:
        k = int(cfg.n_endmembers)
    except (TypeError, ValueError):
        raise ParameterError(f"n_endmembers must be an integer or 'auto'; got {cfg.n_endmembers!r}") from None
    if k < 1:
        raise ParameterError(f"n_endmembers must be >= 1; got {k}")
    if k > n_bands:
        raise ParameterError(f"n_endmembers={k} is larger than the number of usable bands ({n_bands})")
    return k


def learn_endmembers(cfg: DictConfig, method, scene: Scene, bands: np.ndarray, sample: np.ndarray, record: dict,
                     fit_record: dict | None = None, library: tuple[np.ndarray, list[str]] | None = None):
    """``(endmembers (bands used, k), names, count source)``: from ``library`` (see
    :func:`library_endmembers`), or learnt on the sample.

    ``fit_record`` receives what the method says of its fit (e.g. the restart kept).
    """
    if library is not None:
        endmembers, names = library
        if str(cfg.normalize) == "l2":
            endmembers = endmembers / np.linalg.norm(endmembers, axis=0, keepdims=True).clip(1e-12)
        print(f"unmixing onto the {len(names)} members of {cfg.library} with {library_method_choice(cfg)} ...", flush=True)
        return endmembers, names, f"library ({cfg.library})"
    n_endmembers, count_source = count_endmembers(cfg, sample, bands.size, lambda: neighbour_differences(cfg, scene, bands))
    # A scene small enough to be sampled whole comes back complete and in row-major order:
    # spatial methods (SS-NMF, RLSU, CNNAEU) then get its pixel grid.
    whole_grid = sample.shape[0] == scene.n_rows * scene.n_cols
    record["spatial_grid"] = bool(whole_grid and method.spatial)
    image_shape = (scene.n_rows, scene.n_cols) if whole_grid else None
    print(f"learning {n_endmembers} endmembers ({count_source}) with {method.name} from "
          f"{sample.shape[0]:,} sample pixels ...", flush=True)
    endmembers = np.asarray(method.endmembers(sample, n_endmembers, rng=int(cfg.seed), image_shape=image_shape,
                                              fit_record=fit_record), dtype=np.float64)
    return endmembers, [f"endmember_{i + 1}" for i in range(n_endmembers)], count_source


def library_method_choice(cfg: DictConfig) -> str:
    """Which method unmixes onto ``library=`` and why, for the report and the console."""
    name = cfg.get("method_name") or "method"
    if name == cfg.get("library_method"):
        others = ", ".join(n for n in methods.names("unmix") if _is_library_method(n) and n != name)
        return (f"{name} (library= without method=: the default's abundance step on the library's members; "
                f"method= picks another: {others})")
    return name


def _abundance_model(record: dict | None) -> str:
    """The console's account of an abundance step fitted on the sample ('' for a fixed step such as FCLS)."""
    return f"; abundance model: {record['reason']}" if record else ""


def _refinement_note(fit_record: dict, names: list[str]) -> str:
    """The console's account of a pure-pixel cluster refinement (hsi.unmix.blind.pure_clusters); '' without one.

    Also names each entry of ``fit_record["refinement"]`` after its endmember for the report.
    """
    entries = fit_record.get("refinement")
    if not entries:
        return ""
    for entry, name in zip(entries, names):
        entry["endmember"] = name
    moved = [f"{e['endmember']} ({e['near_pure_pixels']} px, peak/valley {e['density_ratio']:.3g}, "
             f"{e['moved_deg']:.2f} deg)" for e in entries if e["refined"]]
    undone = [f"{e['endmember']} ({e['rejected_move_deg']:.2f} deg, cluster spread {e['cluster_spread_deg']:.2f})"
              for e in entries if "rejected_move_deg" in e]
    note = "; moved to the centre of its pure-pixel cluster: " + ", ".join(moved) if moved else ""
    if undone:
        note += "; left as fitted (the centre's move exceeded its share of the cluster's spread): " + ", ".join(undone)
    return note or "; no endmember has a pure-pixel cluster: none refined"


def _kept_restart(fit_record: dict) -> str:
    """The console's account of a multi-restart fit ('' when the method keeps no such record)."""
    kept = fit_record.get("kept")
    if not kept:
        return ""
    restarts = fit_record.get("restarts", [])
    objectives = [r["objective"] for r in restarts if r.get("objective") is not None]
    # EDAA's random restarts stop unconverged and have no objective: count them, name whose objectives these are
    scored = "" if len(objectives) == len(restarts) else f" ({len(objectives)} scored by objective)"
    spread = f"; {len(restarts)} restarts{scored}, objectives {min(objectives):.4g}-{max(objectives):.4g}" if objectives else ""
    value = "" if kept.get("objective") is None else f", objective {kept['objective']:.4g}"
    return f": kept the {kept['start']}{value}{spread}"


def _window_part(window: Window, strip: Window, values: np.ndarray) -> tuple[Window, np.ndarray] | None:
    """The rows of ``values`` (on ``strip``, full width) that fall inside ``window``."""
    top, bottom = max(window.row, strip.row), min(window.row + window.height, strip.row + strip.height)
    if bottom <= top:
        return None
    rows = slice(top - strip.row, bottom - strip.row)
    return Window(top, window.col, bottom - top, window.width), values[rows, window.col:window.col + window.width]


#: Settings that only the endmember count estimated from the scene uses.
COUNT_SETTINGS = ("n_endmembers", "n_endmembers_method", "false_alarm")


def check_given(cfg: DictConfig, given: set[str]) -> None:
    """Refuse a setting given on the command line that this run would ignore (``n_endmembers=3``
    with ``library=`` unmixed onto all five library members and said nothing)."""
    if cfg.get("library"):
        for key in COUNT_SETTINGS:
            if key in given:
                raise ParameterError(f"{key}={cfg[key]} is not used with library=: the library's members are the "
                                     f"endmembers (edit the library file to keep fewer)")
        if "method" in given and cfg.method.get("extract", "learns") is not None:
            raise ParameterError(f"method={cfg.method_name} learns endmembers, but with library= the library's members are "
                                 "the endmembers; library methods: "
                                 + ", ".join(n for n in methods.names("unmix") if _is_library_method(n)))
        return
    for key in ("library_method", "library_scale"):
        if key in given:
            raise ParameterError(f"{key}={cfg[key]} is used with library= only")
    count = str(cfg.n_endmembers)
    if "n_endmembers_method" in given and count != "auto":
        raise ParameterError(f"n_endmembers_method={cfg.n_endmembers_method} is used by n_endmembers=auto only; "
                             f"n_endmembers={count} is given")
    if "false_alarm" in given and (count != "auto" or str(cfg.n_endmembers_method) not in ("hfc", "nwhfc")):
        raise ParameterError(f"false_alarm={cfg.false_alarm} is used by n_endmembers=auto with n_endmembers_method=hfc "
                             f"or nwhfc only; got n_endmembers={count} n_endmembers_method={cfg.n_endmembers_method}")


def _is_library_method(name: str) -> bool:
    return "extract" in methods.shipped(name) and methods.shipped(name)["extract"] is None


def run(cfg: DictConfig) -> dict:
    folder = None if cfg.output in (None, "") else Path(str(cfg.output)).expanduser()
    made_here = folder is not None and not folder.exists()
    try:
        return _run(cfg)
    except BaseException:
        if made_here and folder.is_dir():  # a failed run leaves no empty output folder behind
            drop_reservations()  # the completion record's placeholder inside it
            if not any(folder.iterdir()):
                folder.rmdir()
        raise


def _run(cfg: DictConfig) -> dict:
    scene = require_spectra(input_scene(cfg), "unmix")
    if cfg.output in (None, ""):
        raise InputError("no output= given")
    folder = Path(str(cfg.output)).expanduser()
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: output= must be a folder for unmix (it holds abundances.tif, endmembers.csv, ...)")
    extra = {"endmembers": folder / "endmembers.csv"}
    if cfg.quicklook:
        extra.update(endmember_plot=folder / "endmembers.png", error_map=folder / "reconstruction_error.png")
    ortho = wants_ortho(scene, cfg.ortho)
    if ortho:  # unmixed in the swath; abundances.tif is the product grid's indexing of it
        extra["abundances_swath"] = folder / "abundances_swath.tif"
    method = methods.build("unmix", cfg.method, cfg.get("method_name") or "method")
    empty = empty_bands(scene, np.random.default_rng(int(cfg.seed)))
    library_file = load_scene_library(cfg) if cfg.get("library") else None
    bands, band_record = usable_bands(scene, str(cfg.bad_bands), empty)
    beyond_library = []
    if library_file is not None:
        bands, beyond_library = bands_in_library(cfg.library, library_file, scene, bands)
    wavelengths = None if scene.wavelengths_nm is None else scene.wavelengths_nm[bands]
    ref_endmembers, ref_abundances = references(cfg, scene, wavelengths, bands)
    library, library_units = (None, None) if library_file is None else scene_library(cfg, library_file, scene, bands)
    check_endmember_count(cfg, method, scene, bands.size, library)
    job = start("unmix", cfg, folder / "abundances.tif", extra=extra, folder=folder,
                inputs={"input": scene, "library": cfg.get("library"), "reference": cfg.get("reference"),
                        "reference_abundances": cfg.get("reference_abundances")})
    rng = np.random.default_rng(int(cfg.seed))
    started = time.perf_counter()
    sample = sample_pixels(scene, bands, int(cfg.sample_pixels), rng, scene.block_rows_for(int(cfg.block_bytes), itemsize=4))
    refuse_constant(scene, sample, "nothing to unmix")
    sample, record = preprocess(sample, normalize=str(cfg.normalize))
    record["kept_bands"] = bands.tolist()
    record["removed_bad_bands"] = int(scene.n_bands - bands.size)
    record["bad_bands"] = band_record
    record["beyond_library_bands"] = beyond_library
    record["removed_empty_bands"] = np.flatnonzero(empty).tolist()
    fit_record: dict = {}
    try:
        endmembers, names, count_source = learn_endmembers(cfg, method, scene, bands, sample, record, fit_record, library)
    except InputError as error:  # the fit's own checks name no file
        raise InputError(f"{scene.describe()}: {error}") from None
    n_endmembers = endmembers.shape[1]
    abundance_step, abundance_record = method.abundance_step(sample, endmembers)
    if abundance_record is not None:
        fit_record["abundances"] = abundance_record
    started = job.timed("fit", started)
    print(f"fit in {job.timings['fit_s']:.1f} s{_kept_restart(fit_record)}{_refinement_note(fit_record, names)}"
          f"{_abundance_model(abundance_record)}; "
          "abundances for every pixel ...", flush=True)
    abundance_scores = None if ref_abundances is None else AbundanceScores(ref_abundances, n_endmembers)
    window = central_window(scene.n_rows, scene.n_cols)
    quicklook = np.full((window.height, window.width, n_endmembers + 1), np.nan, np.float32)
    errors = []
    template = scene.derived(n_bands=n_endmembers, dtype=np.float32, band_names=names, wavelengths_nm=None,
                             scale=1.0, offset=0.0)
    template.nodata = float("nan")
    tiling = cfg.tiling
    runner = TiledRunner(AbundanceTiles(abundance_step, endmembers, bands, str(cfg.normalize)), tile=int(tiling.tile),
                         overlap=int(tiling.overlap), context=int(tiling.context), blend=tiling.blend,
                         batch_size=int(tiling.batch_size), fill_missing=False, keep_nodata=True,
                         progress=bool(cfg.progress))
    with create_writer(job.outputs["abundances_swath" if ortho else "output"], template, overwrite=bool(cfg.overwrite),
                       inputs=(scene.path,) if scene.path else ()) as writer:

        def sink(strip: Window, values: np.ndarray, empty: np.ndarray) -> None:
            values[empty] = np.nan
            abundances, error = values[..., :n_endmembers], values[..., n_endmembers]
            writer.write(strip, abundances)
            errors.append(error[np.isfinite(error)].copy())
            if abundance_scores is not None:
                abundance_scores.add(strip, abundances)
            part = _window_part(window, strip, values)
            if part is not None:
                quicklook[part[0].row - window.row:part[0].row - window.row + part[0].height] = part[1]

        summary = runner.run(scene, sink)
    if ortho:
        write_orthorectified(job.outputs["abundances_swath"], scene, job.outputs["output"], bool(cfg.overwrite))
    started = job.timed("abundances", started)
    errors = np.concatenate(errors)
    write_endmembers_csv(job.outputs["endmembers"], wavelengths, endmembers, names, bands)
    results = {
        "n_endmembers": n_endmembers,
        "n_endmembers_source": count_source,
        "preprocessing": record,
        "sample_pixels": int(sample.shape[0]),
        "fit": fit_record or None,
        "reconstruction_rmse": {"mean": float(errors.mean()), "median": float(np.median(errors)),
                                "p95": float(np.percentile(errors, 95)), "max": float(errors.max()),
                                "units": "same as the pre-processed pixels"},
        "tiling": summary,
        "quicklook_window": [window.row, window.col, window.height, window.width],
    }
    if library is not None:
        results["library_method"] = library_method_choice(cfg)
        results["library_units"] = library_units
    if ref_endmembers is not None or abundance_scores is not None:
        results["reference_scores"] = reference_scores(endmembers, ref_endmembers, abundance_scores)
    if job.quicklook:
        from hsi.viz import plot_spectra, save_band_maps, save_error_map

        save_band_maps(quicklook[..., :n_endmembers], names, job.quicklook, vmin=0, vmax=1)
        plot_spectra(wavelengths, endmembers, names, job.outputs["endmember_plot"], title="endmembers")
        save_error_map(quicklook[..., n_endmembers], job.outputs["error_map"], label="reconstruction RMSE")
    job.timed("assess", started)
    report = finish(job, results, method=method)
    print(f"unmixed {scene.describe()} into {n_endmembers} endmembers in {report['timings']['total_s']:.1f} s: "
          f"{job.outputs['output']}, {job.outputs['endmembers']}, {job.outputs['report']}")
    return report

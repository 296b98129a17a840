"""Pansharpen a low-resolution MS/HS scene with a PAN image onto the PAN grid (CS, MRA, zero-shot)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from hsi import methods
from hsi.arrays import infer_ratio
from hsi.errors import GridMismatchError, InputError, ParameterError
from hsi.io import open_scene
from hsi.io.products import open_pair
from hsi.jobs.common import finish, read_options, start
from hsi.metrics.pansharp import BLOCK_MS_PIXELS
from hsi.pansharpen.pair_nodata import RULE as NODATA_RULE
from hsi.pansharpen.select import central_window
from hsi.scene import Scene, Window

PROTOCOLS = ("full", "reduced")


def coverage_ratio(ms: Scene, pan: Scene) -> int:
    """The integer PAN/MS ratio, after checking that the two scenes cover the same ground.

    Georeferenced scenes: same CRS, pixel sizes an integer ratio apart, same upper-left corner
    (to a quarter of a PAN pixel) and PAN size = ratio x MS size. Scenes without georeferencing
    (both) are assumed to cover the same ground, and the ratio comes from their shapes.
    """
    if (ms.transform is None) != (pan.transform is None):
        which = ms if ms.transform is None else pan
        raise GridMismatchError(f"{which.describe()} has no georeferencing but the other input has: cannot check they cover the same ground")
    if ms.transform is None:
        if pan.shape[:2] == ms.shape[:2]:
            raise GridMismatchError(f"ms={ms.path} and pan={pan.path} have the same size ({ms.n_rows}x{ms.n_cols}): "
                                    "pansharpening needs a PAN on a finer grid than the MS")
        return infer_ratio(ms.shape[:2], pan.shape[:2])
    pair = f"ms={ms.path} and pan={pan.path}"
    if ms.crs != pan.crs:
        raise GridMismatchError(f"{pair}: ms CRS {ms.crs} differs from pan CRS {pan.crs}: reproject one first")
    ms_t, pan_t = ms.transform, pan.transform
    if abs(ms_t.b) > 1e-9 * abs(ms_t.a) or abs(pan_t.b) > 1e-9 * abs(pan_t.a):
        raise InputError(f"{pair}: rotated grids are not supported: resample to a north-up grid first")
    ratios = (ms_t.a / pan_t.a, ms_t.e / pan_t.e)
    ratio = int(round(ratios[0]))
    if ratio == 1 and all(abs(r - 1.0) < 1e-6 for r in ratios):
        raise GridMismatchError(f"{pair} have the same pixel size {ms.pixel_size}: "
                                "pansharpening needs a PAN on a finer grid than the MS")
    if ratio < 1 or any(abs(r - ratio) > 1e-6 * ratio for r in ratios):
        raise GridMismatchError(
            f"{pair}: MS pixel size {ms.pixel_size} is not an integer multiple (same in x and y) of PAN pixel size {pan.pixel_size}"
        )
    offset = (abs(ms_t.c - pan_t.c) / abs(pan_t.a), abs(ms_t.f - pan_t.f) / abs(pan_t.e))
    if max(offset) > 0.25:
        raise GridMismatchError(
            f"{pair}: MS and PAN upper-left corners differ by {offset[0]:.2f} x {offset[1]:.2f} PAN pixels: crop them to the same extent"
        )
    if pan.shape[:2] != (ms.n_rows * ratio, ms.n_cols * ratio):
        raise GridMismatchError(
            f"{pair}: PAN is {pan.n_rows}x{pan.n_cols} but the MS ({ms.n_rows}x{ms.n_cols}) at ratio {ratio} covers "
            f"{ms.n_rows * ratio}x{ms.n_cols * ratio} PAN pixels"
        )
    return ratio


def coregistration_check(ms: np.ndarray, pan: np.ndarray, ratio: int, max_shift: int = 2) -> dict:
    """Shift (in PAN pixels) maximising the correlation of the interpolated MS intensity with the PAN.

    A shift beyond one PAN pixel, or a low correlation, means the pair is probably not co-registered.
    """
    from hsi.degrade.resample import upsample

    intensity = upsample(ms.mean(axis=2), ratio)
    margin = max_shift + 2 * ratio
    core = (slice(margin, -margin), slice(margin, -margin))
    best = (-2.0, 0, 0)
    if min(pan.shape) <= 2 * margin + 4:
        return {"correlation": None, "shift_rows": 0, "shift_cols": 0, "warning": "image too small to check"}
    reference = intensity[core].ravel()
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            shifted = np.roll(pan, (dy, dx), axis=(0, 1))[core].ravel()
            corr = float(np.corrcoef(reference, shifted)[0, 1])
            if corr > best[0]:
                best = (corr, dy, dx)
    report = {"correlation": best[0], "shift_rows": best[1], "shift_cols": best[2]}
    if best[0] < 0.3 or max(abs(best[1]), abs(best[2])) > 1:
        report["warning"] = "MS and PAN look poorly co-registered (low correlation or shift above one PAN pixel)"
    return report


def pan_bands(scene: Scene, pan_band) -> list[int]:
    """The bands of the high-resolution input to use: ``pan_band`` (an index) or all of them."""
    if str(pan_band) == "all":
        return list(range(scene.n_bands))
    if isinstance(pan_band, bool) or not isinstance(pan_band, int) or not 0 <= pan_band < scene.n_bands:
        raise ParameterError(f"pan_band={pan_band!r} but {scene.describe()} has {scene.n_bands} band(s): give 0..{scene.n_bands - 1} or 'all'")
    return [pan_band]


def _read_pan(scene: Scene, bands: list[int], window: Window | None = None) -> np.ndarray:
    """(rows, cols) for one band, (rows, cols, bands) for several (HS + MS fusion)."""
    pixels = scene.read(window, bands=bands, physical=True).astype(np.float64)
    return pixels[:, :, 0] if pixels.shape[2] == 1 else pixels


def _intensity(pan: np.ndarray) -> np.ndarray:
    """The PAN, or the band mean of a multi-band high-resolution input (its PAN proxy for D_s)."""
    return pan if pan.ndim == 2 else pan.mean(axis=2)


def assessment_window(ms: Scene, size: int) -> Window:
    """The central window of at most ``size`` x ``size`` MS pixels where the indexes are computed."""
    return Window(*central_window(ms.n_rows, ms.n_cols, size))


def _scaled(window: Window, ratio: int) -> Window:
    return Window(window.row * ratio, window.col * ratio, window.height * ratio, window.width * ratio)


def _choice_line(choice: dict | None) -> str:
    """What a per-scene choice (wald_select) decided, for the console line; details in the report."""
    if not choice:
        return ""
    if choice.get("note"):
        return f"; {choice['note']}"
    if choice["rule"] == "stack":
        bounded = " bounded by their per-pixel range" if choice.get("bounded") else ""
        return f"; chose a weighted combination of {len([w for w in choice['weights'].values() if w])} methods{bounded} (results.choice)"
    return f"; chose {choice['selected']} ({choice['rule']}, results.choice)"


def _nodata_line(nodata: dict) -> str:
    """How many fused pixels are nodata and why, for the console line (nothing when none is)."""
    if not nodata["total"]:
        return ""
    return (f"; {nodata['total']:,} fused pixels nodata ({nodata['ms_nodata']:,} without MS data, "
            f"{nodata['pan_nodata']:,} without PAN data; results.nodata)")


def reduced_indexes(fused: np.ndarray, reference: np.ndarray, ratio: int, ms: Scene) -> dict:
    """Wald's reduced-resolution indexes on the MS bands with signal (:func:`bands_with_signal`).

    A band of zeros (dead, or zeroed by the product, e.g. in water-vapour absorption) has no
    signal to fuse and makes ERGAS undefined (its error over its mean): it is left out of the
    indexes, as the default's choice leaves it out, and named with a note, so that the other
    bands are still scored (stopping after the fusion was written would lose them)."""
    from hsi.pansharpen.protocol import reduced_resolution_indexes
    from hsi.pansharpen.select import bands_with_signal

    scored = bands_with_signal(reference)
    if not scored.any():
        raise InputError(f"ms={ms.path}: every band of the assessed window has mean 0: protocol=reduced has nothing to "
                         "score (give protocol=full)")
    indexes: dict = reduced_resolution_indexes(fused[:, :, scored], reference[:, :, scored], ratio)
    left_out = [int(band) for band in np.flatnonzero(~scored)]
    if left_out:
        indexes["bands_left_out"] = left_out
        indexes["note"] = (f"ms={ms.path}: band(s) {left_out} have no signal in the assessed window (mean 0): "
                           "left out of the reduced-resolution indexes")
    return indexes


def check_given(cfg: DictConfig, given: set[str]) -> None:
    """Refuse settings this run would ignore or cannot use, before any file is opened:
    ``ms=`` / ``pan=`` / ``pan_read.*`` beside ``product=`` (the product holds both images), an unknown ``protocol``,
    ``pan_band=all`` with a method that takes a one-band PAN."""
    check_protocol(cfg)
    check_pan_band(cfg)
    if cfg.get("product"):
        for key in sorted(given):
            if key in ("ms", "pan") or key.startswith("pan_read."):
                raise ParameterError(f"{key}= is not used with product=: the product holds both the MS and the PAN "
                                     "(give product= or ms= and pan=)")


def check_pan_band(cfg: DictConfig) -> None:
    """``pan_band=all`` hands the method every band of ``pan=``: refuse it unless the method fuses a
    multi-band image (the tiles would otherwise fail once fusion starts)."""
    if str(cfg.pan_band) == "all" and not methods.fuses_multiband(cfg.method):
        name = cfg.get("method_name") or "the method"
        raise ParameterError(f"pan_band=all hands method={name} every band of pan=, but it takes a one-band PAN: give "
                             f"pan_band=N (the band to use) or a method that fuses a multi-band image "
                             f"({', '.join(methods.multiband_names())})")


def check_protocol(cfg: DictConfig) -> None:
    if cfg.protocol not in PROTOCOLS:
        raise ParameterError(f"protocol must be one of {PROTOCOLS}; got {cfg.protocol!r}")


def run(cfg: DictConfig) -> dict:
    check_protocol(cfg)
    check_pan_band(cfg)
    from hsi.pansharpen.protocol import full_resolution_indexes, reduced_resolution_pair
    from hsi.pansharpen.pair_nodata import complete_window
    from hsi.pansharpen.tile_adapter import pair_scene, pansharpen_scene

    if cfg.get("product"):  # MS/HS and PAN from one product (PRISMA .he5, Landsat 8/9 folder)
        ms_scene, pan_scene = open_pair(Path(str(cfg.product)).expanduser())
        cfg = OmegaConf.merge(cfg, {"ms": str(cfg.product), "pan": str(cfg.product)})
    elif cfg.ms in (None, "") and cfg.pan in (None, ""):
        from hsi.jobs.common import ensure_sample_pair

        ms_path, pan_path = ensure_sample_pair()
        print(f"no ms= / pan= given: using the sample pair {ms_path} and {pan_path}")
        cfg = OmegaConf.merge(cfg, {"ms": str(ms_path), "pan": str(pan_path)})
    elif cfg.ms in (None, "") or cfg.pan in (None, ""):
        raise ParameterError("pansharpen needs both ms= and pan= (or neither, for the shipped sample pair)")
    if not cfg.get("product"):
        ms_scene = open_scene(Path(str(cfg.ms)).expanduser(), **read_options(cfg))
        pan_scene = open_scene(Path(str(cfg.pan)).expanduser(), **(read_options(cfg, "pan_read") or read_options(cfg)))
    method = methods.build("pansharpen", cfg.method, cfg.get("method_name") or "method")
    job = start("pansharpen", cfg, cfg.output, inputs={"ms": ms_scene, "pan": pan_scene})
    ratio = coverage_ratio(ms_scene, pan_scene)
    bands = pan_bands(pan_scene, cfg.pan_band)
    sensor = cfg.sensor
    # the indexes, the co-registration check and the quicklook use a central crop (whole scene if small)
    window = assessment_window(ms_scene, int(cfg.assess_size))
    ms = ms_scene.read(window, physical=True).astype(np.float64)
    pan = _read_pan(pan_scene, bands, _scaled(window, ratio))
    if min(window.height, window.width) < BLOCK_MS_PIXELS:  # checked before any work: the fused file would be left unassessed
        raise InputError(f"ms={ms_scene.path}: {ms_scene.n_rows}x{ms_scene.n_cols} pixels; the full-resolution assessment "
                         f"(QNR on blocks of {BLOCK_MS_PIXELS}x{BLOCK_MS_PIXELS} MS pixels) needs at least that")
    window_note = None
    if not (np.isfinite(ms).all() and np.isfinite(pan).all()):
        # nodata in the central window: assess (and choose) on the complete window nearest the centre
        central = window
        found = complete_window(pair_scene(ms_scene, pan_scene, ratio, bands), int(cfg.assess_size))
        if found is None:
            raise InputError(f"ms={ms_scene.path}, pan={pan_scene.path}: no {window.height}x{window.width} MS-pixel window "
                             f"without nodata in either image (assess_size={cfg.assess_size}); the assessment and "
                             "the per-scene choice need one: give a smaller assess_size= or crop the pair")
        window = Window(*found)
        ms = ms_scene.read(window, physical=True).astype(np.float64)
        pan = _read_pan(pan_scene, bands, _scaled(window, ratio))
        window_note = (f"the central {central.height}x{central.width} MS-pixel window holds nodata: assessed on the "
                       f"complete window at row {window.row}, col {window.col}, the nearest the centre")
        print(f"note: {window_note}")
    results = {"ratio": ratio, "sensor": sensor, "protocol": cfg.protocol,
               "coregistration": coregistration_check(ms, _intensity(pan), ratio)}
    if window_note:
        results["assessed_window_note"] = window_note
    started = time.perf_counter()
    if callable(getattr(method, "fit", None)):  # a method that chooses per scene (wald_select) decides once, here
        try:
            results["choice"] = method.fit(ms, pan, ratio=ratio, sensor=sensor)
        except InputError as error:  # the choice sees arrays only: name the files it was made on
            raise InputError(f"ms={ms_scene.path}, pan={pan_scene.path}: {error}") from error
        if results["choice"].get("note") and (window.height, window.width) != (ms_scene.n_rows, ms_scene.n_cols):
            where = "central" if window_note is None else f"complete (row {window.row}, col {window.col})"
            results["choice"]["note"] += (f" (the {where} {window.height}x{window.width} window of the "
                                          f"{ms_scene.n_rows}x{ms_scene.n_cols} MS: assess_size={cfg.assess_size})")
        started = job.timed("choose", started)
    summary = pansharpen_scene(method, ms_scene, pan_scene, job.outputs["output"], ratio=ratio, sensor=sensor,
                               pan_bands=bands, tile=int(cfg.tiling.tile), overlap=int(cfg.tiling.overlap),
                               context=int(cfg.tiling.context), overwrite=bool(cfg.overwrite))
    started = job.timed("pansharpen", started)
    results["nodata"] = {**summary.pop("nodata"), "rule": NODATA_RULE}
    results["tiling"] = summary
    fused_scene = open_scene(summary["output"])
    fused = fused_scene.read(_scaled(window, ratio), physical=True).astype(np.float64)
    results["assessed_window_ms_pixels"] = [window.row, window.col, window.height, window.width]
    results["full_resolution"] = full_resolution_indexes(fused, ms, _intensity(pan), ratio=ratio, sensor=sensor)
    if cfg.protocol == "reduced":
        pair = reduced_resolution_pair(ms, pan, sensor=sensor, ratio=ratio)
        scored = method
        if "choice" in results:  # its choice was fitted against this very MS: score one chosen one level down, as the bench does
            scored = methods.build("pansharpen", cfg.method, cfg.get("method_name") or "method")
            results["reduced_resolution_choice"] = scored.fit(pair.ms, pair.pan, ratio=ratio, sensor=sensor)
        results["reduced_resolution"] = reduced_indexes(scored(pair.ms, pair.pan, ratio=ratio, sensor=sensor),
                                                        pair.reference, ratio, ms_scene)
        if results["reduced_resolution"].get("note"):
            print(f"note: {results['reduced_resolution']['note']}")
    results["shape_rows_cols_bands"] = list(fused_scene.shape)
    if job.quicklook:
        from hsi.viz import save_before_after

        save_before_after(ms, fused, ms_scene.wavelengths_nm, job.quicklook,
                          titles=("MS", f"pansharpened ({cfg.get('method_name')})"), crop="center")
    job.timed("assess", started)
    report = finish(job, results, method=method)
    print(f"wrote {fused_scene.path} ({fused_scene.n_rows}x{fused_scene.n_cols}x{fused_scene.n_bands}), "
          f"QNR {results['full_resolution']['qnr']:.4f}{_choice_line(results.get('choice'))}{_nodata_line(results['nodata'])}")
    return report

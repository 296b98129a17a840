"""Pansharpening benchmark: WorldView-2 and IKONOS pairs, plus a hyperspectral case.

* ``reduced``: Wald's protocol on each real pair (both inputs MTF-degraded by the ratio, the
  original MS as reference): Q2n, ERGAS, SAM, SCC, and the no-reference QNR and HQNR of the
  same fused cube against the degraded inputs. A ``reference`` row scores the ground truth
  itself with those no-reference indexes: how well QNR and HQNR rank the true answer.
* ``full``: each real pair at its own resolution, no reference: D_lambda, D_s, QNR, HQNR, and the
  fused values' range (DN), over the whole image and away from the PAN's dead or saturated pixels
  (:func:`output_range`).
* ``hyperspectral``: Samson (or Jasper Ridge) as the high-resolution reference; the PAN is
  synthesised from it with a flat 400-700 nm spectral response, the low-resolution cube by the
  generic MTF blur and decimation by 4: Q2n, ERGAS, SAM, SCC, and QNR against the inputs.
* ``hs_ms_fusion``: the same reference and low-resolution cube fused with a synthesised
  4-band MS (flat responses over 400-500, 500-600, 600-700, 700-900 nm) instead of a PAN, for
  the fusion methods (CNMF), with EXP as the baseline.
* ``default``: per case (each pair at reduced resolution, the hyperspectral case), the
  default method's (``conf/pansharpen.yaml``) Q2n and ERGAS beside the best of the other
  classical methods by each index, and whether the default reaches them, so a drop shows.
* ``choice``: for each method that chooses per scene (``wald_select``), on each pair it was
  run on (``reduced``: the bench's reduced pair, so its choice is made on the pair degraded
  twice; ``full``: the pair itself, as a user's run, on its central ``assess_size`` window as the
  job chooses; ``hyperspectral``), the rule used, the
  candidate the selection picked, the weights applied, the cross-validated errors and full-scale
  HQNRs the rule compared, and the time the choice took; ``choice_scores``: every candidate's
  Q2n and ERGAS at the scale the choice was made (one level below the row's pair).
* ``toolbox``: per pair at reduced resolution, each of ``gsa``, ``awlp``, ``mtf_glp_hpm``,
  ``mtf_glp_fs``, ``bdsd_pc``, ``mtf_glp`` run beside the reference toolbox's definition of it
  (:mod:`hsi.bench.pansharpen_toolbox`) on the same inputs: both Q2n and ERGAS and their
  RMS and largest difference (DN, 16 pixels from the edges, where the toolbox's circular
  interpolation wraps the image around).
* ``stacking_constraints``: with ``wald_select`` in the run, per pair and per level at which a
  choice is made (the pair's ``assess_size`` window; the bench's reduced pair), the two-fold
  cross-validated error of the stacking under each weight constraint relative to the pick's
  (:func:`hsi.pansharpen.select.constraint_evidence`): the evidence of its affine constraint.
* ``index_agreement``: per pair, the Spearman rank correlation of the reduced-resolution QNR and
  HQNR with Q2n over the rows of ``reduced`` (methods and ground truth): whether the
  no-reference indexes order the results as the reference does.

Every method table has the method's wall time. Methods are the ``conf/method/<name>.yaml`` configs.

References
----------
G. Vivone et al., "A new benchmark based on recent advances in multispectral pansharpening",
IEEE GRSM 9(1), 2021. L. Loncan et al., "Hyperspectral pansharpening: a review", IEEE GRSM 3(3), 2015.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import scipy.io
import torch

from hsi.bench.pansharpen_toolbox import TOOLBOX_METHODS, toolbox_fusion
from hsi.errors import InputError, ParameterError
from hsi.settings import shared_data_dir

PAIRS = {"WV2": "imgWV2.mat", "IKONOS": "imgIK.mat"}
DEFAULT_METHODS = (
    "exp", "pca", "gs", "gsa", "brovey", "gihs", "bdsd_pc", "hpf", "sfim", "mtf_glp", "mtf_glp_cbd",
    "mtf_glp_fs", "mtf_glp_hpm", "mtf_glp_hpm_r", "awlp", "mtf_glp_hs", "rho_pnn",
)
FUSION_METHODS = ("exp", "cnmf")
MS_RANGES_NM = ((400.0, 500.0), (500.0, 600.0), (600.0, 700.0), (700.0, 900.0))
QUICK_METHODS = ("exp", "gsa", "mtf_glp_hs")
PAN_RANGE_NM = (400.0, 700.0)
#: Rows that are not classical methods: the ground truth, the interpolation baseline and the
#: zero-shot networks (``method=best``), which the default is not asked to beat.
NOT_CLASSICAL = ("reference", "exp", "rho_pnn", "rho_pnn_qnr", "best")


def load_pair(path: str | Path) -> tuple[np.ndarray, np.ndarray, int]:
    """A pansharpening test pair stored as MATLAB ``I_MS`` (rows, cols, bands), ``I_PAN``, ``ratio``."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: pansharpening pair not found (set HSI_SHARED_DATA)")
    mat = scipy.io.loadmat(path)
    ms = mat["I_MS"].astype(np.float64)
    pan = mat["I_PAN"].astype(np.float64)
    return ms, pan, int(np.asarray(mat["ratio"]).item())


def method_from_config(name: str) -> Callable:
    """The pansharpening function configured in ``conf/method/<name>.yaml``, as the job builds it."""
    from hsi import methods

    return methods.load("pansharpen", name)


def flat_response_pan(cube: np.ndarray, wavelengths_nm: np.ndarray, band_range_nm=PAN_RANGE_NM) -> np.ndarray:
    """A PAN synthesised from a (rows, cols, bands) cube with a flat response over ``band_range_nm``."""
    inside = (wavelengths_nm >= band_range_nm[0]) & (wavelengths_nm <= band_range_nm[1])
    if not inside.any():
        raise InputError(f"no band of the cube lies in the PAN range {band_range_nm} nm")
    return cube[:, :, inside].mean(axis=2)


def flat_response_ms(cube: np.ndarray, wavelengths_nm: np.ndarray, ranges_nm=MS_RANGES_NM) -> np.ndarray:
    """A (rows, cols, len(ranges_nm)) MS synthesised with flat responses (ranges without bands are skipped)."""
    bands = [flat_response_pan(cube, wavelengths_nm, r) for r in ranges_nm
             if ((wavelengths_nm >= r[0]) & (wavelengths_nm <= r[1])).any()]
    return np.stack(bands, axis=2)


def _timed(function: Callable, ms, pan, sensor: str, choices: list[dict] | None = None, **where):
    """``function(ms, pan)`` and its seconds; a method that chooses per scene (``fit``) chooses
    first, inside the timing, as the job does: on the pair's central window of the job's
    ``assess_size`` MS pixels (the whole of a smaller pair), and its choice is appended to ``choices``."""
    from hsi.pansharpen.select import central_pair

    started = time.perf_counter()
    fit = getattr(function, "fit", None)
    if callable(fit):
        ratio = pan.shape[0] // ms.shape[0]
        choice = fit(*central_pair(np.asarray(ms), np.asarray(pan), ratio, job_assess_size()), ratio=ratio, sensor=sensor)
        if choices is not None:
            choices.append(choice)
            choice.update(where=where)
    fused = function(ms, pan, sensor=sensor)
    return fused, time.perf_counter() - started


def choice_tables(choices: Sequence[dict]) -> dict[str, list[dict]]:
    """The ``choice`` table (one row per choice) and ``choice_scores`` (every candidate's score at
    the scale the choice was made, one row per candidate) from the choices' reports."""
    rows = [choice_row(choice, **choice.get("where", {})) for choice in choices]
    scores = [{**choice.get("where", {}), "candidate": name, "q2n": score["q2n"], "ergas": score["ergas"]}
              for choice in choices for name, score in (choice.get("reduced_scale_scores") or {}).items()]
    return {"choice": rows, "choice_scores": scores}


def choice_row(choice: dict, **where) -> dict:
    """One row of the ``choice`` table from a :meth:`hsi.pansharpen.select.WaldSelect.fit` report."""
    held_out = choice.get("held_out_relative_mse") or {}
    hqnr = choice.get("full_scale_hqnr") or {}
    weights = ", ".join(f"{name} {weight:.3g}" for name, weight in choice["weights"].items() if weight != 0.0)
    return {**where, "rule": choice["rule"], "selected": choice["selected"], "weights": weights,
            "held_out_stack": held_out.get("stack"), "held_out_select": held_out.get("select"),
            "hqnr_stack": hqnr.get("stack"), "hqnr_bounded_stack": hqnr.get("bounded_stack"),
            "hqnr_select": hqnr.get("select"), "bounded": bool(choice.get("bounded")), "choice_s": choice["seconds"]}


def _crop(ms: np.ndarray, pan: np.ndarray, ratio: int, size: int | None):
    if size is None:
        return ms, pan, ratio
    return ms[:size, :size], pan[: size * ratio, : size * ratio], ratio


def run_benchmark(
    data_dir: str | None = None,
    quick: bool = False,
    methods: Sequence[str] | None = None,
    seed: int = 0,
    hyperspectral: str = "samson",
    crop: int | None = None,
    device: str = "cpu",
    hyperspectral_overrides: dict[str, dict] | None = None,
    toolbox_reference: bool = True,
) -> dict[str, list[dict]]:
    """Run every method on the real pairs (reduced and full resolution) and the hyperspectral case.

    Parameters
    ----------
    data_dir : shared data folder (default :func:`hsi.settings.shared_data_dir`).
    quick : a 64 x 64 MS crop (48 x 48 hyperspectral reference) and three methods, for tests.
    methods : config names from ``conf/method`` (default: all pansharpening methods).
    seed : seed for the stochastic methods (zero-shot networks), passed as ``seed=``.
    hyperspectral : "samson" or "jasper_ridge", or "none" to skip the case.
    crop : MS crop size (None: whole images).
    device : torch device for the methods.
    hyperspectral_overrides : method name -> keyword arguments for the hyperspectral case only
        (e.g. fewer steps per band for the zero-shot network on a 156-band cube on CPU).
    toolbox_reference : also fuse the reduced pairs with the toolbox's definitions (table ``toolbox``).

    Returns
    -------
    {"reduced": rows, "full": rows, "hyperspectral": rows, "hs_ms_fusion": rows}.
    """
    from hsi.pansharpen.protocol import full_resolution_indexes, reduced_resolution_indexes, reduced_resolution_pair

    root = Path(data_dir) if data_dir else shared_data_dir()
    names = list(methods) if methods else list(QUICK_METHODS if quick else DEFAULT_METHODS)
    crop = 64 if quick and crop is None else crop
    tables: dict[str, list[dict]] = {"reduced": [], "full": [], "hyperspectral": [], "hs_ms_fusion": [], "index_agreement": [],
                                     "choice": [], "toolbox": []}
    pairs = {sensor: _crop(*load_pair(root / "pansharpening" / filename), crop) for sensor, filename in PAIRS.items()}
    case = hyperspectral_case(root, hyperspectral, 48 if quick else None) if hyperspectral != "none" else None
    reduced = {sensor: reduced_resolution_pair(ms, pan, sensor=sensor, ratio=ratio) for sensor, (ms, pan, ratio) in pairs.items()}

    def reduced_row(sensor: str, name: str, fused, seconds: float | None) -> dict:
        pair = reduced[sensor]
        noref = full_resolution_indexes(fused, pair.ms, pair.pan, ratio=pair.ratio, sensor=sensor)
        return {"dataset": sensor, "method": name, **reduced_resolution_indexes(fused, pair.reference, pair.ratio),
                "qnr": noref["qnr"], "hqnr": noref["hqnr"], "time_s": seconds}

    for sensor, pair in reduced.items():
        tables["reduced"].append(reduced_row(sensor, "reference", pair.reference, None))
    for name in names:
        method = _seeded(method_from_config(name), seed, device)
        for sensor, (ms, pan, ratio) in pairs.items():
            pair = reduced[sensor]
            fused, seconds = _timed(method, pair.ms, pair.pan, sensor, tables["choice"], dataset=sensor, scale="reduced", method=name)
            tables["reduced"].append(reduced_row(sensor, name, fused, seconds))
            if toolbox_reference and name in TOOLBOX_METHODS:
                tables["toolbox"].append(toolbox_row(sensor, name, fused, tables["reduced"][-1], pair))
            fused, seconds = _timed(method, ms, pan, sensor, tables["choice"], dataset=sensor, scale="full", method=name)
            tables["full"].append({"dataset": sensor, "method": name, **full_resolution_indexes(fused, ms, pan, ratio=ratio, sensor=sensor),
                                   **output_range(fused, pan), "time_s": seconds})
        if case is not None:
            reference, low, pan, msi = case
            extra = dict((hyperspectral_overrides or {}).get(name) or {})
            call = functools.partial(method, **extra) if extra else method
            fused, seconds = _timed(call, low, pan, "generic", tables["choice"], dataset=hyperspectral, scale="hyperspectral", method=name)
            full = full_resolution_indexes(fused, low, pan, ratio=4, sensor="generic")
            tables["hyperspectral"].append({"dataset": hyperspectral, "method": name, **reduced_resolution_indexes(fused, reference, 4),
                                            "qnr": full["qnr"], "hqnr": full["hqnr"], "time_s": seconds})
    for name in FUSION_METHODS if case is not None else ():
        reference, low, _, msi = case
        fused, seconds = _timed(_seeded(method_from_config(name), seed, device), low, msi, "generic")
        tables["hs_ms_fusion"].append({"dataset": hyperspectral, "method": name,
                                       **reduced_resolution_indexes(fused, reference, 4), "time_s": seconds})
    tables.update(choice_tables(tables.pop("choice")))
    if "wald_select" in names:
        tables["stacking_constraints"] = stacking_constraints(
            {sensor: (ms, pan, ratio) for sensor, (ms, pan, ratio) in pairs.items()}, reduced)
    tables["index_agreement"] = index_agreement(tables["reduced"])
    tables["default"] = default_against_best(tables["reduced"] + tables["hyperspectral"], default_method())
    tables["default_full"] = default_against_best(tables["full"], default_method(), higher=("hqnr", "qnr"), lower=())
    return tables


def output_range(fused, pan: np.ndarray, margin: int = 4) -> dict[str, float]:
    """Least and greatest fused value, everywhere and more than ``margin`` PAN pixels away from a
    PAN pixel at the PAN's own minimum or maximum (dead or saturated: there the injected detail
    is not a measurement, and any method may carry it beyond the MS's range)."""
    from scipy.ndimage import binary_dilation

    values = np.asarray(fused)
    unreliable = binary_dilation((pan <= pan.min()) | (pan >= pan.max()), iterations=margin)
    clean = values[~unreliable]
    return {"min": float(values.min()), "max": float(values.max()),
            "min_clean": float(clean.min()) if clean.size else float("nan"),
            "max_clean": float(clean.max()) if clean.size else float("nan")}


def toolbox_row(sensor: str, name: str, fused, row: dict, pair) -> dict:
    """One row of the ``toolbox`` table: hsi's ``name`` (its ``reduced`` row) beside the toolbox's definition."""
    from hsi.pansharpen.protocol import reduced_resolution_indexes

    reference = toolbox_fusion(name, np.asarray(pair.ms), np.asarray(pair.pan), pair.ratio, sensor)
    scores = reduced_resolution_indexes(reference, pair.reference, pair.ratio)
    margin = min(16, reference.shape[0] // 4, reference.shape[1] // 4)  # the edges: the toolbox interpolates circularly
    difference = np.abs(np.asarray(fused) - reference)[margin : reference.shape[0] - margin, margin : reference.shape[1] - margin]
    return {"dataset": sensor, "method": name, "q2n_hsi": row["q2n"], "q2n_toolbox": scores["q2n"],
            "ergas_hsi": row["ergas"], "ergas_toolbox": scores["ergas"],
            "rms_difference": float(np.sqrt(np.mean(difference**2))), "max_difference": float(difference.max())}


def stacking_constraints(pairs: dict, reduced: dict) -> list[dict]:
    """The ``stacking_constraints`` table: per pair, at the two levels a choice is made on (the pair's
    central ``assess_size`` window, as the job; the bench's reduced pair), the cross-validated error
    of each stacking constraint relative to the pick's, on each two-fold split. A level too small for
    Wald's protocol (a cropped or quick run: there ``wald_select`` falls back without stacking) has no rows."""
    from hsi.pansharpen.protocol import reduced_resolution_indexes
    from hsi.pansharpen.select import central_pair, constraint_evidence, pick_best, protocol_too_small, reduced_scale_outputs

    candidates = method_from_config("wald_select").candidates
    rows = []
    for sensor, (ms, pan, ratio) in pairs.items():
        levels = {"pair": central_pair(ms, pan, ratio, job_assess_size()),
                  "reduced pair": (np.asarray(reduced[sensor].ms), np.asarray(reduced[sensor].pan))}
        for level, (low, high) in levels.items():
            if protocol_too_small(low.shape, ratio):
                continue
            fused, reference = reduced_scale_outputs(candidates, low, high, ratio=ratio, sensor=sensor)
            selected = pick_best({name: reduced_resolution_indexes(image, reference, ratio) for name, image in fused.items()})
            for split, relative in constraint_evidence(fused, reference, selected).items():
                rows.append({"dataset": sensor, "level": level, "split": split, "pick": selected,
                             **{f"{constraint}_vs_pick": value for constraint, value in relative.items()}})
    return rows


@functools.lru_cache(maxsize=1)
def job_assess_size() -> int:
    """The pansharpen job's ``assess_size``: the central window (MS pixels) a per-scene choice is made on."""
    from hsi.config import compose

    return int(compose("pansharpen").assess_size)


def default_method() -> str:
    """The pansharpen job's default method (``conf/pansharpen.yaml``)."""
    from hsi.config import compose

    return str(compose("pansharpen").method_name)


def default_against_best(rows: Sequence[dict], default: str, higher: Sequence[str] = ("q2n",),
                         lower: Sequence[str] = ("ergas",)) -> list[dict]:
    """Per dataset holding a ``default`` row: each index beside the best other classical method's
    by that index (``higher``: larger is better, ``lower``: smaller is better), and whether the
    default reaches it. Table ``default`` (reduced resolution: Q2n, ERGAS) and ``default_full``
    (the pairs' own scale: HQNR, QNR), so a drop of the default at either scale shows."""
    table = []
    for dataset in dict.fromkeys(row["dataset"] for row in rows):
        mine = [row for row in rows if row["dataset"] == dataset]
        own = [row for row in mine if row["method"] == default]
        others = [row for row in mine if row["method"] not in NOT_CLASSICAL + (default,)]
        if not own or not others:
            continue
        row = {"dataset": dataset, "default": default}
        reached = {}
        for index, better in [(name, max) for name in higher] + [(name, min) for name in lower]:
            best = better(others, key=lambda other: other[index])
            row.update({index: own[0][index], f"best_other_{index}": best[index], f"best_{index}_method": best["method"]})
            reached[f"{index}_reached"] = better(own[0][index], best[index]) == own[0][index]
        table.append({**row, **reached})
    return table


def index_agreement(rows: Sequence[dict]) -> list[dict]:
    """Spearman rank correlation of ``qnr`` and ``hqnr`` with ``q2n``, per dataset (at least 3 rows).

    1: the no-reference index orders the fused results exactly as the reference-based Q2n does;
    negative: it tends to prefer the worse ones.
    """
    from scipy.stats import spearmanr

    table = []
    for dataset in dict.fromkeys(row["dataset"] for row in rows):
        mine = [row for row in rows if row["dataset"] == dataset]
        if len(mine) < 3:
            continue
        q2n = [row["q2n"] for row in mine]
        table.append({"dataset": dataset, "rows": len(mine),
                      **{f"spearman_q2n_{name}": float(spearmanr(q2n, [row[name] for row in mine])[0]) for name in ("qnr", "hqnr")}})
    return table


def hyperspectral_case(root: Path, name: str = "samson", size: int | None = None, ratio: int = 4):
    """(reference cube, low-resolution cube, PAN, MS) built from an unmixing benchmark scene.

    The reference is the scene cropped to a multiple of ``ratio``; the PAN has a flat
    400-700 nm response, the MS flat responses over :data:`MS_RANGES_NM`; the low-resolution
    cube is the generic MTF blur + decimation.
    """
    from hsi.datasets.benchmarks import LOADERS
    from hsi.degrade.mtf import degrade_resolution

    if name not in LOADERS:
        raise ParameterError(f"hyperspectral must be one of {sorted(LOADERS)} or 'none'; got {name!r}")
    scene = LOADERS[name](root)
    side = min(scene.cube.shape[:2]) if size is None else min(size, *scene.cube.shape[:2])
    side -= side % ratio
    reference = scene.cube[:side, :side]
    pan = flat_response_pan(reference, scene.wavelengths_nm)
    low = degrade_resolution(reference, ratio, "generic")
    return reference, low, pan, flat_response_ms(reference, scene.wavelengths_nm)


def _seeded(method: Callable, seed: int, device: str) -> Callable:
    """Pass ``seed``/``device`` to methods that take them (the zero-shot networks)."""
    import inspect

    target = getattr(method, "func", method)
    try:
        parameters = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return method
    extra = {}
    if "seed" in parameters:
        extra["seed"] = seed
    if "device" in parameters:
        extra["device"] = torch.device(device)
    if not extra:
        return method
    return lambda ms, pan, **kwargs: method(ms, pan, **extra, **kwargs)

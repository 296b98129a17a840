"""Unmixing benchmark: every method on Samson, Jasper Ridge and synthetic cases, plus FCLS throughput.

Pinned protocol
---------------
- Scenes from :mod:`hsi.datasets.benchmarks` (column-major layout handled there).
- Normalisation per scene, fixed by how each reference was built, never by the results:
  Samson's reference abundances follow pixel-wise L2-normalised spectra (its reference
  endmembers are each scaled to max 1), so Samson is unmixed after pixel-wise L2
  normalisation; Jasper Ridge's reference is in reflectance, so it is unmixed as read.
- Synthetic cases (``cases`` in ``conf/suite/unmix.yaml``, built by
  :func:`hsi.bench.unmix_cases.build_case` with fixed seeds): shipped library spectra on
  real sensor bands, spatially structured abundances, noise and spectral variability; they
  are in reflectance and unmixed as built (no normalisation).
- Number of endmembers = number of reference materials; seed ``seed`` for every method.
- Matching: Hungarian assignment on abundance RMSE (HySUPP's protocol), one permutation
  for endmembers and abundances; SAD in degrees per reference endmember and mean;
  abundance RMSE over all pixels and endmembers, x100.
- Times are wall-clock seconds of the method call (endmembers + abundances).
- Library (supervised) unmixing: each scene in reflectance as read, onto the per-material
  library shipped with it (Borsoi et al. 2018); a material's abundance is the sum over its
  library members, rescaled per pixel to sum to one (the libraries do not span each pixel's
  brightness), then abundance RMSE x100 against the reference; "members used" is the mean
  number of library members per pixel with abundance above 0.01.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from hsi.datasets.benchmarks import LOADERS, load_benchmark_library
from hsi.errors import ParameterError
from hsi.sample_scene import MATERIAL_NAMES
from hsi.settings import SAMPLE_SCENE

# conf/method names run by `python cli.py bench unmix`; extend with new unmixing methods.
DEFAULT_METHODS: tuple[str, ...] = ("vca_fcls", "nfindr_fcls", "atgp_fcls", "spa_fcls", "pp_spa_fcls", "edaa", "edaa_pp", "edaa_pp_uniform",
                                   "edaa_pp_refined",
                                   "nmf_l12", "nmf_correntropy", "ssnmf", "rlsu", "cnnaeu")
QUICK_METHODS = ("vca_fcls", "nfindr_fcls")
LIBRARY_METHODS: tuple[str, ...] = ("library_fcls", "sunsal", "clsunsal")
SCENE_NORMALIZATION = {"samson": "l2", "jasper_ridge": "none"}


def load_method(name: str):
    """``conf/method/<name>.yaml`` as the unmix job builds it (an :class:`hsi.unmix.pipeline.Unmixer`)."""
    from hsi import methods

    return methods.load("unmix", name)


def _scores(endmembers, abundances, reference) -> dict:
    from hsi.metrics.unmix import unmixing_scores

    k = reference.endmembers.shape[1]
    return unmixing_scores(
        endmembers=np.asarray(endmembers),
        abundances=np.asarray(abundances),
        ref_endmembers=reference.endmembers,
        ref_abundances=reference.abundances.reshape(-1, k),
        match_by="abundances",
    )


def score_rows(scene_name: str, method_name: str, endmembers, abundances, reference, seconds: float) -> dict:
    """One table row: scene, method, SAD per reference material and mean (deg), aRMSE x100, time."""
    scores = _scores(endmembers, abundances, reference)
    per_material = zip(reference.material_names, scores["sad_per_endmember_deg"])
    return {"scene": scene_name, "method": method_name, "SAD mean (deg)": float(scores["mean_sad_deg"]),
            "aRMSE x100": 100.0 * float(scores["abundance_rmse"]), "time_s": float(seconds),
            "SAD per material (deg)": ", ".join(f"{name} {float(sad):.2f}" for name, sad in per_material)}


def abundance_model_label(record: dict | None) -> str:
    """The table's account of an abundance step fitted on the scene: its model and the scale spreads behind it."""
    if not record:
        return "fixed"
    return (f"{record['abundance_model']} (scale spread {record['scale_spread']:.3g}, "
            f"noise alone {record['noise_scale_spread']:.3g})")


def scene_pixels(reference, normalize: str) -> np.ndarray:
    from hsi.unmix.preprocess import preprocess

    pixels = reference.cube.reshape(-1, reference.cube.shape[2])
    return preprocess(pixels, normalize=normalize)[0]


def library_row(scene_name: str, method_name: str, reference, library) -> dict:
    """Unmix ``reference.cube`` onto ``library`` with ``conf/method/<method_name>``; grouped abundance RMSE."""
    method = load_method(method_name)
    pixels = reference.cube.reshape(-1, reference.cube.shape[2])
    started = time.perf_counter()
    members = np.asarray(method.abundances(pixels, library.spectra))
    seconds = time.perf_counter() - started
    k = len(reference.material_names)
    grouped = np.stack([members[:, library.material_of_member == m].sum(axis=1) for m in range(k)], axis=1)
    grouped /= np.maximum(grouped.sum(axis=1, keepdims=True), 1e-12)
    error = grouped - reference.abundances.reshape(-1, k)
    return {"scene": scene_name, "method": method_name, "library members": int(library.spectra.shape[1]),
            "aRMSE x100": 100.0 * float(np.sqrt(np.mean(error ** 2))),
            "members used": float((members > 0.01).sum(axis=1).mean()), "time_s": float(seconds)}


def fcls_throughput(n_pixels: int, n_check: int, seed: int, endmembers: np.ndarray | None = None) -> dict:
    """Time exact FCLS on ``n_pixels`` float32 pixels; max deviation from scipy's SLSQP QP on a subset."""
    from scipy.optimize import minimize

    from hsi.unmix.abundance import fcls

    rng = np.random.default_rng(seed)
    if endmembers is None:
        endmembers = rng.uniform(0.05, 0.6, size=(198, 4))
    bands, k = endmembers.shape
    abundances = rng.dirichlet(np.full(k, 0.5), size=n_pixels)
    pixels = (abundances @ endmembers.T + rng.normal(0, 0.01, size=(n_pixels, bands))).astype(np.float32)
    pixels_t = torch.from_numpy(pixels)
    endmembers_t = torch.from_numpy(endmembers.astype(np.float32))
    started = time.perf_counter()
    estimate = fcls(pixels_t, endmembers_t)
    seconds = time.perf_counter() - started
    subset = pixels[:n_check].astype(np.float64)
    e64 = endmembers_t.numpy().astype(np.float64)
    gram = e64.T @ e64
    exact = np.empty((n_check, k))
    for i, y in enumerate(subset):  # reference solver: one QP per pixel (slow by design)
        rhs = e64.T @ y
        result = minimize(
            lambda a: 0.5 * a @ gram @ a - rhs @ a, np.full(k, 1.0 / k), jac=lambda a: gram @ a - rhs,
            method="SLSQP", bounds=[(0.0, None)] * k,
            constraints=[{"type": "eq", "fun": lambda a: a.sum() - 1.0, "jac": lambda a: np.ones(k)}],
            options={"ftol": 1e-15, "maxiter": 500},
        )
        exact[i] = result.x
    deviation = float(np.abs(estimate[:n_check].numpy().astype(np.float64) - exact).max())
    return {
        "problem": f"{n_pixels} px x {bands} bands x {k} endmembers (float32)",
        "threads": float(torch.get_num_threads()),
        "time_s": seconds,
        "pixels_per_s": n_pixels / seconds,
        "max_abs_dev_vs_scipy_qp": deviation,
        "n_checked": float(n_check),
    }


def fit_time_rows(methods: list[str], spec: dict, data_dir, seed: int) -> list[dict]:
    """Wall and CPU seconds of each method's endmember fit on the ``unmix`` job's default sample.

    The scene is a synthetic case (``spec``: :func:`hsi.bench.unmix_cases.build_case`'s
    arguments, e.g. 512 x 512 on EMIT's bands, plus ``sample_pixels`` and optionally
    ``methods``, which replace ``methods``) from which ``sample_pixels`` pixels are drawn
    uniformly, as ``unmix`` does; CPU seconds of one thread show the cost without the other
    jobs sharing the machine. SAD against the case's truth shows that speed cost no accuracy.
    """
    from scipy.optimize import linear_sum_assignment

    from hsi.bench.unmix_cases import build_case
    from hsi.metrics.unmix import spectral_angles_deg

    spec = dict(spec)
    sample_pixels = int(spec.pop("sample_pixels", 20000))
    methods = list(spec.pop("methods", None) or methods)
    case = build_case(**spec, data_dir=data_dir)
    pixels = case.cube.reshape(-1, case.cube.shape[2])
    rng = np.random.default_rng(seed)
    sample = pixels[np.sort(rng.choice(pixels.shape[0], min(sample_pixels, pixels.shape[0]), replace=False))]
    sample = sample.astype(np.float32)
    k = case.endmembers.shape[1]
    rows = []
    for method_name in methods:
        method = load_method(method_name)
        wall, cpu = time.perf_counter(), time.process_time()
        endmembers = np.asarray(method.endmembers(sample, k, rng=seed))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        angles = spectral_angles_deg(endmembers, case.endmembers)
        matched = linear_sum_assignment(angles)
        rows.append({"scene": f"{case.name}: {case.cube.shape[0]} x {case.cube.shape[1]} x {case.cube.shape[2]}",
                     "method": method_name, "sample pixels": int(sample.shape[0]), "endmembers": int(k),
                     "fit wall s": float(wall), "fit cpu s": float(cpu), "threads": float(torch.get_num_threads()),
                     "SAD mean (deg)": float(angles[matched].mean())})
    return rows


COUNT_METHODS = ("hysime", "hfc", "nwhfc", "mnf")
#: The count table's row for the shipped sample scene, as ``python cli.py unmix`` reads it.
SAMPLE_ROW = "sample_scene"


def count_rows(data_dir, scenes: list[str] | None, cases: list[dict] | None) -> list[dict]:
    """``n_endmembers=auto``'s estimate by each count method beside the number of reference
    materials, per scene, on the pixels the methods unmix (spatial methods also get every pair of
    adjacent pixels): what a user who leaves the count to the job gets on a scene like it. The
    shipped sample scene (five materials) is the last row when every scene runs: the scene a
    newcomer unmixes first."""
    from hsi.estimate.noise import shift_differences
    from hsi.unmix.count import SPATIAL_METHODS, estimate_n_endmembers

    def row(scene_name: str, n_materials: int, cube: np.ndarray) -> dict:
        pixels = cube.reshape(-1, cube.shape[2])
        shifts = shift_differences(cube)
        return {"scene": scene_name, "reference materials": int(n_materials),
                **{method: int(estimate_n_endmembers(pixels, method=method,
                                                     shift_differences=shifts if method in SPATIAL_METHODS else None))
                   for method in COUNT_METHODS}}

    rows = []
    for scene_name, reference, normalize in _load_scenes(data_dir, scenes, False, cases):
        cube = scene_pixels(reference, normalize).reshape(reference.cube.shape)
        rows.append(row(scene_name, reference.endmembers.shape[1], cube))
    if scenes is None:
        rows.append(row(SAMPLE_ROW, len(MATERIAL_NAMES), _sample_scene_cube()))
    return rows


def product_count_rows(data_dir, products: list[str], sample_size: int = 20000, seed: int = 0) -> list[dict]:
    """Each count method on real products without reference materials (paths under the shared
    data folder), read as ``python cli.py unmix`` reads them: good bands holding data, a uniform
    sample of ``sample_size`` valid pixels and as many adjacent pairs for the spatial methods.
    No reference, so no error: how far apart the estimators land on real data."""
    from hsi.io import open_scene
    from hsi.jobs.unmix_inputs import usable_bands
    from hsi.nodata import empty_bands
    from hsi.settings import shared_data_dir
    from hsi.tiling.sampling import sample_neighbour_pairs, sample_pixels
    from hsi.unmix.count import SPATIAL_METHODS, estimate_n_endmembers

    rows = []
    for product in products:
        scene = open_scene(Path(data_dir or shared_data_dir()) / product)
        # the bands the unmix job uses (bad_bands=auto): a header's bad-band list, or the noisy
        # absorption bands of a product without one (AVIRIS-NG radiance)
        bands, _ = usable_bands(scene, "auto", empty_bands(scene, np.random.default_rng(seed)))
        block_rows = scene.block_rows_for(64 << 20, itemsize=4)
        pixels = sample_pixels(scene, bands, sample_size, np.random.default_rng(seed), block_rows).astype(np.float64)
        first, second = sample_neighbour_pairs(scene, bands, sample_size, np.random.default_rng(seed), block_rows)
        shifts = second.astype(np.float64) - first
        rows.append({"scene": f"{product}: {scene.n_rows} x {scene.n_cols} x {bands.size} bands used",
                     "reference materials": "-",
                     **{method: int(estimate_n_endmembers(pixels, method=method,
                                                          shift_differences=shifts if method in SPATIAL_METHODS else None))
                        for method in COUNT_METHODS}})
    return rows


def _sample_scene_cube() -> np.ndarray:
    """The shipped sample's good bands in reflectance, as the unmix job reads them."""
    from hsi.io import open_scene

    scene = open_scene(SAMPLE_SCENE)
    good = np.flatnonzero(~scene.bad_bands) if scene.bad_bands is not None else np.arange(scene.n_bands)
    return np.asarray(scene.read(bands=good, physical=True), dtype=np.float64)


def _spread_spec(spec: dict) -> tuple[list[int], list[str], list[str]]:
    """``seed_spread``'s seeds, methods and scenes, checked (before any method runs)."""
    seeds = [int(s) for s in spec.get("seeds") or []]
    methods, scenes = list(spec.get("methods") or []), list(spec.get("scenes") or [])
    if not seeds or not methods or not scenes:
        raise ParameterError(f"seed_spread needs non-empty seeds, methods and scenes; got {spec}")
    return seeds, methods, scenes


def seed_spread_rows(spec: dict, data_dir, cases: list[dict] | None) -> list[dict]:
    """Each method's scores over several seeds: how far a single-seed comparison can be trusted.

    Methods with random restarts (EDAA's random starts and step factors, a random learning
    subset) score differently from seed to seed; a difference between two methods smaller than
    that spread is not a ranking. ``spec``: ``seeds`` (list of ints), ``methods`` and ``scenes``
    (names as in the main table). One row per scene and method: mean, minimum and maximum of
    SAD and aRMSE over the seeds, and each seed's SAD.
    """
    seeds, methods, scenes = _spread_spec(spec)
    rows = []
    for scene_name, reference, normalize in _load_scenes(data_dir, scenes, False, cases):
        pixels = scene_pixels(reference, normalize)
        k = reference.endmembers.shape[1]
        for method_name in methods:
            scores = []
            for seed in seeds:
                method = load_method(method_name)
                endmembers, abundances = method(pixels, k, rng=seed, image_shape=reference.cube.shape[:2])
                scores.append(score_rows(scene_name, method_name, endmembers, abundances, reference, 0.0))
            sad = np.array([row["SAD mean (deg)"] for row in scores])
            armse = np.array([row["aRMSE x100"] for row in scores])
            rows.append({"scene": scene_name, "method": method_name, "seeds": ",".join(map(str, seeds)),
                         "SAD mean (deg)": float(sad.mean()), "SAD min": float(sad.min()), "SAD max": float(sad.max()),
                         "aRMSE x100 mean": float(armse.mean()), "aRMSE min": float(armse.min()), "aRMSE max": float(armse.max()),
                         "SAD per seed": ", ".join(f"{value:.3f}" for value in sad)})
    return rows


def run_benchmark(
    data_dir: str | None = None,
    quick: bool = False,
    methods: list[str] | None = None,
    seed: int = 0,
    scenes: list[str] | None = None,
    fcls_pixels: int = 1_000_000,
    fcls_check: int = 2000,
    threads: int | None = None,
    library_methods: list[str] | None = None,
    cases: list[dict] | None = None,
    fit_time: dict | None = None,
    seed_spread: dict | None = None,
    count: bool = False,
    count_cases: list[dict] | None = None,
    count_products: list[str] | None = None,
) -> dict[str, list[dict]]:
    """Every unmixing method on Samson, Jasper Ridge and the synthetic cases, and the FCLS throughput table.

    Parameters
    ----------
    data_dir : the shared data folder (None: ``hsi.settings.shared_data_dir()``).
    quick : a few-second run: Samson only, VCA and N-FINDR, a 20,000-pixel FCLS problem.
    methods : names of ``conf/method`` unmixing configs (None: all of them).
    seed : seed given to every method.
    scenes : names among ``samson``, ``jasper_ridge`` and the cases' names (None: all of them).
    cases : synthetic case specifications, each the keyword arguments of
        :func:`hsi.bench.unmix_cases.build_case` (None: none).
    seed_spread : ``{seeds, methods, scenes}``: a table of each method's scores over several
        seeds (:func:`seed_spread_rows`; None or the quick run: no such table).
    count : a table of ``n_endmembers=auto``'s estimates against the reference counts
        (:func:`count_rows`, on the same scenes; not in the quick run).
    count_cases : more synthetic cases (as ``cases``) for the count table only: noise and
        variability that the count estimators assume away (None: none).
    count_products : real products without reference materials (paths under ``data_dir``)
        whose counts join the count table (:func:`product_count_rows`; None: none).
    fit_time : a large synthetic case (``build_case`` arguments plus ``sample_pixels``) on whose
        sample every method's endmember fit is timed (None or the quick run: no fit-time table).
    fcls_pixels, fcls_check : size of the throughput problem and of the scipy-checked subset.
    library_methods : ``conf/method`` library-unmixing configs run onto each scene's shipped
        library (None: all of them; ``[]``: none; the quick run skips them).
    threads : torch threads for the whole run (None: leave torch's setting); on a shared
        machine 1 thread gives far steadier timings than oversubscribed cores.

    Returns
    -------
    {"unmixing": rows, "fcls_throughput": rows, "library_unmixing": rows (when library methods ran),
    "fit_time": rows and "seed_spread": rows (when asked for)}.
    """
    if seed_spread and not quick:
        _spread_spec(dict(seed_spread))
    previous_threads = torch.get_num_threads()
    if threads is not None:
        if int(threads) < 1:
            raise ParameterError(f"threads must be >= 1; got {threads}")
        torch.set_num_threads(int(threads))
    try:
        tables = _run(data_dir, quick, methods, seed, scenes, fcls_pixels, fcls_check, library_methods, cases)
        if fit_time and not quick:
            names = methods if methods is not None else list(DEFAULT_METHODS)
            tables["fit_time"] = fit_time_rows(names, fit_time, Path(data_dir) if data_dir else None, seed)
        if seed_spread and not quick:
            tables["seed_spread"] = seed_spread_rows(dict(seed_spread), Path(data_dir) if data_dir else None, cases)
        if count and not quick:
            tables["count"] = count_rows(Path(data_dir) if data_dir else None, scenes,
                                         list(cases or []) + list(count_cases or []))
            if scenes is None and count_products:
                tables["count"] += product_count_rows(data_dir, list(count_products), seed=seed)
        return tables
    finally:
        torch.set_num_threads(previous_threads)


def _load_scenes(data_dir: Path | None, scenes: list[str] | None, quick: bool, cases: list[dict] | None):
    """(name, reference, normalisation) for every scene to run, real scenes first."""
    from hsi.bench.unmix_cases import build_case

    specs = {str(spec["name"]): dict(spec) for spec in (cases or [])}
    if scenes is None:
        scenes = ["samson"] if quick else list(LOADERS) + list(specs)
    for name in scenes:
        if name in LOADERS:
            yield name, LOADERS[name](data_dir), SCENE_NORMALIZATION[name]
        elif name in specs:
            yield name, build_case(**specs[name], data_dir=data_dir), "none"
        else:
            raise ParameterError(f"unknown scene {name!r}; choose from {sorted(LOADERS) + sorted(specs)}")


def _run(data_dir, quick, methods, seed, scenes, fcls_pixels, fcls_check, library_methods, cases) -> dict[str, list[dict]]:
    data_dir = Path(data_dir) if data_dir else None
    if methods is None:
        methods = list(QUICK_METHODS if quick else DEFAULT_METHODS)
    if library_methods is None:
        library_methods = [] if quick else list(LIBRARY_METHODS)
    if quick:
        fcls_pixels, fcls_check = min(fcls_pixels, 20000), min(fcls_check, 100)
    rows, library_rows = [], []
    references = {}
    for scene_name, reference, normalize in _load_scenes(data_dir, scenes, quick, cases):
        references[scene_name] = reference
        pixels = scene_pixels(reference, normalize)
        k = reference.endmembers.shape[1]
        for method_name in methods:
            method = load_method(method_name)
            started = time.perf_counter()
            endmembers, abundances, record = method.unmix(pixels, k, rng=seed, image_shape=reference.cube.shape[:2])
            seconds = time.perf_counter() - started
            rows.append(score_rows(scene_name, method_name, endmembers, abundances, reference, seconds)
                        | {"abundance model": abundance_model_label(record)})
        if library_methods and scene_name in LOADERS:
            library = load_benchmark_library(scene_name, data_dir)
            library_rows += [library_row(scene_name, name, reference, library) for name in library_methods]
    jasper = references.get("jasper_ridge")
    throughput = fcls_throughput(fcls_pixels, fcls_check, seed, None if jasper is None else jasper.endmembers)
    tables = {"unmixing": rows, "fcls_throughput": [throughput]}
    if library_rows:
        tables["library_unmixing"] = library_rows
    return tables

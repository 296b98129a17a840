"""Samson and Jasper Ridge with their ground truth, as used by tests and ``cli.py bench``.

Both files store the cube as bands x pixels with pixels in MATLAB column-major order;
the loaders rebuild ``(rows, cols, bands)`` cubes (see ``../shared/data/README.md``).

References
----------
F. Zhu et al., "Spectral unmixing via data-guided sparsity", IEEE TIP 2014; F. Zhu,
"Hyperspectral unmixing: ground truth labeling, datasets, benchmark performances and
survey", arXiv:1708.05125.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io

from hsi.errors import InputError
from hsi.settings import shared_data_dir


@dataclass(frozen=True)
class UnmixingBenchmark:
    """A real scene with reference endmembers and abundances.

    cube : (rows, cols, bands) float64 reflectance.
    endmembers : (bands, n_endmembers) reference spectra (Samson: each scaled to max 1).
    abundances : (rows, cols, n_endmembers), summing to one per pixel.
    """

    name: str
    cube: np.ndarray
    wavelengths_nm: np.ndarray
    endmembers: np.ndarray
    abundances: np.ndarray
    material_names: tuple[str, ...]


def _load(path: Path) -> dict:
    if not path.exists():
        raise InputError(f"{path}: benchmark file not found (set HSI_SHARED_DATA to the shared data folder)")
    return scipy.io.loadmat(path)


def _column_major_cube(pixels_by_band: np.ndarray, n_rows: int, n_cols: int) -> np.ndarray:
    n_bands = pixels_by_band.shape[0]
    return pixels_by_band.reshape(n_bands, n_rows, n_cols, order="F").transpose(1, 2, 0)


def load_samson(data_dir: Path | None = None) -> UnmixingBenchmark:
    """Samson: 95 x 95 pixels, 156 bands from 401 to 889 nm; Soil, Tree, Water."""
    mat = _load(Path(data_dir or shared_data_dir()) / "samson" / "samson_gt.mat")
    n_rows, n_cols = int(mat["lines"].item()), int(mat["cols"].item())
    cube = _column_major_cube(mat["Y"].astype(np.float64), n_rows, n_cols)
    return UnmixingBenchmark(
        name="samson",
        cube=cube,
        wavelengths_nm=np.linspace(401.0, 889.0, cube.shape[2]),
        endmembers=mat["GT"].T.astype(np.float64),
        abundances=mat["S_GT"].astype(np.float64),
        material_names=("soil", "tree", "water"),
    )


def load_jasper_ridge(data_dir: Path | None = None) -> UnmixingBenchmark:
    """Jasper Ridge: 100 x 100 AVIRIS pixels, 198 of 224 bands; tree, water, dirt, road.

    Wavelengths are the nominal AVIRIS grid (380-2500 nm, 224 channels) at the kept bands.
    """
    mat = _load(Path(data_dir or shared_data_dir()) / "jasper_ridge" / "jasper_ridge_gt.mat")
    n_rows, n_cols = int(mat["nRow"].item()), int(mat["nCol"].item())
    max_value = float(mat["maxValue"].item())
    cube = _column_major_cube(mat["Y"].astype(np.float64) / max_value, n_rows, n_cols)
    abundances = _column_major_cube(mat["A"].astype(np.float64), n_rows, n_cols)
    kept = mat["SlectBands"].reshape(-1).astype(int) - 1
    return UnmixingBenchmark(
        name="jasper_ridge",
        cube=cube,
        wavelengths_nm=np.linspace(380.0, 2500.0, 224)[kept],
        endmembers=mat["M"].astype(np.float64),
        abundances=abundances,
        material_names=("tree", "water", "dirt", "road"),
    )


LOADERS = {"samson": load_samson, "jasper_ridge": load_jasper_ridge}


@dataclass(frozen=True)
class BenchmarkLibrary:
    """The spectral library shipped with a benchmark scene, grouped by reference material.

    spectra : (bands, n_members) reflectance on the scene's bands.
    material_of_member : (n_members,) index into the scene's ``material_names``.
    """

    spectra: np.ndarray
    material_of_member: np.ndarray


#: Library file per scene; its ``lib1 .. libK`` blocks follow the scene's material order.
LIBRARY_FILES = {"samson": ("samson", "samson_library.mat"), "jasper_ridge": ("jasper_ridge", "jasper_ridge_library.mat")}


def load_benchmark_library(scene_name: str, data_dir: Path | None = None) -> BenchmarkLibrary:
    """Borsoi et al.'s per-material library for Samson or Jasper Ridge (``lib1 .. libK``).

    References
    ----------
    R. A. Borsoi, T. Imbiriba, J. C. M. Bermudez, "A data dependent multiscale model for
    hyperspectral unmixing with spectral variability", IEEE GRSL 2018 (the libraries).
    """
    if scene_name not in LIBRARY_FILES:
        raise InputError(f"no benchmark library for scene {scene_name!r}; choose from {sorted(LIBRARY_FILES)}")
    mat = _load(Path(data_dir or shared_data_dir()).joinpath(*LIBRARY_FILES[scene_name]))
    blocks = [mat[f"lib{k}"] for k in range(1, 10) if f"lib{k}" in mat]
    spectra = np.concatenate(blocks, axis=1).astype(np.float64)
    groups = np.concatenate([np.full(block.shape[1], k) for k, block in enumerate(blocks)])
    return BenchmarkLibrary(spectra=spectra, material_of_member=groups)

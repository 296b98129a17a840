"""Training cubes: scene files of any format, panchromatic pairs, and generated scenes.

Every source gives a ``(rows, cols, bands)`` float32 cube of clean-enough reflectance or
radiance; :mod:`hsi.train.datamodule` turns cubes into normalised subspace images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io
import torch

from hsi.errors import InputError


def resolve(path: str | Path, data_dir: str | Path | None) -> Path:
    """``path`` as given when absolute or existing, else relative to ``data_dir`` (the shared data)."""
    from hsi.settings import shared_data_dir

    candidate = Path(str(path)).expanduser()
    if candidate.is_absolute() or candidate.exists():
        return candidate
    return Path(data_dir or shared_data_dir()) / candidate


def scene_cube(path: str | Path) -> np.ndarray:
    """All good bands of a scene file (any format :func:`hsi.io.open_scene` reads), physical values.

    Bad bands (``scene.bad_bands``) and bands holding non-finite values are dropped; pixels that
    are nodata in the kept bands are filled with the band median.
    """
    from hsi.io import open_scene

    scene = open_scene(Path(path))
    cube = scene.read(physical=True)
    keep = np.ones(cube.shape[2], bool) if scene.bad_bands is None else ~scene.bad_bands
    keep &= np.isfinite(cube).mean(axis=(0, 1)) > 0.5
    cube = cube[:, :, keep]
    missing = ~np.isfinite(cube)
    if missing.any():
        cube = np.where(missing, np.nanmedian(cube.reshape(-1, cube.shape[2]), axis=0), cube)
    return cube.astype(np.float32)


def pan_pair_cubes(path: str | Path) -> list[np.ndarray]:
    """Two cubes from a pansharpening pair (MATLAB ``I_MS``, ``I_PAN``, ``ratio``).

    * the multispectral image at its own resolution (real multi-band texture);
    * a Brovey fusion ``MS_up * PAN / mean_b(MS_up)`` on the PAN grid, which carries the PAN's
      real high-resolution texture in every band.

    References
    ----------
    A. R. Gillespie, A. B. Kahle, R. E. Walker, "Color enhancement of highly correlated images II:
    channel ratio and chromaticity transformation techniques", Remote Sens. Environ. 22(3), 1987
    (Brovey transform).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: pansharpening pair not found")
    mat = scipy.io.loadmat(path, variable_names=("I_MS", "I_PAN", "ratio"))
    ms = mat["I_MS"].astype(np.float32)
    pan = mat["I_PAN"].astype(np.float32)
    ratio = int(np.asarray(mat["ratio"]).item())
    upsampled = torch.nn.functional.interpolate(
        torch.from_numpy(ms.transpose(2, 0, 1))[None], scale_factor=ratio, mode="bicubic", align_corners=False
    )[0].numpy().transpose(1, 2, 0)
    upsampled = np.clip(upsampled, 0, None)[: pan.shape[0], : pan.shape[1]]
    intensity = upsampled.mean(axis=2, keepdims=True)
    fused = upsampled * pan[:, :, None] / np.maximum(intensity, 1e-3 * intensity.max())
    return [ms, fused.astype(np.float32)]


def synthetic_cubes(n_scenes: int, size: int = 128, seed: int = 0) -> list[np.ndarray]:
    """``n_scenes`` noise-free generated scenes (:func:`hsi.sample_scene.make_sample_scene`), seeds ``seed..``."""
    from hsi.sample_scene import make_sample_scene

    return [
        make_sample_scene(n_rows=size, n_cols=size, seed=seed + i, noise_sigma=0.0, bad_band_sigma=0.0).cube
        for i in range(int(n_scenes))
    ]

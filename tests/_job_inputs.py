"""A tiny scene and a matching MS/PAN pair on disk, for tests that run every job on real files."""

import numpy as np


def scene_and_pair(folder, *, n_bands: int, pan_bands: int, seed: int) -> dict:
    """``{"scene", "ms", "pan"}`` paths: a 32 x 32 sample scene (georeferenced), its 8 x 8 MS (4 x 4 means)
    and a one-band PAN (the mean of its first ``pan_bands`` bands), both without georeferencing."""
    from hsi.io import save_scene
    from hsi.sample_scene import make_sample_scene

    scene = make_sample_scene(n_rows=32, n_cols=32, wavelengths_nm=np.linspace(420, 2400, n_bands), seed=seed).to_scene()
    cube = scene.read(physical=True)
    plain = scene.derived(transform=None, crs=None)
    ms = cube.reshape(8, 4, 8, 4, n_bands).mean(axis=(1, 3)).astype(np.float32)
    pan = cube[:, :, :pan_bands].mean(axis=2, keepdims=True).astype(np.float32)
    return {"scene": save_scene(scene, folder / "scene.tif"),
            "ms": save_scene(plain.derived(n_rows=8, n_cols=8).with_array(ms), folder / "ms.tif"),
            "pan": save_scene(plain.derived(n_bands=1, wavelengths_nm=None, fwhm_nm=None, bad_bands=None,
                                            band_names=None).with_array(pan), folder / "pan.tif")}

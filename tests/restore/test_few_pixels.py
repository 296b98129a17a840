"""A scene with no more pixels than bands (EMIT's 10 x 10 x 285 unmixing example): the methods
that fit scene-wide statistics refuse it in one line naming the file and the methods that work,
and those methods do work on it.

Before (review): ``restore input=emit..._unmix_ex.hdr`` said only 'needs more pixels than bands';
``method=robust_fasthyde`` said it without the file.
"""

import numpy as np
import pytest

from hsi import methods
from hsi.cli import main
from hsi.io import save_scene
from hsi.jobs.restore import FEW_PIXEL_METHODS
from hsi.jobs.run import run_job
from hsi.scene import Scene

ROWS, COLS, BANDS = 10, 10, 285
SIGMA = 0.03


@pytest.fixture(scope="module")
def small_scene(tmp_path_factory):
    """(noisy, clean) files of a smooth three-material 10 x 10 x 285 scene with Gaussian noise."""
    folder = tmp_path_factory.mktemp("few_pixels")
    rng = np.random.default_rng(0)
    wavelengths = np.linspace(380, 2500, BANDS)
    spectra = np.stack([0.2 + 0.15 * np.sin(wavelengths / w) for w in (150.0, 310.0, 520.0)], axis=1)
    rows, cols = np.mgrid[0:ROWS, 0:COLS] / 9.0
    abundances = np.stack([rows, cols, np.ones_like(rows)], axis=-1)
    abundances /= abundances.sum(axis=-1, keepdims=True)
    clean = (abundances @ spectra.T).astype(np.float32)
    noisy = clean + rng.normal(0, SIGMA, clean.shape).astype(np.float32)
    return {"noisy": save_scene(Scene.from_array(noisy, wavelengths_nm=wavelengths), folder / "small.tif"),
            "clean": save_scene(Scene.from_array(clean, wavelengths_nm=wavelengths), folder / "clean.tif")}


def test_the_default_refuses_few_pixels_naming_the_file_and_the_methods_that_work(small_scene, tmp_path, capsys):
    status = main(["restore", f"input={small_scene['noisy']}", f"output={tmp_path / 'r.tif'}", "progress=false"])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"error: {small_scene['noisy']}") and "100 pixels for 285 bands" in lines[0]
    assert "with so few pixels use method=tv, method=lrtv, method=hyres" in lines[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", methods.names("restore", "denoise"))
def test_every_denoiser_either_works_on_few_pixels_or_points_to_those_that_do(small_scene, tmp_path, capsys, name):
    """The suggested methods gain PSNR on the 100-pixel scene; every other denoiser (but ``destripe``,
    which removes stripes only) is refused with the suggestion, naming the file."""
    args = [f"input={small_scene['noisy']}", f"output={tmp_path / 'r.tif'}", f"method={name}", "progress=false",
            f"reference={small_scene['clean']}", "quicklook=false"]
    if name in FEW_PIXEL_METHODS:
        scores = run_job("restore", args)["results"]["reference"]
        assert scores["output"]["mpsnr_db"] > scores["input"]["mpsnr_db"] + 1.0, scores
    elif name != "destripe":
        assert main(["restore", *args]) == 2
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert line.startswith(f"error: {small_scene['noisy']}") and "with so few pixels use method=tv" in line, line

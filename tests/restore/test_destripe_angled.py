"""Destriping along stripes at an angle to the columns (orthorectified products), and auto's use of it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hsi.cli import main
from hsi.degrade.noise import gaussian_noise, stripes
from hsi.errors import ParameterError
from hsi.io import save_scene
from hsi.metrics.quality import mpsnr
from hsi.restore.classical.destripe import destripe, shear_lines
from hsi.restore.classical.robust import robust_fasthyde
from hsi.sample_scene import make_sample_scene


@pytest.fixture(scope="module")
def clean():
    """A 64 x 64 x 53 synthetic scene without noise (every other band of the sample's spectra)."""
    scene = make_sample_scene(n_rows=64, n_cols=64, noise_sigma=0.0, bad_band_sigma=0.0).to_scene()
    return scene.read(physical=True)[:, :, ::2].astype(np.float32)


def _angled(clean, angle, seed=0):
    noisy = gaussian_noise(clean, 0.01, np.random.default_rng(seed))
    return stripes(noisy, None, np.random.default_rng(seed + 1), amplitude=0.05, angle_deg=angle).cube


@pytest.mark.parametrize("angle", [-25.0, 60.0])
def test_destriping_along_the_stripes_angle_beats_destriping_columns(clean, angle):
    """Column destriping makes stripes at an angle worse (-1.7 dB here); along them it removes them.
    (The gain is bounded by the random noise destriping leaves, and by scene lines at the
    stripes' angle, which are taken for stripes as columns are by column destriping.)"""
    striped = _angled(clean, angle)
    along = mpsnr(clean, destripe(striped, angle_deg=angle))
    columns = mpsnr(clean, destripe(striped))
    assert along > mpsnr(clean, striped) + 0.3 and along > columns + 1.5


def test_shear_lines_hold_each_line_once_per_row_and_zero_is_the_columns():
    line = shear_lines(20, 30, -13.0)
    assert all(len(set(row.tolist())) == 30 for row in line)
    assert (line[:, 1:] - line[:, :-1] == 1).all()
    assert (shear_lines(5, 7, 0.0) == np.arange(7)).all()
    with pytest.raises(ParameterError, match="axis='cols'"):
        destripe(np.zeros((16, 16, 3), np.float32), axis="rows", angle_deg=10.0)


@pytest.mark.slow
def test_auto_destripes_a_scene_whose_stripes_run_at_an_angle(clean, tmp_path):
    """Before, auto's column test saw no stripes at -25 deg and only denoised."""
    scene = make_sample_scene(n_rows=64, n_cols=64, noise_sigma=0.0, bad_band_sigma=0.0).to_scene()
    full = scene.read(physical=True).astype(np.float32)
    striped = np.asarray(_angled(full, -25.0), dtype=np.float32)
    reference, noisy = tmp_path / "clean.tif", tmp_path / "angled.tif"
    float_scene = scene.derived(dtype=np.float32, scale=1.0, offset=0.0)
    save_scene(float_scene.with_array(full), reference)
    save_scene(float_scene.with_array(striped), noisy)
    out = tmp_path / "restored.tif"
    assert main(["restore", f"input={noisy}", f"output={out}", f"reference={reference}", "tiling.tile=64",
                 "tiling.overlap=0", "quicklook=false", "progress=false"]) == 0
    results = json.loads((tmp_path / "restored_report.json").read_text())["results"]
    diagnosis = results["noise_diagnosis"]
    assert diagnosis["chosen"] == "mixed_stripes"
    assert abs(diagnosis["diagnosis"]["stripe_direction"]["angle_deg_from_columns"] + 25.0) <= 1.0
    gain = results["reference"]["output"]["mpsnr_db"] - results["reference"]["input"]["mpsnr_db"]
    assert gain > 8.0, results["reference"]


def _with_impulses(cube, seed):
    """``cube`` with salt-and-pepper impulses on 1 % of the entries: what sends auto to robust_fasthyde."""
    rng = np.random.default_rng(seed)
    out = np.array(cube, copy=True)
    hit = rng.random(out.shape) < 0.01
    out[hit] = rng.choice([0.0, 1.0], size=int(hit.sum())).astype(out.dtype)
    return out


def test_robust_fasthyde_destripes_along_the_stripes_angle(clean):
    """robust_fasthyde destriped columns only: stripes at -25 deg stayed. It now measures their
    direction on its cleaned cube (or takes ``angle_deg``) and destripes along it."""
    striped = _with_impulses(_angled(clean, -25.0, seed=3), seed=4)
    auto = mpsnr(clean, robust_fasthyde(striped))
    columns = mpsnr(clean, robust_fasthyde(striped, angle_deg=0.0))
    assert auto > columns + 1.5, (auto, columns)
    assert abs(mpsnr(clean, robust_fasthyde(striped, angle_deg=-25.0)) - auto) < 0.3


def test_robust_fasthyde_on_column_stripes_is_unchanged(clean):
    """Column stripes: the measured direction is the columns, and the output is the column-only one, exactly."""
    striped = _with_impulses(_angled(clean, 0.0, seed=5), seed=6)
    np.testing.assert_array_equal(robust_fasthyde(striped), robust_fasthyde(striped, angle_deg=0.0))
    with pytest.raises(ParameterError, match="angle_deg"):
        robust_fasthyde(striped, angle_deg=120.0)

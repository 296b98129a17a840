"""restore method=auto (the default): the job diagnoses the noise, reports it, and restores accordingly."""

import json

import numpy as np
import pytest

from hsi.cli import main
from hsi.degrade.noise import gaussian_noise, impulse_noise
from hsi.io import save_scene
from hsi.sample_scene import make_sample_scene


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """A clean 64 x 64 synthetic scene, a Gaussian-noise copy and an impulse-noise copy (GeoTIFFs)."""
    folder = tmp_path_factory.mktemp("auto")
    clean = make_sample_scene(n_rows=64, n_cols=64, noise_sigma=0.0, bad_band_sigma=0.0).to_scene()
    cube = clean.read()
    rng = np.random.default_rng(11)
    gaussian = gaussian_noise(cube, 0.03, rng).astype(np.float32)
    impulses = impulse_noise(gaussian_noise(cube, 0.01, rng), 0.2, np.arange(0, cube.shape[2], 4), rng).cube
    return {
        "clean": save_scene(clean, folder / "clean.tif"),
        "gaussian": save_scene(clean.with_array(gaussian), folder / "gaussian.tif"),
        "mixed": save_scene(clean.with_array(np.asarray(impulses, dtype=np.float32)), folder / "mixed.tif"),
    }


def _run(tmp_path, noisy, clean, *extra):
    out = tmp_path / "restored.tif"
    assert main(["restore", f"input={noisy}", f"output={out}", f"reference={clean}", "tiling.tile=64", "tiling.overlap=0",
                 "quicklook=false", "progress=false", *extra]) == 0
    return json.loads((tmp_path / "restored_report.json").read_text())


@pytest.mark.parametrize("case", ["gaussian", "mixed"])
def test_default_method_reports_its_diagnosis_and_choice(tmp_path, scenes, case):
    report = _run(tmp_path, scenes[case], scenes["clean"])
    results = report["results"]
    assert results["noise_diagnosis"]["chosen"] == case
    diagnosis = results["noise_diagnosis"]["diagnosis"]
    assert len(diagnosis["noise_std_per_band"]) == 106 and diagnosis["reasons"]
    gain = results["reference"]["output"]["mpsnr_db"] - results["reference"]["input"]["mpsnr_db"]
    assert gain > 8.0, results["reference"]
    if case == "gaussian":  # the eigen-image denoiser, chosen per eigen-image by SURE, is in the report
        eigen = results["noise_diagnosis"]["eigen_denoiser"]
        assert len(eigen["choice_per_eigen_image"]) == eigen["k"] >= 1
        assert set(eigen["choice_per_eigen_image"]) <= {"bm3d", "prior"}
        assert all(len(risks) == eigen["k"] for risks in eigen["sure_per_eigen_image"].values())
    else:  # robust_fasthyde's own FastHyDe step
        assert "eigen_denoiser" not in results["noise_diagnosis"]


@pytest.mark.slow
def test_auto_beats_both_fixed_models_on_impulses_without_stripes(tmp_path, scenes):
    """Impulses, no stripes: auto removes outliers (unlike fasthyde) and does not destripe (unlike robust_fasthyde)."""
    score = lambda name, *extra: _run(tmp_path / name, scenes["mixed"], scenes["clean"], *extra)["results"]["reference"]["output"]["mpsnr_db"]  # noqa: E731
    auto = score("auto")
    assert auto > score("gaussian", "method=fasthyde") + 3.0
    assert auto > score("robust", "method=robust_fasthyde") + 3.0


@pytest.mark.parametrize("case, branch", [("gaussian", "stripes"), ("mixed", "mixed_stripes")])
def test_task_destripe_always_destripes(tmp_path, scenes, case, branch, capsys):
    """Before (review): ``restore task=destripe`` (method auto) on a scene whose stripes the test
    does not see ran a plain denoising, and the report still said task destripe; the console
    never said which model auto had chosen."""
    report = _run(tmp_path, scenes[case], scenes["clean"], "task=destripe")
    diagnosis = report["results"]["noise_diagnosis"]
    assert diagnosis["diagnosis"]["model"] == case and diagnosis["chosen"] == branch
    assert diagnosis["why"].startswith("task=destripe")
    console = [line for line in capsys.readouterr().out.splitlines() if line.startswith("auto: ")]
    assert len(console) == 1 and console[0].startswith(f"auto: {branch} model (") and diagnosis["why"] in console[0]
    assert report["results"]["reference"]["output"]["mpsnr_db"] > report["results"]["reference"]["input"]["mpsnr_db"] + 5

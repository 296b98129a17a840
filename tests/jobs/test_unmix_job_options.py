"""Bad ``unmix`` options are refused in one line before the output folder is made.

Before (review): each of these failed after the job had created ``output=`` (an empty folder
left behind, refused as 'not empty' on the corrected re-run without overwrite=true); the
library and count errors named no file.
"""

import numpy as np
import pytest
from scipy.io import savemat

from hsi.cli import main
from hsi.io import save_scene
from hsi.scene import Scene


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unmix_options")
    rng = np.random.default_rng(0)
    wavelengths = np.linspace(450, 2400, 40)
    cube = rng.uniform(0.1, 0.5, (12, 10, 40)).astype(np.float32)
    small = rng.uniform(0.1, 0.5, (5, 6, 40)).astype(np.float32)  # 30 pixels, 40 bands
    library = folder / "library.mat"
    savemat(library, {"A": rng.uniform(0.1, 0.5, (25, 3))})  # 25 bands, no wavelengths
    return {"scene": save_scene(Scene.from_array(cube, wavelengths_nm=wavelengths), folder / "scene.tif"),
            "small": save_scene(Scene.from_array(small, wavelengths_nm=wavelengths), folder / "small.tif"),
            "library": library}


@pytest.mark.parametrize("options, scene, fragments", [
    (["n_endmembers=0"], "scene", [">= 1"]),
    (["n_endmembers=abc"], "scene", ["integer or 'auto'"]),
    (["n_endmembers=41"], "scene", ["usable bands (40)"]),
    (["method=sunsal"], "scene", ["pass library=FILE"]),
    (["method=sunsal", "library={library}"], "scene", ["{library}", "25 bands"]),
    (["reference={library}"], "scene", ["{library}", "25 bands"]),
    ([], "small", ["{small}", "n_endmembers=auto needs more pixels (30)", "pass n_endmembers=K"]),
])
def test_bad_options_are_one_line_and_leave_no_output_folder(scenes, tmp_path, capsys, options, scene, fragments):
    output = tmp_path / "unmixed"
    status = main(["unmix", f"input={scenes[scene]}", f"output={output}", "progress=false",
                   *[o.format(**scenes) for o in options]])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1 and lines[0].startswith("error: "), lines
    for fragment in fragments:
        assert fragment.format(**scenes) in lines[0], lines[0]
    assert not output.exists()


@pytest.mark.parametrize("cube, options, fragment", [
    (np.zeros((12, 10, 20), np.float32), [], "every sampled value is 0: nothing to unmix"),
    (np.zeros((12, 10, 20), np.float32), ["n_endmembers=3"], "every sampled value is 0: nothing to unmix"),
    (np.random.default_rng(1).random((12, 10, 1), dtype=np.float32), [], "at least 2 bands"),
])
def test_a_scene_the_fit_refuses_is_one_line_naming_it_and_leaves_no_folder(tmp_path, capsys, cube, options, fragment):
    """Before (review): an all-zero scene was a LinAlgError traceback (n_endmembers=3: 'endmembers
    contain NaN', no file named); a one-band scene's error named no file; each left the folder."""
    scene = save_scene(Scene.from_array(cube), tmp_path / "scene.tif")
    output = tmp_path / "unmixed"
    assert main(["unmix", f"input={scene}", f"output={output}", "progress=false", *options]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {scene}: ") and fragment in lines[0], lines
    assert not output.exists()

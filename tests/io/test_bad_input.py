"""Bad input gets one clear error naming the file and the problem."""

import numpy as np
import pytest
import scipy.io
from affine import Affine

from hsi.errors import FormatError, GridMismatchError, InputError, OutputExistsError
from hsi.io import open_scene, save_scene
from hsi.scene import Scene, check_same_grid


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"missing\.tif: input file not found"):
        open_scene(tmp_path / "missing.tif")


def test_unknown_extension(tmp_path):
    (tmp_path / "scene.xyz").write_text("?")
    with pytest.raises(FormatError, match=r"scene\.xyz: unknown file extension '\.xyz'"):
        open_scene(tmp_path / "scene.xyz")


def test_envi_header_without_data_file(tmp_path):
    (tmp_path / "a.hdr").write_text("ENVI\nsamples = 2\nlines = 2\nbands = 1\ndata type = 4\ninterleave = bsq\nbyte order = 0\n")
    with pytest.raises(InputError, match=r"a\.hdr: ENVI header has no data file"):
        open_scene(tmp_path / "a.hdr")


def test_envi_data_smaller_than_header_says(tmp_path):
    (tmp_path / "a.hdr").write_text("ENVI\nsamples = 4\nlines = 4\nbands = 3\ndata type = 4\ninterleave = bsq\nbyte order = 0\n")
    (tmp_path / "a.img").write_bytes(b"\0" * 40)
    with pytest.raises(FormatError, match=r"a\.img: data file has 40 bytes but the header .* needs 192"):
        open_scene(tmp_path / "a.hdr")


def test_envi_wavelength_count_mismatch(tmp_path):
    (tmp_path / "a.hdr").write_text(
        "ENVI\nsamples = 2\nlines = 2\nbands = 3\ndata type = 4\ninterleave = bsq\nbyte order = 0\nwavelength = {500, 600}\n"
    )
    (tmp_path / "a.img").write_bytes(b"\0" * 48)
    with pytest.raises(FormatError, match=r"a\.hdr: 'wavelength' has 2 values for 3 bands"):
        open_scene(tmp_path / "a.hdr")


def test_mat_without_the_key_lists_keys(tmp_path):
    scipy.io.savemat(tmp_path / "m.mat", {"cube": np.zeros((2, 2, 2)), "other": 1})
    with pytest.raises(FormatError, match=r"m\.mat: no variable 'radiance'; the file has cube, other"):
        open_scene(tmp_path / "m.mat", key="radiance")


def test_scene_wavelength_count_mismatch():
    with pytest.raises(InputError, match="2 wavelengths values for 3 bands"):
        Scene.from_array(np.zeros((2, 2, 3)), wavelengths_nm=[400, 500])


def test_different_grids_are_refused():
    a = Scene.from_array(np.zeros((4, 4, 2)), transform=Affine(10, 0, 0, 0, -10, 0))
    b = Scene.from_array(np.zeros((4, 4, 2)), transform=Affine(10, 0, 5, 0, -10, 0))
    with pytest.raises(GridMismatchError, match="differ in transform"):
        check_same_grid(a, b)
    with pytest.raises(GridMismatchError, match="size 4x4 vs 3x4"):
        check_same_grid(a, Scene.from_array(np.zeros((3, 4, 2))))


def test_output_is_not_overwritten_unless_asked(tmp_path):
    scene = Scene.from_array(np.ones((2, 2, 2), np.float32))
    path = save_scene(scene, tmp_path / "o.tif")
    with pytest.raises(OutputExistsError, match="pass overwrite=true"):
        save_scene(scene, path)
    save_scene(Scene.from_array(np.zeros((2, 2, 2), np.float32)), path, overwrite=True)
    assert open_scene(path).read().sum() == 0


def test_input_is_never_overwritten_even_with_overwrite(tmp_path):
    path = save_scene(Scene.from_array(np.ones((2, 2, 2), np.float32)), tmp_path / "in.tif")
    with pytest.raises(OutputExistsError, match="would overwrite the input"):
        save_scene(open_scene(path), path, overwrite=True)


def test_a_square_matlab_image_error_gives_a_setting_that_works_when_copied(tmp_path, capsys):
    """A 2-D 30 x 30 variable is read as bands x pixels (HySUPP's layout) and cannot be reshaped; the hint
    used to say layout=rows,cols, which Hydra rejects unquoted ('Ambiguous value')."""
    import scipy.io

    from hsi.cli import main

    path = tmp_path / "pan.mat"
    scipy.io.savemat(path, {"I_PAN": np.arange(900, dtype=np.float64).reshape(30, 30)})
    assert main(["info", f"input={path}", "read.key=I_PAN"]) == 2
    hint = capsys.readouterr().err.split("or ")[-1].split(" (quoted)")[0].strip('"')
    assert hint == "read.layout='rows,cols'"
    assert main(["info", f"input={path}", "read.key=I_PAN", hint, "progress=false"]) == 0
    assert "30 rows x 30 cols x 1 bands" in capsys.readouterr().out

"""ENVI ``data gain values`` / ``data offset values``: applied per band when read, kept by convert."""

import numpy as np
import pytest

from hsi.cli import main
from hsi.errors import FormatError
from hsi.io import open_scene
from hsi.scene import Scene

GAINS = [1e-4, 2e-4, 5e-4]
OFFSETS = [0.0, 0.01, -0.02]


def _write_envi(folder, counts: np.ndarray, extra: list[str]):
    """A BSQ int16 ENVI pair written by hand, as an instrument's processor would."""
    rows, cols, bands = counts.shape
    (folder / "cube.img").write_bytes(np.ascontiguousarray(np.moveaxis(counts, -1, 0)).astype("<i2").tobytes())
    lines = ["ENVI", f"samples = {cols}", f"lines = {rows}", f"bands = {bands}", "header offset = 0",
             "file type = ENVI Standard", "data type = 2", "interleave = bsq", "byte order = 0",
             "data ignore value = -9999", "wavelength = {500, 600, 700}", *extra]
    (folder / "cube.hdr").write_text("\n".join(lines) + "\n")
    return folder / "cube.hdr"


@pytest.fixture
def gained(tmp_path, rng):
    counts = rng.integers(0, 10000, (5, 4, 3)).astype(np.int16)
    counts[0, 0, :] = -9999
    header = _write_envi(tmp_path, counts, [f"data gain values = {{{', '.join(map(str, GAINS))}}}",
                                            f"data offset values = {{{', '.join(map(str, OFFSETS))}}}"])
    return header, counts


def test_gains_and_offsets_are_applied_per_band_and_fill_stays_nodata(gained):
    header, counts = gained
    scene = open_scene(header)
    values = scene.read(physical=True)
    expected = counts * np.asarray(GAINS) + np.asarray(OFFSETS)
    assert np.isnan(values[0, 0]).all()
    np.testing.assert_allclose(values[1:], expected[1:], rtol=1e-6)
    assert scene.read().dtype == np.int16  # stored values untouched: the scaling is applied lazily
    sub = scene.select_bands([2, 0]).read(physical=True)
    np.testing.assert_allclose(sub[1:], expected[1:][:, :, [2, 0]], rtol=1e-6)


@pytest.mark.parametrize("suffix", [".hdr", ".tif", ".h5", ".npy"])
def test_convert_keeps_the_counts_and_their_gains(gained, tmp_path, suffix, capsys):
    header, counts = gained
    output = tmp_path / "out" / f"copy{suffix}"
    output.parent.mkdir()
    assert main(["convert", f"input={header}", f"output={output}", "progress=false"]) == 0
    copy = open_scene(output)
    assert copy.dtype == np.int16
    np.testing.assert_array_equal(copy.read(), counts)
    np.testing.assert_allclose(copy.read(physical=True)[1:], open_scene(header).read(physical=True)[1:], rtol=1e-6)


def test_a_written_envi_header_carries_the_gains(tmp_path):
    scene = Scene.from_array(np.ones((2, 2, 3), np.int16), scale=np.asarray(GAINS), offset=np.asarray(OFFSETS))
    from hsi.io import save_scene

    text = save_scene(scene, tmp_path / "g.hdr").read_text()
    assert "data gain values" in text and "data offset values" in text and "reflectance scale factor" not in text


def test_reflectance_scale_factor_divides_the_gains(tmp_path):
    counts = np.full((2, 2, 3), 5000, np.int16)
    header = _write_envi(tmp_path, counts, ["data gain values = {2, 2, 2}", "reflectance scale factor = 10000"])
    np.testing.assert_allclose(open_scene(header).read(physical=True), 1.0)


def test_a_gain_list_of_the_wrong_length_is_one_line_naming_the_header(tmp_path):
    header = _write_envi(tmp_path, np.zeros((2, 2, 3), np.int16), ["data gain values = {1, 2}"])
    with pytest.raises(FormatError, match=r"cube\.hdr: 'data gain values' has 2 values for 3 bands"):
        open_scene(header)

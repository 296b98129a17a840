"""`convert dtype=` keeps values or refuses, naming the option that makes the cast safe.

Before: a raw cast with no check, rc 0: reflectance in [0, 1] to int16 became 0/1, negative
int16 to uint16 wrapped, NaN became 0 while the message said "kept as NaN", and
`dtype=banana` was a traceback.
"""

from __future__ import annotations

import numpy as np
import pytest
from _io_faults import assert_one_line_error, run_cli

from hsi.io import open_scene, save_scene
from hsi.scene import Scene


@pytest.fixture
def reflectance(tmp_path):
    values = np.random.default_rng(0).uniform(0.0, 1.0, (12, 10, 5)).astype(np.float32)
    values[0, 0, :] = np.nan
    path = tmp_path / "refl.tif"
    save_scene(Scene.from_array(values), path)
    return path, values


@pytest.fixture
def signed_counts(tmp_path):
    values = np.random.default_rng(1).integers(-500, 3000, (8, 9, 4)).astype(np.int16)
    values[1, 1, :] = -9999
    path = tmp_path / "counts.tif"
    save_scene(Scene.from_array(values, nodata=-9999.0), path)
    return path, values


def test_reflectance_to_int16_without_scale_is_refused_with_the_scale_to_use(tmp_path, capsys, reflectance):
    path, _ = reflectance
    status, out, err = run_cli(capsys, "convert", f"input={path}", f"output={tmp_path / 'i.tif'}", "dtype=int16",
                               "nodata=-9999")
    assert_one_line_error(status, err, "not whole numbers", "scale=1e-4")
    assert not (tmp_path / "i.tif").exists()


def test_scale_quantises_and_is_recorded_so_values_come_back(tmp_path, capsys, reflectance):
    path, values = reflectance
    output = tmp_path / "i.tif"
    status, out, err = run_cli(capsys, "convert", f"input={path}", f"output={output}", "dtype=int16",
                               "scale=1e-4", "nodata=-9999")
    assert status == 0, err
    written = open_scene(output)
    assert written.dtype == np.int16 and written.scale == pytest.approx(1e-4) and written.nodata == -9999
    back = written.read(physical=True)
    assert np.isnan(back[0, 0]).all()  # NaN -> nodata -> NaN
    valid = np.isfinite(values)
    assert np.abs(back[valid] - values[valid]).max() <= 0.5e-4 + 1e-7


def test_nan_to_an_integer_type_needs_a_nodata_value(tmp_path, capsys, reflectance):
    path, _ = reflectance
    status, out, err = run_cli(capsys, "convert", f"input={path}", f"output={tmp_path / 'i.tif'}", "dtype=int16",
                               "scale=1e-4")
    assert_one_line_error(status, err, "NaN", "nodata=")
    assert not (tmp_path / "i.tif").exists()


def test_negative_values_to_unsigned_are_refused_unless_clipped(tmp_path, capsys, signed_counts):
    path, values = signed_counts
    output = tmp_path / "u.tif"
    status, out, err = run_cli(capsys, "convert", f"input={path}", f"output={output}", "dtype=uint16", "nodata=0")
    assert_one_line_error(status, err, "do not fit uint16", "clip=true")
    assert not output.exists()
    status, out, err = run_cli(capsys, "convert", f"input={path}", f"output={output}", "dtype=uint16", "nodata=0",
                               "clip=true")
    assert status == 0, err
    written = open_scene(output).read()
    fill = values == -9999
    assert (written[fill] == 0).all()  # the fill value is written as the new nodata, not clipped as data
    np.testing.assert_array_equal(written[~fill], np.clip(values[~fill], 0, None))


def test_fill_values_are_not_rescaled_as_data(tmp_path, capsys, signed_counts):
    path, values = signed_counts
    output = tmp_path / "r.tif"
    status, out, err = run_cli(capsys, "convert", f"input={path}", f"output={output}", "dtype=int32",
                               "scale=0.5")
    assert status == 0, err
    written = open_scene(output)
    stored = written.read()
    fill = values == -9999
    assert (stored[fill] == -9999).all() and written.nodata == -9999
    np.testing.assert_array_equal(stored[~fill], values[~fill].astype(np.int32) * 2)
    np.testing.assert_allclose(written.read(physical=True)[~fill], values[~fill])


def test_large_integers_are_not_rounded_by_float32(tmp_path, capsys):
    values = np.full((4, 4, 2), 2**24 + 1, dtype=np.int32)
    save_scene(Scene.from_array(values), tmp_path / "big.tif")
    status, out, err = run_cli(capsys, "convert", f"input={tmp_path / 'big.tif'}", f"output={tmp_path / 'f.tif'}",
                               "dtype=float32")
    assert_one_line_error(status, err, "float64")


def test_widening_casts_need_no_option(tmp_path, capsys, signed_counts):
    path, values = signed_counts
    status, out, err = run_cli(capsys, "convert", f"input={path}", f"output={tmp_path / 'f.tif'}", "dtype=float32")
    assert status == 0, err
    np.testing.assert_array_equal(open_scene(tmp_path / "f.tif").read(), values.astype(np.float32))


def test_unknown_dtype_is_one_line(tmp_path, capsys, signed_counts):
    path, _ = signed_counts
    status, out, err = run_cli(capsys, "convert", f"input={path}", f"output={tmp_path / 'x.tif'}", "dtype=banana")
    assert_one_line_error(status, err, "dtype='banana'")


@pytest.mark.parametrize("option", ["nodata=abc", "scale=abc", "offset=x"])
def test_a_numeric_option_that_is_not_a_number_is_one_line(reflectance, tmp_path, capsys, option):
    """Before (review): `convert nodata=abc` was a ValueError traceback (rc 1)."""
    path, _ = reflectance
    status, out, err = run_cli(capsys, "convert", f"input={path}", f"output={tmp_path / 'out.tif'}", "dtype=int16", option)
    name, value = option.split("=")
    assert_one_line_error(status, err, f"{name}= must be a number; got '{value}'")
    assert not (tmp_path / "out.tif").exists()

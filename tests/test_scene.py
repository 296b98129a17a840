"""The Scene: lazy window reading, physical scaling, nodata, band subsets, metadata checks."""

import numpy as np
import pytest
from affine import Affine

from hsi.errors import GridMismatchError, InputError
from hsi.scene import Scene, Window, check_same_grid


class CountingReader:
    """A pixel source that records every window and band list it is asked for."""

    def __init__(self, array):
        self.array, self.shape, self.dtype, self.calls = array, array.shape, array.dtype, []

    def read(self, window, bands):
        self.calls.append((window, tuple(int(b) for b in bands)))
        return self.array[window.rows, window.cols][:, :, bands].copy()


@pytest.fixture
def stored():
    return np.arange(6 * 5 * 4, dtype=np.int16).reshape(6, 5, 4)


def test_scene_reads_nothing_until_asked_and_then_only_the_window(stored):
    reader = CountingReader(stored)
    scene = Scene(reader, wavelengths_nm=[400, 500, 600, 700])
    assert scene.shape == (6, 5, 4) and reader.calls == []
    pixels = scene.read(Window(1, 2, 3, 2), bands=[3, 0])
    assert reader.calls == [(Window(1, 2, 3, 2), (3, 0))]
    assert np.array_equal(pixels, stored[1:4, 2:4][:, :, [3, 0]])


def test_band_subset_is_lazy_and_carries_its_metadata(stored):
    reader = CountingReader(stored)
    scene = Scene(reader, wavelengths_nm=[400, 500, 600, 700], bad_bands=[False, True, False, False],
                  band_names=["a", "b", "c", "d"])
    subset = scene.select_bands([2, 1])
    assert reader.calls == []
    assert subset.n_bands == 2 and list(subset.wavelengths_nm) == [600, 500]
    assert list(subset.bad_bands) == [False, True] and subset.band_names == ["c", "b"]
    assert np.array_equal(subset.read(), stored[:, :, [2, 1]])


def test_physical_values_apply_scale_offset_and_turn_nodata_into_nan(stored):
    stored = stored.copy()
    stored[0, 0, 1] = -9999
    scene = Scene(CountingReader(stored), scale=0.5, offset=10.0, nodata=-9999)
    physical = scene.read(physical=True)
    assert physical.dtype == np.float32
    assert np.isnan(physical[0, 0, 1]) and np.isfinite(np.delete(physical.ravel(), 1)).all()
    assert physical[2, 3, 0] == pytest.approx(stored[2, 3, 0] * 0.5 + 10.0)
    raw = scene.read()
    assert raw.dtype == np.int16 and raw[0, 0, 1] == -9999  # stored values untouched


def test_nodata_mask_covers_fill_values_and_non_finite_values():
    pixels = np.array([[1.0, -1.0, np.nan, np.inf]], np.float32)
    assert Scene.from_array(np.zeros((1, 1, 4)), nodata=-1.0).nodata_mask_of(pixels).tolist() == [[False, True, True, True]]
    assert Scene.from_array(np.zeros((1, 1, 4))).nodata_mask_of(pixels).tolist() == [[False, False, True, True]]


def test_windows_cover_the_scene_exactly_once():
    scene = Scene.from_array(np.zeros((7, 5, 2), np.float32))
    covered = np.zeros((7, 5), int)
    for window in scene.windows(3, 2):
        covered[window.rows, window.cols] += 1
    assert (covered == 1).all()


def test_reading_outside_the_scene_names_it():
    scene = Scene.from_array(np.zeros((4, 4, 2)))
    with pytest.raises(InputError, match="outside the 4 x 4 scene"):
        scene.read(Window(2, 2, 4, 1))
    with pytest.raises(InputError, match="band index out of range"):
        scene.read(bands=[2])


def test_metadata_of_the_wrong_length_is_refused():
    with pytest.raises(InputError, match="3 wavelengths values for 2 bands"):
        Scene.from_array(np.zeros((2, 2, 2)), wavelengths_nm=[1, 2, 3])
    with pytest.raises(InputError, match="bad-band list"):
        Scene.from_array(np.zeros((2, 2, 2)), bad_bands=[True])


def test_derived_template_keeps_the_grid_and_drops_per_band_attributes():
    scene = Scene.from_array(np.zeros((4, 6, 3), np.uint16), wavelengths_nm=[1, 2, 3], nodata=-9999,
                             transform=Affine(30, 0, 500000, 0, -30, 4200000), scale=0.1)
    template = scene.derived(n_bands=2, dtype=np.uint8)
    assert template.shape == (4, 6, 2) and template.transform == scene.transform
    assert template.wavelengths_nm is None and template.scale == 1.0
    assert template.nodata is None  # -9999 cannot be stored in uint8
    assert scene.pixel_size == (30.0, 30.0)
    with pytest.raises(InputError, match="template"):
        template.read()


def test_grids_that_differ_are_refused():
    a = Scene.from_array(np.zeros((4, 4, 1)))
    check_same_grid(a, Scene.from_array(np.ones((4, 4, 3))))
    with pytest.raises(GridMismatchError):
        check_same_grid(a, Scene.from_array(np.zeros((4, 5, 1))))

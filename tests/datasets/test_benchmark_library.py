"""Benchmark libraries: grouping by material and grouped library unmixing against the reference."""

import dataclasses

import numpy as np
import pytest

from hsi.bench.unmix import library_row
from hsi.datasets.benchmarks import load_benchmark_library
from hsi.errors import InputError


def test_library_groups_follow_the_scene_materials(shared_data, samson):
    library = load_benchmark_library("samson", shared_data)
    assert library.spectra.shape == (samson.cube.shape[2], 105)
    assert np.bincount(library.material_of_member).tolist() == [30, 30, 45]  # lib1..lib3: soil, tree, water


def test_unknown_scene_library_is_a_clear_error():
    with pytest.raises(InputError, match="no benchmark library"):
        load_benchmark_library("pavia")


def test_sparse_library_unmixing_beats_a_uniform_guess(shared_data, samson):
    crop = dataclasses.replace(samson, cube=samson.cube[30:50, 30:50], abundances=samson.abundances[30:50, 30:50])
    row = library_row("samson", "sunsal", crop, load_benchmark_library("samson", shared_data))
    uniform = 100.0 * np.sqrt(np.mean((crop.abundances - 1.0 / 3.0) ** 2))
    assert row["aRMSE x100"] < 0.6 * uniform
    assert 1.0 <= row["members used"] < 20.0  # sparse: a few of the 105 members per pixel

"""Shared fixtures: tiny synthetic cubes and the real scenes from the shared data folder."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

from hsi.settings import shared_data_dir  # noqa: E402


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Every test runs on one torch thread: the work is small-tensor heavy, where thread
    hand-offs on a shared 2-core machine cost far more than they save (up to 30x under load)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def shared_data():
    """The shared real-data folder; skips the test when it is absent."""
    root = shared_data_dir()
    if not root.is_dir():
        pytest.skip(f"shared real data not found at {root} (set HSI_SHARED_DATA)")
    return root


@pytest.fixture(scope="session")
def samson(shared_data):
    from hsi.datasets.benchmarks import load_samson

    return load_samson(shared_data)


@pytest.fixture(scope="session")
def jasper(shared_data):
    from hsi.datasets.benchmarks import load_jasper_ridge

    return load_jasper_ridge(shared_data)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def small_cube(rng):
    """A (24, 20, 16) float32 cube: smooth low-rank content in [0, 1]."""
    rows, cols, bands = 24, 20, 16
    yy, xx = np.mgrid[0:rows, 0:cols] / 10.0
    maps = np.stack([np.sin(yy) ** 2, np.cos(xx) ** 2, (yy * xx) % 1.0], axis=-1)
    spectra = rng.uniform(0.1, 0.9, size=(3, bands))
    return (maps @ spectra / 3.0).astype(np.float32)

"""Unmixing tests run single-threaded: the batched solvers are small-matrix heavy, where
thread hand-offs on a shared 2-core machine cost far more than they save."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)

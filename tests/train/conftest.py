"""One torch thread for these tests: small tensors, and the machine's cores are shared."""

import pytest
import torch


@pytest.fixture(autouse=True)
def single_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

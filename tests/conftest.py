"""Shared fixtures."""

import pytest


@pytest.fixture
def one_torch_thread():
    """Tiny tensors: one PyTorch thread avoids oversubscribing the shared cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

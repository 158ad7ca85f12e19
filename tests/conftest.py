"""Shared fixtures."""

import pytest


def pytest_runtest_logreport(report):
    """Print a failure's test and error when it happens, not only at the end of the run: a CI
    log that is cut short (or a run stopped at its time limit) still names what failed."""
    if report.failed:
        lines = report.longreprtext.strip().splitlines()
        print(f"\nFAILED {report.nodeid} ({report.when}):", *lines[-12:], sep="\n", flush=True)


@pytest.fixture
def one_torch_thread():
    """Tiny tensors: one PyTorch thread avoids oversubscribing the shared cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """The networks here are tiny: one thread avoids paying for thread synchronisation (which
    dominates on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

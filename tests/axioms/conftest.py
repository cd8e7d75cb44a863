import warnings

import pytest
import torch

from captum_smooth.axioms import AxiomUnresolvedWarning


@pytest.fixture(autouse=True)
def one_thread():
    """The networks here are tiny: one thread avoids paying for thread synchronisation (which
    dominates on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def unresolved_is_an_error():
    """A check that cannot decide fails the test, unless the test expects it (pytest.warns):
    "holds" in this suite means resolved."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", AxiomUnresolvedWarning)
        yield

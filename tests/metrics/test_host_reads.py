"""Host reads per metric call: a constant, whatever the steps, candidates, thresholds and chunks.

On a GPU each read of a device value (``.item()``, ``.tolist()``, ``bool(tensor)``, ``.cpu()``,
``.numpy()``, ``.to("cpu")``) waits for all queued work. A CPU shows where they happen: a
``TorchFunctionMode`` counts them. What must reach Python (the cache's keys, PIC's images for
scipy and Pillow, the check verdicts) is read once per call
(docs/reference.md#host-reads-of-the-metrics).
"""

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

from captum_smooth.metrics import (
    DEFAULT_THRESHOLDS,
    aic,
    aupc,
    autvc,
    deletion,
    insertion,
    localisation,
    sic,
    token_deletion,
    token_insertion,
)
from tests.metrics.test_pic import DetailModel, _images, _maps, _masks
from tests.metrics.test_text import CONTRIBUTIONS, IDS, TokenSum

READS = {
    torch.Tensor.item,
    torch.Tensor.tolist,
    torch.Tensor.__bool__,
    torch.Tensor.__int__,
    torch.Tensor.__float__,
    torch.Tensor.__index__,
    torch.Tensor.__array__,
    torch.Tensor.cpu,
    torch.Tensor.numpy,
}


def _to_host(func, args, kwargs):
    """``tensor.to("cpu")`` (or ``device="cpu"``): a read on a GPU, however it runs here.

    ``.to(x.device)`` is not counted: here it names the CPU, on a GPU the tensor's device.
    """
    if func is not torch.Tensor.to:
        return False
    return any(isinstance(a, str) and a == "cpu" for a in (*args[1:], *kwargs.values()))


class CountReads(TorchFunctionMode):
    """Counts the host reads of the code run under it."""

    def __init__(self):
        super().__init__()
        self.reads = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in READS or _to_host(func, args, kwargs):
            self.reads += 1
        return func(*args, **kwargs)


def reads(call):
    with CountReads() as counter:
        call()
    return counter.reads


def seeded():
    return torch.Generator().manual_seed(0)


PIC = {"random_mask": _masks(n=2), "min_pred_value": 0.0}
# name → (call(settings, cache), a small and a large setting: more steps and more chunks)
METRICS = {
    "insertion": (
        lambda kw, cache: insertion(DetailModel(), _images(n=2), _maps(n=2), 0, cache=cache, **kw),
        {"n_steps": 4, "batch_size": None},
        {"n_steps": 16, "batch_size": 3},
    ),
    "deletion": (
        lambda kw, cache: deletion(DetailModel(), _images(n=2), _maps(n=2), 0, cache=cache, **kw),
        {"n_steps": 4, "batch_size": None},
        {"n_steps": 16, "batch_size": 3},
    ),
    "aupc": (
        lambda kw, cache: aupc(
            DetailModel(), _images(n=2), _maps(n=2), 0, window_size=4, generator=seeded(),
            cache=cache, **kw,
        ),
        {"n_steps": 2, "n_candidates": 3, "batch_size": None},
        {"n_steps": 6, "n_candidates": 5, "batch_size": 4},
    ),
    "sic": (
        lambda kw, cache: sic(DetailModel(), _images(n=2), _maps(n=2), 0, cache=cache, **PIC, **kw),
        {"thresholds": (0.1, 0.5), "batch_size": None},
        {"thresholds": DEFAULT_THRESHOLDS, "batch_size": 3},
    ),
    "aic": (
        lambda kw, cache: aic(DetailModel(), _images(n=2), _maps(n=2), 0, cache=cache, **PIC, **kw),
        {"thresholds": (0.1, 0.5), "batch_size": None},
        {"thresholds": DEFAULT_THRESHOLDS, "batch_size": 3},
    ),
}  # fmt: skip
BOUND = 16
"""Reads per call: the argument checks, the cache's keys and the checks' verdicts (one each
per pass through the model), PIC's images and masks, the results that reach NumPy."""


@pytest.mark.parametrize("with_cache", [False, True], ids=["no-cache", "cache"])
@pytest.mark.parametrize("name", list(METRICS))
def test_a_metric_reads_the_host_a_fixed_number_of_times_whatever_its_steps_and_chunks(
    name, with_cache
):
    call, small, large = METRICS[name]
    counts = [reads(lambda kw=kw: call(kw, {} if with_cache else None)) for kw in (small, large)]
    assert counts[0] == counts[1] <= BOUND


@pytest.mark.parametrize("name", list(METRICS))
def test_a_metric_reads_no_more_when_its_rows_come_from_the_cache(name):
    call, _, large = METRICS[name]
    cache = {}
    first = reads(lambda: call(large, cache))
    assert reads(lambda: call(large, cache)) <= first


def test_msssim_information_reads_the_host_a_fixed_number_of_times():
    images = torch.rand(1, 3, 176, 176, generator=seeded(), dtype=torch.float64)
    maps = torch.randn(1, 3, 176, 176, generator=seeded(), dtype=torch.float64)
    settings = {"information": "msssim", "random_mask": torch.rand(1, 176, 176) < 0.01}

    def call(thresholds, batch_size):
        sic(DetailModel(), images, maps, 0, thresholds=thresholds, batch_size=batch_size,
            min_pred_value=0.0, cache={}, **settings)  # fmt: skip

    assert reads(lambda: call((0.5,), None)) == reads(lambda: call((0.1, 0.3, 0.5), 2)) <= BOUND


def test_autvc_reads_the_host_a_fixed_number_of_times_whatever_its_levels():
    small, large = torch.randn(2, 3, 24, 24), torch.randn(2, 3, 96, 96)
    # 24 → 16 → 11 → 8 (4 levels) against 96 → … → 8 (7 levels)
    assert len(autvc(large, min_size=8).sizes) > len(autvc(small, min_size=8).sizes)
    assert reads(lambda: autvc(small, min_size=8)) == reads(lambda: autvc(large, min_size=8))
    assert reads(lambda: autvc(large, min_size=8)) <= BOUND


def test_localisation_reads_the_host_a_fixed_number_of_times_whatever_its_thresholds():
    maps = _maps(n=2)
    masks = torch.zeros(2, 32, 32)
    masks[:, 4:16, 4:16] = 1
    counts = [reads(lambda n=n: localisation(maps, masks, n_thresholds=n)) for n in (5, 101)]
    assert counts[0] == counts[1] <= BOUND


@pytest.mark.parametrize("metric", [token_insertion, token_deletion])
def test_token_curves_read_the_host_a_fixed_number_of_times_whatever_their_chunks(metric):
    ids = IDS.repeat(3, 1)
    contributions = CONTRIBUTIONS.repeat(3, 1)

    def call(n_steps, batch_size):
        metric(TokenSum(), ids, contributions, 1, baselines=0, n_steps=n_steps,
               batch_size=batch_size)  # fmt: skip

    assert reads(lambda: call(3, None)) == reads(lambda: call(12, 2)) <= BOUND


def test_the_counter_sees_every_kind_of_read():
    x = torch.ones(2)
    for read in (
        lambda: x.sum().item(),
        lambda: x.tolist(),
        lambda: bool(x.all()),
        lambda: float(x.sum()),
        lambda: x.cpu(),
        lambda: x.numpy(),
        lambda: np.asarray(x),
        lambda: x.to("cpu"),
        lambda: x.to(device="cpu"),
    ):
        assert reads(read) == 1
    assert reads(lambda: x.to(torch.float64)) == 0

"""Host reads per call: a constant, whatever the steps, samples and chunks.

On a GPU each read of a device value (``.item()``, ``.tolist()``, ``bool(tensor)``, ``.cpu()``,
``.numpy()``) waits for all queued work. A CPU shows where they happen: a
``TorchFunctionMode`` counts them. Guided IG reads per step on a CPU only (forced onto its
accelerator path below); the adaptive search reads which examples still search before each of
its SmoothTaylor runs, two reads per search iteration (docs/reference.md#host-reads).
"""

import pytest
import torch
from captum.attr import IntegratedGradients, LayerIntegratedGradients
from torch import nn
from torch.overrides import TorchFunctionMode

from captum_smooth import (
    IDGI,
    AdaptiveSmoothTaylor,
    BlurIntegratedGradients,
    GuidedIntegratedGradients,
    IntegratedDecisionGradients,
    NoiseBaselineIntegratedGradients,
    SmoothGradSquared,
    SmoothTaylor,
)
from captum_smooth.attr import guided_ig
from captum_smooth.attr.layer import (
    LayerBlurIntegratedGradients,
    LayerGuidedIntegratedGradients,
    LayerSmoothTaylor,
)

READS = {
    torch.Tensor.item,
    torch.Tensor.tolist,
    torch.Tensor.__bool__,
    torch.Tensor.__int__,
    torch.Tensor.__float__,
    torch.Tensor.__index__,
    torch.Tensor.cpu,
    torch.Tensor.numpy,
}


class CountReads(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.reads = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in READS:
            self.reads += 1
        return func(*args, **(kwargs or {}))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4, 5)

    def forward(self, x):
        return self.head(torch.tanh(self.conv(x)).mean(dim=(2, 3)))


def seeded():
    return torch.Generator().manual_seed(0)


# (name, method factory, keywords giving a small and a large budget)
METHODS = [
    ("idgi_ig", lambda m: IDGI(IntegratedGradients(m)), "n_steps", {}),
    ("blur_ig", BlurIntegratedGradients, "n_steps", {"max_sigma": 2.0}),
    ("idgi_blur_ig", lambda m: IDGI(BlurIntegratedGradients(m)), "n_steps", {"max_sigma": 2.0}),
    ("smooth_taylor", SmoothTaylor, "n_samples", {"generator": None}),
    ("smoothgrad_sq", lambda m: SmoothGradSquared(SmoothTaylor(m)), "n_samples",
     {"generator": None}),
    ("noise_baseline_ig", NoiseBaselineIntegratedGradients, "n_steps",
     {"n_baselines": 3, "generator": None}),
    ("layer_smooth_taylor", lambda m: LayerSmoothTaylor(m, m.conv), "n_samples",
     {"generator": None}),
    ("layer_blur_ig", lambda m: LayerBlurIntegratedGradients(m, m.conv), "n_steps",
     {"max_sigma": 2.0}),
    ("idgi_layer_ig", lambda m: IDGI(LayerIntegratedGradients(m, m.conv)), "n_steps", {}),
    ("idg_ig", lambda m: IntegratedDecisionGradients(IntegratedGradients(m)), "n_steps", {}),
    ("idg_ig_adaptive_sampling",
     lambda m: IntegratedDecisionGradients(IntegratedGradients(m), adaptive_sampling=True),
     "n_steps", {}),
]  # fmt: skip

TARGETS = {
    "int": lambda n: 1,
    "list": lambda n: [i % 5 for i in range(n)],
    "tensor": lambda n: torch.arange(n) % 5,
}


def reads(factory, budget_name, budget, chunk, target, extra, delta):
    model = Net().eval()
    x = torch.rand(3, 3, 6, 6, generator=seeded())
    kwargs = {budget_name: budget, "internal_batch_size": chunk, "target": target(3), **extra}
    if "generator" in kwargs:
        kwargs["generator"] = seeded()
    if delta:
        kwargs["return_convergence_delta"] = True
    method = factory(model)
    with CountReads() as counter:
        method.attribute(x, **kwargs)
    return counter.reads


@pytest.mark.parametrize("target", list(TARGETS), ids=list(TARGETS))
@pytest.mark.parametrize(
    ("name", "factory", "budget", "extra"), METHODS, ids=[m[0] for m in METHODS]
)
def test_host_reads_per_call_do_not_grow_with_steps_samples_or_chunks(
    name, factory, budget, extra, target
):
    delta = name not in ("smooth_taylor", "smoothgrad_sq", "layer_smooth_taylor")
    counts = {
        (steps, chunk): reads(factory, budget, steps, chunk, TARGETS[target], extra, delta)
        for steps, chunk in [(2, 64), (16, 64), (16, 3), (16, 1)]
    }
    assert len(set(counts.values())) == 1, counts
    assert max(counts.values()) <= 12, counts


GUIDED = [
    ("guided_ig", GuidedIntegratedGradients),
    ("idgi_guided_ig", lambda m: IDGI(GuidedIntegratedGradients(m))),
    ("idg_guided_ig", lambda m: IntegratedDecisionGradients(GuidedIntegratedGradients(m))),
    ("layer_guided_ig", lambda m: LayerGuidedIntegratedGradients(m, m.conv)),
]


@pytest.mark.parametrize(("name", "factory"), GUIDED, ids=[g[0] for g in GUIDED])
def test_guided_ig_on_an_accelerator_reads_nothing_per_step(name, factory, monkeypatch):
    """On an accelerator Guided IG's path keeps its per-example scalars on the device.

    Forced here on the CPU: the count is the same for 2 and 12 steps.
    """
    monkeypatch.setattr(guided_ig, "_on_device", lambda device: True)
    counts = {
        (steps, chunk): reads(factory, "n_steps", steps, chunk, TARGETS["tensor"], {}, True)
        for steps, chunk in [(2, 64), (12, 64), (12, 1)]
    }
    assert len(set(counts.values())) == 1, counts
    assert max(counts.values()) <= 12, counts


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    ("fraction", "max_dist", "n_steps"),
    [(0.25, 0.02, 8), (0.1, 0.1, 5), (1.0, 1.0, 4), (0.05, 0.3, 7)],
)
def test_guided_ig_on_the_device_takes_the_same_path_as_on_the_host(
    fraction, max_dist, n_steps, dtype, monkeypatch
):
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)
    ).to(dtype)  # ReLU: zero gradients that tie in the ranking
    x = torch.rand(3, 3, 6, 6, dtype=dtype, generator=seeded())
    baselines = 0.3 * torch.rand(3, 3, 6, 6, dtype=dtype, generator=seeded())
    x[0, 0, 0] = baselines[0, 0, 0] = 0  # features with nothing to travel
    kwargs = {"target": 1, "n_steps": n_steps, "fraction": fraction, "max_dist": max_dist}
    results = []
    for on_device in (False, True):
        monkeypatch.setattr(guided_ig, "_on_device", lambda device, value=on_device: value)
        results.append(GuidedIntegratedGradients(model).attribute(x, baselines, **kwargs))
    assert torch.equal(*results)


SIZED = {torch.nonzero, torch.Tensor.nonzero, torch.masked_select, torch.Tensor.masked_select}
INDEXING = {torch.Tensor.__getitem__, torch.Tensor.__setitem__}


class CountSyncs(CountReads):
    """Host reads, and the operations whose output shape is read from the device on a GPU.

    A boolean index (``x[mask]``, ``x[mask] = y``), ``nonzero`` and ``masked_select`` wait for
    the device to count their elements.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in SIZED or (func in INDEXING and _bool_index(args[1])):
            self.reads += 1
        return super().__torch_function__(func, types, args, kwargs)


def _bool_index(index):
    entries = index if isinstance(index, tuple) else (index,)
    return any(isinstance(e, torch.Tensor) and e.dtype == torch.bool for e in entries)


class Scripted:
    """An objective whose every score beats the last (``improving``) or never does.

    The search's steps then do not depend on the noise: every example searches for
    ``max_iterations`` iterations with one SmoothTaylor run each, or stops after ``patience``
    iterations with two runs each.
    """

    def __init__(self, improving):
        self.improving, self.calls = improving, 0

    def __call__(self, inputs, attributions, target):
        self.calls += 1
        return torch.full((inputs.shape[0],), -float(self.calls if self.improving else 0))


def adaptive_reads(improving, max_iterations, n_samples, chunk, target):
    x = torch.rand(3, 3, 6, 6, generator=seeded())
    search = AdaptiveSmoothTaylor(Net().eval(), Scripted(improving))
    with CountSyncs() as counter:
        result = search.attribute(
            x,
            target=target(3),
            n_samples=n_samples,
            patience=2,
            max_iterations=max_iterations,
            internal_batch_size=chunk,
            generator=seeded(),
        )
    runs = 1 + (max_iterations if improving else 2 * 2)
    assert result.n_evaluations.tolist() == [runs] * 3
    return counter.reads


SEARCHES = [(3, 2, 64), (3, 5, 2), (6, 2, 64), (6, 5, 1)]  # (max_iterations, n_samples, chunk)


@pytest.mark.parametrize("target", list(TARGETS), ids=list(TARGETS))
def test_adaptive_search_reads_which_examples_search_once_per_run_and_nothing_per_sample(target):
    """Which examples still search reaches Python before each SmoothTaylor run of the search.

    Its rows and their random draws depend on it: two reads per iteration (the second also
    when no example retries), the rest a constant, whatever ``n_samples`` and the chunks.
    """
    stopping = {s: adaptive_reads(False, *s, TARGETS[target]) for s in SEARCHES}
    assert len(set(stopping.values())) == 1, stopping  # every example stops after 2 iterations
    assert max(stopping.values()) <= 10 + 2 * 2 + 1, stopping  # and a last read finds none
    searching = {s: adaptive_reads(True, *s, TARGETS[target]) - 2 * s[0] for s in SEARCHES}
    assert len(set(searching.values())) == 1, searching
    assert max(searching.values()) <= 10, searching

"""A ``torch.compile``'d model compiles once per call, whatever the chunks' sizes."""

import pytest
import torch
from captum.attr import IntegratedGradients
from torch import nn

from captum_smooth import IDGI, BlurIntegratedGradients, SmoothTaylor

dynamo = pytest.importorskip("torch._dynamo")
counters = dynamo.utils.counters


def net():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3)
    ).eval()


def graphs(method, fixed=None, **kwargs):
    """Graphs compiled for one call: 2 examples, a chunk of 4 rows, a short last chunk."""
    dynamo.reset()
    counters.clear()
    compiled = torch.compile(net(), backend="aot_eager")
    attribution = method(compiled)
    inner = getattr(attribution, "_path_method", attribution)
    if fixed is not None:
        inner.fixed_chunk_shapes = fixed
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    result = attribution.attribute(x, target=1, internal_batch_size=4, **kwargs)
    return counters["stats"]["unique_graphs"], result


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        (lambda m: IDGI(IntegratedGradients(m)), {"n_steps": 6}),
        (BlurIntegratedGradients, {"n_steps": 5, "max_sigma": 1.0}),
        (SmoothTaylor, {"n_samples": 7, "generator": torch.Generator().manual_seed(0)}),
    ],
    ids=["idgi_ig", "blur_ig", "smooth_taylor"],
)
def test_a_compiled_model_compiles_one_graph_per_call(method, kwargs):
    if "generator" in kwargs:
        kwargs = {**kwargs, "generator": torch.Generator().manual_seed(0)}
    padded, result = graphs(method, **kwargs)
    if "generator" in kwargs:
        kwargs = {**kwargs, "generator": torch.Generator().manual_seed(0)}
    unpadded, plain = graphs(method, fixed=False, **kwargs)
    assert padded == 1 and unpadded == 2  # the short last chunk is a second shape
    torch.testing.assert_close(result, plain)

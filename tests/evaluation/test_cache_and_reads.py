"""The evaluation's shared cache in every dtype, and its host reads per batch."""

import pytest
import torch
from captum.attr import Saliency

from captum_smooth.evaluation import Method, RandomMap, evaluate_methods
from captum_smooth.evaluation.adapters import (
    aupc_metric,
    autvc_metric,
    insertion_metric,
    pic_metric,
)
from tests.evaluation import workload
from tests.metrics.test_host_reads import reads


class Counting(torch.nn.Module):
    """The model, counting the rows it is given."""

    def __init__(self, model):
        super().__init__()
        self.model, self.rows = model, 0

    def forward(self, x):
        self.rows += x.shape[0]
        return self.model(x)


METHODS = [
    Method("saliency", Saliency, {"abs": False}),
    Method("random map", RandomMap, random=True),
]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32, torch.float64])
def test_an_evaluation_in_any_dtype_shares_the_rows_its_metrics_have_in_common(dtype):
    model = Counting(workload.model().to(dtype))
    images = [image.to(dtype) for image in workload.images(n=2)]
    alone = {"insertion": insertion_metric(n_steps=4)}
    evaluate_methods(model, images, METHODS, alone, batch_size=2)
    rows = model.rows
    metrics = {
        **alone,
        # the same rows as insertion: every one comes from the cache
        "insertion ratio": insertion_metric(ratio=True, n_steps=4),
        "AUPC": aupc_metric(window_size=2, n_steps=2, n_candidates=3),
        "AUTVC": autvc_metric(min_size=2),
        "SIC": pic_metric("sic", min_pred_value=0.0, thresholds=(0.2, 0.5)),
    }
    model.rows = 0
    result = evaluate_methods(model, images, METHODS, metrics, batch_size=2)
    n_images, n_methods = 2, len(METHODS)
    # AUPC runs its perturbed rows, its unperturbed images come from the cache
    aupc_rows = n_methods * n_images * 2 * 3
    assert model.rows >= rows + aupc_rows
    insertion_only = {k: v for k, v in metrics.items() if k in ("insertion", "insertion ratio")}
    model.rows = 0
    evaluate_methods(model, images, METHODS, insertion_only, batch_size=2)
    assert model.rows == rows
    for (method, metric), scores in result.scores.items():
        assert scores.shape == (n_images,), (method, metric)
        # SIC is NaN for the images PAIR's filters skip
        assert metric == "SIC" or torch.isfinite(scores).all(), (method, metric)


def test_an_evaluation_reads_the_host_a_fixed_number_of_times_whatever_its_metrics_chunks():
    model, images = workload.model(), workload.images(n=2)

    def evaluation(n_steps, batch_size):
        metrics = {
            "insertion": insertion_metric(n_steps=n_steps, batch_size=batch_size),
            "AUPC": aupc_metric(window_size=2, n_steps=n_steps, n_candidates=3,
                                batch_size=batch_size),
        }  # fmt: skip
        evaluate_methods(model, images, METHODS, metrics, batch_size=2)

    assert reads(lambda: evaluation(2, None)) == reads(lambda: evaluation(8, 2))

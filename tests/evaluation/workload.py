"""A small evaluation run, importable by the tests and runnable under torchrun:

torchrun --standalone --nproc_per_node 2 tests/evaluation/workload.py OUT.pt
"""

import sys

import torch
from captum.attr import IntegratedGradients, Saliency

from captum_smooth import SmoothTaylor
from captum_smooth.evaluation import Method, evaluate_methods


def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.Softplus(),
        torch.nn.AdaptiveAvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(16, 5),
    ).eval()


def images(n=7):
    generator = torch.Generator().manual_seed(1)
    return [torch.rand(3, 8, 8, generator=generator) for _ in range(n)]


def noisy_sum(model, inputs, attributions, targets, generator):
    """A toy randomised metric: the attribution sum plus a draw from `generator`."""
    noise = torch.rand(inputs.shape[0], generator=generator)
    return attributions.flatten(1).sum(1) + noise


def positive_share(model, inputs, attributions, targets):
    return (attributions > 0).flatten(1).double().mean(1)


METHODS = [
    Method("saliency", Saliency, {"abs": False}),
    Method("ig", IntegratedGradients, {"n_steps": 4}),
    Method("smooth_taylor", SmoothTaylor, {"n_samples": 3}, random=True),
]
METRICS = {"noisy_sum": noisy_sum, "positive_share": positive_share}


def run(dataset=None):
    dataset = images() if dataset is None else dataset
    return evaluate_methods(model(), dataset, METHODS, METRICS, batch_size=2, seed=3)


if __name__ == "__main__":
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo")
    result = run()
    if torch.distributed.get_rank() == 0:
        torch.save({"scores": result.scores, "targets": result.targets}, sys.argv[1])
    torch.distributed.destroy_process_group()

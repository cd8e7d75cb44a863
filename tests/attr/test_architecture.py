"""The example of docs/architecture.md runs: a new path, rule and gradient source."""

import re
from pathlib import Path

import torch

from captum_smooth import GuidedIntegratedGradients

DOCS = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def example():
    code = re.search(r"```python\n(.*?)```", DOCS.read_text(), re.DOTALL).group(1)
    namespace = {}
    exec(compile(code, str(DOCS), "exec"), namespace)
    return namespace


def net():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1), torch.nn.Flatten(0)
    ).double()


def test_idgi_along_the_new_path_is_complete_and_its_points_lie_on_the_parabola():
    space = example()
    model, seen = net(), []
    x = torch.randn(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))

    def recording(t):
        seen.append(t.detach().clone())
        return model(t)

    attr = space["ParabolaIDGI"](recording).attribute(x, n_steps=4)
    with torch.no_grad():
        torch.testing.assert_close(attr.sum(1), model(x) - model(torch.zeros_like(x)))
    points = torch.cat(seen).view(5, 3, 4)
    alphas = torch.tensor([0, 1 / 16, 1 / 4, 9 / 16, 1], dtype=torch.float64)
    torch.testing.assert_close(points, alphas.view(5, 1, 1) * x)


def test_the_new_rule_sums_the_gradients_along_guided_igs_path():
    space = example()
    model = net()
    x = torch.randn(2, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    seen = []

    def recording(t):
        seen.append(t.detach().clone())
        return model(t)

    summed = space["SummedGradients"](GuidedIntegratedGradients(recording)).attribute(x, n_steps=5)
    points = torch.cat(seen).view(-1, *x.shape)  # the rows in path order, per step
    gradient = torch.func.vmap(torch.func.grad(lambda r: model(r[None])[0]))
    expected = sum(gradient(p) for p in points)
    torch.testing.assert_close(summed, expected)
    # and the new rule has an error estimate without writing one: the sum over every other
    # vertex (x_0, x_2, x_4 and the last, x_5)
    seen.clear()
    wrapper = space["SummedGradients"](GuidedIntegratedGradients(recording))
    again, error = wrapper.attribute(x, n_steps=5, return_error=True)
    torch.testing.assert_close(again, summed)
    coarse = sum(gradient(p) for p in points[[0, 2, 4, 5]])
    torch.testing.assert_close(error, (summed - coarse).abs())


def test_the_new_gradient_source_is_used_by_an_existing_method():
    space = example()
    steep = lambda t: 10 * t.sum(1)  # noqa: E731  gradient 10 everywhere
    x = torch.ones(1, 4, dtype=torch.float64)
    method = GuidedIntegratedGradients(steep)
    method.value_and_grad_func = space["clipped"]
    # clipped gradient 1 along a path of total displacement x - 0 = 1 per feature
    torch.testing.assert_close(
        method.attribute(x, n_steps=4), torch.ones(1, 4, dtype=torch.float64)
    )

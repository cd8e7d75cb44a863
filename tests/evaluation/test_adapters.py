"""The package's metrics run through evaluate_methods give the numbers of direct calls."""

import math

import matplotlib
import pytest
import torch
from captum.attr import Saliency

from captum_smooth.evaluation import Method, RandomMap, evaluate_methods
from captum_smooth.evaluation.adapters import (
    Scored,
    aupc_metric,
    autvc_metric,
    insertion_metric,
    pic_metric,
)
from captum_smooth.metrics import autvc, insertion, sic


def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(16, 3),
    ).eval()


def normalise(x):
    return (x - 0.5) / 0.25


def images(n=5):
    generator = torch.Generator().manual_seed(2)
    return [torch.rand(3, 32, 32, generator=generator) for _ in range(n)]


def test_metrics_through_the_evaluation_equal_direct_calls(tmp_path):
    net = model()
    metrics = {
        "insertion": insertion_metric(),
        "insertion_ratio": insertion_metric(ratio=True),
        "aupc": aupc_metric(window_size=4, n_steps=3, n_candidates=2),
        "autvc": autvc_metric(min_size=8),
        "sic": pic_metric("sic", min_pred_value=0.0),
    }
    result = evaluate_methods(
        net,
        images(),
        [Method("saliency", Saliency, {"abs": False})],
        metrics,
        batch_size=5,
        input_transform=normalise,
    )
    raw = torch.stack(images())
    with torch.no_grad():
        targets = net(normalise(raw)).argmax(1)
    attributions = Saliency(net).attribute(normalise(raw), target=targets, abs=False)
    direct = insertion(net, raw, attributions, targets, input_transform=normalise)
    torch.testing.assert_close(result.scores["saliency", "insertion"], direct.score.double())
    torch.testing.assert_close(
        result.scores["saliency", "insertion_ratio"], direct.ratio_score.double()
    )
    torch.testing.assert_close(
        result.scores["saliency", "autvc"], autvc(attributions, min_size=8).score.double()
    )
    assert result.scores["saliency", "aupc"].shape == (5,)
    assert torch.isfinite(result.scores["saliency", "aupc"]).all()
    generator = torch.Generator().manual_seed(1 * 1_000_003 + 0)
    reference = sic(
        net,
        raw,
        attributions,
        targets,
        input_transform=normalise,
        min_pred_value=0.0,
        generator=generator,
    )
    auc, curve = result.aggregate("saliency", "sic", "median")
    torch.testing.assert_close(curve, reference.curve.double(), atol=1e-6, rtol=0)
    kept = reference.kept
    assert kept.any()
    torch.testing.assert_close(
        result.scores["saliency", "sic"][kept], reference.per_example_auc[kept].double()
    )
    assert math.isclose(auc, reference.auc.item(), abs_tol=1e-6)
    backend = matplotlib.get_backend()
    figure = result.plot_curves("insertion", tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 1000
    (axis,) = figure.axes
    assert [line.get_label() for line in axis.get_lines()] == result.methods
    torch.testing.assert_close(
        torch.as_tensor(axis.get_lines()[0].get_ydata()),
        result.curves[result.methods[0], "insertion"].nanmean(0),
    )
    assert matplotlib.get_backend() == backend  # the user's backend is left alone


def test_curve_figures_name_their_axes_shade_the_spread_and_state_the_paired_test():
    metrics = {
        "insertion": insertion_metric(),
        "deletion": insertion_metric(deletion=True),
        "ratio": insertion_metric(ratio=True),
        "aupc": aupc_metric(window_size=4, n_steps=3, n_candidates=2),
        "autvc": autvc_metric(min_size=8),
        "unlabelled": lambda model, images, attributions, targets: Scored(
            attributions.flatten(1).mean(1), attributions.flatten(1)[:, :4]
        ),
    }
    methods = [
        Method("saliency", Saliency, {"abs": False}),
        Method("random map", RandomMap, random=True),
    ]
    result = evaluate_methods(model(), images(), methods, metrics, batch_size=5)
    labels = {
        "insertion": ("fraction of pixels inserted", "p(class)"),
        "deletion": ("fraction of pixels deleted", "p(class)"),
        "ratio": ("fraction of pixels inserted", "p(class) / p(class | image)"),
        "aupc": ("fraction of the windows perturbed", "f(perturbed) / f(image)"),
        "autvc": ("pyramid level, finest (0) to coarsest (1)", "total variation"),
        "unlabelled": ("fraction of the curve (0 → 1)", "unlabelled"),
    }
    for metric, (x, y) in labels.items():
        (axis,) = result.plot_curves(metric).axes
        assert (axis.get_xlabel(), axis.get_ylabel()) == (x, y), metric

    curves = result.curves["saliency", "insertion"]
    mean, se = curves.mean(0), curves.std(0) / math.sqrt(curves.shape[0])
    (axis,) = result.plot_curves("insertion", paired=("saliency", "random map")).axes
    assert len(axis.collections) == len(methods)  # one band per method
    band = torch.as_tensor(axis.collections[0].get_paths()[0].vertices[:, 1])
    torch.testing.assert_close(band.max(), (mean + se).max())
    torch.testing.assert_close(band.min(), (mean - se).min())
    test = result.paired_test("saliency", "random map", "insertion")
    assert f"Wilcoxon p = {test['p_value']:.2g}" in axis.get_title()
    assert "± 1 standard error" in axis.get_title()

    (axis,) = result.plot_curves("insertion", band="iqr").axes
    band = torch.as_tensor(axis.collections[0].get_paths()[0].vertices[:, 1])
    torch.testing.assert_close(band.max(), curves.quantile(0.75, dim=0).max())
    (axis,) = result.plot_curves("insertion", band=None, xlabel="x", ylabel="y").axes
    assert not axis.collections and (axis.get_xlabel(), axis.get_ylabel()) == ("x", "y")
    with pytest.raises(ValueError, match="`band`"):
        result.plot_curves("insertion", band="sd")

"""captum_smooth.evaluation: per-image scores, summaries, paired tests, torchrun sharding."""

import csv
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from captum.attr import Saliency

from captum_smooth.evaluation import Method, evaluate_methods
from tests.evaluation import workload


def test_scores_are_per_image_in_data_set_order_and_explain_the_top1_class():
    result = workload.run()
    net, images = workload.model(), torch.stack(workload.images())
    with torch.no_grad():
        top1 = net(images).argmax(1)
    assert torch.equal(result.targets, top1)
    saliency = Saliency(net).attribute(images, target=top1, abs=False)
    expected = (saliency > 0).flatten(1).double().mean(1)
    torch.testing.assert_close(result.scores["saliency", "positive_share"], expected)


def test_the_same_seed_gives_the_same_numbers_and_another_seed_does_not():
    a, b = workload.run(), workload.run()
    for key in a.scores:
        assert torch.equal(a.scores[key], b.scores[key])
    other = evaluate_methods(
        workload.model(),
        workload.images(),
        workload.METHODS,
        workload.METRICS,
        batch_size=2,
        seed=4,
    )
    assert not torch.equal(
        other.scores["smooth_taylor", "noisy_sum"], a.scores["smooth_taylor", "noisy_sum"]
    )


def test_two_torchrun_processes_give_the_single_process_numbers(tmp_path):
    out = tmp_path / "scores.pt"
    script = Path(workload.__file__)
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            str(script),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).parents[2],
        env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    distributed = torch.load(out)
    single = workload.run()
    assert torch.equal(distributed["targets"], single.targets)
    for key, scores in single.scores.items():
        torch.testing.assert_close(distributed["scores"][key], scores)


def test_summary_gives_the_mean_and_standard_error_over_images():
    result = workload.run()
    row = {r["method"]: r for r in result.summary()}["ig"]
    values = result.scores["ig", "positive_share"]
    mean, se = row["positive_share"]
    assert mean == pytest.approx(values.mean().item())
    assert se == pytest.approx(values.std().item() / math.sqrt(values.numel()))


def test_paired_test_counts_the_images_on_each_side():
    result = workload.run()
    test = result.paired_test("smooth_taylor", "smooth_taylor", "noisy_sum")
    assert test["p_value"] == 1.0 and test["n_a_higher"] == test["n_b_higher"] == 0
    result.scores["shifted", "noisy_sum"] = result.scores["ig", "noisy_sum"] + 1.0
    test = result.paired_test("shifted", "ig", "noisy_sum")
    assert test["n_a_higher"] == 7 and test["mean_difference"] == pytest.approx(1.0)
    assert test["p_value"] < 0.05


def test_markdown_and_csv_hold_every_method_and_image(tmp_path):
    result = workload.run()
    markdown = result.to_markdown()
    assert markdown.count("\n") == 2 + len(workload.METHODS)
    assert "| smooth_taylor |" in markdown and " ± " in markdown
    result.to_csv(tmp_path / "scores.csv")
    rows = list(csv.DictReader(open(tmp_path / "scores.csv")))
    assert len(rows) == 7 * len(workload.METHODS)
    assert float(rows[0]["positive_share"]) == pytest.approx(
        result.scores["saliency", "positive_share"][0].item()
    )


def test_masks_reach_the_metrics():
    seen = []

    def mask_metric(model, inputs, attributions, targets, masks):
        seen.append(masks)
        return masks.flatten(1).double().mean(1)

    data = [(image, torch.ones(8, 8) * (i % 2)) for i, image in enumerate(workload.images(4))]
    result = evaluate_methods(
        workload.model(), data, [Method("saliency", Saliency)], {"m": mask_metric}, batch_size=3
    )
    assert [m.shape[0] for m in seen] == [3, 1]
    assert result.scores["saliency", "m"].tolist() == [0.0, 1.0, 0.0, 1.0]


def test_a_map_style_dataset_a_generator_and_a_stacked_tensor_give_the_list_numbers():
    # torch.utils.data.Dataset subclasses define __len__ and __getitem__ but not __iter__
    from torch.utils.data import Dataset

    images = workload.images(3)

    class Indexed(Dataset):
        def __len__(self):
            return len(images)

        def __getitem__(self, i):
            return images[i]

    expected = workload.run(images)
    for dataset in (Indexed(), (image for image in images), torch.stack(images)):
        result = workload.run(dataset)
        for key in expected.scores:
            assert torch.equal(result.scores[key], expected.scores[key]), (type(dataset), key)


@pytest.mark.parametrize("dataset", [{"a": 1}, "images", 3])
def test_a_dataset_that_is_neither_indexed_nor_iterable_is_named(dataset):
    with pytest.raises(TypeError, match="`dataset`"):
        evaluate_methods(workload.model(), dataset, workload.METHODS, workload.METRICS)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"methods": []}, "methods"),
        ({"metrics": {}}, "metrics"),
        ({"methods": [Method("a", Saliency), Method("a", Saliency)]}, "unique"),
        ({"dataset": [torch.rand(8, 8)]}, "dataset"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    arguments = {
        "model": workload.model(),
        "dataset": workload.images(2),
        "methods": workload.METHODS,
        "metrics": workload.METRICS,
        **kwargs,
    }
    with pytest.raises(ValueError, match=match):
        evaluate_methods(**arguments)


def test_metrics_share_what_depends_on_the_images_across_methods():
    # two methods with the same maps: the second one's insertion curve costs no model rows
    from captum_smooth.evaluation.adapters import insertion_metric

    net = workload.model()
    calls = []

    class Counting(torch.nn.Module):
        def forward(self, x):
            calls.append(x.shape[0])
            return net(x)

    methods = [
        Method("a", lambda m: Saliency(m), {"abs": False}),
        Method("b", lambda m: Saliency(m), {"abs": False}),
    ]
    metric = insertion_metric(n_steps=4)
    seen = {}

    def counted(model, images, attributions, targets, cache=None):
        before = sum(calls)
        result = metric(model, images, attributions, targets, cache=cache)
        seen.setdefault(len(seen) % 2, []).append(sum(calls) - before)
        return result

    result = evaluate_methods(
        Counting(), workload.images(4), methods, {"ins": counted}, batch_size=4
    )
    # method a: 4 images × 5 points, the black start image once for all four; method b: none
    assert seen[0][0] == 4 * 4 + 1 and seen[1][0] == 0
    assert torch.equal(result.scores["a", "ins"], result.scores["b", "ins"])

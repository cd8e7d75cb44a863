"""Guided IG against the bare forward+backward of its rows, over many interleaved rounds.

    python benchmarks/bench_guided_ig.py [--models resnet18 lite0 minilm] [--rounds 12]
        [--steps 16] [--out benchmarks/results/guided_ig.md]

``bench_speed.py`` divides the best of a few runs by the best of a few rooflines; on a shared
machine one lucky roofline moves that ratio by several per cent, more than the margin Guided
IG's target (≤ 1.15 × the roofline) leaves. This script runs Guided IG and its roofline (the
same number of gradient rows, one row per image per call, as the path needs) alternately for
``--rounds`` rounds, the order swapped every round, and reports the ratio of the best times,
the median of the per-round ratios and their range. It also times the path's own bookkeeping
(everything between receiving a gradient and yielding the next point) inside the same calls,
as a share of the roofline.

``minilm``: ``LayerGuidedIntegratedGradients`` on the embeddings of the pretrained MiniLM of
``bench_layer.py`` (2 sentences, 1 thread), against Captum's ``LayerIntegratedGradients`` at the
same rows in calls of one row per sentence, the reference of ``bench_layer.py``'s table.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from bench_layer import load
from captum.attr import LayerIntegratedGradients
from torchvision.models import resnet18

import captum_smooth
from captum_smooth import GuidedIntegratedGradients, examples
from captum_smooth.attr import guided_ig
from captum_smooth.attr.layer import LayerGuidedIntegratedGradients

from _timing import roofline


class PathTimer:
    """Wraps the path generator of Guided IG and adds up the time spent inside it."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._steps = guided_ig._guided_steps

    def __enter__(self) -> PathTimer:
        guided_ig._guided_steps = self._timed
        return self

    def __exit__(self, *exc: object) -> None:
        guided_ig._guided_steps = self._steps

    def _timed(self, *args):
        steps = self._steps(*args)
        start = time.perf_counter()
        points = next(steps)
        self.seconds += time.perf_counter() - start
        while True:
            grads = yield points
            start = time.perf_counter()
            try:
                points = steps.send(grads)
            except StopIteration:
                return
            finally:
                self.seconds += time.perf_counter() - start


def image_contenders(name: str, n_steps: int, n_images: int):
    """Guided IG on an image model and its roofline, and the number of examples."""
    if name == "lite0":
        model = examples.load_lite0()
    else:
        torch.manual_seed(0)
        model = resnet18(weights=None).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    names = list(examples.PHOTOS[:n_images])
    images = examples.normalize(torch.cat([examples.load_photo(photo) for photo in names]))
    with torch.no_grad():
        targets = model(images).argmax(1).tolist()
    guided = GuidedIntegratedGradients(model)

    def ours() -> None:
        guided.attribute(images, target=targets, n_steps=n_steps, internal_batch_size=16)

    def roof() -> None:
        # the path's n_steps gradient rows per image, one row per image per call
        roofline(model, images, n_steps * len(images), len(images))

    return ours, roof, len(images)


def layer_contenders(n_steps: int, n_sentences: int):
    """LayerGuidedIG on MiniLM's embeddings and Captum's LayerIG at the same rows."""
    setup = load(n_sentences)
    pad = torch.zeros_like(setup.ids)
    guided = LayerGuidedIntegratedGradients(setup.model, setup.layer)
    captum = LayerIntegratedGradients(setup.model, setup.layer)

    def ours() -> None:
        guided.attribute(setup.ids, baselines=pad, n_steps=n_steps, **setup.common(16))

    def reference() -> None:
        captum.attribute(
            setup.ids, baselines=pad, n_steps=n_steps, **setup.common(len(setup.targets))
        )

    return ours, reference, len(setup.targets)


def measure(ours, roof, n_examples: int, rounds: int) -> dict[str, float]:
    ours(), roof()  # warm-up
    times: dict[str, list[float]] = {"ours": [], "roof": [], "path": []}
    for i in range(rounds):
        for name in ("ours", "roof") if i % 2 == 0 else ("roof", "ours"):
            with PathTimer() as path:
                start = time.perf_counter()
                (ours if name == "ours" else roof)()
                times[name].append(time.perf_counter() - start)
            if name == "ours":
                times["path"].append(path.seconds)
    ratios = sorted(o / r for o, r in zip(times["ours"], times["roof"], strict=True))
    return {
        "best": min(times["ours"]) / min(times["roof"]),
        "median": statistics.median(ratios),
        "low": ratios[0],
        "high": ratios[-1],
        "path": statistics.median(p / r for p, r in zip(times["path"], times["roof"], strict=True)),
        "seconds": min(times["ours"]) / n_examples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["resnet18", "lite0", "minilm"])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--examples", type=int, default=2, help="photos or sentences")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    threads = min(torch.get_num_threads(), 2)
    lines = [
        "# Guided IG ÷ its reference, over interleaved rounds",
        "",
        "Command: `" + " ".join(["python benchmarks/bench_guided_ig.py", *sys.argv[1:]]) + "`",
        "",
        f"One run on {platform.machine()}; Python {sys.version.split()[0]}, torch "
        f"{torch.__version__}, captum_smooth {captum_smooth.__version__}. n_steps {args.steps}; "
        f"{args.rounds} rounds of (Guided IG, reference), the order swapped every round. Images: "
        f"{args.examples} photos ({', '.join(examples.PHOTOS[: args.examples])}), "
        f"ImageNet-normalised 224×224, top-1 class, {threads} threads, reference the bare "
        f"forward+backward of the same rows; MiniLM: {args.examples} sentences, 1 thread, "
        "reference Captum's LayerIntegratedGradients at the same rows.",
        "",
        "| model | method | s / example | best ÷ best | median of round ratios | range "
        "| path bookkeeping ÷ reference |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in args.models:
        if name == "minilm":
            torch.set_num_threads(1)
            contenders = layer_contenders(args.steps, args.examples)
            method = "LayerGuidedIG ÷ Captum LayerIG"
        else:
            torch.set_num_threads(threads)
            contenders = image_contenders(name, args.steps, args.examples)
            method = "GuidedIG ÷ roofline"
        r = measure(*contenders, args.rounds)
        lines.append(
            f"| {name} | {method} | {r['seconds']:.2f} | {r['best']:.3f} | {r['median']:.3f} | "
            f"{r['low']:.3f}–{r['high']:.3f} | {r['path']:.3f} |"
        )
        print(lines[-1], flush=True)
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Guided IG against the bare forward+backward of its rows, over many interleaved rounds.

    python benchmarks/bench_guided_ig.py [--models resnet18 lite0 minilm] [--rounds 6]
        [--processes 3] [--steps 16] [--out benchmarks/results/guided_ig.md]

``bench_speed.py`` divides the best of a few runs by the best of a few rooflines; on a shared
machine one lucky roofline moves that ratio by several per cent, more than the margin Guided
IG's target (≤ 1.15 × the roofline) leaves. This script runs Guided IG and its roofline (the
same number of gradient rows, one row per image per call, as the path needs) alternately for
``--rounds`` rounds, the order swapped every round, and reports the ratio of the best times,
the median of the per-round ratios and their range. It also times the path's own bookkeeping
(everything between receiving a gradient and yielding the next point) inside the same calls,
as a share of the roofline.

Each model is measured in ``--processes`` fresh processes, one after the other, and their
rounds are pooled. On a CPU the model's own passes cost more or less from one process to the
next: glibc hands the freed activations back to the system after a call, or keeps them, and
which it does depends on where the process's earlier allocations happen to lie; a call that
gets its memory back from the system pays a page fault per 4 KiB. In one process that luck is
fixed, so one process's median is one draw of it; the table also gives the range of the
processes' medians.

``minilm``: ``LayerGuidedIntegratedGradients`` on the embeddings of the pretrained MiniLM of
``bench_layer.py`` (2 sentences, 1 thread), against Captum's ``LayerIntegratedGradients`` at the
same rows in calls of one row per sentence, the reference of ``bench_layer.py``'s table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
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

from _timing import KEEP_FREED_MEMORY, roofline


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


def measure(ours, roof, rounds: int) -> dict[str, list[float]]:
    """The seconds of each round's Guided IG, reference and path bookkeeping."""
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
    return times


def summarise(runs: list[dict[str, list[float]]], n_examples: int) -> dict[str, float]:
    """Pool the rounds of several processes."""
    ours = [t for run in runs for t in run["ours"]]
    roof = [t for run in runs for t in run["roof"]]
    path = [t for run in runs for t in run["path"]]
    ratios = sorted(o / r for o, r in zip(ours, roof, strict=True))
    medians = sorted(
        statistics.median(o / r for o, r in zip(run["ours"], run["roof"], strict=True))
        for run in runs
    )
    return {
        "best": min(ours) / min(roof),
        "median": statistics.median(ratios),
        "low": ratios[0],
        "high": ratios[-1],
        "process_low": medians[0],
        "process_high": medians[-1],
        "path": statistics.median(p / r for p, r in zip(path, roof, strict=True)),
        "seconds": min(ours) / n_examples,
    }


def contenders(name: str, steps: int, n_examples: int):
    """Guided IG, its reference and the number of examples, for one model."""
    if name == "minilm":
        torch.set_num_threads(1)
        return layer_contenders(steps, n_examples)
    torch.set_num_threads(min(torch.get_num_threads(), 2))
    return image_contenders(name, steps, n_examples)


def worker(args: argparse.Namespace) -> None:
    """One process's rounds for one model, as JSON on stdout."""
    ours, reference, n_examples = contenders(args.worker, args.steps, args.examples)
    times = measure(ours, reference, args.rounds)
    print(json.dumps({"times": times, "n_examples": n_examples}))


def in_fresh_process(args: argparse.Namespace, name: str) -> dict:
    command = [sys.executable, __file__, "--worker", name, "--rounds", str(args.rounds)]
    command += ["--steps", str(args.steps), "--examples", str(args.examples)]
    env = {**os.environ, **(KEEP_FREED_MEMORY if args.keep_freed_memory else {})}
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["resnet18", "lite0", "minilm"])
    parser.add_argument("--rounds", type=int, default=6, help="rounds per process")
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--examples", type=int, default=2, help="photos or sentences")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--keep-freed-memory", action="store_true", help="diagnostic: glibc keeps freed memory"
    )
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args)
        return
    threads = min(torch.get_num_threads(), 2)
    lines = [
        "# Guided IG ÷ its reference, over interleaved rounds",
        "",
        "Command: `" + " ".join(["python benchmarks/bench_guided_ig.py", *sys.argv[1:]]) + "`",
        "",
        f"One run on {platform.machine()}; Python {sys.version.split()[0]}, torch "
        f"{torch.__version__}, captum_smooth {captum_smooth.__version__}. n_steps {args.steps}; "
        f"{args.processes} fresh processes per model, each {args.rounds} rounds of (Guided IG, "
        f"reference), the order swapped every round. Images: {args.examples} photos "
        f"({', '.join(examples.PHOTOS[: args.examples])}), ImageNet-normalised 224×224, top-1 "
        f"class, {threads} threads, reference the bare forward+backward of the same rows; "
        f"MiniLM: {args.examples} sentences, 1 thread, reference Captum's "
        "LayerIntegratedGradients at the same rows."
        + (
            " glibc told to keep freed memory (--keep-freed-memory: "
            + ", ".join(f"{k}={v}" for k, v in KEEP_FREED_MEMORY.items())
            + "), a diagnostic."
            if args.keep_freed_memory
            else ""
        ),
        "",
        "| model | method | s / example | best ÷ best | median of round ratios | range "
        "| processes' medians | path bookkeeping ÷ reference |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in args.models:
        method = "LayerGuidedIG ÷ Captum LayerIG" if name == "minilm" else "GuidedIG ÷ roofline"
        runs = [in_fresh_process(args, name) for _ in range(args.processes)]
        r = summarise([run["times"] for run in runs], runs[0]["n_examples"])
        lines.append(
            f"| {name} | {method} | {r['seconds']:.2f} | {r['best']:.3f} | {r['median']:.3f} | "
            f"{r['low']:.3f}–{r['high']:.3f} | {r['process_low']:.3f}–{r['process_high']:.3f} | "
            f"{r['path']:.3f} |"
        )
        print(lines[-1], flush=True)
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

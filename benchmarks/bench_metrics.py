"""Speed of the metrics, as ratios measured side by side.

    python benchmarks/bench_metrics.py [--images 4] [--batch 64] [--steps 3] [--candidates 16]
    python benchmarks/bench_metrics.py --evaluation [--photos 2] [--out FILE.md]

The second form times each metric inside ``evaluate_methods`` on the pretrained
EfficientNet-Lite0 and bundled photos (each a crop and its mirror image), with the IDGI
table's eight methods, twice in one run: with the metrics' shared cache (what the evaluation
does) and without it (every method's metric recomputing what depends on the image alone, as
before the cache). It prints the seconds per image and method of each metric.

Model: torchvision resnet18 (weights=None, eval), 224×224 inputs. For each metric:

- ``÷ forward``: the metric's time divided by the bare forward-only time (``torch.no_grad``) of
  the same number of rows at the same batch size — the cost of everything but the model
  (target ≤ 1.2).
- ``speed-up``: a one-image-at-a-time loop (every perturbed copy through the model alone,
  ``batch_size=1``) divided by the batched metric.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torchvision.models import resnet18

from captum_smooth.metrics import aupc, insertion

from _timing import bare_forward, best_time


def evaluation(args: argparse.Namespace) -> None:
    """Seconds per image and method of each metric in an evaluation, with and without the
    shared cache, in one run."""
    import inspect
    import platform
    import sys
    import time

    from captum.attr import IntegratedGradients, Saliency

    from captum_smooth import IDGI, BlurIntegratedGradients, GuidedIntegratedGradients, examples
    from captum_smooth.evaluation import Method, RandomMap, evaluate_methods
    from captum_smooth.evaluation.adapters import (
        aupc_metric,
        autvc_metric,
        insertion_metric,
        pic_metric,
    )

    model = examples.load_lite0()
    names = list(examples.PHOTOS[: args.photos])
    crops = [examples.load_photo(name)[0] for name in names]
    images = [image for crop in crops for image in (crop, crop.flip(-1))]
    ibs, steps = 16, 8
    path = {"n_steps": steps, "internal_batch_size": ibs}
    black = {**path, "baselines": examples.normalize(torch.zeros(1, 3, 1, 1))}
    methods = [
        Method("IG", IntegratedGradients, black),
        Method("IDGI(IG)", lambda m: IDGI(IntegratedGradients(m)), black),
        Method("GuidedIG", GuidedIntegratedGradients, black),
        Method("IDGI(GuidedIG)", lambda m: IDGI(GuidedIntegratedGradients(m)), black),
        Method("BlurIG", BlurIntegratedGradients, path),
        Method("IDGI(BlurIG)", lambda m: IDGI(BlurIntegratedGradients(m)), path),
        Method("Gradient", Saliency, {"abs": False}),
        Method("random map", RandomMap, random=True),
    ]
    metrics = {
        "insertion": insertion_metric(batch_size=ibs),
        "insertion ratio": insertion_metric(ratio=True, batch_size=ibs),
        "insertion |map|": insertion_metric(channel_reduction="abs_sum", batch_size=ibs),
        "SIC": pic_metric("sic", batch_size=ibs),
        "AIC": pic_metric("aic", batch_size=ibs),
        "MS-SSIM SIC": pic_metric("sic", information="msssim", batch_size=ibs),
        "MS-SSIM AIC": pic_metric("aic", information="msssim", batch_size=ibs),
        "AUPC": aupc_metric(window_size=15, n_steps=8, n_candidates=8, batch_size=ibs),
        "AUTVC": autvc_metric(),
    }

    def timed(metric, seconds, name, with_cache):
        """``metric`` timed into ``seconds[name]``; without the cache it never sees one."""
        accepted = set(inspect.signature(metric).parameters)
        if not with_cache:
            accepted.discard("cache")

        def run(
            model, images, attributions, targets, input_transform=None, generator=None,
            cache=None,
        ):  # fmt: skip
            context = {"input_transform": input_transform, "generator": generator, "cache": cache}
            start = time.perf_counter()
            result = metric(
                model, images, attributions, targets,
                **{k: v for k, v in context.items() if k in accepted},
            )  # fmt: skip
            seconds[name] += time.perf_counter() - start
            return result

        return run

    # Interleaved per input, in alternating order, so that a change in the machine's load
    # during the run falls on both columns alike.
    seconds = {flag: dict.fromkeys(metrics, 0.0) for flag in (False, True)}
    wall = dict.fromkeys((False, True), 0.0)
    for index, image in enumerate(images):
        for with_cache in (False, True) if index % 2 == 0 else (True, False):
            wrapped = {n: timed(m, seconds[with_cache], n, with_cache) for n, m in metrics.items()}
            start = time.perf_counter()
            evaluate_methods(
                model, [image], methods, wrapped, batch_size=1,
                input_transform=examples.normalize,
            )  # fmt: skip
            wall[with_cache] += time.perf_counter() - start
    totals = {flag: (seconds[flag], wall[flag]) for flag in (False, True)}
    per = len(images) * len(methods)
    lines = [
        "# Metrics in an evaluation, with and without the shared cache",
        "",
        "Command: `" + " ".join(["python benchmarks/bench_metrics.py", *sys.argv[1:]]) + "`",
        "",
        f"One run on {platform.machine()}, {torch.get_num_threads()} threads, torch "
        f"{torch.__version__}: EfficientNet-Lite0, {len(images)} inputs ({', '.join(names)}, "
        f"each a crop and its mirror), {len(methods)} methods (the IDGI table's, {steps} "
        "steps). Seconds per input and method; each input evaluated without and with the cache "
        "back to back, the order alternating from input to input.",
        "",
        "| metric | s / (input · method), no cache | with cache | speed-up |",
        "|---|---|---|---|",
    ]
    for name in metrics:
        before, after = totals[False][0][name] / per, totals[True][0][name] / per
        lines.append(f"| {name} | {before:.3f} | {after:.3f} | {before / max(after, 1e-9):.1f}× |")
    before, after = sum(totals[False][0].values()) / per, sum(totals[True][0].values()) / per
    lines.append(f"| **all metrics** | {before:.3f} | {after:.3f} | {before / after:.1f}× |")
    lines += [
        "",
        f"Whole evaluation (attributions included): {totals[False][1]:.0f} s without the cache, "
        f"{totals[True][1]:.0f} s with it.",
    ]
    text = "\n".join(lines) + "\n"
    if args.out is not None:
        args.out.write_text(text)
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--evaluation", action="store_true")
    parser.add_argument("--photos", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3, help="AUPC windows (paper: 30)")
    parser.add_argument("--candidates", type=int, default=16, help="AUPC candidates (paper: 50)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.evaluation:
        evaluation(args)
        return

    model = resnet18(weights=None).eval()
    images = torch.rand(args.images, 3, 224, 224)
    attributions = torch.randn(args.images, 3, 224, 224)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def normalise(x):
        return (x - mean) / std

    def run_aupc(batch):
        return aupc(
            model, images, attributions, 0, n_steps=args.steps, n_candidates=args.candidates,
            input_transform=normalise, batch_size=batch,
            generator=torch.Generator().manual_seed(0),
        )  # fmt: skip

    def run_insertion(batch):
        return insertion(
            model, images, attributions, 0, input_transform=normalise, batch_size=batch
        )

    results = {}
    for name, run, n_rows in (
        ("aupc", run_aupc, args.images * (1 + args.steps * args.candidates)),
        ("insertion", run_insertion, args.images * 21),
    ):
        run(args.batch)  # warm-up
        # Alternate the two measurements so that a busy machine slows both alike.
        batched, forward = float("inf"), float("inf")
        for _ in range(args.repeats):
            batched = min(batched, best_time(lambda run=run: run(args.batch), 1))
            forward = min(
                forward,
                best_time(
                    lambda n_rows=n_rows: bare_forward(
                        model, normalise(images), n_rows, args.batch
                    ),
                    1,
                ),
            )
        one_at_a_time = best_time(lambda run=run: run(1), 1)
        results[name] = {
            "rows": n_rows,
            "seconds": round(batched, 3),
            "forward_seconds": round(forward, 3),
            "ratio_to_forward": round(batched / forward, 3),
            "one_at_a_time_seconds": round(one_at_a_time, 3),
            "speed_up_over_one_at_a_time": round(one_at_a_time / batched, 2),
        }
    print(json.dumps({"settings": vars(args), "results": results}, indent=2))


if __name__ == "__main__":
    main()

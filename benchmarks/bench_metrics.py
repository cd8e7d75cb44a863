"""Speed of the perturbation metrics (AUPC, insertion), as ratios measured side by side.

    python benchmarks/bench_metrics.py [--images 4] [--batch 64] [--steps 3] [--candidates 16]

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

import torch
from torchvision.models import resnet18

from captum_smooth.metrics import aupc, insertion

from _timing import bare_forward, best_time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3, help="AUPC windows (paper: 30)")
    parser.add_argument("--candidates", type=int, default=16, help="AUPC candidates (paper: 50)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

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

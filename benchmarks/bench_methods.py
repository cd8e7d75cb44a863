"""Speed and memory of the methods, as ratios measured side by side in one run.

    python benchmarks/bench_methods.py [--rows 16] [--repeats 3]

Model: torchvision resnet18 (weights=None, eval), 224×224 inputs, 2 threads. Each ratio divides
our time by a reference measured in the same process: Captum's nearest equivalent, PAIR
`saliency` (one image at a time, as it runs), or the "roofline" — the same number of rows
pushed through bare forward+backward at the same batch size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import torch
from captum.attr import IntegratedGradients, NoiseTunnel, Saliency
from torchvision.models import resnet18

from captum_smooth import (
    IDGI,
    BlurIntegratedGradients,
    GuidedIntegratedGradients,
    NoiseBaselineIntegratedGradients,
    SmoothTaylor,
)

from _timing import best_time, roofline


def peak_memory_child(n_samples, batch):
    """Peak RSS (MiB) of one SmoothTaylor run, measured in a fresh process."""
    code = (
        "import resource, torch; from torchvision.models import resnet18;"
        "from captum_smooth import SmoothTaylor; torch.set_num_threads(2);"
        "m = resnet18(weights=None).eval(); x = torch.rand(1, 3, 224, 224);"
        f"SmoothTaylor(m).attribute(x, target=0, n_samples={n_samples},"
        f" internal_batch_size={batch}, generator=torch.Generator().manual_seed(0));"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=16, help="internal_batch_size")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--pair-images", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = resnet18(weights=None).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    batch, target, rows = 2, 3, args.rows
    images = torch.rand(batch, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    results = {}

    def report(name, ours, reference, target_ratio):
        ratio = ours / reference
        results[name] = ratio
        verdict = "" if target_ratio is None else (" ok" if ratio <= target_ratio else " OVER")
        limit = "report" if target_ratio is None else f"target ≤ {target_ratio:.2f}"
        print(f"{name:58s} {ours:7.2f}s / {reference:7.2f}s = {ratio:5.2f}  ({limit}){verdict}")

    def roof(n_rows):
        return best_time(lambda: roofline(model, images, n_rows, rows, target), args.repeats)

    # SmoothTaylor vs NoiseTunnel(Saliency), the same forward+backward rows
    r = 16
    ours = best_time(
        lambda: SmoothTaylor(model).attribute(
            images,
            target=target,
            n_samples=r,
            internal_batch_size=rows,
            generator=torch.Generator().manual_seed(0),
        ),
        args.repeats,
    )
    nt = best_time(
        lambda: NoiseTunnel(Saliency(model)).attribute(
            images,
            nt_type="smoothgrad",
            nt_samples=r,
            nt_samples_batch_size=rows // batch,
            stdevs=0.5,
            target=target,
            abs=False,
        ),
        args.repeats,
    )
    report(f"SmoothTaylor(R={r}) / NoiseTunnel(Saliency, {r})", ours, nt, 1.10)
    report(f"SmoothTaylor(R={r}) / roofline", ours, roof(r * batch), 1.15)

    # noise-baseline IG vs N separate Captum IG calls
    n, s = 2, 8
    ours = best_time(
        lambda: NoiseBaselineIntegratedGradients(model).attribute(
            images,
            target=target,
            n_baselines=n,
            n_steps=s,
            internal_batch_size=rows,
            generator=torch.Generator().manual_seed(0),
        ),
        args.repeats,
    )
    baselines = [torch.rand_like(images) for _ in range(n)]
    captum = best_time(
        lambda: [
            IntegratedGradients(model).attribute(
                images,
                baselines=z,
                target=target,
                n_steps=s,
                method="riemann_right",
                internal_batch_size=rows,
            )
            for z in baselines
        ],
        args.repeats,
    )
    report(f"NoiseBaselineIG(N={n}, S={s}) / {n} x Captum IG({s})", ours, captum, 1.00)
    report(f"NoiseBaselineIG(N={n}, S={s}) / roofline", ours, roof(n * s * batch), 1.15)

    # IDGI on each path vs the path's own method (IDGI evaluates the path's end point too:
    # n_steps + 1 rows against n_steps, so a realistic n_steps)
    steps = 32
    ig = best_time(
        lambda: IntegratedGradients(model).attribute(
            images, target=target, n_steps=steps, method="riemann_right", internal_batch_size=rows
        ),
        args.repeats,
    )
    idgi_ig = best_time(
        lambda: IDGI(IntegratedGradients(model)).attribute(
            images, target=target, n_steps=steps, internal_batch_size=rows
        ),
        args.repeats,
    )
    report(f"IDGI(IG, {steps}) / Captum IG({steps})", idgi_ig, ig, 1.10)
    report(f"IDGI(IG, {steps}) / roofline", idgi_ig, roof((steps + 1) * batch), 1.20)
    steps = 8
    blur_kwargs = {"n_steps": steps, "max_sigma": 50.0, "internal_batch_size": rows}
    blur = best_time(
        lambda: BlurIntegratedGradients(model).attribute(images, target=target, **blur_kwargs),
        args.repeats,
    )
    idgi_blur = best_time(
        lambda: IDGI(BlurIntegratedGradients(model)).attribute(
            images, target=target, **blur_kwargs
        ),
        args.repeats,
    )
    report(f"IDGI(BlurIG, {steps}) / BlurIG({steps})", idgi_blur, blur, 1.10)
    report(f"BlurIG({steps}) / roofline", blur, roof(steps * batch), 1.20)
    guided_kwargs = {"n_steps": steps, "internal_batch_size": rows}
    guided = best_time(
        lambda: GuidedIntegratedGradients(model).attribute(images, target=target, **guided_kwargs),
        args.repeats,
    )
    idgi_guided = best_time(
        lambda: IDGI(GuidedIntegratedGradients(model)).attribute(
            images, target=target, **guided_kwargs
        ),
        args.repeats,
    )
    report(f"IDGI(GuidedIG, {steps}) / GuidedIG({steps})", idgi_guided, guided, 1.10)
    report(f"GuidedIG({steps}) / roofline", guided, roof((steps + 1) * batch), None)

    # ours vs PAIR saliency, a batch of images (PAIR: one image per call, float64 numpy)
    pair_results(model, args, target, report)

    # peak memory: internal_batch_size fixed, n_samples x4
    small, large = peak_memory_child(8, 8), peak_memory_child(32, 8)
    ratio = large / small
    results["peak memory n_samples x4"] = ratio
    verdict = "ok" if ratio <= 1.10 else "OVER"
    print(
        f"{'SmoothTaylor peak RSS, n_samples 32 / 8 (batch 8)':58s} {large:7.0f}M / {small:7.0f}M"
        f" = {ratio:5.2f}  (target ≤ 1.10) {verdict}"
    )
    print(json.dumps({k: round(v, 3) for k, v in results.items()}))


def pair_results(model, args, target, report):
    try:
        import numpy as np
        from saliency.core import BlurIG, GuidedIG
        from saliency.core.base import INPUT_OUTPUT_GRADIENTS
    except ImportError:
        print("PAIR saliency not installed (pip install 'captum-smooth[reference]'): skipped")
        return
    model64 = resnet18(weights=None).eval().double()
    model64.load_state_dict(model.state_dict())
    images = torch.rand(args.pair_images, 3, 224, 224, dtype=torch.float64)

    def call(batch, call_model_args=None, expected_keys=None):
        x = torch.as_tensor(np.asarray(batch)).permute(0, 3, 1, 2).requires_grad_(True)
        (g,) = torch.autograd.grad(model64(x)[:, target].sum(), x)
        return {INPUT_OUTPUT_GRADIENTS: g.permute(0, 2, 3, 1).numpy()}

    hwc = [im.permute(1, 2, 0).numpy() for im in images]
    steps = 8
    pair_guided = best_time(
        lambda: [
            GuidedIG().GetMask(h, call, x_steps=steps, x_baseline=np.zeros_like(h)) for h in hwc
        ],
        1,
    )
    ours_guided = best_time(
        lambda: GuidedIntegratedGradients(model64).attribute(
            images, target=target, n_steps=steps, internal_batch_size=args.rows
        ),
        1,
    )
    report(f"GuidedIG / PAIR GuidedIG, {len(hwc)} images, float64", ours_guided, pair_guided, None)
    pair_blur = best_time(
        lambda: [BlurIG().GetMask(h, call, steps=steps, batch_size=1) for h in hwc], 1
    )
    ours_blur = best_time(
        lambda: BlurIntegratedGradients(model64).attribute(
            images, target=target, n_steps=steps, internal_batch_size=args.rows
        ),
        1,
    )
    report(f"BlurIG / PAIR BlurIG, {len(hwc)} images, float64", ours_blur, pair_blur, None)


if __name__ == "__main__":
    main()

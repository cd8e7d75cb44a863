"""The speed table: every method on the pretrained EfficientNet-Lite0 and on torchvision's
resnet18 (weights=None), measured side by side in one run.

    python benchmarks/bench_speed.py [--images 2] [--repeats 2] [--device cpu|cuda]
        [--models lite0 resnet18 resnet50] [--out benchmarks/results/speed.md]

Each row times one of our methods on the same batch of real photos (ImageNet-normalised
224×224 crops, the model's top-1 class explained) against two references, run in alternation
in the same process so that a busy machine slows all alike (best of ``--repeats``):

- **÷ roofline**: bare forward+backward of the same number of rows in model calls of the
  same size, what any method evaluating those gradients must pay: ``internal_batch_size`` rows
  per call, or, for Guided IG, whose next point depends on the gradient at the current one,
  one row per image per call (on a CPU, resnet18 costs about twice as much per row in calls of
  2 rows as in calls of 16);
- **÷ nearest**: the nearest existing implementation on the same images: Captum
  (``IntegratedGradients``, ``NoiseTunnel(Saliency)``), PAIR ``saliency`` (Guided IG, Blur IG;
  one image per call, as it runs), or, for IDGI and IDG, the wrapped method itself (same path,
  Riemann rule).

Expected Gradients is divided by Captum's ``GradientShap`` (``stdevs=0``) with the same
references and ``n_samples``. ``GradientShap`` has no ``internal_batch_size``: it evaluates
all ``images × n_samples`` rows in one model call. So the row that compares with it runs ours
with ``internal_batch_size`` equal to that count and its roofline in one call of as many rows
(same calls, same sizes); a second row runs ours at the table's ``internal_batch_size`` against
the roofline in calls of that size.

With ``--device cuda`` the models, images, baselines and generators live on the GPU (PAIR's
images go through the host, as PAIR works in NumPy) and every timer is read after
``torch.cuda.synchronize``.

Adaptive noising runs SmoothTaylor and the AUPC objective several times per image; its
"nearest" is the search done by hand: (one SmoothTaylor run + one AUPC run) per image times the
number of evaluations the search made.
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from captum.attr import GradientShap, IntegratedGradients, NoiseTunnel
from captum.attr import Saliency as CaptumSaliency
from torchvision.models import resnet18, resnet50

import captum_smooth
from captum_smooth import (
    IDGI,
    AdaptiveSmoothTaylor,
    BlurIntegratedGradients,
    ExpectedGradients,
    GuidedIntegratedGradients,
    IntegratedDecisionGradients,
    NoiseBaselineIntegratedGradients,
    SmoothTaylor,
    examples,
    metrics,
)
from captum_smooth.metrics import aupc

from _timing import best_time, roofline


@dataclass
class Row:
    """One line of the table: our method, the rows it evaluates, its nearest equivalent."""

    method: str
    settings: str
    ours: Callable[[], object]
    rows_per_image: int | None
    reference: str
    nearest: Callable[[], object] | None
    sequential: bool = False
    """The path's next point depends on the gradient at the current one: each model call can
    hold one row per image, whatever ``internal_batch_size``."""
    batch: int | None = None
    """Rows per model call of the roofline where it is not ``internal_batch_size``."""


def pair_call(model: torch.nn.Module, targets: list[int], device: torch.device):
    """PAIR's call_model_function for one image (HWC numpy) of a torch model on ``device``."""
    from saliency.core.base import INPUT_OUTPUT_GRADIENTS

    def call(batch, call_model_args=None, expected_keys=None):
        index = call_model_args["index"]
        x = torch.as_tensor(np.asarray(batch, dtype=np.float32), device=device)
        x = x.permute(0, 3, 1, 2).requires_grad_(True)
        (g,) = torch.autograd.grad(model(x)[:, targets[index]].sum(), x)
        return {INPUT_OUTPUT_GRADIENTS: g.permute(0, 2, 3, 1).cpu().numpy()}

    return call


def rows_for(model, raw, targets, p) -> list[Row]:
    images, device = examples.normalize(raw), raw.device
    ibs, gen = p.batch, lambda: torch.Generator(device=device).manual_seed(0)
    ig_steps, r, (n_base, n_steps), path_steps = p.ig_steps, p.samples, p.noise, p.path_steps
    baselines = [
        examples.normalize(
            torch.rand(images.shape, generator=torch.Generator().manual_seed(k)).to(device)
        )
        for k in range(n_base)
    ]
    hwc = [im.permute(1, 2, 0).cpu().numpy() for im in images]
    call = pair_call(model, targets, device)
    try:
        from saliency.core import BlurIG, GuidedIG
    except ImportError:
        print("PAIR saliency not installed (pip install 'captum-smooth[reference]')")
        BlurIG = GuidedIG = None

    def pair(make, **kwargs):
        if make is None:
            return None
        return lambda: [
            make().GetMask(h, call, call_model_args={"index": i}, **kwargs)
            for i, h in enumerate(hwc)
        ]

    ig = IntegratedGradients(model)
    references = examples.normalize(
        torch.cat([examples.load_photo(name) for name in examples.PHOTOS]).to(device)
    )
    all_rows = r * len(images)  # GradientShap's one call
    guided, blur = GuidedIntegratedGradients(model), BlurIntegratedGradients(model)
    path = {"target": targets, "internal_batch_size": ibs}
    along = {**path, "n_steps": path_steps}  # Guided and Blur IG, with and without IDGI
    objective = p.aupc | {"input_transform": examples.normalize, "batch_size": 4 * ibs}
    adaptive = AdaptiveSmoothTaylor(
        model, metrics.objective("aupc", model, generator=gen(), **objective)
    )
    search = {"target": targets, "n_samples": r, "max_iterations": p.iterations,
              "objective_inputs": raw, "internal_batch_size": ibs}  # fmt: skip
    evaluations = []  # how many the search makes, the reference's count (only if it is timed)
    if p.methods is None or "AdaptiveSmoothTaylor" in p.methods:
        evaluations = adaptive.attribute(images, generator=gen(), **search).n_evaluations.tolist()

    def search_by_hand():
        for i, n_evaluations in enumerate(evaluations):
            for _ in range(n_evaluations):
                st = SmoothTaylor(model).attribute(
                    images[i : i + 1], target=targets[i], n_samples=r, internal_batch_size=ibs,
                    generator=gen(),
                )  # fmt: skip
                aupc(model, raw[i : i + 1], st, targets[i], generator=gen(), **objective)

    return [
        Row(
            "SmoothTaylor", f"R={r}",
            lambda: SmoothTaylor(model).attribute(
                images, target=targets, n_samples=r, internal_batch_size=ibs, generator=gen()
            ),
            r, f"Captum NoiseTunnel(Saliency), {r} samples",
            lambda: NoiseTunnel(CaptumSaliency(model)).attribute(
                images, nt_type="smoothgrad", nt_samples=r,
                nt_samples_batch_size=max(1, ibs // len(images)), stdevs=0.5, target=targets,
                abs=False,
            ),
        ),
        Row(
            "NoiseBaselineIG", f"N={n_base}, S={n_steps}",
            lambda: NoiseBaselineIntegratedGradients(model).attribute(
                images, target=targets, n_baselines=n_base, n_steps=n_steps,
                baseline_transform=examples.normalize, internal_batch_size=ibs, generator=gen(),
            ),
            n_base * n_steps, f"{n_base} × Captum IG(S={n_steps})",
            lambda: [
                ig.attribute(
                    images, baselines=z, target=targets, n_steps=n_steps,
                    method="riemann_right", internal_batch_size=ibs,
                )
                for z in baselines
            ],
        ),
        Row(
            "IDGI(IG)", f"S={ig_steps}",
            lambda: IDGI(ig).attribute(images, n_steps=ig_steps, **path),
            ig_steps + 1, f"Captum IG(S={ig_steps})",
            lambda: ig.attribute(images, n_steps=ig_steps, method="riemann_right", **path),
        ),
        Row(
            "IDG(IG)", f"S={ig_steps}",
            lambda: IntegratedDecisionGradients(ig).attribute(images, n_steps=ig_steps, **path),
            ig_steps + 1, f"Captum IG(S={ig_steps})",
            lambda: ig.attribute(images, n_steps=ig_steps, method="riemann_right", **path),
        ),
        *(
            Row(
                "ExpectedGradients", f"R={r}, {len(references)} references, {calls}",
                lambda b=batch: ExpectedGradients(model).attribute(
                    images, references, n_samples=r, target=targets, internal_batch_size=b,
                    generator=gen(),
                ),
                r, f"Captum GradientShap, {r} samples (one call)",
                lambda: GradientShap(model).attribute(
                    images, references, n_samples=r, stdevs=0.0, target=targets
                ),
                batch=None if batch == ibs else batch,
            )
            for calls, batch in (("one call", all_rows), (f"ibs={ibs}", ibs))
        ),
        Row(
            "GuidedIG", f"S={path_steps}",
            lambda: guided.attribute(images, **along),
            path_steps, "PAIR GuidedIG",
            pair(GuidedIG, x_steps=path_steps, x_baseline=np.zeros_like(hwc[0])),
            sequential=True,
        ),
        Row(
            "IDGI(GuidedIG)", f"S={path_steps}",
            lambda: IDGI(guided).attribute(images, **along),
            path_steps + 1, "our GuidedIG",
            lambda: guided.attribute(images, **along),
            sequential=True,
        ),
        Row(
            "BlurIG", f"S={path_steps}",
            lambda: blur.attribute(images, **along),
            path_steps, "PAIR BlurIG",
            pair(BlurIG, steps=path_steps, batch_size=ibs),
        ),
        Row(
            "IDGI(BlurIG)", f"S={path_steps}",
            lambda: IDGI(blur).attribute(images, **along),
            path_steps + 1, "our BlurIG",
            lambda: blur.attribute(images, **along),
        ),
        Row(
            "AdaptiveSmoothTaylor", f"AUPC, R={r}, ≤{p.iterations} iterations",
            lambda: adaptive.attribute(images, generator=gen(), **search),
            None, f"{sum(evaluations)} × (SmoothTaylor + AUPC), one image at a time",
            search_by_hand,
        ),
    ]  # fmt: skip


def delta_rows(model, raw, targets, p) -> list[tuple[str, str, Callable[..., object], int, int]]:
    """Methods with a convergence delta: (name, settings, run(delta), gradient rows per image,
    forward-only rows the delta adds per image)."""
    images = examples.normalize(raw)
    n_base, n_steps = p.noise
    common = {"target": targets, "internal_batch_size": p.batch}
    noise = NoiseBaselineIntegratedGradients(model)
    blur, guided = BlurIntegratedGradients(model), GuidedIntegratedGradients(model)
    return [
        (
            "NoiseBaselineIG", f"N={n_base}, S={n_steps}",
            lambda delta: noise.attribute(
                images, n_baselines=n_base, n_steps=n_steps, baseline_transform=examples.normalize,
                generator=torch.Generator(device=images.device).manual_seed(0),
                return_convergence_delta=delta,
                **common,
            ),
            n_base * n_steps, n_base + 1,
        ),
        (
            "BlurIG", f"S={p.path_steps}",
            lambda delta: blur.attribute(
                images, n_steps=p.path_steps, return_convergence_delta=delta, **common
            ),
            p.path_steps, 2,
        ),
        (
            "GuidedIG", f"S={p.path_steps}",
            lambda delta: guided.attribute(
                images, n_steps=p.path_steps, return_convergence_delta=delta, **common
            ),
            p.path_steps, 1,
        ),
    ]  # fmt: skip


def measure(row: Row, model, images, p) -> dict[str, float | None]:
    """Best-of-repeats times of the row's three contenders, interleaved."""
    n = len(images)
    n_rows = None if row.rows_per_image is None else row.rows_per_image * n
    contenders = {"ours": row.ours, "nearest": row.nearest}
    if n_rows is not None:
        batch = len(images) if row.sequential else row.batch or p.batch
        contenders["roofline"] = lambda: roofline(model, images, n_rows, batch)
    best = {name: float("inf") for name, fn in contenders.items() if fn is not None}
    row.ours()  # warm-up
    for _ in range(p.repeats):
        for name in best:
            best[name] = min(best[name], best_time(contenders[name], 1, p.device))
    return {name: best.get(name) for name in ("ours", "nearest", "roofline")}


def lite0():
    return examples.load_lite0()


def resnet():
    torch.manual_seed(0)
    return resnet18(weights=None).eval()


def resnet_50():
    torch.manual_seed(0)
    return resnet50(weights=None).eval()


def where(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (cuda)"
    return platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2, help="photos in the batch")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16, help="internal_batch_size")
    parser.add_argument("--ig-steps", type=int, default=32)
    parser.add_argument("--samples", type=int, default=32, help="SmoothTaylor R")
    parser.add_argument("--noise", type=int, nargs=2, default=(4, 8), metavar=("N", "S"))
    parser.add_argument("--path-steps", type=int, default=16, help="Guided/Blur IG steps")
    parser.add_argument("--iterations", type=int, default=2, help="adaptive max_iterations")
    parser.add_argument(
        "--models", nargs="+", default=["lite0", "resnet18"], help="lite0, resnet18, resnet50"
    )
    parser.add_argument("--device", type=torch.device, default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--methods", nargs="+", default=None, help="only these rows, e.g. GuidedIG 'IDGI(GuidedIG)'"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    args.aupc = {"n_steps": 3, "n_candidates": 8, "window_size": 28}
    torch.set_num_threads(min(torch.get_num_threads(), 2))

    names = list(examples.PHOTOS[: args.images])
    raw = torch.cat([examples.load_photo(name) for name in names]).to(args.device)
    images = examples.normalize(raw)
    lines = [
        "# Speed of every method, side by side",
        "",
        "Command: `" + " ".join(["python benchmarks/bench_speed.py", *sys.argv[1:]]) + "`",
        "",
        f"One run on {where(args.device)}, {torch.get_num_threads()} threads; Python "
        f"{sys.version.split()[0]}, torch {torch.__version__}, captum_smooth "
        f"{captum_smooth.__version__}. Batch: {len(names)} photos ({', '.join(names)}), "
        f"ImageNet-normalised 224×224, top-1 class; internal_batch_size {args.batch}; best of "
        f"{args.repeats}, the three timings of a row interleaved. Seconds per image; ratios "
        "below 1 mean ours is faster.",
    ]
    for model_name in args.models:
        model = {"lite0": lite0, "resnet18": resnet, "resnet50": resnet_50}[model_name]()
        model = model.to(args.device)
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        with torch.no_grad():
            targets = model(images).argmax(1).tolist()
        lines += [
            "",
            f"## {model_name}",
            "",
            "| method | settings | s / image | ÷ roofline | nearest equivalent | ÷ nearest |",
            "|---|---|---|---|---|---|",
        ]
        for row in rows_for(model, raw, targets, args):
            if args.methods is not None and row.method not in args.methods:
                continue
            t = measure(row, model, images, args)
            per_image = t["ours"] / len(images)
            roof = "—" if t["roofline"] is None else f"{t['ours'] / t['roofline']:.2f}"
            near = "—" if t["nearest"] is None else f"{t['ours'] / t['nearest']:.2f}"
            lines.append(
                f"| {row.method} | {row.settings} | {per_image:.2f} | {roof} | "
                f"{row.reference} | {near} |"
            )
            print(lines[-1], flush=True)
        with_delta = [
            row
            for row in delta_rows(model, raw, targets, args)
            if args.methods is None or row[0] in args.methods
        ]
        if with_delta:
            lines += [
                "",
                f"Convergence delta on {model_name}: the same method with and without "
                "`return_convergence_delta=True`, interleaved, best of "
                f"{args.repeats}; the delta's extra rows (the path's ends) need a forward pass "
                "only.",
                "",
                "| method | settings | gradient rows / image | delta rows / image (forward) "
                "| with delta ÷ without |",
                "|---|---|---|---|---|",
            ]
        for name, settings, run, grad_rows, value_rows in with_delta:
            run(True)  # warm-up
            best = {True: float("inf"), False: float("inf")}
            for _ in range(args.repeats):
                for delta in (False, True):
                    time = best_time(lambda d=delta, r=run: r(d), 1, args.device)
                    best[delta] = min(best[delta], time)
            lines.append(
                f"| {name} | {settings} | {grad_rows} | {value_rows} | "
                f"{best[True] / best[False]:.2f} |"
            )
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if args.out is not None:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

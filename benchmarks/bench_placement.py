"""Step placement where the output rises: rows to a relative map error, evenly spaced or placed.

    python benchmarks/bench_placement.py [--inputs 4] [--reference-steps 1024]
        [--max-steps 256] [--probes 32] [--floors 0.5] [--out benchmarks/results/placement.md]

EfficientNet-Lite0 on the medium preset's photos, as ``bench_convergence.py`` loads them (its
top-1 class, from a black baseline normalised like the inputs). Per input, the straight line
of N = ``--reference-steps`` steps is recorded once (the output and its gradient at
``α = j/N``); the references, from those N + 1 gradients: for IG the trapezoid rule, for IDGI
the extrapolation ``2 A_N - A_{N/2}`` (as ``bench_convergence.py``). At 8, 16, … ``--max-steps``
steps: IG on the package's straight line (``StraightPath``, Gauss–Legendre: Captum's nodes and
weights; evenly spaced, and placed with ``Placement(probes, floor)``), and IDGI over Captum's IG
(evenly spaced: IDGI's rule on every ``N/n``-th recorded vertex, the map
``IDGI(...).attribute(n_steps=n)`` returns; placed: the method with ``placement=``). A map's
error is ``||A - A_ref|| / ||A_ref||``. Rows to a tolerance are interpolated log-log as in
``bench_convergence.py`` (≈: extrapolated beyond the last count). Gradient rows: IG's n nodes,
IDGI's n + 1 vertices; a placement adds ``probes + 1`` forward-only rows per call, counted as a
third of a gradient row each in the cost (a forward pass without the backward pass).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import captum
import torch
from bench_convergence import (
    censored_median,
    censored_value,
    distance,
    image_gradient,
    lite0,
    machine,
    median,
    record_line,
    rows_to_reach,
)
from bench_overhead import source
from captum.attr import IntegratedGradients

import captum_smooth
from captum_smooth import IDGI, Placement, examples
from captum_smooth.attr._captum_paths import StraightPath

TOLERANCES = (0.05, 0.01)
FORWARD_COST = 1 / 3
"""A forward-only row in gradient rows: a forward pass without the backward pass."""


def measure(args: argparse.Namespace, log) -> tuple[list[str], dict]:
    """Per input and variant: the error at each step count."""
    subject, model, x, target = lite0(args)
    labels = subject.labels
    baseline = examples.normalize(torch.zeros_like(x[:1]))
    ibs = args.internal_batch_size
    line_method, idgi = StraightPath(model), IDGI(IntegratedGradients(model))
    steps = [2**k for k in range(3, args.max_steps.bit_length())]
    variants = ["IG, evenly spaced (Gauss–Legendre)", "IDGI(IG), evenly spaced"]
    for floor in args.floors:
        variants += [f"IG, placed (floor {floor:g})", f"IDGI(IG), placed (floor {floor:g})"]
    errors: dict[str, list[dict[int, float]]] = {v: [] for v in variants}
    for i in range(len(x)):
        began = time.perf_counter()
        xi, ti = x[i : i + 1], target[i : i + 1]
        line = record_line(image_gradient(model, ti), baseline, xi, args.reference_steps, ibs)
        n = args.reference_steps
        ig_ref, idgi_ref = line.trapezoid(), 2 * line.idgi(n) - line.idgi(n // 2)
        log(f"{labels[i]}: line of {n} steps recorded, {time.perf_counter() - began:.0f} s")
        results = {v: {} for v in variants}
        for s in steps:
            uniform = line_method._attribute(
                xi, ti, None, ibs, False, False, baselines=baseline, n_steps=s
            )
            results[variants[0]][s] = distance(uniform, ig_ref).item()
            results[variants[1]][s] = distance(line.idgi(s), idgi_ref).item()
            for k, floor in enumerate(args.floors):
                placement = Placement(probes=args.probes, floor=floor)
                placed = line_method._attribute(
                    xi, ti, None, ibs, False, False, baselines=baseline, n_steps=s,
                    placement=placement,
                )  # fmt: skip
                results[variants[2 + 2 * k]][s] = distance(placed, ig_ref).item()
                placed = idgi.attribute(
                    xi, baseline, target=ti, n_steps=s, internal_batch_size=ibs,
                    placement=placement,
                )  # fmt: skip
                results[variants[3 + 2 * k]][s] = distance(placed, idgi_ref).item()
        for v in variants:
            errors[v].append(results[v])
        log(
            f"{labels[i]}: {time.perf_counter() - began:.0f} s; at {steps[-1]} steps "
            + ", ".join(f"{v}: {results[v][steps[-1]]:.4f}" for v in variants)
        )
    return labels, {"steps": steps, "errors": errors}


def gradient_rows(variant: str, steps: int) -> int:
    return steps + 1 if variant.startswith("IDGI") else steps


def forward_rows(variant: str, probes: int) -> int:
    return probes + 1 if "placed" in variant else 0


def report(labels: Sequence[str], measured: dict, args: argparse.Namespace) -> list[str]:
    steps, errors = measured["steps"], measured["errors"]
    variants = list(errors)
    out = [
        f"### Rows to a relative map error (median over {len(labels)} inputs)",
        "",
        "Gradient rows, and the cost in gradient rows with each forward-only row a third of one "
        f"(placed: {args.probes + 1} forward rows per call). The last columns divide the cost of "
        "evenly spaced Gauss–Legendre IG (Captum's rule) by the variant's.",
        "",
        "| variant | "
        + " | ".join(f"gradient rows to {t * 100:g} % | cost to {t * 100:g} %" for t in TOLERANCES)
        + " | "
        + " | ".join(f"GL IG ÷ this, {t * 100:g} %" for t in TOLERANCES)
        + " |",
        "|---|" + "---|" * (3 * len(TOLERANCES)),
    ]
    costs = {}
    for v in variants:
        cells, cost = [], {}
        for t in TOLERANCES:
            reached = [
                rows_to_reach([gradient_rows(v, s) for s in steps], [per[s] for s in steps], t)
                for per in errors[v]
            ]
            extra = forward_rows(v, args.probes) * FORWARD_COST
            priced = [(sign, value + extra) for sign, value in reached]
            cells += [censored_median(reached), censored_median(priced)]
            cost[t] = censored_value(priced)
        costs[v] = cost
        out.append(f"| {v} | " + " | ".join(cells) + " |")
    base = costs[variants[0]]
    rebuilt = []
    for line, v in zip(out[-len(variants) :], variants, strict=True):
        ratios = []
        for t in TOLERANCES:
            (s0, c0), (s1, c1) = base[t], costs[v][t]
            ratios.append("—" if ">" in (s0, s1) else f"{c0 / c1:.2f}×")
        rebuilt.append(line + " " + " | ".join(ratios) + " |")
    out[-len(variants) :] = rebuilt
    out += [
        "",
        "### Error by steps (medians)",
        "",
        "| steps | " + " | ".join(variants) + " |",
        "|---|" + "---|" * len(variants),
    ]
    for s in steps:
        out.append(
            f"| {s} | " + " | ".join(f"{median([e[s] for e in errors[v]]):.4f}" for v in variants)
            + " |"
        )  # fmt: skip
    out += [
        "",
        f"### Per input: error at {steps[-1]} steps",
        "",
        "| input | " + " | ".join(variants) + " |",
        "|---|" + "---|" * len(variants),
    ]
    for i, label in enumerate(labels):
        out.append(
            f"| {label} | " + " | ".join(f"{errors[v][i][steps[-1]]:.4f}" for v in variants) + " |"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=4, help="Lite0 inputs")
    parser.add_argument("--reference-steps", type=int, default=1024, help="N, a power of two")
    parser.add_argument("--max-steps", type=int, default=256, help="most steps, a power of two")
    parser.add_argument("--probes", type=int, default=32)
    parser.add_argument("--floors", type=float, nargs="+", default=[0.5])
    parser.add_argument("--internal-batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    n, most = args.reference_steps, args.max_steps
    if n < 16 or n & (n - 1) or most < 8 or most & (most - 1) or most > n // 2:
        parser.error("--reference-steps and --max-steps: powers of two, 8 ≤ max-steps ≤ N/2")
    torch.set_num_threads(args.threads)
    began = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - began:6.0f} s] {message}", file=sys.stderr, flush=True)

    labels, measured = measure(args, log)
    minutes = (time.perf_counter() - began) / 60
    lines = [
        "# Step placement: rows to a relative map error, evenly spaced or placed",
        "",
        "Command: `" + " ".join(["python benchmarks/bench_placement.py", *sys.argv[1:]]) + "`",
        "",
        f"One run on cpu ({machine()}), {minutes:.0f} min; Python {sys.version.split()[0]}, "
        f"torch {torch.__version__}, captum {captum.__version__}, captum_smooth "
        f"{captum_smooth.__version__} ({source()}).",
        "",
        " ".join(__doc__.split("\n\n", 2)[2].split()),
        "",
        *report(labels, measured, args),
    ]
    text = "\n".join(lines) + "\n"
    if args.out is not None:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

"""Step placement where the output rises: rows to a relative map error, evenly spaced or placed.

    python benchmarks/bench_placement.py [--inputs 4] [--sentences 0] [--reference-steps 1024]
        [--max-steps 256] [--probes 32] [--floors 0.5] [--out benchmarks/results/placement.md]
    python benchmarks/bench_placement.py --first 2 --inputs 4 --out part2.md   # a run in parts
    python benchmarks/bench_placement.py --combine part1.json part2.json --out placement.md

EfficientNet-Lite0 on the medium preset's photos, as ``bench_convergence.py`` loads them (its
top-1 class, from a black baseline normalised like the inputs), and with ``--sentences`` the
MiniLM classifier on held-out sentences (token embeddings from the [PAD] reference, as there).
Per input, the straight line of N = ``--reference-steps`` steps is recorded once (the output and
its gradient at ``α = j/N``; MiniLM's sentences in one batch); the references, from those N + 1
gradients: for IG the trapezoid rule, for IDGI the extrapolation ``2 A_N - A_{N/2}`` (as
``bench_convergence.py``). At 8, 16, … ``--max-steps`` steps: IG on the package's straight line
(``StraightPath``, Gauss–Legendre: Captum's nodes and weights; evenly spaced, and placed with
``Placement(probes, floor)``), and IDGI over Captum's IG (evenly spaced: IDGI's rule on every
``N/n``-th recorded vertex, the map ``IDGI(...).attribute(n_steps=n)`` returns; placed: the
method with ``placement=``). A map's error is ``||A - A_ref|| / ||A_ref||``. Rows to a tolerance
are interpolated log-log as in ``bench_convergence.py`` (≈: extrapolated beyond the last count).
Gradient rows: IG's n nodes, IDGI's n + 1 vertices; a placement adds ``probes + 1`` forward-only
rows per call, counted as a third of a gradient row each in the cost (a forward pass without the
backward pass).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import captum
import torch
from bench_convergence import (
    Line,
    censored_median,
    censored_value,
    distance,
    lite0,
    machine,
    median,
    minilm,
    rows_to_reach,
)
from bench_overhead import source
from captum.attr import IntegratedGradients, LayerIntegratedGradients
from torch import Tensor

import captum_smooth
from captum_smooth import IDGI, Placement, examples
from captum_smooth.attr._captum_paths import LayerStraightPath, StraightPath

TOLERANCES = (0.05, 0.01)
FORWARD_COST = 1 / 3
"""A forward-only row in gradient rows: a forward pass without the backward pass."""


@dataclass
class Model:
    """Inputs of one model and the calls the benchmark makes on a group of them."""

    name: str
    labels: list[str]
    groups: list[slice]
    record: Callable[[slice, int], Line]
    ig: Callable[[slice, int, Placement | None], Tensor]
    """IG on the package's straight line (Gauss–Legendre), evenly spaced or placed."""
    idgi: Callable[[slice, int, Placement], Tensor]
    """IDGI over Captum's IG, placed."""


def lite0_model(args: argparse.Namespace) -> Model:
    subject, model, x, target = lite0(args)
    baseline = examples.normalize(torch.zeros_like(x[:1]))
    ibs = args.internal_batch_size
    line, idgi = StraightPath(model), IDGI(IntegratedGradients(model))
    return Model(
        "EfficientNet-Lite0, photos of the medium preset",
        subject.labels,
        subject.groups,
        subject.record,
        lambda g, n, placement: line._attribute(
            x[g], target[g], None, ibs, False, False, baselines=baseline, n_steps=n,
            placement=placement,
        ),
        lambda g, n, placement: idgi.attribute(
            x[g], baseline, target=target[g], n_steps=n, internal_batch_size=ibs,
            placement=placement,
        ),
    )  # fmt: skip


def minilm_model(args: argparse.Namespace) -> Model:
    subject = minilm(args)
    parts = subject.parts
    classifier, ids, mask = parts["classifier"], parts["ids"], parts["mask"]
    reference, target = parts["reference"], parts["target"]
    ibs = args.text_batch_size
    line = LayerStraightPath(classifier, classifier.embeddings)
    idgi = IDGI(LayerIntegratedGradients(classifier, classifier.embeddings))
    return Model(
        "MiniLM sentiment classifier, held-out sentences (token embeddings)",
        subject.labels,
        subject.groups,
        subject.record,
        lambda g, n, placement: line._attribute(
            ids[g], target[g], (mask[g],), ibs, False, False, baselines=reference[g],
            n_steps=n, placement=placement,
        ),
        lambda g, n, placement: idgi.attribute(
            ids[g], reference[g], target=target[g], additional_forward_args=(mask[g],),
            n_steps=n, internal_batch_size=ibs, placement=placement,
        ),
    )  # fmt: skip


def measure(
    model: Model, args: argparse.Namespace, log, done: Callable[[dict], None] = print
) -> dict:
    """Per input and variant: the error at each step count (``done`` after each group)."""
    steps = [2**k for k in range(3, args.max_steps.bit_length())]
    variants = ["IG, evenly spaced (Gauss–Legendre)", "IDGI(IG), evenly spaced"]
    for floor in args.floors:
        variants += [f"IG, placed (floor {floor:g})", f"IDGI(IG), placed (floor {floor:g})"]
    errors: dict[str, list[dict[int, float]]] = {v: [] for v in variants}
    n = args.reference_steps
    for group in model.groups[args.first :]:
        began = time.perf_counter()
        line = model.record(group, n)
        ig_ref, idgi_ref = line.trapezoid(), 2 * line.idgi(n) - line.idgi(n // 2)
        log(f"{model.labels[group][0]}…: line of {n} steps recorded")
        results: dict[str, dict[int, list[float]]] = {v: {} for v in variants}
        for s in steps:
            results[variants[0]][s] = distance(model.ig(group, s, None), ig_ref).tolist()
            results[variants[1]][s] = distance(line.idgi(s), idgi_ref).tolist()
            for k, floor in enumerate(args.floors):
                placement = Placement(probes=args.probes, floor=floor)
                placed = model.ig(group, s, placement)
                results[variants[2 + 2 * k]][s] = distance(placed, ig_ref).tolist()
                placed = model.idgi(group, s, placement)
                results[variants[3 + 2 * k]][s] = distance(placed, idgi_ref).tolist()
        for v in variants:
            for e in range(len(ig_ref)):
                errors[v].append({s: results[v][s][e] for s in steps})
        log(
            f"{model.labels[group][0]}…: {time.perf_counter() - began:.0f} s; at {steps[-1]} "
            "steps, medians "
            + ", ".join(f"{v}: {median(results[v][steps[-1]]):.4f}" for v in variants)
        )
        done({"steps": steps, "errors": errors})
    return {"steps": steps, "errors": errors}


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
    placed = [v for v in variants if "placed" in v]
    out += [
        "",
        "### Placed error ÷ evenly spaced error at the same steps (median over inputs, [range])",
        "",
        "| steps | " + " | ".join(placed) + " |",
        "|---|" + "---|" * len(placed),
    ]
    for s in steps:
        cells = []
        for v in placed:
            even = variants[1] if v.startswith("IDGI") else variants[0]
            ratios = [p[s] / e[s] for p, e in zip(errors[v], errors[even], strict=True)]
            cells.append(f"{median(ratios):.2f} [{min(ratios):.2f}–{max(ratios):.2f}]")
        out.append(f"| {s} | " + " | ".join(cells) + " |")
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


def combined(paths: Sequence[Path]) -> dict[str, dict]:
    """The errors that several runs wrote (``--out``'s ``.json``), per model, in order."""
    out: dict[str, dict] = {}
    for path in paths:
        for name, part in json.loads(path.read_text()).items():
            errors = {
                v: [{int(s): e for s, e in per.items()} for per in values]
                for v, values in part["errors"].items()
            }
            if name not in out:
                empty = {v: [] for v in errors}
                out[name] = {"labels": [], "steps": part["steps"], "errors": empty}
            if part["steps"] != out[name]["steps"] or set(errors) != set(out[name]["errors"]):
                raise ValueError(f"{path}: other steps or variants than the runs before it")
            out[name]["labels"] += part["labels"]
            for v, values in errors.items():
                out[name]["errors"][v] += values
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=4, help="Lite0 inputs (0: none)")
    parser.add_argument("--sentences", type=int, default=0, help="MiniLM sentences (0: none)")
    parser.add_argument(
        "--first",
        type=int,
        default=0,
        help="skip the first groups (Lite0: inputs), to split a run in parts",
    )
    parser.add_argument("--reference-steps", type=int, default=1024, help="N, a power of two")
    parser.add_argument("--max-steps", type=int, default=256, help="most steps, a power of two")
    parser.add_argument("--probes", type=int, default=32)
    parser.add_argument("--floors", type=float, nargs="+", default=[0.5])
    parser.add_argument("--internal-batch-size", type=int, default=32, help="Lite0's rows")
    parser.add_argument("--text-batch-size", type=int, default=256, help="MiniLM's rows")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="the report (and its .json)")
    parser.add_argument(
        "--combine", type=Path, nargs="+", default=None,
        help="report over the .json of earlier runs instead of measuring",
    )  # fmt: skip
    args = parser.parse_args()
    n, most = args.reference_steps, args.max_steps
    if n < 16 or n & (n - 1) or most < 8 or most & (most - 1) or most > n // 2:
        parser.error("--reference-steps and --max-steps: powers of two, 8 ≤ max-steps ≤ N/2")
    torch.set_num_threads(args.threads)
    began = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - began:6.0f} s] {message}", file=sys.stderr, flush=True)

    sections: list[str] = []
    raw: dict[str, dict] = {}  # the errors, for a report over several runs (--first)

    def write(current: list[str]) -> str:
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
            *current,
        ]
        text = "\n".join(lines) + "\n"
        if args.out is not None:  # after each group, so that a long run keeps what it has
            args.out.write_text(text)
            args.out.with_suffix(".json").write_text(json.dumps(raw))
        return text

    if args.combine:
        for name, part in combined(args.combine).items():
            sections.extend([f"## {name}", "", *report(part["labels"], part, args), ""])
        print(write(sections))
        return
    for count, load in ((args.inputs, lite0_model), (args.sentences, minilm_model)):
        if count:
            model = load(args)
            log(f"{model.name}: {len(model.labels)} inputs")

            def done(measured: dict, model: Model = model) -> None:
                count = len(next(iter(measured["errors"].values())))
                labels = model.labels[args.first : args.first + count]
                raw[model.name] = {"labels": labels, **measured}
                write([*sections, f"## {model.name}", "", *report(labels, measured, args), ""])

            measured = measure(model, args, log, done)
            labels = model.labels[args.first :]
            sections.extend([f"## {model.name}", "", *report(labels, measured, args), ""])
    print(write(sections))


if __name__ == "__main__":
    main()

"""IDGI's segment rules: the paper's (``"left"``) and the trapezoid, evenly spaced and placed.

    python benchmarks/bench_segment_rules.py [--inputs 12] [--sentences 24]
        [--reference-steps 1024] [--out benchmarks/results/segment_rules.md]

The inputs of ``bench_convergence.py``: EfficientNet-Lite0 on the medium preset's photos (the
top-1 class from a black baseline) and the MiniLM sentiment classifier on held-out sentences
(the token embeddings from the [PAD] reference). Per input one straight line of N =
``--reference-steps`` steps is recorded (the output and its gradient at ``α = j/N``), and IDGI's
maps are its rules folded on subsets of its vertices (``fold_recorded``): evenly spaced, every
``N/n``-th vertex, the map that ``IDGI(..., segment_rule=...).attribute(n_steps=n)`` returns
(checked each run against the method at 16 steps); placed (``placement="rise"``: 32 probes,
floor 0.5), the vertices at ``F⁻¹(j/n)`` rounded to the recorded grid (a shift of at most
``1/(2N)`` in α; the probes lie on it). The reference is the trapezoid rule on all N + 1
vertices (both rules have the same limit); its own error is about ``||T_N - T_{N/2}||`` on a
model where the trapezoid is of first order (Lite0) and a third of it where it is of second
order (MiniLM): the table gives it, and errors near it are not resolved.

Rows: n + 1 gradient rows at n steps; a placed map adds 33 forward-only rows (about 11
gradient rows' time; the tables count them as 11). ``n_steps=Auto(tolerance)`` is replayed
from the line: rounds of 16, 32, … steps, each reusing the last one's vertices (n + 1 rows in all
at the last round's n steps), stopped at the first round whose estimate ``|A_n - A_{n/2}|``
(``return_error``'s) is within the tolerance, or when the next round would pass N/4 new steps in
all (the cap).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from bench_convergence import distance, lite0, machine, median, minilm, replay_auto, rows_to_reach
from bench_overhead import source
from torch import Tensor

import captum_smooth
from captum_smooth import Auto, Placement, relative_error
from captum_smooth.attr import IDGIRule, TrapezoidIDGIRule, fold_recorded

RULES = {"left": IDGIRule, "trapezoid": TrapezoidIDGIRule}
PLACEMENT = Placement(probes=32, floor=0.5)
PLACEMENT_COST = 11
"""Gradient rows that the 33 forward-only rows of the placement's first pass cost, about."""
CHECK_STEPS = 16


def vertices(line, n: int, placed: bool) -> list[list[int]]:
    """Per example, the indices of the line's vertices that an n-step map uses."""
    big = line.steps
    if not placed:
        return [list(range(0, big + 1, big // n))] * line.values[0].shape[0]
    probes = torch.stack([line.values[round(t * big)] for t in PLACEMENT.grid()], dim=1)
    alphas = PLACEMENT.place(probes, [j / n for j in range(n + 1)])
    return [sorted({round(a * big) for a in row}) for row in alphas.tolist()]


def fold(line, rule: type, index: list[int], example: int) -> Tensor:
    """The rule on the vertices ``index`` of one example of the line."""
    one = slice(example, example + 1)
    points = [line.point(j / line.steps)[one] for j in index]
    return fold_recorded(
        rule, points, [line.values[j][one] for j in index], [line.grads[j][one] for j in index]
    )


def measure(subject, n_big: int, steps: list[int], log) -> dict:
    """Per input: errors by (rule, placement, n), estimates of the evenly spaced maps."""
    results = []
    for group in subject.groups:
        began = time.perf_counter()
        line = subject.record(group, n_big)
        for example in range(line.values[0].shape[0]):
            reference = fold(line, TrapezoidIDGIRule, list(range(n_big + 1)), example)
            half = fold(line, TrapezoidIDGIRule, list(range(0, n_big + 1, 2)), example)
            entry = {"reference": distance(half, reference).item(), "error": {}, "estimate": {}}
            for name, rule in RULES.items():
                maps = {}
                for n in [steps[0] // 2, *steps]:
                    for placed in (False, True):
                        index = vertices(line, n, placed)[example]
                        maps[n, placed] = fold(line, rule, index, example)
                        error = distance(maps[n, placed], reference).item()
                        entry["error"][name, placed, n] = error
                for n in steps:
                    spread = (maps[n, False] - maps[n // 2, False]).abs()
                    entry["estimate"][name, n] = relative_error(maps[n, False], spread).item()
            results.append(entry)
        if group.start == 0:
            check = {}
            for name in RULES:
                recorded = torch.cat([
                    fold(line, RULES[name], vertices(line, CHECK_STEPS, False)[e], e)
                    for e in range(line.values[0].shape[0])
                ])  # fmt: skip
                method, _ = subject.idgi(CHECK_STEPS, name)
                check[name] = distance(recorded, method[group]).max().item()
            log(f"  recorded vs the method at {CHECK_STEPS} steps: {check}")
        del line
        log(f"  {subject.name}: examples {group.start}–{group.stop - 1} "
            f"({time.perf_counter() - began:.0f} s)")  # fmt: skip
    return {"inputs": results, "check": check}


def section(name: str, measured: dict, steps: list[int], tolerances: list[float]) -> list[str]:
    inputs = measured["inputs"]
    lines = [f"## {name}", "", f"{len(inputs)} inputs; the reference's own error (median "
             f"``||T_N - T_{{N/2}}|| / ||T_N||``): {median([e['reference'] for e in inputs]):.4f}; "
             f"the recorded maps vs the methods at {CHECK_STEPS} steps (largest distance): "
             + ", ".join(f"{k} {v:.1e}" for k, v in measured["check"].items()), "",
             "### Error by steps (medians)", "",
             "| steps | " + " | ".join(f"{r}, {'placed' if p else 'even'}" for r in RULES
                                      for p in (False, True)) + " |",
             "|---|" + "---|" * 2 * len(RULES)]  # fmt: skip
    for n in steps:
        cells = [
            median([e["error"][r, p, n] for e in inputs]) for r in RULES for p in (False, True)
        ]
        lines.append(f"| {n} | " + " | ".join(f"{c:.4f}" for c in cells) + " |")
    lines += ["", "### Rows per input to a relative error (median; placed: +11 for the probes)",
              "", "| rule | " + " | ".join(f"{t:.1%}" for t in tolerances) + " |",
              "|---|" + "---|" * len(tolerances)]  # fmt: skip
    for r in RULES:
        for placed in (False, True):
            cells = []
            for t in tolerances:
                reached = []
                for e in inputs:
                    rows = [n + 1 + (PLACEMENT_COST if placed else 0) for n in steps]
                    mark, value = rows_to_reach(rows, [e["error"][r, placed, n] for n in steps], t)
                    reached.append((mark, value))
                values = sorted(v for _, v in reached)
                marks = {m for m, _ in reached if m}
                cells.append(f"{''.join(sorted(marks))}{median(values):,.0f}")
            lines.append(f"| {r}, {'placed' if placed else 'even'} | " + " | ".join(cells) + " |")
    lines += ["", "### `n_steps=Auto(tolerance)` replayed (even steps)", "",
              "| rule | tolerance | rows spent, median [range] | true error, median [range] | "
              "true error ≤ tolerance | stopped unconverged at the cap |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    for r in RULES:
        for t in tolerances:
            spent, true, stopped = [], [], 0
            for e in inputs:
                auto = Auto(tolerance=t, cap=steps[-1], start=CHECK_STEPS)
                rounds = replay_auto({n: e["estimate"][r, n] for n in steps}, auto)
                spent.append(rounds[-1] + 1)  # each round reuses the last one's vertices
                true.append(e["error"][r, False, rounds[-1]])
                stopped += e["estimate"][r, rounds[-1]] > t
            within = sum(x <= t for x in true)
            lines.append(
                f"| {r} | {t:.1%} | {median(spent):,.0f} [{min(spent):,}–{max(spent):,}] | "
                f"{median(true):.4f} [{min(true):.4f}–{max(true):.4f}] | {within}/{len(true)} | "
                f"{stopped} |"
            )
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=12, help="Lite0 inputs (0: none)")
    parser.add_argument("--sentences", type=int, default=24, help="MiniLM sentences (0: none)")
    parser.add_argument("--reference-steps", type=int, default=1024, help="N, a power of two")
    parser.add_argument("--internal-batch-size", type=int, default=32)
    parser.add_argument("--text-batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    n_big = args.reference_steps
    steps = [2**k for k in range(3, n_big.bit_length() - 2)]  # 8 … N/4
    torch.set_num_threads(args.threads)
    began = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - began:6.0f} s] {message}", file=sys.stderr, flush=True)

    sections = []
    for name, build, tolerances, wanted in (
        ("EfficientNet-Lite0, photos of the medium preset", lite0, [0.1, 0.05, 0.025],
         args.inputs),
        ("MiniLM sentiment classifier, held-out sentences", minilm, [0.05, 0.01, 0.005],
         args.sentences),
    ):  # fmt: skip
        if not wanted:
            continue
        built = build(args)
        subject = built[0] if isinstance(built, tuple) else built
        sections += section(name, measure(subject, n_big, steps, log), steps, tolerances)
    lines = [
        "# IDGI's segment rules: the paper's and the trapezoid",
        "",
        "Command: `" + " ".join(["python benchmarks/bench_segment_rules.py", *sys.argv[1:]]) + "`",
        "",
        f"One run on cpu ({machine()}), {(time.perf_counter() - began) / 60:.0f} min; torch "
        f"{torch.__version__}, captum_smooth {captum_smooth.__version__} ({source()}).",
        "",
        "\n\n".join(" ".join(p.split()) for p in __doc__.split("\n\n")[2:]),
        "",
        *sections,
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()

"""Per-call overhead: every method ÷ Captum's IG at the same rows on a tiny CNN.

    python benchmarks/bench_overhead.py [--device cpu|cuda] [--batches 1 4 64] [--rows 50]
        [--rounds 7] [--methods BlurIG ...] [--keep-freed-memory]
        [--out benchmarks/results/overhead.md]

On a large model the model's passes hide whatever a method does around them; on a GPU they
do not, and neither do they on a tiny model. This script runs Captum's CIFAR tutorial net
(conv 3→6 k5, pool, conv 6→16 k5, pool, fc 120, 84, 10; seeded random weights) on 32×32
inputs with one thread, so that per-call costs (argument checks, bookkeeping, allocations,
host reads) show as they would next to a fast accelerator.

Every method evaluates the same number of rows per example as Captum's
``IntegratedGradients`` (``--rows``) in the same model calls: ``internal_batch_size`` holds
every row, so both make one call, except for Guided IG, whose next point depends on the
gradient at the current one: its reference is Captum's IG with ``internal_batch_size`` equal
to the batch, one row per example per call, as many calls as Guided IG makes. The script
counts the rows and calls of each method with a forward hook and prints them. Timings are
interleaved: every round times every method and reference once (the order rotated each
round), each timing a fixed number of calls long enough for the timer; the table divides the
best round of a method by the best round of its reference.

On a CPU, glibc hands memory freed at the end of a call back to the system when the top of
its heap grows past a threshold, and the next call faults it in again, its model's activations
included; how often depends on every allocation of the call. ``--keep-freed-memory`` reruns
the script with glibc told to keep freed memory (a diagnostic: what remains is the methods'
work, as on an accelerator, whose caching allocator keeps its memory).

The second table counts host reads per call (``Tensor.item``, ``tolist``, ``__bool__``,
``__float__``, ``__int__``, ``cpu``, ``numpy`` through a ``TorchFunctionMode``): each one is
a synchronisation on a GPU.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from captum.attr import IntegratedGradients
from torch import nn
from torch.overrides import TorchFunctionMode

import captum_smooth
from captum_smooth import (
    IDGI,
    BlurIntegratedGradients,
    GuidedIntegratedGradients,
    NoiseBaselineIntegratedGradients,
    SmoothTaylor,
)

from _timing import KEEP_FREED_MEMORY, best_time

HOST_READS = ("item", "tolist", "__bool__", "__float__", "__int__", "cpu", "numpy")


class CifarNet(nn.Module):
    """The network of Captum's CIFAR tutorial."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu(self.conv1(x)))
        x = self.pool(self.relu(self.conv2(x)))
        x = self.relu(self.fc1(x.flatten(1)))
        return self.fc3(self.relu(self.fc2(x)))


class HostReads(TorchFunctionMode):
    """Counts the tensor methods that copy a value to the host."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in HOST_READS:
            self.counts[name] += 1
        return func(*args, **(kwargs or {}))


class CallCounter:
    """A forward pre-hook counting the model's calls and the rows they hold."""

    def __init__(self, model: nn.Module) -> None:
        self.calls = self.rows = 0
        self.recorded: list[torch.Tensor] | None = None
        model.register_forward_pre_hook(self._hook)

    def _hook(self, module, args) -> None:
        self.calls += 1
        self.rows += args[0].shape[0]
        if self.recorded is not None:
            self.recorded.append(args[0].detach().clone())

    def profile(
        self, fn: Callable[[], object]
    ) -> tuple[int, int, Counter[str], list[torch.Tensor]]:
        """One call of ``fn`` (the warm-up): its model calls, rows, host reads and the inputs
        of each model call."""
        self.calls = self.rows = 0
        self.recorded = []
        with HostReads() as mode:
            fn()
        recorded, self.recorded = self.recorded, None
        return self.calls, self.rows, mode.counts, recorded


def bare(model: nn.Module, calls: list[torch.Tensor]) -> Callable[[], None]:
    """The model's forward and backward passes alone on the points a method evaluated, call
    for call: what those rows cost, whoever sends them."""

    def run() -> None:
        for points in calls:
            points = points.detach().requires_grad_()
            torch.autograd.grad(model(points).sum(), points)

    return run


@dataclass
class Row:
    method: str
    settings: str
    run: Callable[[], object]
    reference: str
    """"one call" or "per row": the Captum IG call it is divided by."""
    target: float


def rows_for(model, x, targets, rows, device) -> tuple[list[Row], dict[str, Callable]]:
    batch = len(x)
    every = rows * batch  # one model call holds every row
    ig = IntegratedGradients(model)
    guided, blur = GuidedIntegratedGradients(model), BlurIntegratedGradients(model)
    path = {"target": targets, "internal_batch_size": every}

    def gen():
        return torch.Generator(device=device).manual_seed(0)

    n_base = 5 if rows % 5 == 0 else 1
    references = {
        "one call": lambda: ig.attribute(
            x, baselines=0.0, n_steps=rows, method="riemann_right", **path
        ),
        "per row": lambda: ig.attribute(
            x, baselines=0.0, target=targets, n_steps=rows, method="riemann_right",
            internal_batch_size=batch,
        ),
    }  # fmt: skip
    # IDGI adds one row per example (the path's end, for f): one step fewer, the same rows
    methods = [
        Row("IDGI(IG)", f"S={rows - 1}",
            lambda: IDGI(ig).attribute(x, baselines=0.0, n_steps=rows - 1, **path),
            "one call", 1.05),
        Row("SmoothTaylor", f"R={rows}",
            lambda: SmoothTaylor(model).attribute(x, n_samples=rows, generator=gen(), **path),
            "one call", 1.05),
        Row("NoiseBaselineIG", f"N={n_base}, S={rows // n_base}",
            lambda: NoiseBaselineIntegratedGradients(model).attribute(
                x, n_baselines=n_base, n_steps=rows // n_base, generator=gen(), **path
            ),
            "one call", 1.05),
        Row("BlurIG", f"S={rows}",
            lambda: blur.attribute(x, n_steps=rows, **path), "one call", 1.05),
        Row("IDGI(BlurIG)", f"S={rows - 1}",
            lambda: IDGI(blur).attribute(x, n_steps=rows - 1, **path), "one call", 1.05),
        Row("GuidedIG", f"S={rows}",
            lambda: guided.attribute(x, n_steps=rows, **path), "per row", 1.3),
        Row("IDGI(GuidedIG)", f"S={rows - 1}",
            lambda: IDGI(guided).attribute(x, n_steps=rows - 1, **path), "per row", 1.3),
    ]  # fmt: skip
    return methods, references


def measure(contenders: dict[str, Callable], rounds: int, device, floor: float) -> dict:
    """Best time per contender over interleaved rounds, each timing ``reps`` calls."""
    reps = max(1, math.ceil(floor / best_time(contenders["one call"], 3, device)))
    names = list(contenders)
    best = dict.fromkeys(names, math.inf)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:

            def calls(fn=contenders[name]):
                for _ in range(reps):
                    fn()

            best[name] = min(best[name], best_time(calls, 1, device) / reps)
    return best


def source() -> str:
    """Where captum_smooth was imported from, with its commit when that is a git checkout."""
    folder = Path(captum_smooth.__file__).parent
    commit = subprocess.run(
        ["git", "-C", str(folder), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    return f"{folder.parent.name}" + (f" at {commit}" if commit else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (cuda:N)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 64])
    parser.add_argument("--rows", type=int, default=50, help="rows per example (Captum's n_steps)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--methods", nargs="+", default=None, help="only these rows (e.g. BlurIG 'IDGI(BlurIG)')"
    )
    parser.add_argument(
        "--floor", type=float, default=0.02, help="seconds a timing lasts at least (repeated calls)"
    )
    parser.add_argument(
        "--keep-freed-memory", action="store_true", help="diagnostic: glibc keeps freed memory"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.keep_freed_memory and any(os.environ.get(k) != v for k, v in KEEP_FREED_MEMORY.items()):
        # glibc reads its settings when a process starts: run again with them
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **KEEP_FREED_MEMORY})
    device = torch.device(args.device)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = CifarNet().eval().to(device)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    counter = CallCounter(model)

    ratios: dict[str, dict[int, float]] = {}
    data: dict[str, dict[int, float]] = {}
    reads: dict[str, dict[int, Counter[str]]] = {}
    rows_per_example: dict[str, str] = {}
    calls: dict[str, dict[int, str]] = {}
    methods: list[Row] = []
    for batch in args.batches:
        x = torch.rand(batch, 3, 32, 32, generator=torch.Generator().manual_seed(1)).to(device)
        targets = torch.arange(batch, device=device) % 10
        methods, references = rows_for(model, x, targets, args.rows, device)
        if args.methods is not None:
            methods = [row for row in methods if row.method in args.methods]
            wanted = {"one call"} | {row.reference for row in methods}
            references = {name: fn for name, fn in references.items() if name in wanted}
        contenders = {**references, **{row.method: row.run for row in methods}}
        profiles = {name: counter.profile(fn) for name, fn in contenders.items()}
        points = {name: profile[3] for name, profile in profiles.items()}
        contenders |= {f"bare {name}": bare(model, calls) for name, calls in points.items()}
        best = measure(contenders, args.rounds, device, args.floor)
        points.clear()
        for row in methods:
            ratios.setdefault(row.method, {})[batch] = best[row.method] / best[row.reference]
            data.setdefault(row.method, {})[batch] = (
                best[f"bare {row.method}"] / best[f"bare {row.reference}"]
            )
            ours, theirs = profiles[row.method], profiles[row.reference]
            rows_per_example[row.method] = f"{ours[1] / batch:g} / {theirs[1] / batch:g}"
            calls.setdefault(row.method, {})[batch] = f"{ours[0]} / {theirs[0]}"
        for name, (_, _, counts, _) in profiles.items():
            label = f"Captum IG ({name})" if name in references else name
            reads.setdefault(label, {})[batch] = counts
        done = ", ".join(f"{row.method} {ratios[row.method][batch]:.2f}" for row in methods)
        print(f"batch {batch}: {done}", flush=True)

    where = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    lines = [
        "# Per-call overhead on a tiny CNN",
        "",
        "Command: `" + " ".join(["python benchmarks/bench_overhead.py", *sys.argv[1:]]) + "`",
        "",
        f"One run on {device.type} ({where or platform.machine()}), 1 thread; Python "
        f"{sys.version.split()[0]}, torch {torch.__version__}, captum_smooth "
        f"{captum_smooth.__version__} ({source()}). Captum's CIFAR tutorial net, seeded random "
        f"weights, 32×32 inputs; {args.rows} rows per example for every method; best of "
        f"{args.rounds} interleaved rounds. Each ratio: the method ÷ Captum IG at the same rows "
        "in the same model calls (one call holding every row; for Guided IG one row per example "
        "per call)."
        + (
            " glibc told to keep freed memory (--keep-freed-memory: "
            + ", ".join(f"{k}={v}" for k, v in KEEP_FREED_MEMORY.items())
            + "), a diagnostic."
            if args.keep_freed_memory
            else ""
        ),
        "",
        "| method | settings | rows / example (ours / Captum) | model calls (ours / Captum) | "
        + " | ".join(f"B={b}" for b in args.batches)
        + " | target | met |",
        "|---|---|---|---|" + "---|" * len(args.batches) + "---|---|",
    ]
    for row in methods:
        values = ratios[row.method]
        met = all(v <= row.target for v in values.values())
        lines.append(
            f"| {row.method} | {row.settings} | {rows_per_example[row.method]} | "
            + ", ".join(f"B={b}: {c}" for b, c in calls[row.method].items())
            + " | "
            + " | ".join(f"{values[b]:.2f}" for b in args.batches)
            + f" | ≤ {row.target} | {'yes' if met else 'no'} |"
        )
    lines += [
        "",
        "What the rows themselves cost: the model's forward and backward passes alone on the "
        "points each method evaluated (recorded call for call), ÷ the same on Captum IG's "
        "points, timed in the same interleaved rounds. The same number of rows can cost more "
        "when the points differ: this network's max pooling compares values with branches on "
        "a CPU, and on noisy points (SmoothTaylor's roots, noise baselines) the processor "
        "mispredicts more of them, so that its pooling layers take up to twice as long as on "
        "Captum IG's scaled inputs, the same shape, contiguous and in the same dtype (its "
        "convolutions, ReLUs and linear layers take the same time on both). That is a cost "
        "of the points, not of the method; the last columns divide it out, leaving what the "
        "method adds around the model:",
        "",
        "| method | "
        + " | ".join(f"rows' cost B={b}" for b in args.batches)
        + " | "
        + " | ".join(f"ratio ÷ rows' cost B={b}" for b in args.batches)
        + " |",
        "|---|" + "---|" * (2 * len(args.batches)),
    ]
    for row in methods:
        lines.append(
            f"| {row.method} | "
            + " | ".join(f"{data[row.method][b]:.2f}" for b in args.batches)
            + " | "
            + " | ".join(f"{ratios[row.method][b] / data[row.method][b]:.2f}" for b in args.batches)
            + " |"
        )
    lines += [
        "",
        "Host reads per call (`item`, `tolist`, `__bool__`, `__float__`, `__int__`, `cpu`, "
        "`numpy`: each a synchronisation on a GPU), by batch size:",
        "",
        "| method | " + " | ".join(f"B={b}" for b in args.batches) + " |",
        "|---|" + "---|" * len(args.batches),
    ]
    for name, by_batch in reads.items():
        cells = []
        for b in args.batches:
            counts = by_batch[b]
            total = sum(counts.values())
            detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            cells.append(f"{total} ({detail})" if total else "0")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    if args.out is not None:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

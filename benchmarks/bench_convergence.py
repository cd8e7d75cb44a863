"""Convergence: the rows each method needs for a relative map error, fixed and chosen budgets.

    python benchmarks/bench_convergence.py [--inputs 12] [--sentences 24]
        [--reference-steps 1024] [--ig-steps 512] [--samples 256]
        [--out benchmarks/results/convergence.md]

Two real models: EfficientNet-Lite0 on the medium preset's photos (``paper_tables.py``: crops
and mirror images at 224 px, the most confident first, round-robin over the photos), its top-1
class from a black baseline normalised like the inputs; and the MiniLM sentiment classifier on
held-out sentences (round-robin over the held-out templates), its predicted class, attributed
to the token embeddings (``model.embeddings``) from the [PAD] reference, as ``explain-text``.

**Paths.** Captum's ``IntegratedGradients`` (``LayerIntegratedGradients`` on MiniLM) with its
default Gauss–Legendre rule, and IDGI over it. Per input, one straight line of N =
``--reference-steps`` steps is recorded once (the output and its gradient at ``α = j/N``,
``j = 0..N``): IDGI's map at ``N/2^k`` steps is IDGI's rule (``fold_recorded``) on every
``2^k``-th vertex, the map that ``IDGI(...).attribute(n_steps=N/2^k)`` returns (checked each run
against the method at 16 steps), and its error estimate is ``|A_n - A_{n/2}|`` as
``return_error``'s. The references, from the same N + 1 gradients: for IG the trapezoid rule,
for IDGI (a first-order rule) the extrapolation ``2 A_N - A_{N/2}``, which is as far from
``A_N`` as the estimate at N says (so at N steps the error ÷ estimate is 1 by construction).
Captum's IG runs at 4, 8, 16, 32, 50, 64, … ``--ig-steps`` (default N/2) steps (none beyond 50
once every input is within 0.1 %). A map's error is ``||A - A_ref|| / ||A_ref||`` (L2 over every
feature). The rows to reach a tolerance are interpolated log-log between the last step count
above it and the first one after which every measured count is below it; where even the last is
above it, extrapolated along the power law through the last two (marked ≈). Rows are counted by
a forward pre-hook on the model (Captum's IG: its convergence delta's two forward rows included).

**Chosen budgets.** IDGI with ``n_steps=Auto(tolerance, cap=N)`` (rounds of 16, 32, … steps,
at most N). On MiniLM the method runs (rows counted by a forward pre-hook on the model); on
Lite0 its rounds are replayed from the recorded line, as a round at n steps returns the n-step
map and its estimate: on MiniLM the replay is compared with the run (rows and maps).

**Sampling (Lite0).** SmoothTaylor (σ = 0.5) and noise-baseline IG (4 steps per baseline) have
no affordable reference (a 4,096-sample estimate is itself noisy): their error is the estimated
standard error (``return_error``) at ``--samples`` rows, as a fraction of the limit's norm
(``||SE|| / sqrt(||A_R||² - ||SE||²)``: a noisy mean is longer than its limit, and dividing by
its own norm, as ``relative_error`` does, understates the error where the noise dominates), and
the rows to reach a tolerance ``t`` are ``R (e_R / t)²`` (the standard error falls as ``1/√R``).
Noise-baseline IG's spread over baselines leaves out the quadrature error its 4-step lines share.
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import captum
import torch
from bench_overhead import CallCounter, source
from captum.attr import IntegratedGradients, LayerIntegratedGradients
from paper_tables import PRESETS, photos
from torch import Tensor, nn

import captum_smooth
from captum_smooth import (
    IDGI,
    Auto,
    NoiseBaselineIntegratedGradients,
    SmoothTaylor,
    examples,
    relative_error,
)
from captum_smooth.attr import IDGIRule, fold_recorded

TOLERANCES = (0.05, 0.01)
RUN_NOTE = (
    "Here the method ran (rows counted by the hook) and its rounds were replayed as well: the "
    "last column compares the two."
)
REPLAY_NOTE = (
    "Here its rounds are replayed from the recorded line (rows: n + 1 at the last round's n "
    "steps, as the hook counts for IDGI at a fixed n: each round reuses the last one's vertices)."
)
SAMPLING_TOLERANCES = (0.3, 0.1)
NOISE_SCALE = 0.5
NOISE_STEPS = 4
CHECK_STEPS = 16
CONVERGED = min(TOLERANCES) / 10
"""Captum's IG runs no further step counts beyond 50 once every input's error is below it."""


def rows_to_reach(
    rows: Sequence[float], errors: Sequence[float], tolerance: float
) -> tuple[str, float]:
    """The rows at which ``errors`` (measured at increasing ``rows``) reach ``tolerance``.

    The first measured point after which every error is at most ``tolerance``, interpolated
    log-log with the point before it (an error falling as a power of the rows). Returns
    ``("", rows)``, or ``("≤", rows[0])`` when the first point is already below. When the last
    is not: ``("≈", rows)`` extrapolated along the power law of the last two points if the
    error falls between them, else ``(">", rows[-1])``.
    """
    index = len(errors)
    while index > 0 and errors[index - 1] <= tolerance:
        index -= 1
    if index == 0:
        return "≤", rows[0]
    if index == len(errors):
        if len(errors) < 2 or not errors[-2] > errors[-1] > 0:
            return ">", rows[-1]
        return "≈", _power_law(rows[-2:], errors[-2:], tolerance)
    (r0, e0), (r1, e1) = (rows[index - 1], errors[index - 1]), (rows[index], errors[index])
    if e1 <= 0 or e0 <= e1:
        return "", rows[index]
    return "", _power_law((r0, r1), (e0, e1), tolerance)


def _power_law(rows: Sequence[float], errors: Sequence[float], tolerance: float) -> float:
    """Where ``e = c r^-p`` through two points reaches ``tolerance``."""
    (r0, r1), (e0, e1) = rows, errors
    return r0 * (e0 / tolerance) ** (math.log(r1 / r0) / math.log(e0 / e1))


def standard_error(q: float) -> float:
    """The relative standard error against the limit's norm, from ``q = ||SE|| / ||A_R||``.

    A mean of R noisy samples is longer than its limit: ``E ||A_R||² = ||A||² + ||SE||²``, so
    ``||A_R||² - ||SE||²`` estimates ``||A||²`` without bias, and ``||SE|| / ||A||`` is
    ``q / sqrt(1 - q²)`` (infinite where the noise is the whole map, ``q ≥ 1``).
    """
    return q / math.sqrt(1 - q * q) if q < 1 else math.inf


def samples_to_reach(rows: float, q: float, tolerance: float) -> tuple[str, float]:
    """The rows a Monte-Carlo mean needs for ``tolerance``, from its ``q`` at ``rows`` rows.

    The standard error falls as ``1/√R``: ``R (e_R / t)²`` with ``e_R`` the
    :func:`standard_error`. Where the noise is the whole map (``q ≥ 1``), ``(">", R / t²)``:
    its error at R is above 1.
    """
    e = standard_error(q)
    if math.isinf(e):
        return ">", rows / tolerance**2
    return "", rows * (e / tolerance) ** 2


def replay_auto(estimates: dict[int, float], auto: Auto) -> list[int]:
    """The step counts of the rounds ``n_steps=auto`` runs for one example of a path method.

    ``estimates[n]``: the example's estimated relative error at ``n`` steps. A round at ``n``
    steps is followed by one at ``2n`` while the estimate is above the tolerance and the steps
    spent stay within the cap (``captum_smooth.attr._budgets.attribute_auto``); on the
    straight line each round reuses the last one's vertices (they fit the memory budget
    here), so it spends ``n`` new steps, and an example's rows are its last round's.
    """
    rounds, spent = [auto.start], auto.start
    while estimates[rounds[-1]] > auto.tolerance and spent + rounds[-1] <= auto.cap:
        spent += rounds[-1]
        rounds.append(2 * rounds[-1])
    return rounds


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def censored_value(reached: Sequence[tuple[str, float]]) -> tuple[str, float]:
    """The median of ``rows_to_reach`` results, ``>`` values ranked above every other.

    Of an even count, the mean of the two middle values, with the mark of either (``>`` first:
    a median above a bound is above the mean of the bounds).
    """
    ordered = sorted(reached, key=lambda r: (r[0] == ">", r[1]))
    low, high = ordered[(len(ordered) - 1) // 2], ordered[len(ordered) // 2]
    value = (low[1] + high[1]) / 2
    return next((m for m in (">", "≈", "≤") if m in (low[0], high[0])), ""), value


def censored_median(reached: Sequence[tuple[str, float]]) -> str:
    """:func:`censored_value` as text."""
    sign, value = censored_value(reached)
    return f"{sign}{value:,.0f}"


def spread(values: Sequence[float], fmt: str = ".3f") -> str:
    """``median [min–max]``."""
    return f"{median(values):{fmt}} [{min(values):{fmt}}–{max(values):{fmt}}]"


def distance(a: Tensor, reference: Tensor) -> Tensor:
    """``||a - reference|| / ||reference||`` per example."""
    return relative_error(reference, (a - reference).abs())


# --------------------------------------------------------------------- the recorded line


@dataclass
class Line:
    """Outputs and gradients at ``α = j/N`` on the straight line from ``start`` to ``end``."""

    start: Tensor
    end: Tensor
    values: list[Tensor]
    grads: list[Tensor]

    @property
    def steps(self) -> int:
        return len(self.values) - 1

    def idgi(self, n_steps: int) -> Tensor:
        """IDGI's map on every ``N / n_steps``-th vertex."""
        every = self.steps // n_steps
        points = [self.point(j / n_steps) for j in range(n_steps + 1)]
        return fold_recorded(IDGIRule, points, self.values[::every], self.grads[::every])

    def point(self, alpha: float) -> Tensor:
        return torch.add(self.start, self.end - self.start, alpha=alpha)

    def trapezoid(self) -> Tensor:
        """IG by the trapezoid rule on the N + 1 gradients."""
        total = (self.grads[0] + self.grads[-1]) / 2 + sum(self.grads[1:-1])
        return (self.end - self.start) * total / self.steps

    def rise(self) -> Tensor:
        return self.values[-1] - self.values[0]


def record_line(
    gradient: Callable[[Tensor], tuple[Tensor, Tensor]],
    start: Tensor,
    end: Tensor,
    n_steps: int,
    rows_per_call: int,
) -> Line:
    """Evaluate ``gradient`` (rows → outputs, gradients) at ``n_steps + 1`` points."""
    batch = start.shape[0]
    per_call = max(1, rows_per_call // batch)
    distance_ = end - start
    values, grads = [], []
    for first in range(0, n_steps + 1, per_call):
        alphas = [j / n_steps for j in range(first, min(first + per_call, n_steps + 1))]
        points = torch.cat([torch.add(start, distance_, alpha=a) for a in alphas])
        v, g = gradient(points)
        values += list(v.detach().split(batch))
        grads += list(g.detach().split(batch))
    return Line(start, end, values, grads)


def image_gradient(model: nn.Module, target: Tensor) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    def gradient(points: Tensor) -> tuple[Tensor, Tensor]:
        x = points.detach().requires_grad_(True)
        rows = torch.arange(len(x))
        out = model(x)[rows, target.repeat(len(x) // len(target))]
        return out, torch.autograd.grad(out.sum(), x)[0]

    return gradient


def embedding_gradient(
    classifier: nn.Module, ids: Tensor, mask: Tensor, target: Tensor
) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    """The output's gradient with respect to the embedding layer's output, set to the points."""

    def gradient(points: Tensor) -> tuple[Tensor, Tensor]:
        x = points.detach().requires_grad_(True)
        k = len(x) // len(ids)
        handle = classifier.embeddings.register_forward_hook(lambda module, args, output: x)
        try:
            logits = classifier(ids.repeat(k, 1), mask.repeat(k, 1))
        finally:
            handle.remove()
        out = logits[torch.arange(len(x)), target.repeat(k)]
        return out, torch.autograd.grad(out.sum(), x)[0]

    return gradient


# ------------------------------------------------------------------------------ paths


@dataclass
class Subject:
    """A model, its inputs and the calls the benchmark makes on them."""

    name: str
    labels: list[str]
    counter: CallCounter
    groups: list[slice]
    """The examples recorded together (one photo at a time: its line's gradients are large)."""
    record: Callable[[slice, int], Line]
    ig: Callable[[int], tuple[Tensor, Tensor]]
    """Captum's IG at ``n`` steps on every example, with its convergence delta."""
    idgi: Callable[..., tuple[Tensor, Tensor]]
    """IDGI over Captum's IG on every example at ``n_steps`` (an int or an ``Auto``), with
    ``return_error``; a second argument names the segment rule (default the paper's)."""
    parts: dict[str, object] = field(default_factory=dict)
    """What the calls are made of (model, inputs, targets, …), for other benchmarks."""


@dataclass
class Paths:
    """Per input: the errors of IG and IDGI by step count, IDGI's estimates, checks."""

    ig_steps: list[int]
    idgi_steps: list[int]
    ig_rows: dict[int, float] = field(default_factory=dict)
    idgi_rows: dict[int, float] = field(default_factory=dict)
    """Rows of a call at n steps: the n + 1 vertices and the rows a call makes once (a layer
    method's outputs at the inputs and baselines), which a budget's rounds share."""
    once: float = 0.0
    ig_error: list[dict[int, float]] = field(default_factory=list)
    ig_delta: list[dict[int, float]] = field(default_factory=list)
    idgi_error: list[dict[int, float]] = field(default_factory=list)
    idgi_estimate: list[dict[int, float]] = field(default_factory=list)
    check: list[float] = field(default_factory=list)
    """Per input: the recorded IDGI map at 16 steps against the method's."""
    runs: dict[float, tuple[float, float, list[float]]] = field(default_factory=dict)
    """tolerance → rows counted and rows replayed (per input, mean), and per input the distance
    of the run's map to the replayed one."""

    def replay(self, tolerance: float, cap: int) -> list[tuple[float, int, float, float]]:
        """Per input: rows spent, steps at the stop, true error and estimate there."""
        auto = Auto(tolerance=tolerance, cap=cap, start=CHECK_STEPS)
        out = []
        for errors, estimates in zip(self.idgi_error, self.idgi_estimate, strict=True):
            rounds = replay_auto(estimates, auto)
            rows = self.idgi_rows[rounds[-1]]  # the last round's vertices, the others reused
            out.append((rows, rounds[-1], errors[rounds[-1]], estimates[rounds[-1]]))
        return out


def measure_paths(
    subject: Subject,
    n: int,
    ig_max: int,
    tolerances: Sequence[float],
    log: Callable[[str], None],
) -> Paths:
    """Record each input's line; run Captum's IG along the steps; run the budgets if asked."""
    paths = Paths(ig_steps=ig_steps(ig_max), idgi_steps=idgi_steps(n))
    levels = [paths.idgi_steps[0] // 2, *paths.idgi_steps]
    maps: dict[int, list[Tensor]] = {m: [] for m in levels}
    ig_reference, rise = [], []
    for group in subject.groups:
        start = time.perf_counter()
        line = subject.record(group, n)
        for m in levels:
            maps[m].append(line.idgi(m))
        ig_reference.append(line.trapezoid())
        rise.append(line.rise())
        del line
        log(f"  {subject.name}: line of examples {group.start}–{group.stop - 1} "
            f"({time.perf_counter() - start:.0f} s)")  # fmt: skip
    idgi_maps = {m: torch.cat(maps[m]) for m in levels}
    idgi_reference = 2 * idgi_maps[n] - idgi_maps[n // 2]
    ig_ref, rises = torch.cat(ig_reference), torch.cat(rise)
    for _ in range(len(ig_ref)):
        paths.idgi_error.append({})
        paths.idgi_estimate.append({})
        paths.ig_error.append({})
        paths.ig_delta.append({})
    for m in paths.idgi_steps:
        errors = distance(idgi_maps[m], idgi_reference).tolist()
        estimates = relative_error(idgi_maps[m], (idgi_maps[m] - idgi_maps[m // 2]).abs()).tolist()
        for i in range(len(ig_ref)):
            paths.idgi_error[i][m], paths.idgi_estimate[i][m] = errors[i], estimates[i]

    (checked, _), rows = count_rows(subject.counter, lambda: subject.idgi(CHECK_STEPS))
    paths.once = rows / len(ig_ref) - (CHECK_STEPS + 1)
    paths.idgi_rows = {m: m + 1 + paths.once for m in paths.idgi_steps}
    paths.check = distance(idgi_maps[CHECK_STEPS], checked).tolist()
    log(f"  {subject.name}: recorded IDGI at {CHECK_STEPS} steps vs the method: "
        f"max {max(paths.check):.2e}")  # fmt: skip

    for k, steps in enumerate(paths.ig_steps):
        if steps > 50 and max(e[paths.ig_steps[k - 1]] for e in paths.ig_error) <= CONVERGED:
            paths.ig_steps = paths.ig_steps[:k]
            break
        (attr, delta), rows = count_rows(subject.counter, lambda s=steps: subject.ig(s))
        paths.ig_rows[steps] = rows / len(ig_ref)
        errors = distance(attr, ig_ref).tolist()
        completeness = (delta.abs() / rises.abs()).tolist()
        for i in range(len(ig_ref)):
            paths.ig_error[i][steps], paths.ig_delta[i][steps] = errors[i], completeness[i]
        log(f"  {subject.name}: IG at {steps} steps, median error {median(errors):.4f}")

    for tolerance in tolerances:
        cap = n
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # inputs stopped by the cap
            (attr, _), rows = count_rows(
                subject.counter, lambda t=tolerance, c=cap: subject.idgi(Auto(tolerance=t, cap=c))
            )
        replayed = paths.replay(tolerance, cap)
        against = torch.cat(
            [idgi_maps[steps][i : i + 1] for i, (_, steps, _, _) in enumerate(replayed)]
        )
        paths.runs[tolerance] = (
            rows / len(ig_ref),
            sum(r for r, _, _, _ in replayed) / len(replayed),
            distance(attr, against).tolist(),
        )
        log(f"  {subject.name}: Auto({tolerance}) run, {rows / len(ig_ref):.0f} rows per input")
    return paths


def ig_steps(most: int) -> list[int]:
    """Captum's IG: 4, 8, 16, 32, 50, 64, … ``most`` steps."""
    return sorted({*(2**k for k in range(2, int(math.log2(most)) + 1)), 50})


def idgi_steps(n: int) -> list[int]:
    """IDGI's maps from the line: 8, 16, … N steps."""
    return [2**k for k in range(3, int(math.log2(n)) + 1)]


def count_rows(counter: CallCounter, fn: Callable[[], object]) -> tuple[object, int]:
    """``fn()`` and the rows the model saw during it."""
    counter.rows = 0
    return fn(), counter.rows


# ----------------------------------------------------------------------------- models


def lite0(args: argparse.Namespace) -> tuple[Subject, nn.Module, Tensor, Tensor]:
    """Lite0 on the medium preset's photos: the subject, the model, its inputs and targets."""
    model = examples.load_lite0().requires_grad_(False)
    medium = PRESETS["medium"]
    images, sources = photos(
        medium["photos"], medium["crops"], model, medium["min_confidence"], args.inputs
    )
    x = examples.normalize(torch.stack(images))
    baseline = examples.normalize(torch.zeros_like(x[:1]))
    with torch.no_grad():
        target = model(x).argmax(dim=1)
    categories = examples.imagenet_categories()
    ibs = args.internal_batch_size
    ig = IntegratedGradients(model)
    subject = Subject(
        name="Lite0",
        labels=[f"{s} ({categories[t]})" for s, t in zip(sources, target.tolist(), strict=True)],
        counter=CallCounter(model),
        groups=[slice(i, i + 1) for i in range(len(x))],
        record=lambda group, n: record_line(
            image_gradient(model, target[group]), baseline, x[group], n, ibs
        ),
        ig=lambda n: ig.attribute(
            x, baseline, target=target, n_steps=n, internal_batch_size=ibs,
            return_convergence_delta=True,
        ),
        idgi=lambda n, rule="left": IDGI(ig, segment_rule=rule).attribute(
            x, baseline, target=target, n_steps=n, internal_batch_size=ibs, return_error=True
        ),
    )  # fmt: skip
    return subject, model, x, target


def minilm(args: argparse.Namespace) -> Subject:
    """The MiniLM classifier on held-out sentences, round-robin over the templates."""
    classifier, tokenizer = examples.load_sentiment_classifier()
    test = examples.sentiment_sentences("test")
    per_template = len(test) // len(examples.HELD_OUT_TEMPLATES)
    order = [
        test[t * per_template + k]
        for k in range(per_template)
        for t in range(len(examples.HELD_OUT_TEMPLATES))
    ]
    sentences = order[: args.sentences]
    batch = examples.encode(sentences, tokenizer)
    ids, mask = batch.input_ids, batch.attention_mask
    reference = batch.baseline_ids(tokenizer.pad_token_id)
    with torch.no_grad():
        target = classifier(ids, mask).argmax(dim=1)
        start, end = (
            classifier.embeddings(input_ids=reference),
            classifier.embeddings(input_ids=ids),
        )
    ibs = args.text_batch_size
    lig = LayerIntegratedGradients(classifier, classifier.embeddings)
    common = {"target": target, "additional_forward_args": (mask,), "internal_batch_size": ibs}
    return Subject(
        name="MiniLM",
        labels=[
            f"{s.text} ({examples.SENTIMENTS[t]})"
            for s, t in zip(sentences, target.tolist(), strict=True)
        ],
        counter=CallCounter(classifier),
        groups=[slice(0, len(ids))],
        record=lambda group, n: record_line(
            embedding_gradient(classifier, ids[group], mask[group], target[group]),
            start[group], end[group], n, ibs,
        ),
        ig=lambda n: lig.attribute(
            ids, reference, n_steps=n, return_convergence_delta=True, **common
        ),
        idgi=lambda n, rule="left": IDGI(lig, segment_rule=rule).attribute(
            ids, reference, n_steps=n, return_error=True, **common
        ),
        parts={"classifier": classifier, "ids": ids, "mask": mask, "reference": reference,
               "target": target},
    )  # fmt: skip


def measure_sampling(
    model: nn.Module, x: Tensor, target: Tensor, args: argparse.Namespace, counter: CallCounter
) -> dict[str, list[tuple[float, float]]]:
    """Per method: (rows per input, estimated relative error) of each input."""
    ibs = args.internal_batch_size

    def smooth_taylor(generator: torch.Generator) -> tuple[Tensor, Tensor]:
        return SmoothTaylor(model).attribute(
            x, target=target, n_samples=args.samples, noise_scale=NOISE_SCALE,
            internal_batch_size=ibs, generator=generator, return_error=True,
        )  # fmt: skip

    def noise_baseline(generator: torch.Generator) -> tuple[Tensor, Tensor]:
        return NoiseBaselineIntegratedGradients(model).attribute(
            x, target=target, n_baselines=args.samples // NOISE_STEPS, n_steps=NOISE_STEPS,
            baseline_transform=examples.normalize, internal_batch_size=ibs,
            generator=generator, return_error=True,
        )  # fmt: skip

    out = {}
    for name, method in (
        (f"SmoothTaylor σ={NOISE_SCALE}", smooth_taylor),
        (f"noise-baseline IG, {NOISE_STEPS} steps per baseline", noise_baseline),
    ):
        generator = torch.Generator().manual_seed(args.seed)
        (attr, error), rows = count_rows(counter, lambda m=method, g=generator: m(g))
        out[name] = [(rows / len(x), e) for e in relative_error(attr, error).tolist()]
    return out


# ----------------------------------------------------------------------------- report


def percent(tolerance: float) -> str:
    return f"{tolerance * 100:g} %"


def path_rows(paths: Paths, tolerances: Sequence[float]) -> list[str]:
    """Rows of the rows-to-a-tolerance table for IG and IDGI."""
    lines = []
    for name, steps, rows, errors in (
        ("Captum IG (Gauss–Legendre)", paths.ig_steps, paths.ig_rows, paths.ig_error),
        ("IDGI(IG)", paths.idgi_steps, paths.idgi_rows, paths.idgi_error),
    ):
        cells = [
            censored_median(
                [rows_to_reach([rows[s] for s in steps], [e[s] for s in steps], t) for e in errors]
            )
            for t in tolerances
        ]
        at = 50 if 50 in steps else 64
        fixed = spread([e[at] for e in errors])
        delta = spread([d[50] for d in paths.ig_delta]) if errors is paths.ig_error else "0 (exact)"
        lines.append(f"| {name} | {' | '.join(cells)} | {fixed} ({at} steps) | {delta} |")
    return lines


def sampling_rows(sampling: dict[str, list[tuple[float, float]]], tolerances) -> list[str]:
    lines = []
    for name, values in sampling.items():
        cells = [
            censored_median([samples_to_reach(r, q, t) for r, q in values]) for t in tolerances
        ]
        at_50 = spread([standard_error(q) * math.sqrt(r / 50) for r, q in values])
        lines.append(f"| {name} | {' | '.join(cells)} | {at_50} (50 rows) | — |")
    return lines


def ig_reached(paths: Paths, tolerance: float) -> list[tuple[str, float]]:
    """Per input: the rows Captum's IG needs for ``tolerance`` (``rows_to_reach``)."""
    return [
        rows_to_reach([paths.ig_rows[s] for s in paths.ig_steps], [e[s] for s in paths.ig_steps],
                      tolerance)
        for e in paths.ig_error
    ]  # fmt: skip


def auto_rows(paths: Paths, cap: int, tolerances: Sequence[float]) -> list[str]:
    """One row per tolerance; the true error only of inputs stopped below N (at N it is, by
    construction of the reference, the estimate)."""
    top = paths.idgi_steps[-1]
    lines = []
    for tolerance in tolerances:
        replayed = paths.replay(tolerance, cap)
        rows = [r for r, _, _, _ in replayed]
        stops = sorted({s for _, s, _, _ in replayed})
        counts = ", ".join(f"{s}: {sum(1 for _, x, _, _ in replayed if x == s)}" for s in stops)
        below = [(e, est) for _, s, e, est in replayed if s < top]
        if below:
            true = spread([e for e, _ in below])
            within = f"{sum(1 for e, _ in below if e <= tolerance)}/{len(below)}"
            optimistic = [e / est for e, est in below if e > est]
            factor = f"{len(optimistic)}, up to {max(optimistic):.2f}×" if optimistic else "0"
        else:
            true = within = factor = "—"
        at_top = [est for _, s, _, est in replayed if s == top]
        unresolved = (
            f"{len(at_top)} (estimates {min(at_top):.3f}–{max(at_top):.3f})" if at_top else "0"
        )
        sign, gl = censored_value(ig_reached(paths, tolerance))
        unconverged = sum(1 for _, _, _, est in replayed if est > tolerance)
        ratio = f"{median(rows) / gl:.1f}×" if sign != ">" else "—"
        if unconverged:
            ratio += f" ({unconverged} unconverged)"
        run = ""
        if tolerance in paths.runs:
            counted, replay_rows, gap = paths.runs[tolerance]
            run = f" | {counted:,.0f} / {replay_rows:,.0f}, maps within {max(gap):.1e}"
        lines.append(
            f"| {percent(tolerance)} | {spread(rows, ',.0f')} | {counts} | {true} | {within} | "
            f"{factor} | {unresolved} | {sign}{gl:,.0f} | {ratio}{run} |"
        )
    return lines


def goal(paths: Paths, cap: int) -> str:
    """The goal at the strictest tolerance, met or not."""
    tolerance = TOLERANCES[-1]
    replayed = paths.replay(tolerance, cap)
    rows = median([r for r, _, _, _ in replayed])
    converged = sum(1 for _, _, _, est in replayed if est <= tolerance)
    sign, gl = censored_value(ig_reached(paths, tolerance))
    met = sign != ">" and rows * 3 <= gl and converged == len(replayed)
    return (
        f"The goal, {percent(tolerance)} with at least 3× fewer rows than Captum's IG at a "
        f"fixed budget needs: IDGI(IG) with `n_steps=Auto({tolerance})` spends a median "
        f"{rows:,.0f} rows ({converged} of {len(replayed)} inputs converged), Captum's IG needs "
        f"{sign}{gl:,.0f}: **{'met' if met else 'not met'}**."
    )


def curve_rows(paths: Paths) -> list[str]:
    lines = []
    for steps in sorted(set(paths.ig_steps) | set(paths.idgi_steps)):
        cells = []
        if steps in paths.ig_steps:
            cells += [
                f"{median([e[steps] for e in paths.ig_error]):.4f}",
                f"{median([d[steps] for d in paths.ig_delta]):.4f}",
            ]
        else:
            cells += ["", ""]
        if steps in paths.idgi_steps:
            pairs = zip(paths.idgi_error, paths.idgi_estimate, strict=True)
            cells += [
                f"{median([e[steps] for e in paths.idgi_error]):.4f}",
                f"{median([e[steps] for e in paths.idgi_estimate]):.4f}",
                f"{median([e[steps] / est[steps] for e, est in pairs]):.2f}",
            ]
        else:
            cells += ["", "", ""]
        lines.append(f"| {steps} | " + " | ".join(cells) + " |")
    return lines


def input_rows(paths: Paths, labels: list[str], cap: int) -> list[str]:
    lines = []
    top = paths.idgi_steps[-1]
    strict = paths.replay(TOLERANCES[-1], cap)
    for i, label in enumerate(labels):
        reach = []
        for steps, rows, errors in (
            (paths.ig_steps, paths.ig_rows, paths.ig_error[i]),
            (paths.idgi_steps, paths.idgi_rows, paths.idgi_error[i]),
        ):
            sign, value = rows_to_reach([rows[s] for s in steps], [errors[s] for s in steps],
                                        TOLERANCES[-1])  # fmt: skip
            reach.append(f"{sign}{value:,.0f}")
        _, stop, true, estimate = strict[i]
        lines.append(
            f"| {label} | {reach[0]} | {reach[1]} | {paths.idgi_estimate[i][top]:.4f} | "
            f"{stop}: {true:.4f} (est. {estimate:.4f}) | {paths.check[i]:.1e} |"
        )
    return lines


def subject_section(name: str, paths: Paths, labels: list[str], n: int, sampling=None) -> list[str]:
    tolerances = (*SAMPLING_TOLERANCES, *TOLERANCES)
    cap = n
    out = [
        f"## {name}",
        "",
        f"### Rows per input to a relative map error (median over {len(labels)} inputs)",
        "",
        "| method | "
        + " | ".join(f"rows to {percent(t)}" for t in tolerances)
        + " | error at a fixed budget, median [range] | completeness error at 50 steps |",
        "|---|" + "---|" * (len(tolerances) + 2),
        *path_rows(paths, tolerances),
        *(sampling_rows(sampling, tolerances) if sampling else []),
        "",
        f"### Convergence by steps (medians; errors against the {n}-step references)",
        "",
        "| steps | IG error | IG completeness error | IDGI error | IDGI estimate | "
        "IDGI error ÷ estimate |",
        "|---|---|---|---|---|---|",
        *curve_rows(paths),
        "",
        f"### IDGI(IG) with `n_steps=Auto(tolerance, cap={cap})` against Captum's IG at a fixed "
        "budget",
        "",
        f"The true error, its count within the tolerance and the estimate's optimism are over the "
        f"inputs that stopped below {n} steps: against the reference, the error of an input "
        f"stopped at {n} steps (the last round the cap allows) is its own estimate by "
        "construction." + (" " + RUN_NOTE if paths.runs else " " + REPLAY_NOTE),
        "",
        "| tolerance | rows spent, median [range] | inputs by steps at the stop | true error, "
        "median [range] | true error ≤ tolerance | estimate optimistic: inputs, true ÷ "
        f"estimate | stopped at {n} steps | Captum IG: rows to the tolerance (median) | "
        "rows ÷ Captum IG's"
        + (" | rows per input, run / replayed; run vs replayed maps |" if paths.runs else " |"),
        "|---|---|---|---|---|---|---|---|---|" + ("---|" if paths.runs else ""),
        *auto_rows(paths, cap, TOLERANCES),
        "",
        goal(paths, cap),
        "",
        "### Per input",
        "",
        f"| input | Captum IG: rows to {percent(TOLERANCES[-1])} | IDGI: rows to "
        f"{percent(TOLERANCES[-1])} | IDGI's estimate at {n} steps | "
        f"Auto({TOLERANCES[-1]}): steps at the stop: true error | recorded vs the method at "
        f"{CHECK_STEPS} steps |",
        "|---|---|---|---|---|---|",
        *input_rows(paths, labels, cap),
        "",
    ]
    return out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {torch.get_num_threads()} threads of {torch.multiprocessing.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=12, help="Lite0 inputs (0: none)")
    parser.add_argument("--sentences", type=int, default=24, help="MiniLM sentences (0: none)")
    parser.add_argument("--reference-steps", type=int, default=1024, help="N, a power of two")
    parser.add_argument(
        "--ig-steps", type=int, default=None, help="Captum's IG's most steps (default N/2)"
    )
    parser.add_argument("--samples", type=int, default=256, help="rows of the sampling methods")
    parser.add_argument("--internal-batch-size", type=int, default=32, help="Lite0's rows per call")
    parser.add_argument("--text-batch-size", type=int, default=256, help="MiniLM's rows per call")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    n = args.reference_steps
    ig_max = args.ig_steps or n // 2
    if n < 128 or n & (n - 1) or ig_max < 64 or ig_max & (ig_max - 1) or ig_max > n // 2:
        parser.error(
            "--reference-steps must be a power of two, at least 128, and --ig-steps one from 64 "
            "to half of it"
        )
    torch.set_num_threads(args.threads)
    began = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - began:6.0f} s] {message}", file=sys.stderr, flush=True)

    sections = []
    if args.inputs:
        subject, model, x, target = lite0(args)
        log(f"Lite0: {len(x)} inputs: {'; '.join(subject.labels)}")
        paths = measure_paths(subject, n, ig_max, (), log)
        sampling = measure_sampling(model, x, target, args, subject.counter)
        log("Lite0: sampling methods done")
        sections += subject_section(
            "EfficientNet-Lite0, photos of the medium preset", paths, subject.labels, n, sampling
        )
    if args.sentences:
        subject = minilm(args)
        paths = measure_paths(subject, n, ig_max, TOLERANCES, log)
        sections += subject_section(
            "MiniLM sentiment classifier, held-out sentences", paths, subject.labels, n
        )
    minutes = (time.perf_counter() - began) / 60
    scale = ""
    if (args.inputs, args.sentences, n, ig_max, args.samples) != (12, 24, 1024, 512, 256):
        scale = (
            " A reduced scale, to fit a shared 2-core CPU; the full run (12 photo "
            "inputs and 24 sentences, N = 1024, Captum's IG up to 512 steps, 256 samples) is "
            "`python benchmarks/bench_convergence.py` with the defaults."
        )
    lines = [
        "# Convergence: rows to a relative map error",
        "",
        "Command: `" + " ".join(["python benchmarks/bench_convergence.py", *sys.argv[1:]]) + "`",
        "",
        f"One run on cpu ({machine()}), {minutes:.0f} min; Python {sys.version.split()[0]}, "
        f"torch {torch.__version__}, captum {captum.__version__}, captum_smooth "
        f"{captum_smooth.__version__} ({source()}).{scale}",
        "",
        "\n\n".join(" ".join(p.split()) for p in __doc__.split("\n\n")[2:]),
        "",
        *sections,
    ]
    text = "\n".join(lines) + "\n"
    if args.out is not None:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

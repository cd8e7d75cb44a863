"""Peak memory of layer IG on a ~100 M-parameter language model against the number of steps:
Captum's ``LayerIntegratedGradients`` with ``internal_batch_size=None`` (every row at once)
against ``IDGI(LayerIntegratedGradients)`` with the package's default (a memory budget).

    python benchmarks/bench_llm_memory.py [--steps 4 8 16] [--tokens 512]
        [--out benchmarks/results/llm_memory.md]

The model: a Llama configuration with random weights (seeded), 12 layers, hidden size 768,
vocabulary 8000: 97 M parameters, built offline by ``transformers``. The prompt is
``--tokens`` random token ids; the explained output is the log-probability of one next token;
attributions go to the token embeddings (``model.model.embed_tokens``), baselines are token 0.

Each (method, steps) pair runs in a fresh process, which loads the model and attributes once;
its peak resident set size comes from ``os.wait4``. The set-up alone (imports, model, prompt)
is measured too: what a method adds is its peak minus the set-up's.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

CHILD = r"""
import sys, torch
from captum.attr import LayerIntegratedGradients
from transformers import LlamaConfig, LlamaForCausalLM
from captum_smooth import IDGI

method, steps, tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.manual_seed(0)
config = LlamaConfig(vocab_size=8000, hidden_size=768, intermediate_size=2048,
                     num_hidden_layers=12, num_attention_heads=12, num_key_value_heads=12,
                     max_position_embeddings=tokens)
model = LlamaForCausalLM(config).eval()
ids = torch.randint(1, 8000, (1, tokens), generator=torch.Generator().manual_seed(1))

def next_token_logprob(input_ids):
    return torch.log_softmax(model(input_ids).logits[:, -1], dim=-1)

layer = model.model.embed_tokens
if method == "captum":
    LayerIntegratedGradients(next_token_logprob, layer).attribute(
        ids, baselines=torch.zeros_like(ids), target=42, n_steps=steps,
        internal_batch_size=None)
elif method == "ours":
    IDGI(LayerIntegratedGradients(next_token_logprob, layer)).attribute(
        ids, baselines=torch.zeros_like(ids), target=42, n_steps=steps)
"""


def peak_rss_gb(method: str, steps: int, tokens: int) -> tuple[float, float]:
    """Peak RSS (GB) and wall time (s) of a fresh process running ``method`` once."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD, method, str(steps), str(tokens)],
        env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")},
    )
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise RuntimeError(f"{method} at {steps} steps failed with status {status}")
    return usage.ru_maxrss / 2**20, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    setup, _ = peak_rss_gb("setup", 1, args.tokens)
    rows = []
    for steps in args.steps:
        for method in ("captum", "ours"):
            peak, seconds = peak_rss_gb(method, steps, args.tokens)
            rows.append((method, steps, peak, seconds))
            print(
                f"{method:6s} n_steps={steps:3d}: peak {peak:.2f} GB ({seconds:.0f} s)", flush=True
            )

    names = {
        "captum": "Captum `LayerIntegratedGradients(internal_batch_size=None)`",
        "ours": "`IDGI(LayerIntegratedGradients)`, default budget",
    }
    lines = [
        "# Peak memory of layer IG on a 97 M-parameter Llama against n_steps",
        "",
        f"`python benchmarks/bench_llm_memory.py --steps {' '.join(map(str, args.steps))} "
        f"--tokens {args.tokens}`, one run, {platform.machine()}, {os.cpu_count()} cores, "
        f"torch {__import__('torch').__version__}, {time.strftime('%Y-%m-%d')}.",
        "",
        f"Set-up alone (imports, model, prompt of {args.tokens} tokens): peak {setup:.2f} GB.",
        "",
        "| method | n_steps | rows | peak RSS (GB) | above set-up (GB) | wall (s) |",
        "|---|---|---|---|---|---|",
    ]
    for method, steps, peak, seconds in rows:
        n_rows = steps + 1 if method == "ours" else steps
        lines.append(
            f"| {names[method]} | {steps} | {n_rows} | {peak:.2f} | {peak - setup:.2f} | "
            f"{seconds:.0f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()

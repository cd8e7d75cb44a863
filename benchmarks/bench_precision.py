"""Each method's error in half precision against float64, on the pretrained Lite0 and MiniLM.

    python benchmarks/bench_precision.py [--size 112] [--n-steps 8] [--threads 2]
        [--out benchmarks/results/precision.md]

Every method runs on the same model and inputs in four settings: the model in float64 (the
reference), in bfloat16, in float16, and in float32 under ``torch.autocast("cpu",
dtype=torch.bfloat16)``. The table gives the relative L2 error ``‖A - A₆₄‖ / ‖A₆₄‖`` of the
attributions over the batch, and in brackets the same in units of the machine epsilon ``ε`` of
the dtype the model computes in (2⁻⁷ for bfloat16, 2⁻¹⁰ for float16).

- Lite0: the pretrained EfficientNet-Lite0 on one photo (``load_photo``, resized to ``--size``
  to keep half-precision CPU convolutions affordable), ImageNet-normalised, its top class
  explained; the input-space methods.
- MiniLM: the sentiment classifier of ``captum_smooth.examples.text`` on two held-out
  sentences, their labels explained; the layer variants on the embeddings' output, baselines
  the ``[PAD]`` ids.

Random methods draw their noise in float64 whatever the dtype and round it (a generator's
draws depend on the dtype drawn in), so that the runs compared differ only by precision.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from captum.attr import IntegratedGradients, LayerIntegratedGradients
from torch import Tensor, nn

import captum_smooth
from captum_smooth import (
    IDGI,
    BlurIntegratedGradients,
    GuidedIntegratedGradients,
    NoiseBaselineIntegratedGradients,
    SmoothGradSquared,
    SmoothTaylor,
)
from captum_smooth._utils import validation
from captum_smooth.attr.layer import (
    LayerBlurIntegratedGradients,
    LayerGuidedIntegratedGradients,
    LayerNoiseBaselineIntegratedGradients,
    LayerSmoothTaylor,
)
from captum_smooth.examples import load_lite0, load_photo
from captum_smooth.examples.images import normalize
from captum_smooth.examples.text import encode, load_sentiment_classifier, sentiment_sentences

SETTINGS = {
    "bfloat16": (torch.bfloat16, False),
    "float16": (torch.float16, False),
    "bf16 autocast": (torch.float32, True),
}


def _drawn_in_float64(draw: Callable[..., Tensor]) -> Callable[..., Tensor]:
    def like(x: Tensor, generator: torch.Generator | None) -> Tensor:
        return draw(x.shape, generator=generator, dtype=torch.float64).to(x.dtype)

    return like


def _seed() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def image_methods(n: int) -> dict[str, Callable[[nn.Module, Tensor, Any], Any]]:
    """The input-space methods with ``n`` steps or samples, on a model, inputs and target."""
    return {
        "SmoothTaylor": lambda m, x, t: SmoothTaylor(m).attribute(
            x, target=t, n_samples=n, noise_scale=0.5, generator=_seed()
        ),
        "NoiseBaselineIG": lambda m, x, t: NoiseBaselineIntegratedGradients(m).attribute(
            x, target=t, n_baselines=2, n_steps=n // 2, generator=_seed(),
            baseline_transform=normalize,
        ),
        "GuidedIG": lambda m, x, t: GuidedIntegratedGradients(m).attribute(
            x, target=t, n_steps=n
        ),
        "BlurIG": lambda m, x, t: BlurIntegratedGradients(m).attribute(
            x, target=t, n_steps=n, max_sigma=20.0
        ),
        "IDGI(IG)": lambda m, x, t: IDGI(IntegratedGradients(m)).attribute(
            x, target=t, n_steps=n
        ),
        "IDGI(GuidedIG)": lambda m, x, t: IDGI(GuidedIntegratedGradients(m)).attribute(
            x, target=t, n_steps=n
        ),
        "IDGI(BlurIG)": lambda m, x, t: IDGI(BlurIntegratedGradients(m)).attribute(
            x, target=t, n_steps=n, max_sigma=20.0
        ),
        "SmoothGradSquared": lambda m, x, t: SmoothGradSquared(SmoothTaylor(m)).attribute(
            x, target=t, n_samples=n, noise_scale=0.5, generator=_seed()
        ),
    }  # fmt: skip


def text_methods(n: int, pad_id: int) -> dict[str, Callable[[nn.Module, Any, Any], Any]]:
    """The layer variants (and IDGI on LayerIG) on the embeddings, ``n`` steps or samples."""

    def on_embeddings(make: Callable[..., Any], pads: bool, **settings: Any) -> Callable:
        def run(m: nn.Module, batch: Any, t: Any) -> Any:
            extra = {"baselines": batch.baseline_ids(pad_id)} if pads else {}
            if "generator" in settings:
                extra["generator"] = _seed()
            return make(m, m.embeddings).attribute(
                batch.input_ids, target=t, additional_forward_args=(batch.attention_mask,),
                **{**settings, **extra},
            )  # fmt: skip

        return run

    return {
        "LayerSmoothTaylor": on_embeddings(
            LayerSmoothTaylor, False, n_samples=n, noise_scale=0.05, generator=None
        ),
        "LayerNoiseBaselineIG": on_embeddings(
            LayerNoiseBaselineIntegratedGradients, False, n_baselines=2, n_steps=n // 2,
            baseline_low=-0.1, baseline_high=0.1, generator=None,
        ),
        "LayerGuidedIG": on_embeddings(LayerGuidedIntegratedGradients, True, n_steps=n),
        "LayerBlurIG": on_embeddings(LayerBlurIntegratedGradients, False, n_steps=n, max_sigma=4.0),
        "IDGI(LayerIG)": on_embeddings(
            lambda m, lay: IDGI(LayerIntegratedGradients(m, lay)), True, n_steps=n
        ),
    }  # fmt: skip


def errors(
    methods: dict[str, Callable[..., Any]],
    model: Callable[[torch.dtype], nn.Module],
    inputs: Callable[[torch.dtype], Any],
    target: Any,
) -> dict[str, dict[str, float]]:
    """Relative L2 error of each method in each setting against the float64 model."""
    table: dict[str, dict[str, float]] = {}
    models = {torch.float64: model(torch.float64)}
    for name, method in methods.items():
        start = time.perf_counter()
        expected = method(models[torch.float64], inputs(torch.float64), target).double()
        table[name] = {}
        for setting, (dtype, autocast) in SETTINGS.items():
            if dtype not in models:
                models[dtype] = model(dtype)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                result = method(models[dtype], inputs(dtype), target)
            error = (result.double() - expected).norm() / expected.norm()
            table[name][setting] = error.item()
        print(f"{name}: {table[name]} ({time.perf_counter() - start:.0f} s)", flush=True)
    return table


def lite0_table(size: int, n: int) -> dict[str, dict[str, float]]:
    base = load_lite0().eval()
    photo = normalize(load_photo(size=size))
    with torch.no_grad():
        target = int(base(photo).argmax())

    def model(dtype: torch.dtype) -> nn.Module:
        return load_lite0().eval().to(dtype)

    return errors(image_methods(n), model, lambda dtype: photo.to(dtype), target)


def minilm_table(n: int) -> dict[str, dict[str, float]]:
    _, tokenizer = load_sentiment_classifier()
    batch = encode(sentiment_sentences("test")[:2], tokenizer)

    def model(dtype: torch.dtype) -> nn.Module:
        return load_sentiment_classifier()[0].to(dtype)  # a fresh copy each call

    return errors(text_methods(n, tokenizer.pad_token_id), model, lambda dtype: batch, batch.labels)


def markdown(tables: dict[str, dict[str, dict[str, float]]], command: str, env: str) -> str:
    eps = {"bfloat16": 2**-7, "float16": 2**-10, "bf16 autocast": 2**-7}
    lines = [
        "# Half precision: each method's error against float64",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {env}",
        "",
        "Relative L2 error `‖A - A₆₄‖ / ‖A₆₄‖` of the attributions against the same model in "
        "float64 on the same inputs; in brackets in units of the machine epsilon `ε` of the "
        "dtype the model computes in (bfloat16 `2⁻⁷`, float16 `2⁻¹⁰`). The method, models, "
        "inputs and budgets are described in `benchmarks/bench_precision.py`; the mechanism "
        "in docs/reference.md#precision.",
        "",
    ]
    for title, table in tables.items():
        lines += [f"## {title}", "", "| method | " + " | ".join(SETTINGS) + " |",
                  "|---|" + "---:|" * len(SETTINGS)]  # fmt: skip
        for name, row in table.items():
            cells = [f"{row[s]:.2e} ({row[s] / eps[s]:.1f} ε)" for s in SETTINGS]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--n-steps", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/precision.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    validation.randn_like = _drawn_in_float64(torch.randn)
    validation.rand_like = _drawn_in_float64(torch.rand)
    tables = {
        f"EfficientNet-Lite0, one photo at {args.size}×{args.size}": lite0_table(
            args.size, args.n_steps
        ),
        "MiniLM sentiment classifier, layer variants on the embeddings": minilm_table(args.n_steps),
    }
    command = "python " + " ".join(sys.argv)
    env = (
        f"{platform.processor() or platform.machine()}, {args.threads} threads, "
        f"torch {torch.__version__}, captum_smooth {captum_smooth.__version__}"
    )
    Path(args.out).write_text(markdown(tables, command, env) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

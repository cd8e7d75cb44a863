"""How far Guided IG's map moves with the input space and with one ulp, on Lite0 and coffee.

    python benchmarks/guided_ig_spaces.py [--steps 32]

Prints L2 fractions ‖a − b‖ / ‖b‖ between channel-summed maps: PAIR's GuidedIG against itself
after every pixel moves by one float32 ulp (the path's chaos), ours against PAIR on the same
float32 model and raw pixels, and ours on ImageNet-normalised inputs against ours on raw
pixels with the normalisation inside the model (both expressed per raw pixel).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from saliency.core.base import INPUT_OUTPUT_GRADIENTS
from saliency.core.guided_ig import GuidedIG

from captum_smooth import GuidedIntegratedGradients, examples


def fraction(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=32)
    args = parser.parse_args()
    model = examples.load_lite0()
    pixels = examples.load_photo("coffee")
    target = 967

    def raw_model(x: torch.Tensor) -> torch.Tensor:
        return model(examples.normalize(x))

    def pair_call(batch, call_model_args=None, expected_keys=None):
        x = torch.as_tensor(np.asarray(batch), dtype=torch.float32).permute(0, 3, 1, 2)
        x.requires_grad_(True)
        (g,) = torch.autograd.grad(raw_model(x)[:, target].sum(), x)
        return {INPUT_OUTPUT_GRADIENTS: g.permute(0, 2, 3, 1).double().numpy()}

    settings = {"x_steps": args.steps, "fraction": 0.25, "max_dist": 0.02}
    hwc = pixels[0].permute(1, 2, 0).double().numpy()
    zero = np.zeros_like(hwc)
    pair = GuidedIG().GetMask(hwc, pair_call, x_baseline=zero, **settings).sum(-1)
    nudged = np.nextafter(hwc.astype(np.float32), np.float32(2)).astype(np.float64)
    pair_ulp = GuidedIG().GetMask(nudged, pair_call, x_baseline=zero, **settings).sum(-1)
    print(f"PAIR vs PAIR one ulp away:          {fraction(pair_ulp, pair):.3f}")

    ours_kwargs = {"n_steps": args.steps, "fraction": 0.25, "max_dist": 0.02, "target": target}
    raw = GuidedIntegratedGradients(raw_model).attribute(pixels, baselines=0.0, **ours_kwargs)
    raw_map = raw[0].sum(0).numpy()
    print(f"ours vs PAIR, raw pixels:           {fraction(raw_map, pair):.3f}")
    normalised = GuidedIntegratedGradients(model).attribute(
        examples.normalize(pixels), baselines=examples.normalize(torch.zeros_like(pixels)),
        **ours_kwargs,
    )  # fmt: skip
    # per raw pixel: x_norm = (x - m)/s, so the attribution (Δx_norm ⊙ g_norm) is unchanged
    print(
        f"ours normalised vs ours raw pixels: {fraction(normalised[0].sum(0).numpy(), raw_map):.3f}"
    )


if __name__ == "__main__":
    main()

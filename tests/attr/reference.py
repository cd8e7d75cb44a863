"""Adapters that let PAIR's `saliency` (the reference implementations) call a torch model."""

import numpy as np
import torch
from saliency.core.base import INPUT_OUTPUT_GRADIENTS


def pair_call_model(model, target, channels_last=True):
    """PAIR's call_model_function for a float64 torch image model (PAIR images are H×W×C)."""

    def call(batch, call_model_args=None, expected_keys=None):
        x = torch.as_tensor(np.asarray(batch), dtype=torch.float64)
        if channels_last:
            x = x.permute(0, 3, 1, 2)
        x.requires_grad_(True)
        out = model(x)[:, target]
        (grad,) = torch.autograd.grad(out.sum(), x)
        if channels_last:
            grad = grad.permute(0, 2, 3, 1)
        return {INPUT_OUTPUT_GRADIENTS: grad.detach().numpy()}

    return call

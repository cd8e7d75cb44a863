"""Adapters that let PAIR's `saliency` (the reference implementations) call a torch model."""

import numpy as np
import torch
from saliency.core.base import INPUT_OUTPUT_GRADIENTS


def pair_call_model(model, target, channels_last=True, dtype=torch.float64):
    """PAIR's call_model_function for a torch image model of ``dtype`` (PAIR images are
    H×W×C; its paths are float64 and the model sees them in its own dtype)."""

    def call(batch, call_model_args=None, expected_keys=None):
        x = torch.as_tensor(np.asarray(batch), dtype=dtype)
        if channels_last:
            x = x.permute(0, 3, 1, 2)
        x.requires_grad_(True)
        out = model(x)[:, target]
        (grad,) = torch.autograd.grad(out.sum(), x)
        if channels_last:
            grad = grad.permute(0, 2, 3, 1)
        return {INPUT_OUTPUT_GRADIENTS: grad.detach().double().numpy()}

    return call

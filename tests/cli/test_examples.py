"""``captum_smooth.examples``: turning bundled photos into model inputs."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from captum_smooth import examples


def test_to_tensor_copies_read_only_photos_into_a_centre_crop_in_the_unit_range():
    photo = np.zeros((30, 40, 3), dtype=np.uint8)
    photo[:, 15:25] = 255  # a white band in the middle of the wide side
    photo.flags.writeable = False  # as scikit-learn's sample images
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = examples.to_tensor(photo, size=10)
    assert x.shape == (1, 3, 10, 10)
    assert x.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    # the crop keeps the centre: the band covers the middle columns, not the edges
    assert float(x[..., 5].mean()) > 0.99
    assert float(x[..., 0].mean()) < 0.01

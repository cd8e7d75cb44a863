"""A cache shared by metric calls on the same images: the same results, and what depends on
the images alone (or on content seen before) is computed once."""

import pytest
import torch
from torch import nn

from captum_smooth.metrics import aic, aupc, deletion, insertion, sic
from captum_smooth.metrics import pic as pic_module
from tests.metrics.test_pic import DetailModel, _images, _maps, _masks


class Counting(nn.Module):
    """The model, counting the rows it is given."""

    def __init__(self, model):
        super().__init__()
        self.model, self.rows = model, 0

    def forward(self, x):
        self.rows += x.shape[0]
        return self.model(x)


def seeded(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(
    ("metric", "kwargs"),
    [
        (insertion, {}),
        (deletion, {}),
        (aupc, {"window_size": 4, "n_steps": 4, "n_candidates": 3}),
        (sic, {"information": "compression"}),
        (aic, {"information": "compression"}),
    ],
    ids=["insertion", "deletion", "aupc", "sic", "aic"],
)
def test_a_cached_call_gives_the_uncached_result_and_a_repeat_runs_no_cached_rows(metric, kwargs):
    model = Counting(DetailModel())
    images, maps = _images(), _maps()
    if metric in (sic, aic):
        kwargs = {**kwargs, "random_mask": _masks(), "min_pred_value": 0.0}
    if metric is aupc:
        kwargs = {**kwargs, "generator": seeded(0)}
    plain = metric(model, images, maps, 0, **kwargs)
    cache = {}
    if metric is aupc:
        kwargs["generator"] = seeded(0)
    first = metric(model, images, maps, 0, cache=cache, **kwargs)
    for a, b in zip(plain, first, strict=True):
        torch.testing.assert_close(a, b)
    model.rows = 0
    if metric is aupc:
        kwargs["generator"] = seeded(0)
    metric(model, images, maps, 0, cache=cache, **kwargs)
    # AUPC caches the unperturbed images only: its perturbed rows run again
    if metric is aupc:
        assert model.rows == images.shape[0] * kwargs["n_steps"] * kwargs["n_candidates"]
    else:
        assert model.rows == 0


def test_sic_and_aic_on_the_same_map_share_images_outputs_and_sizes(monkeypatch):
    model = Counting(DetailModel())
    images, maps, masks = _images(), _maps(), _masks()
    interpolations = []
    original = pic_module._interpolated
    monkeypatch.setattr(
        pic_module, "_interpolated", lambda *a: interpolations.append(1) or original(*a)
    )
    cache = {}
    sic(model, images, maps, 0, random_mask=masks, min_pred_value=0.0, cache=cache)
    rows, built = model.rows, len(interpolations)
    aic(model, images, maps, 0, random_mask=masks, min_pred_value=0.0, cache=cache)
    assert model.rows == rows and len(interpolations) == built
    # another map: its revealed images are new, the blurred start and the original are not
    other = _maps(seed=7)
    model.rows = 0
    sic(model, images, other, 0, random_mask=masks, min_pred_value=0.0, cache=cache)
    n_images, n_thresholds = images.shape[0], len(pic_module.DEFAULT_THRESHOLDS)
    assert len(interpolations) == built + n_images * n_thresholds
    assert model.rows <= n_images * n_thresholds


def test_msssim_levels_are_cached_and_unchanged():
    model = DetailModel()
    images = torch.rand(1, 3, 176, 176, generator=seeded(0), dtype=torch.float64)
    maps = torch.randn(1, 3, 176, 176, generator=seeded(1), dtype=torch.float64)
    masks = torch.rand(1, 176, 176, generator=seeded(2)) < 0.01
    settings = {"information": "msssim", "random_mask": masks, "min_pred_value": 0.0}
    plain = sic(model, images, maps, 0, **settings)
    cache = {}
    cached = sic(model, images, maps, 0, cache=cache, **settings)
    again = aic(model, images, maps, 0, cache=cache, **settings)
    torch.testing.assert_close(plain.information, cached.information)
    torch.testing.assert_close(cached.information, again.information)


def test_aupc_shares_the_unperturbed_images_and_runs_every_perturbation():
    model = Counting(DetailModel())
    images = _images(n=2)
    first = torch.zeros(2, 3, 32, 32, dtype=torch.float64)
    first[..., 0:4, 0:4] = 3.0  # the same top window...
    first[..., 8:12, 8:12] = 2.0  # ...then different second windows
    second = first.clone()
    second[..., 8:12, 8:12] = 0.0
    second[..., 20:24, 20:24] = 2.0
    settings = {"window_size": 4, "n_steps": 2, "n_candidates": 5}
    cache = {}
    plain = aupc(model, images, second, 0, generator=seeded(3), **settings)
    aupc(model, images, first, 0, generator=seeded(3), cache=cache, **settings)
    model.rows = 0
    cached = aupc(model, images, second, 0, generator=seeded(3), cache=cache, **settings)
    # the originals come from the cache; the perturbations, even of the shared first window,
    # are run (looking them up would read the device once per step)
    assert model.rows == 2 * 2 * 5
    for a, b in zip(plain, cached, strict=True):
        torch.testing.assert_close(a, b)


def test_a_cache_must_be_a_mapping():
    with pytest.raises(TypeError, match="cache"):
        insertion(DetailModel(), _images(), _maps(), 0, cache=[])

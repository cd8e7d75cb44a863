import numpy as np
import pytest
import torch
from saliency.metrics import pic as pair_pic
from torch import nn

from captum_smooth.metrics import aic, sic

SIZE = 32
THRESHOLDS = (0.005, 0.02, 0.05, 0.1, 0.21, 0.34, 0.5, 0.75)


class DetailModel(nn.Module):
    """Class 0's logit grows with the fine detail (horizontal differences) of the image,
    counted five times inside the rows 4-15 × columns 4-15 region than outside."""

    def __init__(self, scale: float = 60.0, offset: float = 0.08) -> None:
        super().__init__()
        self.scale, self.offset = scale, offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        detail = (x[..., :, 1:] - x[..., :, :-1]).abs().mean(dim=1)
        weight = torch.ones_like(detail)
        weight[:, 4:16, 4:16] = 5.0
        energy = (detail * weight).mean(dim=(1, 2)) / weight.mean()
        logit = self.scale * (energy - self.offset)
        return torch.stack([logit, torch.zeros_like(logit), -logit], dim=1)


def _images(n=4, size=SIZE, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=generator, dtype=torch.float64)


def _maps(n=4, size=SIZE, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=generator, dtype=torch.float64)


def _masks(n=4, size=SIZE, seed=2):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, size, size, generator=generator) < 0.01


def _pair(model, images, maps, masks, kind, aggregation):
    """PAIR's compute_pic_metric per image, then aggregate_individual_pic_results."""

    def pred_func(batch: np.ndarray) -> list[float]:
        x = torch.from_numpy(batch).permute(0, 3, 1, 2).double() / 255
        logits = model(x)
        if kind == "sic":
            return logits.softmax(dim=1)[:, 0].tolist()
        return (logits.argmax(dim=1) == 0).double().tolist()

    pixels = torch.round(images * 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    results, kept = [], []
    for i in range(images.shape[0]):
        try:
            results.append(
                pair_pic.compute_pic_metric(
                    pixels[i],
                    maps[i].sum(dim=0).numpy(),
                    masks[i].numpy(),
                    pred_func,
                    THRESHOLDS,
                    min_pred_value=0.8,
                )
            )
            kept.append(True)
        except pair_pic.ComputePicMetricError:
            kept.append(False)
    aggregate = pair_pic.aggregate_individual_pic_results(results, method=aggregation)
    return results, kept, aggregate


@pytest.mark.parametrize(
    ("metric", "kind", "aggregation"), [(sic, "sic", "median"), (aic, "aic", "mean")]
)
def test_pic_agrees_with_pair(metric, kind, aggregation):
    model = DetailModel()
    images = _images(6)
    images[4] *= 0.3  # too little detail: the model is not confident, PAIR skips it
    maps, masks = _maps(6), _masks(6)
    results, kept, aggregate = _pair(model, images, maps, masks, kind, aggregation)
    ours = metric(model, images, maps, 0, thresholds=THRESHOLDS, random_mask=masks, batch_size=7)
    assert ours.kept.tolist() == kept
    assert sum(kept) >= 3
    per_image = ours.per_example_auc[ours.kept]
    expected = torch.tensor([r.auc for r in results], dtype=torch.float64)
    torch.testing.assert_close(per_image, expected, atol=1e-3, rtol=0)
    assert ours.auc.item() == pytest.approx(aggregate.auc, abs=1e-3)
    torch.testing.assert_close(ours.curve, torch.from_numpy(aggregate.curve_y), atol=1e-3, rtol=0)
    # The images PAIR built are the ones the model saw.
    first = results[0].predictions
    torch.testing.assert_close(ours.predictions[0], torch.tensor(first, dtype=torch.float64))


def test_sic_prefers_a_map_of_the_region_the_model_weighs_most():
    model = DetailModel()
    images, masks = _images(4), _masks(4)
    region = torch.zeros(4, 3, SIZE, SIZE, dtype=torch.float64)
    region[:, :, 4:16, 4:16] = 1.0
    region += 0.01 * _maps(4)  # break ties
    kwargs = {"thresholds": THRESHOLDS, "random_mask": masks, "target": 0}
    assert sic(model, images, region, **kwargs).auc > sic(model, images, -region, **kwargs).auc


def test_msssim_information_levels_are_normalised_similarities_to_the_original():
    from pytorch_msssim import ms_ssim

    model = DetailModel()
    images, maps = _images(2, size=168), _maps(2, size=168)
    masks = torch.rand(2, 168, 168, generator=torch.Generator().manual_seed(0)) < 0.01
    thresholds = (0.02, 0.1)
    result = sic(
        model, images, maps, 0, thresholds=thresholds, information="msssim", random_mask=masks
    )
    assert result.kept.all()
    pixels = torch.round(images * 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    for i in range(2):
        heatmap = maps[i].sum(dim=0).numpy()
        revealed = [pair_pic.create_blurred_image(pixels[i], masks[i].numpy())] + [
            pair_pic.create_blurred_image(
                pixels[i], (heatmap >= np.quantile(heatmap, 1 - t)) | masks[i].numpy()
            )
            for t in thresholds
        ]
        batch = torch.from_numpy(np.stack(revealed)).permute(0, 3, 1, 2).double() / 255
        original = torch.from_numpy(pixels[i]).permute(2, 0, 1).double()[None] / 255
        similarity = ms_ssim(batch, original.expand_as(batch), data_range=1, size_average=False)
        expected = (similarity[1:] - similarity[0]) / (1 - similarity[0])
        torch.testing.assert_close(result.information[i], expected.clamp(0, 1))
    assert (result.information[:, 1] > result.information[:, 0]).all()


def test_random_mask_is_drawn_from_the_generator():
    model = DetailModel()
    runs = [
        sic(
            model,
            _images(),
            _maps(),
            0,
            thresholds=THRESHOLDS,
            generator=torch.Generator().manual_seed(5),
        )
        for _ in range(2)
    ]
    torch.testing.assert_close(runs[0].curves, runs[1].curves)


def test_pic_rejects_bad_arguments():
    model = DetailModel()
    images, maps = _images(2), _maps(2)
    with pytest.raises(ValueError, match="thresholds"):
        sic(model, images, maps, thresholds=(0.1, 1.5))
    with pytest.raises(ValueError, match="thresholds"):
        sic(model, images, maps, thresholds=(-0.1, 0.5))
    with pytest.raises(ValueError, match="thresholds"):
        aic(model, images, maps, thresholds=(0.5, 0.1))
    with pytest.raises(ValueError, match="MS-SSIM"):
        sic(model, images, maps, information="msssim")
    with pytest.raises(ValueError, match="attributions"):
        sic(model, images, maps[:, :, :8])
    with pytest.raises(ValueError, match="random_mask"):
        sic(model, images, maps, random_mask=torch.zeros(2, 8, 8, dtype=torch.bool))
    with pytest.raises(ValueError, match="min_pred_value"):
        sic(model, images * 0.1, maps, 0)


def test_no_image_passing_the_filters_is_its_own_error():
    from captum_smooth.metrics import NoImageKeptError

    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    unsure = lambda x: torch.zeros(x.shape[0], 4)  # noqa: E731  p = 1/4 < min_pred_value
    with pytest.raises(NoImageKeptError, match="no image passed the filters"):
        sic(unsure, images, torch.rand(2, 16, 16), 0, generator=torch.Generator().manual_seed(1))
    assert issubclass(NoImageKeptError, ValueError)

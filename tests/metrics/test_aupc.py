import pytest
import torch

from captum_smooth.metrics import aupc


def _aupc(model, images, attributions, **kwargs):
    kwargs = {"window_size": 8, "n_steps": 6, "n_candidates": 8, **kwargs}
    return aupc(
        model, images, attributions, 0, generator=torch.Generator().manual_seed(0), **kwargs
    )


def test_aupc_is_best_for_the_region_the_model_reads_and_worst_for_its_complement(
    region_model, region_maps, bright_images
):
    scores = {name: _aupc(region_model, bright_images, m).score for name, m in region_maps.items()}
    assert (scores["region"] < scores["random"]).all()
    assert (scores["random"] <= scores["complement"]).all()
    # The complement never touches the region: the curve stays at 1, the area is L.
    assert torch.equal(scores["complement"], torch.full((2,), 6.0, dtype=torch.float64))


def test_aupc_first_window_is_the_marked_region_and_noise_is_uniform_in_pixel_range(
    region_model, region_maps, bright_images
):
    result = _aupc(region_model, bright_images, region_maps["region"], n_candidates=400, n_steps=1)
    assert result.windows[:, 0].tolist() == [[0, 8], [0, 8]]
    # f = 10 (m - 0.5) with m the mean of 64×3 U(0, 1) values: E f = 0, f(x) = 4.5.
    assert result.curve[:, 0].tolist() == [1.0, 1.0]
    assert result.curve[:, 1].abs().max() < 0.05
    shifted = _aupc(
        region_model,
        bright_images,
        region_maps["region"],
        n_candidates=400,
        n_steps=1,
        pixel_range=(0.5, 1.5),
    )
    assert (shifted.curve[:, 1] - 10 * 0.5 / 4.5).abs().max() < 0.05


def test_aupc_applies_input_transform_before_the_model(region_model, region_maps):
    raw = torch.full((2, 3, 32, 32), 0.5, dtype=torch.float64)
    plain = _aupc(region_model, raw * 2 - 0.05, region_maps["region"], pixel_range=(-0.05, 0.95))
    transformed = _aupc(
        region_model,
        raw,
        region_maps["region"],
        pixel_range=(0.0, 0.5),
        input_transform=lambda x: x * 2 - 0.05,
    )
    # The same noise draws scaled by the transform reach the model: identical curves.
    torch.testing.assert_close(transformed.curve, plain.curve)


def test_aupc_windows_do_not_overlap_and_follow_the_map(region_model, bright_images):
    heatmap = torch.zeros(2, 32, 32, dtype=torch.float64)
    heatmap[:, 20:28, 4:12] = 3.0
    heatmap[:, 2:10, 22:30] = 2.0
    result = _aupc(region_model, bright_images, heatmap, n_steps=16)
    assert result.windows[0, :2].tolist() == [[20, 4], [2, 22]]
    corners = result.windows[0]
    free = corners[:, 0] >= 0
    corners = corners[free]
    gaps = (corners[:, None] - corners[None]).abs().amax(dim=2)
    assert (gaps + torch.eye(len(corners), dtype=gaps.dtype) * 99 >= 8).all()
    # Greedy placement on a 32×32 image runs out before 16 windows; later steps change nothing.
    assert not free.all()
    assert torch.equal(result.curve[0, -1], result.curve[0, free.sum()])


def test_aupc_is_reproducible_and_independent_of_the_batch_size(
    region_model, region_maps, bright_images
):
    whole = _aupc(region_model, bright_images, region_maps["random"])
    chunked = _aupc(region_model, bright_images, region_maps["random"], batch_size=5)
    torch.testing.assert_close(chunked.curve, whole.curve)
    other = aupc(
        region_model,
        bright_images,
        region_maps["random"],
        0,
        window_size=8,
        n_steps=6,
        n_candidates=8,
        generator=torch.Generator().manual_seed(1),
    )
    assert not torch.equal(other.curve, whole.curve)


def test_aupc_keeps_the_dtype_and_shows_progress(region_model, region_maps, capsys):
    images = torch.full((2, 3, 32, 32), 0.95, dtype=torch.float32)
    result = _aupc(region_model, images, region_maps["region"].float(), show_progress=True)
    assert result.score.dtype == torch.float32
    assert "AUPC" in capsys.readouterr().err


def test_aupc_rejects_bad_arguments(region_model, region_maps, bright_images):
    with pytest.raises(ValueError, match="attributions"):
        _aupc(region_model, bright_images, region_maps["region"][:, :, :16])
    with pytest.raises(ValueError, match="window_size"):
        _aupc(region_model, bright_images, region_maps["region"], window_size=33)
    with pytest.raises(ValueError, match="n_candidates"):
        _aupc(region_model, bright_images, region_maps["region"], n_candidates=0)
    with pytest.raises(ValueError, match="pixel_range"):
        _aupc(region_model, bright_images, region_maps["region"], pixel_range=(1.0, 0.0))
    with pytest.raises(TypeError, match="forward_func"):
        _aupc(None, bright_images, region_maps["region"])
    with pytest.raises(TypeError, match="input_transform"):
        _aupc(region_model, bright_images, region_maps["region"], input_transform="normalise")
    with pytest.raises(ValueError, match="target"):
        aupc(region_model, bright_images, region_maps["region"], 2, window_size=8)
    with pytest.raises(ValueError, match=r"\|f\(x\)\|"):
        _aupc(region_model, torch.full_like(bright_images, 0.5), region_maps["region"])

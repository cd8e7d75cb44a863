import pytest
import torch

from captum_smooth.metrics import deletion, insertion


def test_insertion_is_best_for_the_region_the_model_reads_and_worst_for_its_complement(
    region_model, region_maps, bright_images
):
    scores = {
        name: insertion(region_model, bright_images, m, 0).score for name, m in region_maps.items()
    }
    assert (scores["region"] > scores["random"]).all()
    assert (scores["random"] > scores["complement"]).all()


def test_insertion_curve_has_known_values(region_model, region_maps, bright_images):
    result = insertion(region_model, bright_images, region_maps["complement"], 0)
    assert result.fractions.tolist() == pytest.approx([i / 20 for i in range(21)])
    # The region (64 of 1024 pixels) is inserted last: the black image's probability until
    # 15/16 of the pixels are in, the image's probability at the end.
    black = torch.tensor([-5.0, 0.0], dtype=torch.float64).softmax(0)[0]
    full = torch.tensor([4.5, 0.0], dtype=torch.float64).softmax(0)[0]
    torch.testing.assert_close(result.curve[:, :19], black.expand(2, 19))
    torch.testing.assert_close(result.curve[:, -1], full.expand(2))
    torch.testing.assert_close(result.ratio_curve, result.curve / full)
    torch.testing.assert_close(result.ratio_score, result.score / full)


def test_deletion_is_best_for_the_region_and_mirrors_insertion(
    region_model, region_maps, bright_images
):
    scores = {
        name: deletion(region_model, bright_images, m, 0).score for name, m in region_maps.items()
    }
    assert (scores["region"] < scores["random"]).all()
    assert (scores["random"] < scores["complement"]).all()
    inserted = insertion(region_model, bright_images, region_maps["random"], 0)
    # Deleting the least important pixels first is inserting the rest: the same images.
    deleted = deletion(region_model, bright_images, -region_maps["random"], 0)
    torch.testing.assert_close(deleted.curve.flip(1)[:, 1:-1], inserted.curve[:, 1:-1])


def test_insertion_uses_baselines_and_input_transform(region_model, region_maps):
    raw = torch.full((2, 3, 32, 32), 0.5, dtype=torch.float64)
    result = insertion(
        region_model, raw, region_maps["region"], 0, baselines=0.25, input_transform=lambda x: 2 * x
    )
    start = torch.tensor([10 * (0.5 - 0.5), 0.0], dtype=torch.float64).softmax(0)[0]
    torch.testing.assert_close(result.curve[:, 0], start.expand(2))


def test_insertion_is_independent_of_the_batch_size_and_shows_progress(
    region_model, region_maps, bright_images, capsys
):
    whole = insertion(region_model, bright_images, region_maps["random"])
    chunked = insertion(
        region_model, bright_images, region_maps["random"], batch_size=4, show_progress=True
    )
    torch.testing.assert_close(chunked.curve, whole.curve)
    assert "Insertion" in capsys.readouterr().err


def test_insertion_rejects_bad_arguments(region_model, region_maps, bright_images):
    with pytest.raises(ValueError, match="attributions"):
        insertion(region_model, bright_images, region_maps["region"][:1])
    with pytest.raises(ValueError, match="baselines"):
        insertion(
            region_model, bright_images, region_maps["region"], baselines=torch.zeros(5, 3, 32, 32)
        )
    with pytest.raises(TypeError, match="inputs"):
        deletion(region_model, bright_images.long(), region_maps["region"])
    with pytest.raises(ValueError, match="n_steps"):
        deletion(region_model, bright_images, region_maps["region"], n_steps=0)

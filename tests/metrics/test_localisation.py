import pytest
import torch
from sklearn.metrics import roc_auc_score

from captum_smooth.metrics import localisation


def _masks(n=3, size=16):
    masks = torch.zeros(n, size, size, dtype=torch.bool)
    for i in range(n):
        masks[i, 2 + i : 9 + i, 3 : 7 + 2 * i] = True
    return masks


def test_the_mask_itself_scores_perfectly():
    masks = _masks()
    result = localisation(masks.double(), masks)
    assert result.roc_auc.tolist() == [1.0, 1.0, 1.0]
    assert result.best_f1.tolist() == [1.0, 1.0, 1.0]
    assert result.best_mae.tolist() == [0.0, 0.0, 0.0]
    inverted = localisation(1.0 - masks.double(), masks)
    assert inverted.roc_auc.tolist() == [0.0, 0.0, 0.0]


def test_roc_auc_agrees_with_scikit_learn_including_ties():
    masks = _masks(4)
    generator = torch.Generator().manual_seed(0)
    maps = torch.randn(4, 3, 16, 16, generator=generator, dtype=torch.float64)
    maps[2] = maps[2].round()  # many ties
    result = localisation(maps, masks)
    heatmaps = maps.sum(dim=1)
    for i in range(4):
        expected = roc_auc_score(masks[i].flatten().numpy(), heatmaps[i].flatten().numpy())
        assert result.roc_auc[i].item() == pytest.approx(expected, abs=1e-12)


def test_f1_and_mae_curves_match_their_definition_at_each_threshold():
    masks = _masks(2)
    generator = torch.Generator().manual_seed(1)
    heatmaps = torch.rand(2, 16, 16, generator=generator, dtype=torch.float64)
    result = localisation(heatmaps, masks, n_thresholds=11)
    low = heatmaps.amin(dim=(1, 2), keepdim=True)
    high = heatmaps.amax(dim=(1, 2), keepdim=True)
    normalised = (heatmaps - low) / (high - low)
    for j, t in enumerate(result.thresholds):
        predicted = normalised >= t
        tp = (predicted & masks).sum(dim=(1, 2)).double()
        fp = (predicted & ~masks).sum(dim=(1, 2)).double()
        fn = (~predicted & masks).sum(dim=(1, 2)).double()
        torch.testing.assert_close(result.f1[:, j], 2 * tp / (2 * tp + fp + fn))
        torch.testing.assert_close(result.mae[:, j], (fp + fn) / 256)
    torch.testing.assert_close(result.best_f1, result.f1.amax(dim=1))
    assert (result.best_mae < 0.5).all()


def test_localisation_rejects_bad_arguments():
    masks = _masks()
    with pytest.raises(ValueError, match="attributions"):
        localisation(torch.rand(3, 3, 8, 8), masks)
    with pytest.raises(ValueError, match="binary"):
        localisation(torch.rand(3, 16, 16), masks * 0.5)
    with pytest.raises(ValueError, match="background"):
        localisation(torch.rand(3, 16, 16), torch.ones(3, 16, 16, dtype=torch.bool))
    with pytest.raises(ValueError, match="n_thresholds"):
        localisation(torch.rand(3, 16, 16), masks, n_thresholds=1)

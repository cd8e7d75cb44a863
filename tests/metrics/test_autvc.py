import pytest
import torch

from captum_smooth.metrics import autvc

N = 64


def _grid():
    return torch.meshgrid(torch.arange(N), torch.arange(N), indexing="ij")


def test_autvc_of_a_constant_map_is_zero():
    result = autvc(torch.full((2, 3, N, N), 0.7, dtype=torch.float64), min_size=16)
    assert torch.equal(result.curve, torch.zeros_like(result.curve))
    assert torch.equal(result.score, torch.zeros(2, dtype=torch.float64))


def test_autvc_of_a_checkerboard_is_maximal():
    rows, cols = _grid()
    checkerboard = ((rows + cols) % 2).double()
    generator = torch.Generator().manual_seed(0)
    others = [
        torch.ones(N, N, dtype=torch.float64),
        rows.double(),
        torch.exp(-((rows - 30.0) ** 2 + (cols - 20.0) ** 2) / 50).double(),
        ((rows // 8 + cols // 8) % 2).double(),
        torch.rand(N, N, generator=generator, dtype=torch.float64),
    ]
    result = autvc(torch.stack([checkerboard, *others]), min_size=16)
    # Every neighbour differs by 1 after normalisation: the largest possible TV.
    assert result.curve[0, 0].item() == pytest.approx(2 * N * (N - 1) / N**2)
    assert (result.score[0] > result.score[1:]).all()


def test_autvc_levels_follow_the_paper_pyramid_and_even_levels_use_cartwright_simpson():
    generator = torch.Generator().manual_seed(0)
    result = autvc(torch.rand(1, 3, 224, 224, generator=generator))
    assert result.sizes == ((224, 224), (150, 150), (100, 100), (67, 67), (45, 45), (30, 30))
    y = result.curve[0].double()
    # Six levels: Simpson's 1/3 rule on the first four intervals, then the parabola through
    # the last three points over the last interval (Cartwright; scipy >= 1.11).
    first = (y[0] + 4 * y[1] + 2 * y[2] + 4 * y[3] + y[4]) / 3
    last = (5 * y[5] + 8 * y[4] - y[3]) / 12
    assert result.score.item() == pytest.approx((first + last).item(), rel=1e-6)
    assert result.score.dtype == torch.float32


def test_autvc_sums_channels_with_their_sign():
    rows, cols = _grid()
    pattern = ((rows + cols) % 2).double()
    cancelling = torch.stack([pattern, -pattern])[None]
    assert autvc(cancelling, min_size=16).score.item() == 0.0
    assert autvc(cancelling, min_size=16, channel_reduction="abs_sum").score.item() > 1.0


def test_autvc_rejects_bad_arguments():
    with pytest.raises(ValueError, match="min_size"):
        autvc(torch.rand(1, 3, 20, 20))
    with pytest.raises(ValueError, match="downscale"):
        autvc(torch.rand(1, 3, 64, 64), downscale=1.0)
    with pytest.raises(ValueError, match="attributions"):
        autvc(torch.rand(64, 64))
    with pytest.raises(ValueError, match="channel_reduction"):
        autvc(torch.rand(1, 3, 64, 64), channel_reduction="max")

import pytest
import torch
from torch import nn

SIZE = 32
REGION = (slice(0, 8), slice(8, 16))  # rows 0-7, columns 8-15 of a 32×32 image


class RegionModel(nn.Module):
    """Two logits that depend only on the mean of ``REGION``: ``[10 (m - 0.5), 0]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x[:, :, REGION[0], REGION[1]].mean(dim=(1, 2, 3))
        return torch.stack([10 * (m - 0.5), torch.zeros_like(m)], dim=1)


@pytest.fixture
def region_model() -> nn.Module:
    return RegionModel()


@pytest.fixture
def region_maps() -> dict[str, torch.Tensor]:
    """Maps (B=2, 3, 32, 32) that mark the region, its complement, and random maps."""
    region = torch.zeros(2, 3, SIZE, SIZE, dtype=torch.float64)
    region[:, :, REGION[0], REGION[1]] = 1.0
    generator = torch.Generator().manual_seed(0)
    return {
        "region": region,
        "complement": 1.0 - region,
        "random": torch.rand(2, 3, SIZE, SIZE, generator=generator, dtype=torch.float64),
    }


@pytest.fixture
def bright_images() -> torch.Tensor:
    return torch.full((2, 3, SIZE, SIZE), 0.95, dtype=torch.float64)

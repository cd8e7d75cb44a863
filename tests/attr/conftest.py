import pytest
import torch
from torch import nn


class TwoInputNet(nn.Module):
    """A small network with two inputs and an additional (scale) argument."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 6)
        self.b = nn.Conv2d(2, 3, 3, padding=1)
        self.head = nn.Linear(6 + 3, 3)

    def forward(self, x1, x2, scale=1.0):
        h = torch.cat(
            [torch.tanh(self.a(x1.flatten(1))), torch.relu(self.b(x2)).mean(dim=(2, 3))], dim=1
        )
        return self.head(h) * scale


@pytest.fixture
def two_input_net() -> nn.Module:
    torch.manual_seed(0)
    return TwoInputNet().double().eval()


@pytest.fixture
def cnn() -> nn.Module:
    torch.manual_seed(0)
    return (
        nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1),
            nn.Softplus(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(4 * 4 * 4, 5),
        )
        .double()
        .eval()
    )

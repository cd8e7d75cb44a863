"""The model of tutorials/3_axioms_in_ci.ipynb, for the tests of the docs' CI file.

The statements after ``device`` are the tutorial's training cell, verbatim (test_docs.py
compares them), so that the tests check the model the tutorial shows.
"""

import torch
from sklearn.datasets import load_digits
from torch import nn

device = "cpu"
digits = load_digits()
images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16  # N×1×8×8 in [0, 1]
labels = torch.tensor(digits.target)
order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
train, test = order[:1400], order[1400:]


def train_digits_model(seed: int) -> nn.Sequential:
    generator = torch.Generator().manual_seed(seed)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 10)
    )
    with torch.no_grad():  # initialise from our own generator, not torch's global one
        for layer in (model[1], model[4]):
            scale = layer.in_features**-0.5
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * scale)
            layer.bias.zero_()
    model = model.to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = images[train].to(device), labels[train].to(device)
    for _ in range(150):  # full-batch Adam: 1,400 images fit in one batch
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimiser.step()
    return model.eval().double()

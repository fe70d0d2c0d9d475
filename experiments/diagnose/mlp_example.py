"""The README's custom-model example: `python experiments/diagnose/mlp_example.py` (a few seconds per 100 steps)."""

import torch
from torch import nn

import dyt.diagnose
from dyt.run.data import build_data
from dyt.run.schema import compose


class MLPNet(nn.Module):  # your own model: two LayerNorm'd hidden layers
    def __init__(self, width: int = 128) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, width), nn.LayerNorm(width), nn.GELU(),
                                  nn.Linear(width, width), nn.LayerNorm(width), nn.GELU())
        self.head = nn.Linear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


train = build_data(compose("experiment=vit", "data.batch_size=64")).train  # Fashion-MNIST, batch(step) -> (x, y)
torch.manual_seed(0)
result = dyt.diagnose(MLPNet(), train.batch, steps=150, alpha="calibrate", name="mlp", out="results/diagnose/mlp")
print(result.prediction.verdict, result.recommendation["alpha"])

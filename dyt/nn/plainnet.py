"""A VGG-style plain ConvNet (no residuals), the paper's other BatchNorm -> DyT negative result."""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn


class PlainNet(nn.Module):
    """A VGG-style plain ConvNet (no residuals): ``[conv3x3 -> norm -> ReLU]`` stacks separated by 2x2
    max-pools, then global average pooling and one linear layer.

    ``layers`` lists the conv widths, ``"M"`` for a max-pool, e.g. VGG-11 is
    ``[64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M]``. The head is
    global pooling + linear, not VGG's 4096-wide MLP (which assumes 224x224
    images and holds most of VGG's parameters); the init is torchvision's VGG
    init (Kaiming-normal convs, N(0, 0.01) head).
    """

    def __init__(self, layers: list, num_classes: int, in_chans: int = 3,
                 norm_layer: Optional[Callable] = nn.BatchNorm2d, drop_rate: float = 0.0) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        channels = in_chans
        for item in layers:
            if item == "M":
                blocks.append(nn.MaxPool2d(2, 2))
                continue
            blocks += [nn.Conv2d(channels, int(item), 3, padding=1, bias=norm_layer is None),
                       norm_layer(int(item)) if norm_layer is not None else nn.Identity(), nn.ReLU(inplace=True)]
            channels = int(item)
        self.features = nn.Sequential(*blocks)
        self.num_features = channels
        self.drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(channels, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.normal_(self.head.weight, 0, 0.01)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> (N, classes)
        return self.head(self.drop(self.features(x).mean((2, 3))))

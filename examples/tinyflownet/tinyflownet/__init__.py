"""TinyFlowNet: two convolutions over the optical flow (u, v, strain), global average pooling and a
linear layer. A plain torch module: famnet builds it as TinyFlowNet(num_classes=C, **its
models.tinyflownet keys) and reads N x C class scores from forward(x)."""

import torch
from torch import nn


class TinyFlowNet(nn.Module):
    def __init__(self, num_classes: int, width: int = 16, dropout: float = 0.2, in_channels: int = 3):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, kernel_size=3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, kernel_size=3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


# What famnet needs to know besides the class (docs/methods.md): the input it reads and its recipe.
# The config's external_methods entry says the same; this one is found through the entry point.
DECLARATION = {
    "entry_point": "tinyflownet:TinyFlowNet",
    "display": "TinyFlowNet",
    "input": {"kind": "flow", "channels": ["u", "v", "strain"], "size": 28, "per_image": "minmax",
              "standardise": False},
    "recipe": {"optimizer": "adam", "lr": 0.001, "weight_decay": 0.0, "batch_size": 16, "epochs": 30,
               "lr_schedule": "constant", "class_balance": "none", "hflip": 0.0, "amp": False},
}

"""STSTNet (Liong, Gan, See, Khor, Huang; FG 2019 / MEGC2019): shallow triple-stream CNN over the
onset->apex optical flow u, v and optical strain at 28×28.

Three parallel streams read the same 3-channel input; each is one 3×3 convolution (3, 5 and 8
filters, padding 2), ReLU, batch norm, 3×3 max pooling with stride 3, dropout. The 16 stream
maps are concatenated, 2×2 average-pooled (16×5×5 at 28×28) and one linear layer gives the class
scores; no hidden layer. 1,683 parameters for 3 classes. Structure as in the authors' released
code (christy1206/STSTNet, main.py); docs/baselines.md.
"""

from __future__ import annotations

import torch
from torch import nn

from famnet.models.baselines import BaselineConfig, FlowBaseline
from famnet.models.registry import register_model

STREAM_WIDTHS = (3, 5, 8)


def _pooled_side(size: int) -> int:
    """Side after conv (padding 2: +2), max pool k3 s3 p1, then avg pool k2 s2."""
    side = size + 2
    side = (side + 2 - 3) // 3 + 1
    return side // 2


class STSTNet(FlowBaseline):
    channels = ("u", "v", "strain")
    first_layer = "streams.0.0"

    def __init__(self, config: BaselineConfig):
        super().__init__(config)
        self.streams = nn.ModuleList(
            nn.Sequential(nn.Conv2d(3, width, kernel_size=3, padding=2), nn.ReLU(inplace=True), nn.BatchNorm2d(width),
                          nn.MaxPool2d(kernel_size=3, stride=3, padding=1), nn.Dropout(config.dropout))
            for width in STREAM_WIDTHS)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)
        side = _pooled_side(config.input_size)
        self.classifier = nn.Linear(sum(STREAM_WIDTHS) * side * side, config.num_classes)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([stream(x) for stream in self.streams], dim=1)
        return self.classifier(self.pool(x).flatten(1))


@register_model("ststnet")
def ststnet(**cfg) -> STSTNet:
    return STSTNet(BaselineConfig.from_dict(cfg))

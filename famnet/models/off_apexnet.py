"""OFF-ApexNet (Gan, Liong, Yau, Huang, Tan; Signal Processing: Image Communication 2019): two
CNN streams over the onset->apex flow's horizontal (u) and vertical (v) components at 28×28.

Each stream: 5×5 convolution with 6 filters, 2×2 max pooling, 5×5 convolution with 16 filters,
2×2 max pooling ("same" padding: 16×7×7 at 28×28). The two streams' features are concatenated
and go through two fully connected layers of 1024 units (ReLU, dropout) to the class scores:
2,664,475 parameters for 3 classes, the "2.66M" of the public PyTorch re-implementation
(PRICAI2021-Off-TANet). A ReLU follows each convolution (the usual CNN form, as in the MEB
toolkit's version; Off-TANet's has none): docs/baselines.md.
"""

from __future__ import annotations

import torch
from torch import nn

from famnet.models.baselines import BaselineConfig, FlowBaseline
from famnet.models.registry import register_model

CONV_WIDTHS = (6, 16)
HIDDEN = 1024


def _stream() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, CONV_WIDTHS[0], kernel_size=5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(CONV_WIDTHS[0], CONV_WIDTHS[1], kernel_size=5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2))


class OFFApexNet(FlowBaseline):
    channels = ("u", "v")
    first_layer = "stream_u.0"

    def __init__(self, config: BaselineConfig):
        super().__init__(config)
        self.stream_u, self.stream_v = _stream(), _stream()
        side = config.input_size // 4
        self.classifier = nn.Sequential(
            nn.Linear(2 * CONV_WIDTHS[1] * side * side, HIDDEN), nn.ReLU(inplace=True), nn.Dropout(config.dropout),
            nn.Linear(HIDDEN, HIDDEN), nn.ReLU(inplace=True), nn.Dropout(config.dropout),
            nn.Linear(HIDDEN, config.num_classes))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        u, v = self.stream_u(x[:, :1]), self.stream_v(x[:, 1:2])
        return self.classifier(torch.cat([u.flatten(1), v.flatten(1)], dim=1))


@register_model("off_apexnet")
def off_apexnet(**cfg) -> OFFApexNet:
    return OFFApexNet(BaselineConfig.from_dict(cfg))

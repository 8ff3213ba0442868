"""SSSNet (Varanka, Peng, Zhao; "Micro-expression recognition with noisy labels", IS&T Electronic
Imaging, HVEI 2021), the shallow single-stream CNN over the onset->apex flow (u, v, strain; each
channel min-max scaled to [0, 1]) at 64×64 that the MEB benchmark (Varanka et al., IEEE TAFFC 2024)
reports leak-free on the MEGC2019 composite: 73.9 UF1 after a fixed 200 epochs.

conv 5×5 (32 filters, no padding) -> ReLU -> max pool 3×3 stride 3 -> batch norm -> channel dropout;
conv 3×3 (64 filters) -> ReLU -> max pool 2×2 -> batch norm -> channel dropout; flatten (64×9×9 at
64×64) -> linear 256 -> ReLU -> dropout -> linear to the classes. 1,349,251 parameters for 3
classes at 64×64. Layer order and sizes as in the authors' code (MEB's meb/models/me_networks.py);
tests/test_baselines.py checks this model output for output against a transcription of those
layers; docs/baselines.md lists what differs here (the release's 28×28 flow resized to 64).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from famnet.models.baselines import BaselineConfig, FlowBaseline
from famnet.models.registry import register_model

CONV_WIDTHS = (32, 64)
HIDDEN = 256


@dataclass(frozen=True)
class SSSNetConfig(BaselineConfig):
    input_size: int = 64            # the authors' 64×64 flow
    per_image: str = "minmax"       # each channel of each flow to [0, 1] (MEB's loader)


def _pooled_side(size: int) -> int:
    """Side after conv 5 (no padding), max pool 3/3, conv 3 (no padding), max pool 2/2."""
    return ((size - 4) // 3 - 2) // 2


class SSSNet(FlowBaseline):
    channels = ("u", "v", "strain")
    first_layer = "features.0"

    def __init__(self, config: SSSNetConfig):
        super().__init__(config)
        side = _pooled_side(config.input_size)
        if side < 1:
            raise ValueError(f"SSSNet needs input_size >= 13 (two convolutions and poolings), got {config.input_size}")
        self.features = nn.Sequential(
            nn.Conv2d(3, CONV_WIDTHS[0], kernel_size=5), nn.ReLU(), nn.MaxPool2d(kernel_size=3, stride=3),
            nn.BatchNorm2d(CONV_WIDTHS[0]), nn.Dropout2d(config.dropout),
            nn.Conv2d(CONV_WIDTHS[0], CONV_WIDTHS[1], kernel_size=3), nn.ReLU(), nn.MaxPool2d(kernel_size=2, stride=2),
            nn.BatchNorm2d(CONV_WIDTHS[1]), nn.Dropout2d(config.dropout))
        self.classifier = nn.Sequential(
            nn.Linear(CONV_WIDTHS[1] * side * side, HIDDEN), nn.ReLU(), nn.Dropout(config.dropout),
            nn.Linear(HIDDEN, config.num_classes))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


@register_model("sssnet")
def sssnet(**cfg) -> SSSNet:
    return SSSNet(SSSNetConfig.from_dict(cfg))

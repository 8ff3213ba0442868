"""AMNet2D: torchvision ResNet18 + hierarchical CBAM attention + emotion / AU heads.

Input N×C×H×W, C by ``input``: apex (aligned apex RGB crop, 3), flow (onset->apex flow u, v and
optical strain, 3) or apex_flow (the two stacked in that order, 6). Default size 224×224; any
size from 32×32 works (global pooling before the heads).
"""

from __future__ import annotations

import torchvision
from torch import nn

from famnet.models.branch import AttentiveResNet
from famnet.models.registry import ModelConfig, register_model

INPUT_CHANNELS = {"apex": 3, "flow": 3, "apex_flow": 6}


class AMNet2D(AttentiveResNet):
    arch = "resnet18"               # torchvision architecture of the backbone (pretrained files)
    first_conv = "backbone.conv1"   # the stem conv (timm default_cfg key); its grad proves the backbone learns
    stem_key = "conv1"

    def __init__(self, config: ModelConfig):
        if config.input not in INPUT_CHANNELS:
            raise ValueError(f"AMNet2D input must be one of {sorted(INPUT_CHANNELS)}, got {config.input!r}")
        in_channels = INPUT_CHANNELS[config.input]
        backbone = torchvision.models.resnet18(weights=None)   # never downloads
        if in_channels != 3:
            backbone.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
            nn.init.kaiming_normal_(backbone.conv1.weight, mode="fan_out", nonlinearity="relu")
        super().__init__(config, backbone, in_channels, dims=2)
        self.default_input_shape = (in_channels, 224, 224)

    def stem(self, x):
        b = self.backbone
        return b.maxpool(b.relu(b.bn1(b.conv1(x))))


def _amnet2d(cfg: dict, input: str) -> AMNet2D:
    return AMNet2D(ModelConfig.from_dict({"input": input, **cfg}))


@register_model("amnet2d")
def amnet2d(**cfg) -> AMNet2D:
    """The 2D branch as configured (``input`` defaults to the apex RGB crop)."""
    return _amnet2d(cfg, "apex")


@register_model("amnet2d_flow")
def amnet2d_flow(**cfg) -> AMNet2D:
    """Shorthand: the 2D branch on onset->apex flow u, v, strain."""
    return _amnet2d(cfg, "flow")


@register_model("amnet2d_apex_flow")
def amnet2d_apex_flow(**cfg) -> AMNet2D:
    """Shorthand: the 2D branch on apex RGB + flow stacked (6 channels)."""
    return _amnet2d(cfg, "apex_flow")

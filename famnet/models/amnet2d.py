"""AMNet2D: torchvision ResNet18 + hierarchical CBAM attention + emotion / AU heads.

Input N×C×H×W, C by ``input``: apex (aligned apex RGB crop, 3), flow (onset->apex flow u, v and
optical strain, 3) or apex_flow (the two stacked in that order, 6). Default size 224×224; any
size from 32×32 works (global pooling before the heads).
"""

from __future__ import annotations

import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock

from famnet.models.branch import AttentiveResNet, scaled_channels
from famnet.models.registry import ModelConfig, register_model

INPUT_CHANNELS = {"apex": 3, "flow": 3, "apex_flow": 6}


class ScaledResNet18(torchvision.models.ResNet):
    """torchvision's ResNet18 with every stage ``width`` times as wide (the blocks, strides, depth
    and initialisation are torchvision's; width 1 is resnet18 itself)."""

    def __init__(self, width: float):
        self.width = width
        super().__init__(BasicBlock, [2, 2, 2, 2])
        stem = scaled_channels(64, width)
        self.conv1 = nn.Conv2d(3, stem, kernel_size=7, stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.bn1 = nn.BatchNorm2d(stem)

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        if planes == 64:                       # layer1 follows the (narrowed) stem
            self.inplanes = scaled_channels(64, self.width)
        return super()._make_layer(block, scaled_channels(planes, self.width), blocks, stride, dilate)


def resnet18_backbone(width: float) -> nn.Module:
    return torchvision.models.resnet18(weights=None) if width == 1.0 else ScaledResNet18(width)   # never downloads


class AMNet2D(AttentiveResNet):
    arch = "resnet18"               # torchvision architecture of the backbone (pretrained files)
    first_conv = "backbone.conv1"   # the stem conv (timm default_cfg key); its grad proves the backbone learns
    stem_key = "conv1"

    def __init__(self, config: ModelConfig):
        if config.input not in INPUT_CHANNELS:
            raise ValueError(f"AMNet2D input must be one of {sorted(INPUT_CHANNELS)}, got {config.input!r}")
        in_channels = INPUT_CHANNELS[config.input]
        backbone = resnet18_backbone(config.width)
        if in_channels != 3:
            backbone.conv1 = nn.Conv2d(in_channels, backbone.conv1.out_channels, kernel_size=7, stride=2, padding=3,
                                       bias=False)
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

"""AMNet3D: torchvision r3d_18 + hierarchical CBAM attention with temporal attention + emotion / AU heads.

Input N×C×T×H×W clips (mmaction2 layout), C = 3 RGB frames sampled onset..offset (``clip``), or
the same frames minus the onset frame (``clip_diff``: only what moved, the identity cancels). Default
T = 16 at 112×112 (preprocess.clip_length / preprocess.clip_size); any T >= 1 and H, W >= 16 work.
"""

from __future__ import annotations

from dataclasses import dataclass

import torchvision
from torch import nn
from torchvision.models.video.resnet import BasicBlock, BasicStem, Conv3DSimple, VideoResNet

from famnet.models.branch import AttentiveResNet, scaled_channels
from famnet.models.registry import ModelConfig, register_model

INPUT_CHANNELS = {"clip": 3, "clip_diff": 3}   # clip_diff: each frame minus the onset frame (famnet/data.py)


@dataclass(frozen=True)
class AMNet3DConfig(ModelConfig):
    input: str = "clip"
    temporal_attention: bool = True     # add frame weights to each attention block


class ScaledR3D18(VideoResNet):
    """torchvision's r3d_18 with every stage ``width`` times as wide (blocks, strides, depth and
    initialisation are torchvision's; width 1 is r3d_18 itself)."""

    def __init__(self, width: float):
        self.width = width
        super().__init__(BasicBlock, [Conv3DSimple] * 4, [2, 2, 2, 2], BasicStem)
        stem = scaled_channels(64, width)
        self.stem = nn.Sequential(nn.Conv3d(3, stem, kernel_size=(3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3),
                                            bias=False),
                                  nn.BatchNorm3d(stem), nn.ReLU(inplace=True))
        nn.init.kaiming_normal_(self.stem[0].weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, block, conv_builder, planes, blocks, stride=1):
        if planes == 64:                       # layer1 follows the (narrowed) stem
            self.inplanes = scaled_channels(64, self.width)
        return super()._make_layer(block, conv_builder, scaled_channels(planes, self.width), blocks, stride)


def r3d_18_backbone(width: float) -> nn.Module:
    return torchvision.models.video.r3d_18(weights=None) if width == 1.0 else ScaledR3D18(width)   # never downloads


class AMNet3D(AttentiveResNet):
    arch = "r3d_18"                  # torchvision architecture of the backbone (pretrained files)
    first_conv = "backbone.stem.0"   # the stem conv
    stem_key = "stem.0"

    def __init__(self, config: AMNet3DConfig):
        if config.input not in INPUT_CHANNELS:
            raise ValueError(f"AMNet3D input must be one of {sorted(INPUT_CHANNELS)}, got {config.input!r}")
        backbone = r3d_18_backbone(config.width)
        super().__init__(config, backbone, INPUT_CHANNELS[config.input], dims=3,
                         temporal=config.temporal_attention)
        self.default_input_shape = (self.in_channels, 16, 112, 112)

    def stem(self, x):
        """N×3×T×H×W -> stem features; after layer4 T' = ceil(T/8), H' = H/16."""
        return self.backbone.stem(x)


@register_model("amnet3d")
def amnet3d(**cfg) -> AMNet3D:
    """The 3D branch on onset..offset RGB clips."""
    return AMNet3D(AMNet3DConfig.from_dict(cfg))

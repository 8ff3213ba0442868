"""AMNet2D: torchvision ResNet18 + hierarchical CBAM attention + emotion / AU heads.

Input N×C×H×W, C by ``input``: apex (aligned apex RGB crop, 3), flow (onset->apex flow u, v and
optical strain, 3) or apex_flow (the two stacked in that order, 6). Default size 224×224; any
size from 32×32 works (global pooling before the heads).
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn

from famnet.models.attention import STAGES, hierarchical_attention
from famnet.models.heads import ModelOutput, MultiTaskHead
from famnet.models.registry import RANDOM_INIT, ModelConfig, load_backbone_weights, register_model

INPUT_CHANNELS = {"apex": 3, "flow": 3, "apex_flow": 6}
STAGE_CHANNELS = (64, 128, 256, 512)


class AMNet2D(nn.Module):
    arch = "resnet18"               # torchvision architecture of the backbone (pretrained files)
    first_conv = "backbone.conv1"   # the stem conv (timm default_cfg key); its grad proves the backbone learns

    def __init__(self, config: ModelConfig):
        super().__init__()
        if config.input not in INPUT_CHANNELS:
            raise ValueError(f"AMNet2D input must be one of {sorted(INPUT_CHANNELS)}, got {config.input!r}")
        self.config = config
        self.in_channels = INPUT_CHANNELS[config.input]
        self.default_input_shape = (self.in_channels, 224, 224)

        backbone = torchvision.models.resnet18(weights=None)   # never downloads
        if self.in_channels != 3:
            backbone.conv1 = nn.Conv2d(self.in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
            nn.init.kaiming_normal_(backbone.conv1.weight, mode="fan_out", nonlinearity="relu")
        backbone.fc = nn.Identity()   # the ImageNet classifier is replaced by the multi-task head
        self.backbone = backbone
        self.attention = hierarchical_attention(STAGE_CHANNELS, config.active_attention_stages, dims=2,
                                                reduction=config.attention_reduction,
                                                spatial_kernel=config.spatial_kernel)
        self.head = MultiTaskHead(STAGE_CHANNELS[-1], config.num_classes, config.au_count, config.dropout)

        self.pretrained_source = RANDOM_INIT
        if config.pretrained:
            self.pretrained_source = load_backbone_weights(self.backbone, config.pretrained, self.arch, "conv1")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """N×C×H×W -> N×512×H/32×W/32 feature map (after layer4 and its attention)."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"AMNet2D ({self.config.input}) expects N×{self.in_channels}×H×W, got {tuple(x.shape)}")
        b = self.backbone
        x = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        for name in STAGES:
            x = getattr(b, name)(x)
            if name in self.attention:
                x = self.attention[name](x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> ModelOutput | torch.Tensor:
        """Global average pool, then the heads; ``pre_logits`` returns the pooled N×512 features."""
        x = x.mean(dim=(2, 3))
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        return self.forward_head(self.forward_features(x))


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

"""AMNet3D: torchvision r3d_18 + hierarchical CBAM attention with temporal attention + emotion / AU heads.

Input N×C×T×H×W clips (mmaction2 layout), C = 3 RGB frames sampled onset..offset. Default
T = 16 at 112×112 (preprocess.clip_length / preprocess.clip_size); any T >= 1 and H, W >= 16 work.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torchvision
from torch import nn

from famnet.models.attention import STAGES, hierarchical_attention
from famnet.models.heads import ModelOutput, MultiTaskHead
from famnet.models.registry import RANDOM_INIT, ModelConfig, load_backbone_weights, register_model

INPUT_CHANNELS = {"clip": 3}
STAGE_CHANNELS = (64, 128, 256, 512)


@dataclass(frozen=True)
class AMNet3DConfig(ModelConfig):
    input: str = "clip"
    temporal_attention: bool = True     # add frame weights to each attention block


class AMNet3D(nn.Module):
    arch = "r3d_18"                  # torchvision architecture of the backbone (pretrained files)
    first_conv = "backbone.stem.0"   # the stem conv

    def __init__(self, config: AMNet3DConfig):
        super().__init__()
        if config.input not in INPUT_CHANNELS:
            raise ValueError(f"AMNet3D input must be one of {sorted(INPUT_CHANNELS)}, got {config.input!r}")
        self.config = config
        self.in_channels = INPUT_CHANNELS[config.input]
        self.default_input_shape = (self.in_channels, 16, 112, 112)

        backbone = torchvision.models.video.r3d_18(weights=None)   # never downloads
        backbone.fc = nn.Identity()   # the Kinetics classifier is replaced by the multi-task head
        self.backbone = backbone
        self.attention = hierarchical_attention(STAGE_CHANNELS, config.active_attention_stages, dims=3,
                                                reduction=config.attention_reduction,
                                                spatial_kernel=config.spatial_kernel,
                                                temporal=config.temporal_attention)
        self.head = MultiTaskHead(STAGE_CHANNELS[-1], config.num_classes, config.au_count, config.dropout)

        self.pretrained_source = RANDOM_INIT
        if config.pretrained:
            self.pretrained_source = load_backbone_weights(self.backbone, config.pretrained, self.arch, "stem.0")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """N×3×T×H×W -> N×512×T'×H'×W' feature map (T' = ceil(T/8), H' = H/16, after layer4's attention)."""
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f"AMNet3D expects N×{self.in_channels}×T×H×W clips, got {tuple(x.shape)}")
        b = self.backbone
        x = b.stem(x)
        for name in STAGES:
            x = getattr(b, name)(x)
            if name in self.attention:
                x = self.attention[name](x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> ModelOutput | torch.Tensor:
        """Global average pool over T, H, W, then the heads; ``pre_logits`` returns N×512 features."""
        x = x.mean(dim=(2, 3, 4))
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        return self.forward_head(self.forward_features(x))


@register_model("amnet3d")
def amnet3d(**cfg) -> AMNet3D:
    """The 3D branch on onset..offset RGB clips."""
    return AMNet3D(AMNet3DConfig.from_dict(cfg))

"""What AMNet2D and AMNet3D share: a torchvision ResNet whose four stages are each followed by an
attention block, then global average pooling and the multi-task head (timm-style
forward_features / forward_head split)."""

from __future__ import annotations

import torch
from torch import nn

from famnet.models.attention import STAGES, hierarchical_attention
from famnet.models.heads import ModelOutput, MultiTaskHead
from famnet.models.registry import RANDOM_INIT, ModelConfig, load_backbone_weights

STAGE_CHANNELS = (64, 128, 256, 512)


def scaled_channels(channels: int, width: float) -> int:
    """``channels`` times the model's ``width``, rounded to a multiple of 8 (at least 8)."""
    return max(8, int(round(channels * width / 8)) * 8)


def stage_channels(width: float) -> tuple[int, ...]:
    return tuple(scaled_channels(c, width) for c in STAGE_CHANNELS)


class AttentiveResNet(nn.Module):
    """Subclasses set ``arch`` (torchvision name, for pretrained files), ``first_conv`` (the stem
    conv's module path) and ``stem_key`` (its key in the backbone's state dict), and define
    ``stem(x)``, the layers before ``layer1``."""

    arch: str
    first_conv: str
    stem_key: str

    def __init__(self, config: ModelConfig, backbone: nn.Module, in_channels: int, dims: int,
                 temporal: bool = False):
        super().__init__()
        self.config = config
        self.in_channels = in_channels
        self.input_dims = dims + 2      # N, C and the spatial (+ temporal) axes
        backbone.fc = nn.Identity()     # the pretraining classifier is replaced by the multi-task head
        self.backbone = backbone
        channels = stage_channels(config.width)
        self.attention = hierarchical_attention(channels, config.active_attention_stages, dims=dims,
                                                reduction=config.attention_reduction,
                                                spatial_kernel=config.spatial_kernel, temporal=temporal)
        self.head = MultiTaskHead(channels[-1], config.num_classes, config.au_count, config.dropout)
        self.pretrained_source = RANDOM_INIT
        if config.pretrained:
            self.pretrained_source = load_backbone_weights(self.backbone, config.pretrained, self.arch, self.stem_key)

    @property
    def first_layer(self) -> str:
        """The module whose gradient proves the whole network learns (as the baselines name it)."""
        return self.first_conv

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Input -> N×512×... (at width 1) feature map after layer4 and its attention."""
        if x.dim() != self.input_dims or x.shape[1] != self.in_channels:
            raise ValueError(f"{type(self).__name__} ({self.config.input}) expects {self.input_dims}-D input with "
                             f"{self.in_channels} channels (N×C×...), got {tuple(x.shape)}")
        x = self.stem(x)
        for name in STAGES:
            x = getattr(self.backbone, name)(x)
            if name in self.attention:
                x = self.attention[name](x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> ModelOutput | torch.Tensor:
        """Global average pool over every axis after C, then the heads; ``pre_logits`` returns N×512."""
        x = x.mean(dim=tuple(range(2, x.dim())))
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        return self.forward_head(self.forward_features(x))

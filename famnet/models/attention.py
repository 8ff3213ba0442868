"""CBAM-style attention for 2D and 3D feature maps, plus a temporal attention for clips.

FAMNet's "hierarchical attention" is not specified beyond its name; we read it as CBAM
(Woo et al., ECCV 2018) applied after every ResNet stage, so attention acts on low-level
(layer1) to high-level (layer4) features. The 3D branch adds a temporal attention that weights
frames. Every module keeps its input's shape: it only rescales it by weights in (0, 1).
See docs/assumptions.md for the choices and the config keys that change them.
"""

from __future__ import annotations

import torch
from torch import nn

STAGES = ("layer1", "layer2", "layer3", "layer4")


class ChannelAttention(nn.Module):
    """Which channels matter: average- and max-pooled descriptors -> shared MLP -> sigmoid.

    Works on N×C×H×W and N×C×T×H×W alike (pools over everything after C).
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.mlp = nn.Sequential(
            nn.Linear(channels, hidden, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(2)                                         # N×C×L
        weight = torch.sigmoid(self.mlp(flat.mean(-1)) + self.mlp(flat.amax(-1)))  # N×C
        return x * weight.view(*weight.shape, *([1] * (x.dim() - 2)))


class SpatialAttention(nn.Module):
    """Where: channel mean and max maps -> k×k conv -> sigmoid weight per position.

    dims=2 for N×C×H×W. dims=3 for N×C×T×H×W uses a 1×k×k kernel, so every frame gets its own
    spatial map and time is left to TemporalAttention.
    """

    def __init__(self, kernel_size: int = 7, dims: int = 2):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"spatial attention kernel must be odd and positive, got {kernel_size}")
        if dims == 2:
            self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        elif dims == 3:
            self.conv = nn.Conv3d(2, 1, (1, kernel_size, kernel_size),
                                  padding=(0, kernel_size // 2, kernel_size // 2), bias=False)
        else:
            raise ValueError(f"dims must be 2 or 3, got {dims}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)  # N×2×...
        return x * torch.sigmoid(self.conv(pooled))


class TemporalAttention(nn.Module):
    """When: per-frame descriptors (spatial mean, N×C×T) -> 1-D conv MLP over time -> sigmoid
    weight per frame, shared by all channels and positions of that frame. Input N×C×T×H×W."""

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 3):
        super().__init__()
        hidden = max(channels // reduction, 1)
        pad = kernel_size // 2
        self.mlp = nn.Sequential(
            nn.Conv1d(channels, hidden, kernel_size, padding=pad, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv1d(hidden, 1, kernel_size, padding=pad, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = x.mean(dim=(3, 4))                                 # N×C×T
        weight = torch.sigmoid(self.mlp(frames))                    # N×1×T
        return x * weight[..., None, None]


class AttentionBlock(nn.Module):
    """Channel -> spatial (-> temporal) attention in sequence, as CBAM orders them."""

    def __init__(self, channels: int, dims: int = 2, reduction: int = 16, spatial_kernel: int = 7,
                 temporal: bool = False):
        super().__init__()
        if temporal and dims != 3:
            raise ValueError("temporal attention needs 3D (N×C×T×H×W) features")
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention(spatial_kernel, dims)
        self.temporal = TemporalAttention(channels, reduction) if temporal else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.spatial(self.channel(x))
        if self.temporal is not None:
            x = self.temporal(x)
        return x


def hierarchical_attention(stage_channels: tuple[int, ...], stages: tuple[int, ...], dims: int,
                           reduction: int, spatial_kernel: int, temporal: bool = False) -> nn.ModuleDict:
    """One AttentionBlock after each chosen ResNet stage, keyed 'layer1'..'layer4'.

    ``stages`` are 1-based stage numbers; an empty tuple gives an empty ModuleDict (no attention).
    """
    return nn.ModuleDict({
        STAGES[s - 1]: AttentionBlock(stage_channels[s - 1], dims, reduction, spatial_kernel, temporal)
        for s in stages
    })

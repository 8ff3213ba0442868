"""HTNet (Wang, Zhang, Luo, Sankaranarayana; Neurocomputing 602, 2024): a hierarchical transformer
over four facial-region patches of the onset->apex flow u, v and optical strain.

Input: the 28×28 flow image cut into four 14×14 patches around the two eyes and the two mouth
corners, assembled 2×2 (famnet.data.region_patches; the regions come from the landmarks the
preprocessing already has); ``montage`` ``authors`` (default) lays them out as the authors'
main_HTNet.py does, [eye left | mouth left] over [eye right | mouth right], ``regions`` as [eye
left | eye right] over [mouth left | mouth right]. The network is a nested hierarchical
transformer (NesT, Zhang et al. 2022) as configured in the authors' main_HTNet.py: 7×7 patches embedded to ``dim`` channels (a 4×4
token map), then ``levels`` = 3 levels of transformer blocks, each attending within local blocks of
the token map, with an aggregation (3×3 conv to twice the width, channel layer norm, 3×3 max pool
with stride 2) between levels; widths dim·(1, 2, 4), heads heads·(1, 2, 4), depths block_repeats.
At level l (0 = finest) the map is split into 2^(levels-1-l) × 2^(levels-1-l) blocks, so at the
paper's sizes every block holds one token: attention then only mixes a token with itself (its
softmax is 1), as in the authors' code. Head: channel layer norm, mean over the map, linear.
About 139.6 M parameters at the paper's sizes (dim 256, heads 3, block_repeats 2, 2, 10), nearly
all in the ten 1024-wide blocks of the last level; docs/baselines.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from famnet.data import MONTAGES, InputSpec
from famnet.models.baselines import BaselineConfig, FlowBaseline
from famnet.models.registry import register_model


@dataclass(frozen=True)
class HTNetConfig(BaselineConfig):
    patch_size: int = 7
    dim: int = 256
    heads: int = 3
    levels: int = 3
    block_repeats: tuple[int, ...] = (2, 2, 10)
    mlp_mult: int = 4
    dropout: float = 0.0
    montage: str = "authors"        # authors | regions: the 2×2 layout of the region patches (famnet.data.MONTAGES)

    def __post_init__(self):
        super().__post_init__()
        if self.montage not in MONTAGES:
            raise ValueError(f"montage must be one of {list(MONTAGES)}, got {self.montage!r}")
        object.__setattr__(self, "block_repeats", tuple(int(b) for b in self.block_repeats))
        if len(self.block_repeats) != self.levels:
            raise ValueError(f"block_repeats needs one depth per level ({self.levels}), got {list(self.block_repeats)}")
        tokens = self.input_size // self.patch_size
        if self.input_size % self.patch_size or tokens % 2 ** (self.levels - 1):
            raise ValueError(f"input_size {self.input_size} must be a multiple of patch_size {self.patch_size} giving "
                             f"a token map divisible by 2^(levels-1) = {2 ** (self.levels - 1)}")


class ChannelNorm(nn.Module):
    """Layer norm over the channels of an N×C×H×W map."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(1, dim, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, dim, 1, 1))

    def forward(self, x):
        var, mean = torch.var_mean(x, dim=1, unbiased=False, keepdim=True)
        return (x - mean) / (var + self.eps).sqrt() * self.weight + self.bias


class Attention(nn.Module):
    """Multi-head self-attention among the tokens of one block (1×1 convs for q, k, v and out)."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads, head_dim = heads, dim // heads
        self.scale = head_dim ** -0.5
        inner = head_dim * heads
        self.qkv = nn.Conv2d(dim, inner * 3, 1, bias=False)
        self.out = nn.Sequential(nn.Conv2d(inner, dim, 1), nn.Dropout(dropout))

    def forward(self, x):
        n, _, h, w = x.shape
        q, k, v = (t.reshape(n, self.heads, -1, h * w) for t in self.qkv(x).chunk(3, dim=1))
        attention = torch.einsum("nhdi,nhdj->nhij", q, k).mul(self.scale).softmax(-1)
        x = torch.einsum("nhij,nhdj->nhdi", attention, v).reshape(n, -1, h, w)
        return self.out(x)


class TransformerLevel(nn.Module):
    """``depth`` pre-norm blocks (attention, then a 1×1-conv MLP, each residual) within blocks."""

    def __init__(self, dim: int, tokens_per_block: int, depth: int, heads: int, mlp_mult: int, dropout: float):
        super().__init__()
        self.position = nn.Parameter(torch.randn(tokens_per_block))
        self.blocks = nn.ModuleList(nn.ModuleList([
            nn.Sequential(ChannelNorm(dim), Attention(dim, heads, dropout)),
            nn.Sequential(ChannelNorm(dim), nn.Conv2d(dim, dim * mlp_mult, 1), nn.GELU(), nn.Dropout(dropout),
                          nn.Conv2d(dim * mlp_mult, dim, 1), nn.Dropout(dropout))]) for _ in range(depth))

    def forward(self, x):
        x = x + self.position.view(1, 1, *x.shape[2:])    # one learned scalar per token position
        for attention, mlp in self.blocks:
            x = x + attention(x)
            x = x + mlp(x)
        return x


def _to_blocks(x: torch.Tensor, blocks: int) -> torch.Tensor:
    """N×C×H×W -> (N·b·b)×C×(H/b)×(W/b): each local block becomes its own sample."""
    n, c, h, w = x.shape
    x = x.reshape(n, c, blocks, h // blocks, blocks, w // blocks).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(n * blocks * blocks, c, h // blocks, w // blocks)


def _from_blocks(x: torch.Tensor, blocks: int) -> torch.Tensor:
    nb, c, h, w = x.shape
    n = nb // (blocks * blocks)
    x = x.reshape(n, blocks, blocks, c, h, w).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(n, c, blocks * h, blocks * w)


class HTNet(FlowBaseline):
    channels = ("u", "v", "strain")
    first_layer = "embed.1"
    input_kind = "flow_regions"

    @classmethod
    def spec(cls, config: HTNetConfig) -> InputSpec:
        return dataclasses.replace(super().spec(config), montage=config.montage)

    def __init__(self, config: HTNetConfig):
        super().__init__(config)
        p = config.patch_size
        self.embed = nn.Sequential(nn.PixelUnshuffle(p), nn.Conv2d(3 * p * p, config.dim, 1))
        tokens = config.input_size // p
        self.block_counts = [2 ** (config.levels - 1 - level) for level in range(config.levels)]
        widths = [config.dim * 2 ** level for level in range(config.levels)]
        self.levels = nn.ModuleList()
        self.aggregates = nn.ModuleList()
        for level, (blocks, width, depth) in enumerate(zip(self.block_counts, widths, config.block_repeats)):
            tokens_per_block = (tokens // blocks) ** 2
            self.levels.append(TransformerLevel(width, tokens_per_block, depth, config.heads * 2 ** level,
                                                config.mlp_mult, config.dropout))
            last = level == config.levels - 1
            self.aggregates.append(nn.Identity() if last else nn.Sequential(
                nn.Conv2d(width, 2 * width, 3, padding=1), ChannelNorm(2 * width), nn.MaxPool2d(3, stride=2, padding=1)))
            tokens = tokens if last else (tokens + 1) // 2
        self.norm = ChannelNorm(widths[-1])
        self.classifier = nn.Linear(widths[-1], config.num_classes)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        for blocks, level, aggregate in zip(self.block_counts, self.levels, self.aggregates):
            x = _from_blocks(level(_to_blocks(x, blocks)), blocks)
            x = aggregate(x)
        return self.classifier(self.norm(x).mean(dim=(2, 3)))


@register_model("htnet")
def htnet(**cfg) -> HTNet:
    return HTNet(HTNetConfig.from_dict(cfg))

"""What the comparison baselines share: their config dataclass and the single-task output.

The baselines (STSTNet, OFF-ApexNet, HTNet) are emotion classifiers only: they return
``ModelOutput(emotion, aus=N×0)`` so the training loop, prediction and evaluation treat them
exactly like the FAMNet branches. Each declares the input it reads (famnet.data.InputSpec) from
its config: the flow channels its paper uses, the side it resizes the flow to and the per-image
normalisation of its paper's flow images. docs/baselines.md gives the sources and departures.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from famnet.config import check_known_keys
from famnet.data import InputSpec
from famnet.models.heads import ModelOutput
from famnet.models.registry import RANDOM_INIT


@dataclass(frozen=True)
class BaselineConfig:
    """Keys as under ``models.<baseline>`` in config.yaml (the ``training`` recipe aside)."""
    num_classes: int = 3
    aus: tuple[int, ...] = ()       # single-task models: must stay empty (accepted for a uniform call)
    input_size: int = 28            # the flow is resized to input_size × input_size
    per_image: str = "minmax_255"   # each flow channel of each sample scaled to [0, 255], as their PNGs
    dropout: float = 0.5

    def __post_init__(self):
        object.__setattr__(self, "aus", tuple(int(a) for a in self.aus))
        if self.aus:
            raise ValueError(f"{type(self).__name__}: a baseline has no AU head, got aus {list(self.aus)}")
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")
        if self.input_size < 8:
            raise ValueError(f"input_size must be >= 8, got {self.input_size}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    # What the training loop reads of every model's config.
    au_weight = 0.0
    au_count = 0
    pretrained = None

    @classmethod
    def from_dict(cls, values: Mapping) -> "BaselineConfig":
        check_known_keys(values, cls, f"model config ({cls.__name__})")
        return cls(**values)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


class FlowBaseline(nn.Module):
    """Subclasses set ``channels`` (flow channels read), ``first_layer`` (module path of the layer
    whose gradient proves the whole network learns) and implement ``logits(x)``."""

    channels: tuple[str, ...]
    first_layer: str
    input_kind = "flow"
    input_dims = 4

    def __init__(self, config: BaselineConfig):
        super().__init__()
        self.config = config
        self.in_channels = len(self.channels)
        self.default_input_shape = (self.in_channels, config.input_size, config.input_size)
        self.pretrained_source = RANDOM_INIT    # the baselines train from scratch, as in their papers

    @classmethod
    def spec(cls, config: BaselineConfig) -> InputSpec:
        """The input this model reads under ``config`` (no fold standardisation: the paper's images)."""
        return InputSpec(cls.input_kind, channels=cls.channels, size=config.input_size, per_image=config.per_image,
                         standardise=False)

    @property
    def input_spec(self) -> InputSpec:
        return self.spec(self.config)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> ModelOutput:
        expected = self.default_input_shape
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"{type(self).__name__} expects N×{'×'.join(map(str, expected))} input "
                             f"({', '.join(self.channels)}), got {tuple(x.shape)}")
        emotion = self.logits(x)
        return ModelOutput(emotion, emotion.new_zeros(emotion.shape[0], 0))


__all__ = ["BaselineConfig", "FlowBaseline"]

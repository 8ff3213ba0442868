"""Model registry (timm style), the model config dataclass, parameter counts and local pretrained weights.

    @register_model("amnet2d")
    def amnet2d(**cfg): return AMNet2D(ModelConfig.from_dict(cfg))

    model = create_model("amnet2d", num_classes=3, attention=False)
    checkpoint = {"model": model.model_name, "config": model.config.to_dict(), "state_dict": model.state_dict()}
    again = create_model(checkpoint["model"], **{**checkpoint["config"], "pretrained": None})

Nothing is ever downloaded: ``pretrained`` is the path of a local torchvision-format state dict.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from famnet.config import check_known_keys

# Default AU set: the AUs most often coded in CASME II / SAMM / MMEW micro-expressions, and exactly
# the AUs the synthetic generator moves (famnet/datasets/synthetic/motion.py). Per protocol in config.
DEFAULT_AUS = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 25, 26)
RANDOM_INIT = "random init"

_MODEL_ENTRYPOINTS: dict[str, Callable[..., nn.Module]] = {}


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a branch model; keys as under ``models.<branch>`` in config.yaml."""
    num_classes: int = 3                                  # emotion classes C (set from the protocol)
    aus: tuple[int, ...] = DEFAULT_AUS                    # AU numbers of the AU head, in order; () = no AU head
    input: str = "apex"                                   # 2D: apex | flow | apex_flow; 3D: clip
    attention: bool = True                                # False = the "without attention" ablation
    attention_stages: tuple[int, ...] = (1, 2, 3, 4)      # ResNet stages followed by an attention block
    attention_reduction: int = 16                         # channel / temporal MLP reduction r
    spatial_kernel: int = 7                               # k of the k×k spatial-attention conv
    dropout: float = 0.5                                  # before both heads
    au_weight: float = 1.0                                # λ in CE + λ·BCE; 0 = the "without AU task" ablation
    pretrained: str | None = None                         # local torchvision state-dict file, or None
    width: float = 1.0                                    # every stage's channels times this (1: ResNet18's 64..512)

    def __post_init__(self):
        # Frozen dataclass: normalise YAML lists / paths through object.__setattr__.
        object.__setattr__(self, "aus", tuple(int(a) for a in self.aus))
        object.__setattr__(self, "attention_stages", tuple(sorted({int(s) for s in self.attention_stages})))
        if self.pretrained is not None:
            object.__setattr__(self, "pretrained", str(self.pretrained))
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")
        if len(set(self.aus)) != len(self.aus):
            raise ValueError(f"aus lists an AU twice: {list(self.aus)}")
        if not set(self.attention_stages) <= {1, 2, 3, 4}:
            raise ValueError(f"attention_stages must be among 1..4, got {list(self.attention_stages)}")
        if self.attention_reduction < 1:
            raise ValueError(f"attention_reduction must be >= 1, got {self.attention_reduction}")
        if self.spatial_kernel < 1 or self.spatial_kernel % 2 == 0:
            raise ValueError(f"spatial_kernel must be odd and positive, got {self.spatial_kernel}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.au_weight < 0:
            raise ValueError(f"au_weight must be >= 0, got {self.au_weight}")
        if not 0.0 < self.width <= 4.0:
            raise ValueError(f"width must be in (0, 4], got {self.width}")
        if self.width != 1.0 and self.pretrained is not None:
            raise ValueError(f"pretrained weights {self.pretrained} fit the standard widths only; width is "
                             f"{self.width} (set width: 1 to load them)")

    @property
    def au_count(self) -> int:
        return len(self.aus)

    @property
    def active_attention_stages(self) -> tuple[int, ...]:
        return self.attention_stages if self.attention else ()

    @classmethod
    def from_dict(cls, values: Mapping) -> "ModelConfig":
        check_known_keys(values, cls, f"model config ({cls.__name__})")
        return cls(**values)

    def to_dict(self) -> dict:
        """Plain YAML / JSON types (tuples as lists), so a checkpoint can carry it."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def register_model(name: str) -> Callable:
    """Decorator: register ``fn(**cfg) -> nn.Module`` under ``name``."""
    def decorate(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODEL_ENTRYPOINTS:
            raise ValueError(f"model {name!r} is already registered")
        _MODEL_ENTRYPOINTS[name] = fn
        return fn
    return decorate


# The module that registers each built-in model, imported on first use: a job that trains a
# baseline then never imports torchvision (about 1.8 CPU-s of every such job, torch._dynamo included).
BUILTIN_MODULES = {
    "amnet2d": "famnet.models.amnet2d", "amnet2d_flow": "famnet.models.amnet2d",
    "amnet2d_apex_flow": "famnet.models.amnet2d", "amnet3d": "famnet.models.amnet3d",
    "ststnet": "famnet.models.ststnet", "off_apexnet": "famnet.models.off_apexnet", "htnet": "famnet.models.htnet",
    "sssnet": "famnet.models.sssnet",
}


def list_models() -> list[str]:
    return sorted(set(_MODEL_ENTRYPOINTS) | set(BUILTIN_MODULES))


def create_model(name: str, **cfg) -> nn.Module:
    """Build a registered model from config keys (see ModelConfig); unknown keys raise ValueError."""
    if name not in _MODEL_ENTRYPOINTS and name in BUILTIN_MODULES:
        importlib.import_module(BUILTIN_MODULES[name])
    if name not in _MODEL_ENTRYPOINTS:
        raise ValueError(f"unknown model {name!r}; registered: {list_models()}")
    model = _MODEL_ENTRYPOINTS[name](**cfg)
    model.model_name = name
    return model


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def parameter_breakdown(model: nn.Module) -> dict[str, int]:
    """Parameters per top-level part (backbone, attention, head) and in total."""
    parts = {name: count_parameters(child) for name, child in model.named_children()}
    parts["total"] = count_parameters(model)
    return parts


# ---------------------------------------------------------------------------------------------
# Local pretrained weights (torchvision format)

def adapt_first_conv(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Fit a 3-channel (RGB) first-conv kernel to ``in_channels`` > 3 inputs.

    Rule (docs/assumptions.md): channels 0-2 keep the RGB kernel (the apex crop comes first in an
    apex_flow stack), every extra channel gets the mean of the RGB kernels. No rescaling.
    Any other combination is returned unchanged and reported as a shape mismatch.
    """
    if weight.shape[1] == 3 and in_channels > 3:
        extra = weight.mean(dim=1, keepdim=True).repeat_interleave(in_channels - 3, dim=1)
        return torch.cat([weight, extra], dim=1)
    return weight


def _read_state_dict(path: Path, arch: str) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise ValueError(f"pretrained weights for {arch}: no such file {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling / format errors come in many types
        raise ValueError(f"pretrained weights for {arch}: cannot read {path} as a torch state dict "
                         f"({type(err).__name__}: {err})") from err
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"pretrained weights for {arch}: {path} does not hold a state dict "
                         f"(parameter name -> tensor) in torchvision format")
    return dict(state)


def _first(items: list[str], n: int = 5) -> str:
    return ", ".join(items[:n]) + (f", ... ({len(items)} in all)" if len(items) > n else "")


def load_backbone_weights(backbone: nn.Module, path: str | Path, arch: str, first_conv: str) -> str:
    """Load a torchvision state dict for ``arch`` into ``backbone``; returns the path loaded.

    The file's classifier (``fc.*``, ImageNet / Kinetics classes) is dropped: our heads replace it.
    The first conv is adapted by :func:`adapt_first_conv`. Missing or unexpected keys, or a shape
    mismatch, raise ValueError naming the file and the first offending keys.
    """
    path = Path(path)
    state = {k: v for k, v in _read_state_dict(path, arch).items() if not k.startswith("fc.")}
    expected = backbone.state_dict()
    conv_key = f"{first_conv}.weight"
    if conv_key in state and conv_key in expected:
        state[conv_key] = adapt_first_conv(state[conv_key], expected[conv_key].shape[1])
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} (file {tuple(state[k].shape)}, model {tuple(v.shape)})"
             for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong:
        problems = [f"{label}: {_first(keys)}" for label, keys in
                    (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatch", wrong)) if keys]
        raise ValueError(f"pretrained weights {path} do not fit the {arch} backbone (torchvision format "
                         f"expected) - " + "; ".join(problems))
    backbone.load_state_dict(state)
    return str(path)


__all__ = ["DEFAULT_AUS", "RANDOM_INIT", "ModelConfig", "register_model", "list_models", "create_model",
           "count_parameters", "parameter_breakdown", "adapt_first_conv", "load_backbone_weights"]

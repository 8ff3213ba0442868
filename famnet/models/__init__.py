"""FAMNet models: AMNet2D / AMNet3D branches, hierarchical attention, multi-task heads, late fusion,
and the comparison baselines STSTNet, OFF-ApexNet, HTNet and SSSNet.

    from famnet.models import create_model, list_models, multitask_loss, fuse_scores
    model = create_model("amnet2d", num_classes=3)          # see docs/models.md
    out = model(x)                                          # ModelOutput(emotion N×C, aus N×K)

The branches (AMNet2D, AMNet3D: torchvision) are imported on first use, by create_model or by
name from this package, so the baselines' jobs start without torchvision (registry.BUILTIN_MODULES).
"""

import importlib

from famnet.models.baselines import BaselineConfig, FlowBaseline
from famnet.models.htnet import HTNet, HTNetConfig
from famnet.models.off_apexnet import OFFApexNet
from famnet.models.ststnet import STSTNet
from famnet.models.sssnet import SSSNet, SSSNetConfig
from famnet.models.attention import (AttentionBlock, ChannelAttention, SpatialAttention, TemporalAttention,
                                     hierarchical_attention)
from famnet.models.fusion import FUSION_MODES, FAMNetFusion, fuse_scores
from famnet.models.heads import LossParts, ModelOutput, MultiTaskHead, multitask_loss
from famnet.models.registry import (DEFAULT_AUS, RANDOM_INIT, ModelConfig, count_parameters, create_model,
                                    list_models, load_backbone_weights, parameter_breakdown, register_model)

__all__ = [
    "AMNet2D", "AMNet3D", "AMNet3DConfig", "BaselineConfig", "FlowBaseline", "STSTNet", "OFFApexNet", "HTNet",
    "HTNetConfig", "SSSNet", "SSSNetConfig", "ModelConfig", "DEFAULT_AUS", "RANDOM_INIT",
    "AttentionBlock", "ChannelAttention", "SpatialAttention", "TemporalAttention", "hierarchical_attention",
    "ModelOutput", "MultiTaskHead", "LossParts", "multitask_loss",
    "FUSION_MODES", "FAMNetFusion", "fuse_scores",
    "register_model", "create_model", "list_models", "count_parameters", "parameter_breakdown",
    "load_backbone_weights",
]

_LAZY = {"AMNet2D": "famnet.models.amnet2d", "AMNet3D": "famnet.models.amnet3d",
         "AMNet3DConfig": "famnet.models.amnet3d"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'famnet.models' has no attribute {name!r}")

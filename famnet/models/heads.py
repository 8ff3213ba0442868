"""Multi-task heads (emotion + action units) on one shared backbone, and their masked loss.

Hard parameter sharing: the backbone and its attention are shared; after global pooling one
dropout feeds two linear heads, an emotion classifier (C classes, softmax) and an AU detector
(K independent logits, sigmoid). Loss = CE(emotion) + au_weight * BCE(AUs), where the AU term
only sees samples whose AUs are known (au_mask) - SMIC has no AU labels.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


class ModelOutput(NamedTuple):
    """What every registered model returns: raw logits, no softmax / sigmoid applied."""
    emotion: torch.Tensor   # N×C
    aus: torch.Tensor       # N×K (K may be 0: an empty N×0 tensor)


class MultiTaskHead(nn.Module):
    """Dropout, then an emotion head (C) and an AU head (K; absent when K = 0) on pooled features."""

    def __init__(self, in_features: int, num_classes: int, au_count: int, dropout: float = 0.5):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.emotion = nn.Linear(in_features, num_classes)
        self.aus = nn.Linear(in_features, au_count) if au_count > 0 else None

    def forward(self, features: torch.Tensor) -> ModelOutput:
        features = self.dropout(features)
        emotion = self.emotion(features)
        aus = self.aus(features) if self.aus is not None else features.new_zeros(features.shape[0], 0)
        return ModelOutput(emotion, aus)


class LossParts(NamedTuple):
    total: torch.Tensor     # what to backpropagate
    emotion: torch.Tensor   # cross-entropy
    aus: torch.Tensor       # masked BCE (reported even when au_weight = 0; 0 when no sample has AUs)


def multitask_loss(outputs: ModelOutput, labels: torch.Tensor, au_targets: torch.Tensor | None = None,
                   au_mask: torch.Tensor | None = None, au_weight: float = 1.0,
                   class_weights: torch.Tensor | None = None) -> LossParts:
    """CE(emotion) + au_weight * BCE(AUs) over the samples whose AUs are known.

    labels: N class ids. au_targets: N×K in {0, 1} (anything in masked rows, NaN included).
    au_mask: N bools, False where the sample's AUs are unknown (SMIC, or '?' in a sheet); None
    means all known. The AU term is the mean BCE over the K logits of the unmasked samples, so a
    masked sample changes neither the loss nor any gradient; with no unmasked sample (or K = 0) it
    is exactly 0. au_weight = 0 returns total == CE exactly (the "without AU task" ablation).
    """
    emotion_loss = F.cross_entropy(outputs.emotion, labels, weight=class_weights)
    au_logits = outputs.aus
    au_loss = emotion_loss.new_zeros(())
    if au_targets is not None and au_logits.shape[1] > 0:
        if au_targets.shape != au_logits.shape:
            raise ValueError(f"AU targets have shape {tuple(au_targets.shape)}, logits {tuple(au_logits.shape)}")
        if au_mask is None:
            au_mask = torch.ones(au_logits.shape[0], dtype=torch.bool, device=au_logits.device)
        au_mask = au_mask.to(device=au_logits.device, dtype=torch.bool)
        if au_mask.shape != (au_logits.shape[0],):
            raise ValueError(f"au_mask must have one bool per sample ({au_logits.shape[0]}), got {tuple(au_mask.shape)}")
        if au_mask.any():
            # Indexing (not multiplying by the mask) keeps NaN targets in masked rows out of the graph.
            au_loss = F.binary_cross_entropy_with_logits(au_logits[au_mask], au_targets[au_mask].to(au_logits.dtype))
    total = (emotion_loss + au_weight * au_loss) if au_weight else emotion_loss
    return LossParts(total, emotion_loss, au_loss)

"""FAMNet late fusion: combine the 2D and 3D branches' class scores.

Works on saved predictions (numpy arrays read from the per-fold CSVs) as well as on tensors.
Inputs are LOGITS (the models' raw ``emotion`` output, N×C, same class order in both); the
output is PROBABILITIES, N×C, each row summing to 1, of the same kind (numpy / tensor) as the input.

Modes (``models.famnet.fusion_mode``):
- ``softmax_mean`` (default): w * softmax(s2d) + (1 - w) * softmax(s3d), arithmetic mean of the
  two branches' probabilities;
- ``logit_mean``: softmax(w * s2d + (1 - w) * s3d), i.e. the normalised weighted geometric mean of
  the two probability vectors.
``weight`` (``models.famnet.fusion_weight``) is the 2D branch's share: 1 gives the 2D branch
alone, 0 the 3D branch alone.
"""

from __future__ import annotations

import numpy as np
from torch import nn

# The scores' arithmetic lives with the fusion stage (famnet/fuse.py), which runs without torch.
from famnet.fuse import FUSION_MODES, fuse_scores


class FAMNetFusion(nn.Module):
    """Module form of :func:`fuse_scores` (no learnable parameters): logits in, probabilities out."""

    def __init__(self, weight: float = 0.5, mode: str = "softmax_mean"):
        super().__init__()
        fuse_scores(np.zeros((1, 2)), np.zeros((1, 2)), weight, mode)   # validate now, not at first use
        self.weight = float(weight)
        self.mode = mode

    def forward(self, scores_2d, scores_3d):
        return fuse_scores(scores_2d, scores_3d, self.weight, self.mode)

    def extra_repr(self) -> str:
        return f"weight={self.weight}, mode={self.mode!r}"

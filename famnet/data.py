"""A protocol's samples as model inputs: preprocessed artefacts -> tensors, labels and AU targets.

    data = load_protocol_data(table, "results/preprocessed", input="flow", aus=[1, 2, 4, ...])
    train, val, test = split_indices(table, fold=3, val_fraction=0.0, seed=0)
    norm = Normalisation.fit(data, train)            # statistics of the training samples only
    x = norm(data.batch(train[:16]))                 # float32 N×C×H×W (or N×C×T×H×W)

Inputs per ``models.<branch>.input`` (docs/training.md):
- ``apex``: the aligned apex RGB crop, N×3×S×S, scaled to [0, 1];
- ``flow``: onset->apex flow u, v and optical strain, N×3×F×F (pixels of the F grid);
- ``apex_flow``: both stacked, N×6×S×S (the flow resized to the crop side when F != S);
- ``clip``: the T-frame RGB clip, N×3×T×C×C in [0, 1];
- ``clip_diff``: the same clip minus its first (onset) frame, in [-1, 1]: the face's identity
  cancels and only what moved remains (the 3D branch learns micro-motion from few samples).
Arrays stay in the artefact's compact dtype (uint8 / float16) until a batch is taken (on the
training device: ``data.batch(indices, device)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from famnet.aus import parse_aus

INPUTS = ("apex", "flow", "apex_flow", "clip", "clip_diff")
# Channel of the flow's horizontal component u, per input: a horizontal flip negates it.
FLOW_U_CHANNEL = {"flow": 0, "apex_flow": 3}


class LeakageError(ValueError):
    """A held-out subject's sample would reach training or model selection."""


def artefact_path(root, subject: str) -> Path:
    """``results/preprocessed/<dataset>/<subject>.npz`` of a namespaced subject id ``<dataset>/<subject>``."""
    return Path(root) / f"{subject}.npz"


@dataclass
class ProtocolData:
    """Every sample of a protocol table, in table order."""
    table: pd.DataFrame          # the protocol rows (dataset, subject, sample, fold, label, aus, ...)
    input: str                   # one of INPUTS
    arrays: tuple[np.ndarray, ...]  # per input part, N×... in the artefact's dtype
    labels: torch.Tensor         # N class ids
    au_targets: torch.Tensor     # N×K multi-hot over the configured AU list
    au_mask: torch.Tensor        # N bools: False where the sample's AUs are unknown (SMIC, '?')

    def __len__(self) -> int:
        return len(self.table)

    def batch(self, indices, device: torch.device | str = "cpu") -> torch.Tensor:
        """Float32 inputs of the given samples (not yet normalised), on ``device``.

        The stored compact arrays (uint8 images, float16 flow) go to the device before they are
        converted: a GPU receives a quarter (half) of the bytes and does the conversion itself."""
        indices = np.asarray(indices, dtype=np.int64)

        def compact(part: int) -> torch.Tensor:
            return torch.from_numpy(self.arrays[part][indices]).to(device, non_blocking=True)

        if self.input == "apex":
            return _rgb(compact(0))
        if self.input == "flow":
            return compact(0).float()
        if self.input in ("clip", "clip_diff"):
            # artefact N×T×3×C×C -> torchvision video layout N×3×T×C×C
            clip = compact(0).permute(0, 2, 1, 3, 4).float().div_(255.0)
            return clip - clip[:, :, :1] if self.input == "clip_diff" else clip
        apex = _rgb(compact(0))
        flow = compact(1).float()
        if flow.shape[-1] != apex.shape[-1]:
            # Flow is in pixels of its own grid: rescale the vectors with the grid.
            scale = apex.shape[-1] / flow.shape[-1]
            flow = F.interpolate(flow, size=apex.shape[-2:], mode="bilinear", align_corners=False)
            flow[:, :2] *= scale
        return torch.cat([apex, flow], dim=1)


def _rgb(images: torch.Tensor) -> torch.Tensor:
    """N×S×S×3 uint8 -> N×3×S×S float in [0, 1]."""
    return images.permute(0, 3, 1, 2).float().div_(255.0)


def au_targets(table: pd.DataFrame, aus) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-hot N×K targets over ``aus`` and the N-bool mask of samples whose AUs are known.

    An empty AU cell (SMIC, '?' in a sheet) means unknown: masked. AUs outside the list are ignored.
    """
    aus = [int(a) for a in aus]
    targets = torch.zeros(len(table), len(aus))
    mask = torch.zeros(len(table), dtype=torch.bool)
    for row, cell in enumerate(table["aus"].tolist()):
        coded = parse_aus(cell)
        mask[row] = bool(coded)
        for au in coded:
            if au in aus:
                targets[row, aus.index(au)] = 1.0
    return targets, mask


def _subject_arrays(root, subject: str, rows: pd.DataFrame, keys: tuple[str, ...]) -> list[np.ndarray]:
    """The requested arrays of one subject's artefact, reordered to the protocol rows."""
    from preprocess.artifact import load_subject

    path = artefact_path(root, subject)
    try:
        artefact = load_subject(path, keys=keys)
    except FileNotFoundError as err:
        raise ValueError(f"dataset {rows['dataset'].iloc[0]!r}, subject {subject!r}: {err}") from err
    position = {name: i for i, name in enumerate(artefact["sample"].tolist())}
    skipped = {entry["sample"]: entry.get("reason", "") for entry in artefact["meta"].get("skipped", [])}
    order = []
    for sample in rows["sample"]:
        if sample not in position:
            why = (f"was skipped by preprocessing ({skipped[sample]}); remove it from the protocol or fix the "
                   f"input and set preprocess.on_no_face: error to see the failure") if sample in skipped else \
                f"is not in the artefact {path} (stale preprocessing? rerun the preprocess rule)"
            raise ValueError(f"dataset {rows['dataset'].iloc[0]!r}, subject {subject!r}, sample {sample!r} {why}")
        order.append(position[sample])
    return [artefact[key][order] for key in keys]


def load_protocol_data(table: pd.DataFrame, preprocessed_root, input: str, aus=()) -> ProtocolData:
    """Load every sample of ``table`` from its subject's artefact (one file read per subject)."""
    if input not in INPUTS:
        raise ValueError(f"unknown model input {input!r}; one of {list(INPUTS)}")
    keys = {"apex": ("apex_rgb",), "flow": ("flow",), "apex_flow": ("apex_rgb", "flow"), "clip": ("clip",),
            "clip_diff": ("clip",)}[input]
    table = table.reset_index(drop=True)
    parts: list[list[np.ndarray]] = [[] for _ in keys]
    order: list[np.ndarray] = []
    for subject, rows in table.groupby("subject", sort=False):
        for part, array in zip(parts, _subject_arrays(preprocessed_root, subject, rows, keys)):
            part.append(array)
        order.append(rows.index.to_numpy())
    # Back to table order (groupby collected the rows subject by subject).
    inverse = np.argsort(np.concatenate(order)) if order else np.zeros(0, np.int64)
    arrays = tuple(np.concatenate(part)[inverse] for part in parts) if order else ()
    targets, mask = au_targets(table, aus)
    labels = torch.tensor(table["label"].to_numpy(np.int64))
    return ProtocolData(table, input, arrays, labels, targets, mask)


def split_indices(table: pd.DataFrame, fold: int, val_fraction: float = 0.0, seed: int = 0):
    """(train, val, test) row indices for held-out ``fold``.

    test = the fold's rows; val = a ``val_fraction`` share of the *training* subjects (whole
    subjects, chosen with ``seed``), never the held-out one; train = the rest. Raises LeakageError
    if a held-out subject would also appear in train or val (a subject split across folds).
    """
    folds = table["fold"].to_numpy()
    if fold not in set(folds.tolist()):
        raise ValueError(f"fold {fold} is not in the protocol table (folds {sorted(set(folds.tolist()))})")
    test = np.flatnonzero(folds == fold)
    rest = np.flatnonzero(folds != fold)
    subjects = table["subject"].to_numpy()
    held_out = set(subjects[test].tolist())
    val = np.zeros(0, dtype=np.int64)
    if val_fraction > 0:
        candidates = sorted(set(subjects[rest].tolist()))
        count = max(1, int(round(val_fraction * len(candidates))))
        if count >= len(candidates):
            raise ValueError(f"val_fraction {val_fraction} leaves no training subject ({len(candidates)} available)")
        chosen = set(np.random.default_rng(seed).choice(candidates, size=count, replace=False).tolist())
        val = rest[np.isin(subjects[rest], list(chosen))]
        rest = rest[~np.isin(subjects[rest], list(chosen))]
    check_no_leakage(table, held_out, rest, val)
    return rest, val, test


def check_no_leakage(table: pd.DataFrame, held_out: set, train, val) -> None:
    for name, indices in (("training", train), ("validation", val)):
        leaked = table.iloc[np.asarray(indices, dtype=np.int64)]
        leaked = leaked[leaked["subject"].isin(held_out)]
        if not leaked.empty:
            row = leaked.iloc[0]
            raise LeakageError(f"leakage: held-out subject {row.subject!r} (dataset {row.dataset!r}, sample "
                               f"{row['sample']!r}, fold {row.fold}) would be in the {name} set; "
                               f"each subject must be in exactly one fold")


@dataclass
class Normalisation:
    """Per-channel mean / std of the training samples of one fold (stored with the model)."""
    mean: list[float]
    std: list[float]

    @classmethod
    def fit(cls, data: ProtocolData, indices, chunk: int = 64) -> "Normalisation":
        """Statistics over the given (training) samples only, in chunks to bound memory."""
        indices = np.asarray(indices, dtype=np.int64)
        total, total_sq, count = None, None, 0
        for start in range(0, len(indices), chunk):
            x = data.batch(indices[start:start + chunk]).double()
            axes = (0,) + tuple(range(2, x.dim()))
            total = x.sum(dim=axes) + (0 if total is None else total)
            total_sq = (x * x).sum(dim=axes) + (0 if total_sq is None else total_sq)
            count += x.numel() // x.shape[1]
        if not count:
            raise ValueError("no training samples to compute the input normalisation from")
        mean = total / count
        std = (total_sq / count - mean * mean).clamp_min(0).sqrt().clamp_min(1e-6)
        return cls(mean.tolist(), std.tolist())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(shape)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(shape)
        return (x - mean) / std


def hflip(x: torch.Tensor, input: str) -> torch.Tensor:
    """Mirror the inputs left-right; flow's u changes sign (the motion mirrors too)."""
    x = x.flip(-1)
    if input in FLOW_U_CHANNEL:
        x[:, FLOW_U_CHANNEL[input]] *= -1
    return x


__all__ = ["INPUTS", "LeakageError", "ProtocolData", "Normalisation", "artefact_path",
           "au_targets", "load_protocol_data", "split_indices", "check_no_leakage", "hflip"]

"""FAMNet late fusion of saved per-fold predictions (the two branches' logits -> fused probabilities).

Prediction CSVs (famnet/predict.py) hold, per held-out sample: dataset, subject, sample, fold, label,
prediction, seed, ``logit_<class>`` and ``prob_<class>`` per class, and ``au_<n>`` per AU.
The fused file keeps the identifying columns and writes ``prob_<class>`` and the argmax prediction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from famnet.io import ID_TYPES, PROVENANCE_TYPES, write_csv_atomic

ID_COLUMNS = ["dataset", "subject", "sample", "fold", "label", "seed"]
FUSION_MODES = ("softmax_mean", "logit_mean")


def _is_tensor(x) -> bool:
    return type(x).__module__.startswith("torch")


def _softmax(x):
    if _is_tensor(x):
        return x.softmax(dim=1)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def fuse_scores(scores_2d, scores_3d, weight: float = 0.5, mode: str = "softmax_mean"):
    """Fused class probabilities (N×C) from two branches' logits (N×C each): numpy arrays in, a
    numpy array out; tensors in, a tensor out (famnet/models/fusion.py for the modes). numpy alone
    here, so the fusion jobs never import torch."""
    if mode not in FUSION_MODES:
        raise ValueError(f"unknown fusion mode {mode!r}; choose one of {FUSION_MODES}")
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"fusion weight must be in [0, 1], got {weight}")
    if _is_tensor(scores_2d):
        a, b = scores_2d, scores_2d.new_tensor(scores_3d) if not _is_tensor(scores_3d) else scores_3d.to(scores_2d)
    else:
        a, b = np.asarray(scores_2d, dtype=np.float64), np.asarray(scores_3d, dtype=np.float64)
    if a.ndim != 2 or tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"both branches need N×C scores of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if mode == "softmax_mean":
        return weight * _softmax(a) + (1.0 - weight) * _softmax(b)
    return _softmax(weight * a + (1.0 - weight) * b)


def read_predictions(path) -> pd.DataFrame:
    """A prediction CSV (famnet/predict.py or a fused one) with its ids as text."""
    return pd.read_csv(path, dtype={**ID_TYPES, **PROVENANCE_TYPES})


def class_names(frame: pd.DataFrame, prefix: str = "logit_") -> list[str]:
    return [c[len(prefix):] for c in frame.columns if c.startswith(prefix)]


def fuse_frames(frame_2d: pd.DataFrame, frame_3d: pd.DataFrame, weight: float, mode: str) -> pd.DataFrame:
    """Fused predictions of one fold; both branches must cover exactly the same samples and classes."""
    classes = class_names(frame_2d)
    if classes != class_names(frame_3d):
        raise ValueError(f"the branches' classes differ: {classes} vs {class_names(frame_3d)}")
    keys = ["dataset", "subject", "sample"]
    merged = frame_2d.merge(frame_3d, on=keys, how="outer", suffixes=("_2d", "_3d"), indicator=True)
    lonely = merged[merged["_merge"] != "both"]
    if not lonely.empty:
        row = lonely.iloc[0]
        side = "3D" if row["_merge"] == "left_only" else "2D"
        raise ValueError(f"dataset {row.dataset!r}, subject {row.subject!r}, sample {row['sample']!r}: "
                         f"no {side} prediction to fuse with ({len(lonely)} such samples)")
    for column, what in (("label", "true labels"), ("fold", "folds"), ("seed", "seeds")):
        differ = merged[merged[f"{column}_2d"] != merged[f"{column}_3d"]]
        if not differ.empty:   # two files of different runs: fusing them would mix models
            row = differ.iloc[0]
            raise ValueError(f"the branches disagree on the {what} of the same samples ({len(differ)}; first: "
                             f"subject {row.subject!r}, sample {row['sample']!r}, 2D {row[f'{column}_2d']} "
                             f"vs 3D {row[f'{column}_3d']})")
    logits_2d = merged[[f"logit_{c}_2d" for c in classes]].to_numpy(np.float64)
    logits_3d = merged[[f"logit_{c}_3d" for c in classes]].to_numpy(np.float64)
    probabilities = fuse_scores(logits_2d, logits_3d, weight=weight, mode=mode)
    fused = pd.DataFrame({"dataset": merged["dataset"], "subject": merged["subject"], "sample": merged["sample"],
                          "fold": merged["fold_2d"], "label": merged["label_2d"],
                          "prediction": probabilities.argmax(axis=1), "seed": merged["seed_2d"]})
    for index, name in enumerate(classes):
        fused[f"prob_{name}"] = probabilities[:, index]
    return fused.assign(**fused_provenance(merged, weight, mode))


def fused_provenance(merged: pd.DataFrame, weight: float, mode: str) -> dict:
    """model_hash of a fused row: both branches' hashes and the fusion settings; code version and
    device of both branches (one value where they agree)."""
    from famnet.provenance import fused_hash

    if "model_hash_2d" not in merged:     # branches predicted before models recorded provenance
        return {}
    both = lambda column: merged[f"{column}_2d"].astype(str).str.cat(merged[f"{column}_3d"].astype(str), sep="+")
    one_or_both = lambda column: merged[f"{column}_2d"].where(merged[f"{column}_2d"] == merged[f"{column}_3d"],
                                                               both(column))
    return {"model_hash": [fused_hash(a, b, weight, mode) for a, b in
                           zip(merged["model_hash_2d"].astype(str), merged["model_hash_3d"].astype(str))],
            "code_version": one_or_both("code_version"), "device": one_or_both("device")}


def fuse_pooled(first: pd.DataFrame, second: pd.DataFrame, classes: list[str], weight: float = 0.5,
                mode: str = "softmax_mean") -> pd.DataFrame:
    """Late fusion of two rows' pooled predictions of one seed (famnet.claims: evaluation.fusions),
    from their class probabilities: softmax_mean averages them; logit_mean fuses their logs (a
    softmax's log is its logits less a per-sample constant, which the softmax cancels)."""
    columns = [f"prob_{name}" for name in classes]
    for frame, which in ((first, "first"), (second, "second")):
        if not set(columns) <= set(frame):
            raise ValueError(f"fusion: the {which} row's predictions hold no class probabilities {columns}")
    if not first[["subject", "sample", "label"]].equals(second[["subject", "sample", "label"]]):
        raise ValueError("fusion: the two rows' pooled predictions hold different samples or labels")
    a, b = (frame[columns].to_numpy(np.float64) for frame in (first, second))
    if mode == "softmax_mean":
        probabilities = weight * a + (1.0 - weight) * b
    else:                        # the log-probabilities stand for the logits
        probabilities = fuse_scores(np.log(np.clip(a, 1e-12, None)), np.log(np.clip(b, 1e-12, None)), weight, mode)
    from famnet.selection import SELECTION_COLUMNS

    keep = [c for c in first.columns if not c.startswith(("prob_", "au_", "logit_")) and c not in SELECTION_COLUMNS]
    fused = first[keep].copy()
    fused[columns] = probabilities
    fused["prediction"] = probabilities.argmax(axis=1)
    return fused


def fuse_files(path_2d, path_3d, out_path, weight: float = 0.5, mode: str = "softmax_mean") -> pd.DataFrame:
    fused = fuse_frames(read_predictions(path_2d), read_predictions(path_3d), weight, mode)
    write_csv_atomic(fused, out_path)
    return fused

"""UF1 / UAR as the MER protocols define them (DESIGN.md, "Evaluation rules").

- Computed once on predictions pooled over all LOSO folds, never averaged over folds (a per-fold
  mean is available only under its own name).
- Over a fixed label set: a class that is never predicted (or never present) scores 0 and is still
  averaged in; nothing is dropped.
- UF1 = unweighted (macro) mean of per-class F1; UAR = unweighted mean of per-class recall.
- Per-dataset rows slice the pooled predictions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def confusion(labels, predictions, num_classes: int) -> np.ndarray:
    """num_classes × num_classes counts, rows = true class, columns = predicted class."""
    labels, predictions = np.asarray(labels, dtype=int), np.asarray(predictions, dtype=int)
    if labels.shape != predictions.shape:
        raise ValueError(f"labels {labels.shape} and predictions {predictions.shape} differ in shape")
    ids = np.concatenate([labels, predictions])
    bad = sorted({int(i) for i in ids[(ids < 0) | (ids >= num_classes)]})
    if bad:
        raise ValueError(f"class ids must lie in [0, {num_classes}); found {bad}")
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def per_class(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision, recall and F1; 0 where undefined (no prediction / no sample)."""
    true_positive = np.diag(matrix).astype(float)
    predicted, actual = matrix.sum(axis=0).astype(float), matrix.sum(axis=1).astype(float)
    precision = np.divide(true_positive, predicted, out=np.zeros_like(true_positive), where=predicted > 0)
    recall = np.divide(true_positive, actual, out=np.zeros_like(true_positive), where=actual > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(true_positive), where=denominator > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": actual.astype(int)}


def uf1_uar(labels, predictions, num_classes: int) -> tuple[float, float]:
    """(UF1, UAR) over the fixed label set 0..num_classes-1."""
    scores = per_class(confusion(labels, predictions, num_classes))
    return float(scores["f1"].mean()), float(scores["recall"].mean())


def evaluate(table: pd.DataFrame, classes: list[str], slice_by: str = "dataset") -> pd.DataFrame:
    """One row for the pooled predictions ('all') and one per value of ``slice_by``.

    ``table`` needs columns ``label`` and ``prediction`` (class ids) and ``subject``.
    """
    rows = []
    for name, part in [("all", table), *sorted(table.groupby(slice_by), key=lambda kv: kv[0])]:
        uf1, uar = uf1_uar(part["label"], part["prediction"], len(classes))
        rows.append({"slice": name, "uf1": uf1, "uar": uar, "samples": len(part),
                     "subjects": int(part["subject"].nunique())})
    return pd.DataFrame(rows)


def per_fold_mean(table: pd.DataFrame, num_classes: int) -> tuple[float, float]:
    """Mean over folds of each fold's UF1 / UAR: reported only under this name, never as UF1 / UAR."""
    scores = [uf1_uar(part["label"], part["prediction"], num_classes) for _, part in table.groupby("fold")]
    return float(np.mean([s[0] for s in scores])), float(np.mean([s[1] for s in scores]))


def au_f1(targets: np.ndarray, predicted: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-AU F1 over the samples that have AU labels (mask True); 0 where undefined."""
    targets, predicted = np.asarray(targets, dtype=bool)[mask], np.asarray(predicted, dtype=bool)[mask]
    true_positive = (targets & predicted).sum(axis=0).astype(float)
    denominator = (targets.sum(axis=0) + predicted.sum(axis=0)).astype(float)
    return np.divide(2 * true_positive, denominator, out=np.zeros_like(true_positive), where=denominator > 0)

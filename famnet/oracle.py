"""The test-epoch oracle: what a script that keeps, per held-out fold, the epoch with the best
*test* accuracy would have published (HTNet's main_HTNet.py, MMNet and most released MER code do).

An opt-in analysis (``training.report_test_epoch_oracle``): training saves every epoch's held-out
predictions (test_epochs.csv); this module picks, per fold, the epoch whose held-out accuracy is
highest (ties go to the later epoch, as HTNet's ``>=``), pools the picked predictions and scores
them like the real ones. The result goes to columns of its own (``uf1_test_epoch_oracle``); the
saved model, its predictions, the fusion and the main ``uf1`` / ``uar`` never see it. It is a
measure of the leak, never a result: docs/evaluation.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from famnet.metrics import evaluate


def read_test_epochs(paths, variant: str, seed: int) -> pd.DataFrame:
    frames = [pd.read_csv(path) for path in paths]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if frame.empty:
        raise ValueError(f"{variant} seed {seed}: test_epochs.csv holds no per-epoch predictions; the models were "
                         f"trained with training.report_test_epoch_oracle off (turn it on and rerun training)")
    return frame


def fold_choices(frame: pd.DataFrame) -> pd.DataFrame:
    """Per fold: the epoch with the best held-out accuracy (latest on ties), its accuracy, and the
    last epoch's accuracy (what the saved model scores on that fold)."""
    accuracy = (frame.assign(correct=frame["label"] == frame["prediction"])
                .groupby(["fold", "epoch"])["correct"].mean().reset_index())
    rows = []
    for fold, part in accuracy.groupby("fold"):
        part = part.sort_values("epoch")
        best = part.loc[part["correct"] == part["correct"].max(), "epoch"].max()
        rows.append({"fold": int(fold), "epoch": int(best), "accuracy": float(part["correct"].max()),
                     "last_epoch": int(part["epoch"].max()), "last_accuracy": float(part["correct"].iloc[-1])})
    return pd.DataFrame(rows)


def oracle_predictions(protocol_table: pd.DataFrame, frame: pd.DataFrame, choices: pd.DataFrame,
                       variant: str, seed: int) -> pd.DataFrame:
    """The chosen epoch's prediction of every protocol sample (each exactly once)."""
    picked = frame.merge(choices[["fold", "epoch"]], on=["fold", "epoch"])
    merged = protocol_table[["dataset", "subject", "sample", "fold", "label"]].merge(
        picked[["subject", "sample", "prediction"]], on=["subject", "sample"], how="left")
    if merged["prediction"].isna().any() or len(merged) != len(protocol_table):
        row = merged[merged["prediction"].isna()].iloc[0] if merged["prediction"].isna().any() else merged.iloc[0]
        raise ValueError(f"{variant} seed {seed}: the per-epoch predictions do not cover the protocol once "
                         f"(first problem: subject {row.subject!r}, sample {row['sample']!r})")
    return merged.astype({"prediction": int})


def oracle_scores(protocol_table: pd.DataFrame, paths, classes: list[str], variant: str, seed: int) -> dict:
    """{"slices": [{slice, uf1, uar, ...}], "folds": [{fold, epoch, accuracy, last_epoch, last_accuracy}]}."""
    frame = read_test_epochs(paths, variant, seed)
    choices = fold_choices(frame)
    pooled = oracle_predictions(protocol_table, frame, choices, variant, seed)
    return {"slices": evaluate(pooled, classes).to_dict("records"), "folds": choices.to_dict("records")}


def summarise(per_seed: dict[int, dict]) -> dict[str, dict]:
    """Mean over seeds per slice: {slice: {"uf1": ..., "uar": ...}}."""
    first = next(iter(per_seed.values()))["slices"]
    return {row["slice"]: {"uf1": float(np.mean([s["slices"][i]["uf1"] for s in per_seed.values()])),
                           "uar": float(np.mean([s["slices"][i]["uar"] for s in per_seed.values()]))}
            for i, row in enumerate(first)}


__all__ = ["read_test_epochs", "fold_choices", "oracle_predictions", "oracle_scores", "summarise"]

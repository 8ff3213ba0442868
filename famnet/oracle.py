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

from famnet.io import ID_TYPES
from famnet.metrics import evaluate


def read_test_epochs(paths, variant: str, seed: int) -> pd.DataFrame:
    frames = [with_saved_epoch(pd.read_csv(path, dtype=ID_TYPES)) for path in paths]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if frame.empty:
        raise ValueError(f"{variant} seed {seed}: test_epochs.csv holds no per-epoch predictions; the models were "
                         f"trained with training.report_test_epoch_oracle off (turn it on and rerun training)")
    return frame


def with_saved_epoch(frame: pd.DataFrame) -> pd.DataFrame:
    """A file written before test_epochs.csv marked the saved epoch: the last one was saved (true
    then only without validation)."""
    if "saved" in frame or frame.empty:
        return frame
    return frame.assign(saved=frame["epoch"] == frame.groupby("fold")["epoch"].transform("max"))


def fold_choices(frame: pd.DataFrame) -> pd.DataFrame:
    """Per fold: the epoch with the best held-out accuracy (latest on ties) and its accuracy; the
    last epoch's accuracy; and the saved model's (its epoch is marked ``saved`` in test_epochs.csv:
    the last epoch, or with ``val_fraction`` > 0 the best epoch on the validation subjects; files
    written before that column existed count the last epoch as saved, which was then true only
    without validation)."""
    frame = with_saved_epoch(frame).assign(correct=frame["label"] == frame["prediction"])
    accuracy = frame.groupby(["fold", "epoch"]).agg(correct=("correct", "mean"), saved=("saved", "any")).reset_index()
    rows = []
    for fold, part in accuracy.groupby("fold"):
        part = part.sort_values("epoch")
        best = part.loc[part["correct"] == part["correct"].max(), "epoch"].max()
        saved = part[part["saved"]]
        if len(saved) != 1:
            raise ValueError(f"fold {fold}: test_epochs.csv marks {len(saved)} epochs as the saved model's, not one")
        rows.append({"fold": int(fold), "epoch": int(best), "accuracy": float(part["correct"].max()),
                     "last_epoch": int(part["epoch"].max()), "last_accuracy": float(part["correct"].iloc[-1]),
                     "saved_epoch": int(saved["epoch"].iloc[0]), "saved_accuracy": float(saved["correct"].iloc[0])})
    return pd.DataFrame(rows)


def oracle_predictions(protocol_table: pd.DataFrame, frame: pd.DataFrame, choices: pd.DataFrame,
                       variant: str, seed: int) -> pd.DataFrame:
    """The chosen epoch's prediction of every protocol sample (each exactly once)."""
    picked = frame.merge(choices[["fold", "epoch"]], on=["fold", "epoch"])
    merged = protocol_table[["dataset", "subject", "sample", "fold", "label"]].merge(
        picked[["subject", "sample", "prediction", "fold", "label"]], on=["subject", "sample"], how="left",
        suffixes=("", "_epochs"))
    if merged["prediction"].isna().any() or len(merged) != len(protocol_table):
        row = merged[merged["prediction"].isna()].iloc[0] if merged["prediction"].isna().any() else merged.iloc[0]
        raise ValueError(f"{variant} seed {seed}: the per-epoch predictions do not cover the protocol once "
                         f"(first problem: subject {row.subject!r}, sample {row['sample']!r})")
    differ = merged[(merged["fold"] != merged["fold_epochs"]) | (merged["label"] != merged["label_epochs"])]
    if not differ.empty:
        row = differ.iloc[0]
        raise ValueError(f"{variant} seed {seed}: test_epochs.csv gives subject {row.subject!r}, sample "
                         f"{row['sample']!r} fold {row.fold_epochs} label {row.label_epochs}; the protocol table "
                         f"fold {row.fold} label {row.label} (a file of another protocol build?)")
    return merged.drop(columns=["fold_epochs", "label_epochs"]).astype({"prediction": int})


def oracle_pooled(protocol_table: pd.DataFrame, paths, variant: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the oracle's pooled predictions, each fold's choice) of one method and seed; famnet.tables
    scores them like the real ones, interval included."""
    frame = read_test_epochs(paths, variant, seed)
    choices = fold_choices(frame)
    return oracle_predictions(protocol_table, frame, choices, variant, seed), choices


__all__ = ["read_test_epochs", "with_saved_epoch", "fold_choices", "oracle_predictions", "oracle_pooled"]

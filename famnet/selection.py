"""Leak-free recipe selection: per outer fold, candidates scored on inner validation subjects only.

``models.<method>.selection`` (docs/training.md)::

    selection:
      grid: {lr: [0.001, 0.0003], epochs: [20, 40]}   # recipe keys (famnet.methods.RECIPE_KEYS) or the
                                                       # method's model keys (width, dim, ...); the
                                                       # product, in declared order, is the candidate list
      inner_folds: 4       # StratifiedGroupKFold over the outer fold's training subjects
      inner_splits: 1      # how many of those folds validate (1: one split; inner_folds: k-fold)
      also_fixed: false    # true: also train the method's fixed recipe, variant <method>-fixed

In one train job (the data loaded once), each candidate trains on the outer fold's training
subjects less an inner validation group and predicts that group; the candidate with the best UF1
pooled over its inner validation groups wins (ties: the first declared), and is trained again on
all the outer fold's training subjects; that model predicts the held-out subject. The held-out
subject never enters an inner split (``inner_splits`` asks the leakage guard, famnet.data). The
inner groups are whole subjects, stratified by dataset and class, drawn per (protocol, fold,
seed), the same for every method and candidate. This module stays free of torch; famnet.train runs
the trainings.
"""

from __future__ import annotations

import itertools
import json
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from famnet.methods import RECIPE_KEYS

# Model keys that shape the input rather than the network: the data is loaded once per job.
INPUT_KEYS = ("input", "input_size", "per_image")
# Columns a selected method's predictions carry (famnet.tables reads them back).
SELECTION_COLUMNS = ("selected", "selection_candidates", "selection_splits", "search_epochs")


@dataclass(frozen=True)
class SelectionSpec:
    grid: dict = field(default_factory=dict)
    inner_folds: int = 4
    inner_splits: int = 1
    also_fixed: bool = False

    @classmethod
    def from_dict(cls, values: dict, where: str = "selection") -> "SelectionSpec":
        known = {"grid", "inner_folds", "inner_splits", "also_fixed"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{where}: unknown keys {unknown} (known: {sorted(known)})")
        grid = values.get("grid") or {}
        if not grid or any(not isinstance(v, list) or not v for v in grid.values()):
            raise ValueError(f"{where}.grid: a mapping of keys to non-empty lists of values, e.g. {{lr: [0.001, 0.0003]}}")
        fixed = sorted(set(grid) & set(INPUT_KEYS))
        if fixed:
            raise ValueError(f"{where}.grid: {fixed} change the input the job loads once for every candidate; "
                             f"they cannot be selected (a run of its own per value can)")
        spec = cls(grid={k: list(v) for k, v in grid.items()}, inner_folds=int(values.get("inner_folds", 4)),
                   inner_splits=int(values.get("inner_splits", 1)), also_fixed=bool(values.get("also_fixed", False)))
        if spec.inner_folds < 2 or not 1 <= spec.inner_splits <= spec.inner_folds:
            raise ValueError(f"{where}: inner_folds must be >= 2 and inner_splits in 1..inner_folds "
                             f"(got {spec.inner_folds}, {spec.inner_splits})")
        return spec

    def to_dict(self) -> dict:
        """What shapes the selected models (also_fixed adds a variant; it changes none of them)."""
        return {"grid": self.grid, "inner_folds": self.inner_folds, "inner_splits": self.inner_splits}

    def candidates(self) -> list[dict]:
        """Every combination of the grid's values, the first key varying slowest (declared order)."""
        keys = list(self.grid)
        return [dict(zip(keys, values)) for values in itertools.product(*(self.grid[k] for k in keys))]


def candidate_label(candidate: dict) -> str:
    """'lr=0.001, epochs=20': how a candidate is named in predictions, config.json and figures."""
    return ", ".join(f"{key}={json.dumps(value)}" for key, value in candidate.items())


def split_candidate(candidate: dict) -> tuple[dict, dict]:
    """(recipe keys, model keys) of a candidate: the first go to the training settings, the rest to
    the model config."""
    recipe = {k: v for k, v in candidate.items() if k in RECIPE_KEYS}
    return recipe, {k: v for k, v in candidate.items() if k not in RECIPE_KEYS}


def search_epochs(spec: SelectionSpec, base_epochs: int) -> int:
    """Training epochs one (fold, seed) spends on the search: every candidate on every inner split
    (the winner's retraining on all training subjects is the fixed recipe's cost, not counted)."""
    return sum(int(c.get("epochs", base_epochs)) for c in spec.candidates()) * spec.inner_splits


def selection_seed(protocol: str, fold: int, seed: int) -> int:
    """Draws the inner groups: per (protocol, fold, seed) only, so every method and candidate of a
    fold is scored on the same inner subjects."""
    return zlib.crc32(f"{protocol}|fold{fold}|seed{seed}|selection".encode())


def inner_splits(table: pd.DataFrame, training: np.ndarray, held_out: set, spec: SelectionSpec,
                 seed: int, where: str = "") -> list[tuple[np.ndarray, np.ndarray]]:
    """(inner train, inner validation) row indices, ``spec.inner_splits`` of them, from the outer
    fold's ``training`` rows only: whole subjects (scikit-learn's StratifiedGroupKFold, groups =
    subject, stratified by dataset and class). Each is checked by the leakage guard against the
    ``held_out`` subjects."""
    from sklearn.model_selection import StratifiedGroupKFold

    from famnet.data import check_no_leakage

    training = np.asarray(training, dtype=np.int64)
    rows = table.iloc[training]
    subjects = rows["subject"].to_numpy()
    if len(set(subjects)) < spec.inner_folds:
        raise ValueError(f"{where}selection: {len(set(subjects))} training subjects cannot make "
                         f"{spec.inner_folds} inner folds (set selection.inner_folds lower)")
    strata = (rows["dataset"].astype(str) + "|" + rows["label"].astype(str)).to_numpy()
    splitter = StratifiedGroupKFold(n_splits=spec.inner_folds, shuffle=True, random_state=seed % 2**32)
    out = []
    for inner_train, inner_val in itertools.islice(splitter.split(training, strata, groups=subjects),
                                                   spec.inner_splits):
        pair = (training[inner_train], training[inner_val])
        check_no_leakage(table, held_out, *pair)
        out.append(pair)
    return out


def choose(scores: list[float]) -> int:
    """The winner: the best inner UF1, the first declared among equals (argmax keeps the first)."""
    return int(np.argmax(np.asarray(scores, dtype=float)))


__all__ = ["SELECTION_COLUMNS", "SelectionSpec", "candidate_label", "split_candidate", "search_epochs",
           "selection_seed", "inner_splits", "choose"]

"""Leak-free recipe selection (famnet/selection.py, famnet.train.select_and_train): the candidate
grid, the inner splits over training subjects only (the leakage guard covers them), the choice of a
known-better candidate, the winner retrained exactly as a fixed-recipe run, and what the job records.
The whole workflow with a selected method is the smoke run's (tests/test_workflow.py)."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from test_train import AUS, CLASSES, FAST, write_protocol

from famnet.cli import main as cli
from famnet.data import LeakageError, load_protocol_data
from famnet.fuse import read_predictions
from famnet.protocols import read_protocol_table
from famnet.selection import SelectionSpec, candidate_label, inner_splits, search_epochs, selection_seed
from famnet.train import FoldRun, TrainConfig, select_and_train, train_fold


@pytest.fixture(scope="module")
def six(tmp_path_factory):
    """Six toy subjects (one fold each): five train an outer fold, enough for inner groups."""
    root = tmp_path_factory.mktemp("six")
    table = write_protocol(root / "preprocessed", subjects=6, per_class=2, seed=3)
    table.to_csv(root / "protocol.csv", index=False)
    return root, read_protocol_table(root / "protocol.csv")


def _run(fold=0, branch="amnet2d"):
    return FoldRun("toy6", branch, fold=fold, seed=0, classes=CLASSES, aus=AUS, model_config={"input": "flow"})


def test_the_grid_is_its_product_in_declared_order_and_bad_specs_are_named():
    spec = SelectionSpec.from_dict({"grid": {"lr": [0.001, 0.0003], "epochs": [20, 40]}})
    assert spec.candidates() == [{"lr": 0.001, "epochs": 20}, {"lr": 0.001, "epochs": 40},
                                 {"lr": 0.0003, "epochs": 20}, {"lr": 0.0003, "epochs": 40}]
    assert candidate_label(spec.candidates()[1]) == "lr=0.001, epochs=40"
    assert (spec.inner_folds, spec.inner_splits, spec.also_fixed) == (4, 1, False)
    assert search_epochs(spec, base_epochs=10) == 120
    assert search_epochs(SelectionSpec.from_dict({"grid": {"width": [0.25, 0.5]}, "inner_splits": 2}), 40) == 160
    with pytest.raises(ValueError, match=r"models.htnet.selection: unknown keys \['grids'\]"):
        SelectionSpec.from_dict({"grids": {}}, "models.htnet.selection")
    with pytest.raises(ValueError, match=r"selection.grid: a mapping of keys to non-empty lists"):
        SelectionSpec.from_dict({"grid": {"lr": []}})
    with pytest.raises(ValueError, match=r"\['input_size'\] change the input the job loads once"):
        SelectionSpec.from_dict({"grid": {"input_size": [28, 64]}})
    with pytest.raises(ValueError, match=r"inner_splits in 1..inner_folds"):
        SelectionSpec.from_dict({"grid": {"lr": [1e-3]}, "inner_folds": 2, "inner_splits": 3})


def test_inner_splits_are_whole_training_subjects_never_the_held_out_one(six):
    _, table = six
    spec = SelectionSpec.from_dict({"grid": {"lr": [1e-3]}, "inner_folds": 5, "inner_splits": 5})
    folds, subjects = table["fold"].to_numpy(), table["subject"].to_numpy()
    for fold in range(6):
        training = np.flatnonzero(folds != fold)
        held_out = set(subjects[folds == fold])
        splits = inner_splits(table, training, held_out, spec, selection_seed("toy6", fold, 0))
        assert len(splits) == 5
        validated = []
        for inner_train, inner_val in splits:
            assert not set(subjects[inner_train]) & set(subjects[inner_val])             # whole subjects
            assert not (set(subjects[inner_train]) | set(subjects[inner_val])) & held_out
            assert sorted(np.concatenate([inner_train, inner_val])) == sorted(training)
            validated += sorted(set(subjects[inner_val]))
        assert sorted(validated) == sorted(set(subjects[training]))      # k-fold: each validates once
    # one split by default, drawn per (protocol, fold, seed): the same for every method and candidate
    one = SelectionSpec.from_dict({"grid": {"lr": [1e-3]}, "inner_folds": 3})
    training = np.flatnonzero(folds != 0)
    first = inner_splits(table, training, {"toy/sub01"}, one, selection_seed("toy6", 0, 0))
    again = inner_splits(table, training, {"toy/sub01"}, one, selection_seed("toy6", 0, 0))
    assert len(first) == 1 and (first[0][1] == again[0][1]).all()
    others = {tuple(sorted(set(subjects[inner_splits(table, training, {"toy/sub01"}, one,
                                                     selection_seed("toy6", 0, s))[0][1]])))
              for s in range(6)}
    assert len(others) > 1


def test_the_leakage_guard_covers_the_inner_splits(six):
    _, table = six
    # A subject filed in two folds: its rows in fold 1 reach fold 0's inner groups.
    leaky = table.copy()
    leaky.loc[(leaky["subject"] == "toy/sub02") & (leaky["label"] == 2), "subject"] = "toy/sub01"
    training = np.flatnonzero(leaky["fold"].to_numpy() != 0)
    spec = SelectionSpec.from_dict({"grid": {"lr": [1e-3]}, "inner_folds": 3})
    with pytest.raises(LeakageError, match="toy/sub01"):
        inner_splits(leaky, training, {"toy/sub01"}, spec, 0)
    with pytest.raises(ValueError, match=r"fold 0: selection: 5 training subjects cannot make 6 inner folds"):
        inner_splits(table, np.flatnonzero(table["fold"].to_numpy() != 0), {"toy/sub01"},
                     SelectionSpec.from_dict({"grid": {"lr": [1e-3]}, "inner_folds": 6}), 0, "fold 0: ")


def test_a_known_better_candidate_wins_and_is_retrained_as_a_fixed_recipe_run(six):
    root, table = six
    data = load_protocol_data(table, root / "preprocessed", "flow", AUS)
    cfg = TrainConfig.from_dict({**FAST, "epochs": 8, "lr": 0.001})     # the recipe the grid's lr replaces
    # lr 1e-7 cannot learn in 8 epochs; 0.003 learns the toy classes
    spec = SelectionSpec.from_dict({"grid": {"lr": [1e-7, 0.003]}, "inner_folds": 3})
    result = select_and_train(_run(fold=1), data, cfg, spec, progress=False)
    selection = result["info"]["selection"]
    scores = [c["inner_uf1"] for c in selection["candidates"]]
    assert scores[1] > scores[0] and selection["chosen"] == 1 and selection["chosen_label"] == "lr=0.003"
    assert selection["search_epochs"] == 16 and len(selection["inner_splits"]) == 1
    inner = selection["inner_splits"][0]
    assert "toy/sub02" not in inner["train_subjects"] + inner["val_subjects"]
    assert result["info"]["held_out_subjects"] == ["toy/sub02"] and result["info"]["training"]["lr"] == 0.003
    # the winner: trained on every training subject, the same model as a fixed run at its recipe
    fixed = train_fold(_run(fold=1), data, TrainConfig.from_dict({**FAST, "epochs": 8, "lr": 0.003}), progress=False)
    for name, tensor in fixed["model"].state_dict().items():
        assert torch.equal(tensor, result["model"].state_dict()[name]), name
    assert result["info"]["samples"] == fixed["info"]["samples"]
    # a candidate whose training diverges scores nothing and cannot win; the others still can
    wild = SelectionSpec.from_dict({"grid": {"lr": [1e6, 0.003]}, "inner_folds": 3})
    chosen = select_and_train(_run(fold=1), data, TrainConfig.from_dict({**FAST, "epochs": 4, "optimizer": "adam"}),
                              wild, progress=False)["info"]["selection"]
    assert chosen["candidates"][0]["inner_uf1"] is None and "training diverged" in chosen["candidates"][0]["diverged"]
    assert chosen["chosen"] == 1
    # equal inner scores: the first declared wins
    tie = SelectionSpec.from_dict({"grid": {"lr": [0.003, 0.003]}, "inner_folds": 3})
    assert select_and_train(_run(fold=1), data, TrainConfig.from_dict({**FAST, "epochs": 2}), tie,
                            progress=False)["info"]["selection"]["chosen"] == 0


def test_the_train_job_records_the_search_in_its_config_and_predictions(six, tmp_path):
    root, _ = six
    def train(selection, out):
        return cli(["train", "--protocol-csv", str(root / "protocol.csv"), "--preprocessed", str(root / "preprocessed"),
                    "--protocol", "toy6", "--branch", "ststnet", "--fold", "3", "--seed", "0", "--quiet",
                    "--model-json", json.dumps({"input_size": 16}),
                    "--training-json", json.dumps({**FAST, "epochs": 3}),
                    "--selection-json", json.dumps(selection), "--classes-json", json.dumps(CLASSES),
                    "--out-dir", str(out / "model"), "--predictions", str(out / "fold3.csv")])
    grid = {"grid": {"lr": [0.001, 0.01], "dropout": [0.0, 0.5]}, "inner_folds": 2}
    assert train(grid, tmp_path / "selected") == 0 and train({}, tmp_path / "fixed") == 0
    info = json.loads((tmp_path / "selected" / "model" / "config.json").read_text())
    assert info["provenance"]["settings"]["selection"] == grid | {"inner_splits": 1}
    chosen = info["selection"]["chosen_settings"]
    assert info["training"]["lr"] == chosen["lr"] and info["model_config"]["dropout"] == chosen["dropout"]
    frame = read_predictions(tmp_path / "selected" / "fold3.csv")
    assert (frame["selected"] == candidate_label(chosen)).all()
    assert (frame["selection_candidates"] == 4).all() and (frame["selection_splits"] == 1).all()
    assert (frame["search_epochs"] == 12).all()
    # a fixed recipe records no search, and its settings (hash) are what they were before selection existed
    fixed = json.loads((tmp_path / "fixed" / "model" / "config.json").read_text())
    assert "selection" not in fixed and "selection" not in fixed["provenance"]["settings"]
    assert "selected" not in pd.read_csv(tmp_path / "fixed" / "fold3.csv").columns

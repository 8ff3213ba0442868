"""Held-out predictions of a trained fold model, as the CSV that fusion and evaluation read.

Columns: dataset, subject, sample, fold, label, prediction, seed, then ``logit_<class>`` and
``prob_<class>`` (softmax) per class in label order, then ``au_<n>`` (sigmoid probability) per AU
of the model's AU head. Eval mode, no augmentation: the same model gives the same file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch

from famnet.data import Normalisation, load_protocol_data
from famnet.io import write_csv_atomic
from famnet.models import create_model
from famnet.train import predict_logits, resolve_device


def prediction_frame(rows: pd.DataFrame, emotion: torch.Tensor, aus: torch.Tensor, classes, au_names,
                     seed: int) -> pd.DataFrame:
    frame = rows[["dataset", "subject", "sample", "fold", "label"]].reset_index(drop=True).copy()
    frame["prediction"] = emotion.argmax(1).numpy()
    frame["seed"] = seed
    probabilities = emotion.softmax(1).numpy()
    for index, name in enumerate(classes):
        frame[f"logit_{name}"] = emotion[:, index].numpy()
    for index, name in enumerate(classes):
        frame[f"prob_{name}"] = probabilities[:, index]
    au_probabilities = aus.sigmoid().numpy()
    for index, au in enumerate(au_names):
        frame[f"au_{au}"] = au_probabilities[:, index]
    return frame


def load_trained(model_dir) -> tuple[torch.nn.Module, dict]:
    """Rebuild a fold model from its config.json and model.safetensors (weights are not re-read
    from the pretrained file: the trained state replaces them)."""
    from safetensors.torch import load_file

    model_dir = Path(model_dir)
    info_path, weights_path = model_dir / "config.json", model_dir / "model.safetensors"
    for path in (info_path, weights_path):
        if not path.is_file():
            raise ValueError(f"trained model {model_dir}: {path.name} is missing (run the train rule)")
    info = json.loads(info_path.read_text())
    model = create_model(info["model"], **{**info["model_config"], "pretrained": None})
    model.load_state_dict(load_file(str(weights_path)))
    return model.eval(), info


def predict_fold(model, info: dict, data, device: torch.device, batch_size: int = 32) -> pd.DataFrame:
    """Predictions for the held-out fold's samples of ``data`` (a ProtocolData of the protocol table)."""
    test = (data.table["fold"] == info["fold"]).to_numpy().nonzero()[0]
    norm = Normalisation(**info["normalisation"])
    emotion, aus = predict_logits(model.to(device), data, test, norm, device, batch_size,
                                  amp=bool(info.get("amp")))
    frame = prediction_frame(data.table.iloc[test], emotion, aus, info["classes"], info["aus"], info["seed"])
    return with_selection(with_provenance(frame, info), info)


def with_selection(frame: pd.DataFrame, info: dict) -> pd.DataFrame:
    """A selected model's predictions name what was searched and what won (famnet.selection's
    columns; famnet.tables reads them back); a fixed recipe's are unchanged."""
    selection = info.get("selection")
    if not selection:
        return frame
    return frame.assign(selected=selection["chosen_label"], selection_candidates=len(selection["candidates"]),
                        selection_splits=len(selection["inner_splits"]), search_epochs=selection["search_epochs"])


def with_provenance(frame: pd.DataFrame, info: dict) -> pd.DataFrame:
    """The model's settings hash, code version and device on every row (famnet.provenance): the
    evaluate job checks the hash against the run's and the table names code and device."""
    provenance = info.get("provenance") or {}
    device = provenance.get("device", info.get("device", ""))
    return frame.assign(model_hash=provenance.get("hash", ""), code_version=provenance.get("code_version", ""),
                        device=f"{device} (bf16)" if provenance.get("amp") else device)


def predict_files(model_dir, protocol_csv, preprocessed_root, out, device: str = "auto") -> pd.DataFrame:
    from famnet.protocols import read_protocol_table

    model, info = load_trained(model_dir)
    table = read_protocol_table(protocol_csv, classes=info["classes"])
    table = table[table["fold"] == info["fold"]]     # only the held-out subject's artefacts are read
    data = load_protocol_data(table, preprocessed_root, info.get("input_spec", info["input"]), info["aus"])
    frame = predict_fold(model, info, data, resolve_device(device))
    write_csv_atomic(frame, out)
    return frame


__all__ = ["prediction_frame", "with_provenance", "with_selection", "load_trained", "predict_fold", "predict_files"]

"""Per-fold training of one branch (AMNet2D or AMNet3D, or an ablation of it) under LOSO.

One call trains on every subject except the held-out fold's and writes, each atomically:
``model.safetensors`` (the state dict), ``config.json`` (everything that rebuilds and explains
the model: model config, classes, AUs, input normalisation, seeds, subjects used, timing) and
``train_log.csv`` (one row per epoch). The held-out subject is never used for training, input
statistics, early stopping or epoch choice: by default the epoch count is fixed; with
``val_fraction`` > 0 a share of the *training* subjects validates and the best epoch by their
UF1 is kept. docs/training.md explains every choice.
"""

from __future__ import annotations

import json
import math
import sys
import time
import zlib
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from famnet.config import check_known_keys
from famnet.data import Normalisation, ProtocolData, hflip, split_indices
from famnet.io import atomic_write, write_csv_atomic, write_text_atomic
from famnet.metrics import uf1_uar
from famnet.models import create_model, multitask_loss

ABLATIONS = {"none": {}, "no_attention": {"attention": False}, "no_au": {"au_weight": 0.0}}
DEFAULT_INPUT = {"amnet2d": "apex", "amnet3d": "clip"}   # as the models' own config defaults


@dataclass(frozen=True)
class TrainConfig:
    """The ``training`` section of config.yaml (defaults as there)."""
    branches: tuple[str, ...] = ("amnet2d", "amnet3d")
    ablations: tuple[str, ...] = ()
    seeds: tuple[int, ...] = (0,)
    epochs: int = 8
    batch_size: int = 16
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    class_balance: str = "weighted_loss"
    hflip: float = 0.5
    val_fraction: float = 0.0
    device: str = "auto"
    amp: bool = True
    threads: int = 1

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        check_known_keys(values, cls, "training config")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**values)


@dataclass
class FoldRun:
    """Which model, which fold: identifies a run and derives its random seed."""
    protocol: str
    branch: str
    ablation: str = "none"
    fold: int = 0
    seed: int = 0
    classes: list[str] = field(default_factory=list)
    aus: list[int] = field(default_factory=list)
    model_config: dict = field(default_factory=dict)    # models.<branch> from config.yaml

    @property
    def variant(self) -> str:
        return self.branch if self.ablation == "none" else f"{self.branch}-{self.ablation}"

    @property
    def input(self) -> str:
        return self.model_config.get("input", DEFAULT_INPUT[self.branch])

    @property
    def torch_seed(self) -> int:
        """Distinct, reproducible per (protocol, variant, fold, seed); recorded in config.json."""
        return zlib.crc32(f"{self.protocol}|{self.variant}|fold{self.fold}|seed{self.seed}".encode())

    def build_model(self) -> torch.nn.Module:
        if self.ablation not in ABLATIONS:
            raise ValueError(f"unknown ablation {self.ablation!r}; one of {sorted(ABLATIONS)}")
        cfg = {**self.model_config, **ABLATIONS[self.ablation]}
        return create_model(self.branch, num_classes=len(self.classes), aus=list(self.aus), **cfg)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("training.device is cuda but no CUDA device is available (use auto or cpu)")
    return torch.device(name)


def class_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Inverse-frequency weights N / (C_present * n_c); 0 for a class absent from training."""
    counts = torch.bincount(labels, minlength=num_classes).double()
    present = int((counts > 0).sum())
    weights = torch.where(counts > 0, labels.numel() / (present * counts.clamp_min(1)), torch.zeros_like(counts))
    return weights.float()


def absent_classes(labels: torch.Tensor, classes: list[str]) -> list[str]:
    """The class names without a single training label."""
    counts = torch.bincount(labels, minlength=len(classes))
    return [name for name, count in zip(classes, counts.tolist()) if count == 0]


def epoch_order(labels: torch.Tensor, indices: np.ndarray, balance: str, generator: torch.Generator) -> np.ndarray:
    """This epoch's training sample order: a shuffle, or a class-balanced draw with replacement."""
    if balance == "sampler":
        weights = class_weights(labels[indices], int(labels.max()) + 1)[labels[indices]]
        picks = torch.multinomial(weights.double(), len(indices), replacement=True, generator=generator)
        return indices[picks.numpy()]
    return indices[torch.randperm(len(indices), generator=generator).numpy()]


def _autocast(device: torch.device, amp: bool):
    # bfloat16 needs no loss scaling; AMP is for CUDA only (CPU autocast is slower here).
    return torch.autocast("cuda", dtype=torch.bfloat16) if amp and device.type == "cuda" else nullcontext()


def _to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    if device.type == "cuda" and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def training_inputs(data: ProtocolData, indices, norm: Normalisation, device: torch.device,
                    flip: torch.Tensor) -> torch.Tensor:
    """A training batch as the model sees it: on ``device``, mirrored where ``flip``, normalised."""
    x = data.batch(indices, device)
    if flip.any():
        flip = flip.to(device)
        x[flip] = hflip(x[flip], data.input)
    return _to_device(norm(x), device)


@torch.no_grad()
def predict_logits(model, data: ProtocolData, indices, norm: Normalisation, device: torch.device,
                   batch_size: int = 32, amp: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(emotion logits N×C, AU logits N×K) of the given samples, model in eval mode, float32 on CPU."""
    model.eval()
    emotion, aus = [], []
    indices = np.asarray(indices, dtype=np.int64)
    for start in range(0, len(indices), batch_size):
        x = _to_device(norm(data.batch(indices[start:start + batch_size], device)), device)
        with _autocast(device, amp):
            out = model(x)
        emotion.append(out.emotion.float().cpu())
        aus.append(out.aus.float().cpu())
    if not emotion:
        return torch.zeros(0, model.config.num_classes), torch.zeros(0, model.config.au_count)
    return torch.cat(emotion), torch.cat(aus)


def train_fold(run: FoldRun, data: ProtocolData, cfg: TrainConfig, progress: bool = True) -> dict:
    """Train one fold's model; returns {model, norm, log (DataFrame), info (dict for config.json)}."""
    started = time.perf_counter()
    torch.manual_seed(run.torch_seed)
    torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    train, val, test = split_indices(data.table, run.fold, cfg.val_fraction, seed=run.torch_seed)
    if len(train) == 0:
        raise ValueError(f"protocol {run.protocol!r} fold {run.fold}: no training samples left")
    absent = absent_classes(data.labels[train], run.classes)
    if absent:   # the fold still trains; its held-out samples of that class can only be wrong
        print(f"warning: protocol {run.protocol!r} {run.variant} fold {run.fold}: classes {absent} have no "
              f"training sample (held out: {sorted(set(data.table['subject'].to_numpy()[test]))})",
              file=sys.stderr)
    norm = Normalisation.fit(data, train)
    model = run.build_model().to(device)
    if device.type == "cuda" and model.input_dims == 4:
        model = model.to(memory_format=torch.channels_last)
    parameters = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        optimizer = torch.optim.SGD(parameters, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    else:
        optimizer = torch.optim.AdamW(parameters, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs * steps_per_epoch)
    weights = class_weights(data.labels[train], len(run.classes)).to(device) \
        if cfg.class_balance == "weighted_loss" else None
    au_weight = model.config.au_weight
    generator = torch.Generator().manual_seed(run.torch_seed)
    rows, best = [], None

    from tqdm import tqdm
    bar = tqdm(range(1, cfg.epochs + 1), desc=f"{run.protocol} {run.variant} fold {run.fold}", unit="epoch",
               disable=not progress, mininterval=1.0)
    for epoch in bar:
        model.train()
        epoch_start = time.perf_counter()
        totals = {"loss": 0.0, "emotion": 0.0, "aus": 0.0, "correct": 0, "seen": 0}
        order = epoch_order(data.labels, train, cfg.class_balance, generator)
        for start in range(0, len(order), cfg.batch_size):
            batch = order[start:start + cfg.batch_size]
            if len(batch) < 2 and len(order) > 1:
                continue  # a batch of one breaks BatchNorm; its sample is seen in other epochs
            flip = torch.rand(len(batch), generator=generator) < cfg.hflip   # CPU generator: same draws anywhere
            x = training_inputs(data, batch, norm, device, flip)
            labels = data.labels[batch].to(device)
            with _autocast(device, cfg.amp):
                out = model(x)
            parts = multitask_loss(out._replace(emotion=out.emotion.float(), aus=out.aus.float()), labels,
                                   data.au_targets[batch].to(device), data.au_mask[batch].to(device),
                                   au_weight=au_weight, class_weights=weights)
            if not torch.isfinite(parts.total):
                raise FloatingPointError(f"protocol {run.protocol!r} {run.variant} fold {run.fold} epoch {epoch}: "
                                         f"the loss is {parts.total.item()} (non-finite inputs or a too high lr?)")
            optimizer.zero_grad(set_to_none=True)
            parts.total.backward()
            optimizer.step()
            scheduler.step()
            n = len(batch)
            totals["loss"] += parts.total.item() * n
            totals["emotion"] += parts.emotion.item() * n
            totals["aus"] += parts.aus.item() * n
            totals["correct"] += int((out.emotion.argmax(1) == labels).sum())
            totals["seen"] += n
        seen = max(totals["seen"], 1)
        row = {"epoch": epoch, "train_loss": totals["loss"] / seen, "train_emotion_loss": totals["emotion"] / seen,
               "train_au_loss": totals["aus"] / seen, "train_accuracy": totals["correct"] / seen,
               "lr": optimizer.param_groups[0]["lr"], "val_uf1": np.nan, "val_uar": np.nan,
               "seconds": round(time.perf_counter() - epoch_start, 3)}
        if len(val):
            logits, _ = predict_logits(model, data, val, norm, device, cfg.batch_size, cfg.amp)
            row["val_uf1"], row["val_uar"] = uf1_uar(data.labels[val].numpy(), logits.argmax(1).numpy(),
                                                     len(run.classes))
            if best is None or row["val_uf1"] > best[0]:
                best = (row["val_uf1"], epoch, {k: v.detach().clone() for k, v in model.state_dict().items()})
        rows.append(row)
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", acc=f"{row['train_accuracy']:.2f}")
    chosen_epoch = cfg.epochs
    if best is not None:   # early stopping on the validation subjects (never the held-out one)
        model.load_state_dict(best[2])
        chosen_epoch = best[1]
    subjects = data.table["subject"].to_numpy()
    info = {
        "protocol": run.protocol, "variant": run.variant, "branch": run.branch, "ablation": run.ablation,
        "fold": run.fold, "seed": run.seed, "torch_seed": run.torch_seed,
        "model": run.branch, "model_config": model.config.to_dict(), "input": data.input,
        "classes": list(run.classes), "aus": [int(a) for a in run.aus],
        "normalisation": asdict(norm), "pretrained": model.pretrained_source,
        "training": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()},
        "held_out_subjects": sorted(set(subjects[test].tolist())),
        "train_subjects": sorted(set(subjects[train].tolist())),
        "val_subjects": sorted(set(subjects[val].tolist())),
        "samples": {"train": int(len(train)), "val": int(len(val)), "test": int(len(test))},
        "classes_absent_from_training": absent,
        "epochs": cfg.epochs, "chosen_epoch": chosen_epoch, "device": str(device),
        "amp": bool(cfg.amp and device.type == "cuda"), "torch": torch.__version__,
        "seconds": round(time.perf_counter() - started, 2),
    }
    return {"model": model.cpu(), "norm": norm, "log": pd.DataFrame(rows), "info": info}


def save_run(result: dict, out_dir) -> None:
    """model.safetensors, config.json and train_log.csv in ``out_dir``, each written atomically."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    state = {k: v.detach().cpu().contiguous() for k, v in result["model"].state_dict().items()}
    atomic_write(out_dir / "model.safetensors", lambda tmp: save_file(state, str(tmp)))
    write_text_atomic(json.dumps(result["info"], indent=1) + "\n", out_dir / "config.json")
    write_csv_atomic(result["log"], out_dir / "train_log.csv")


__all__ = ["ABLATIONS", "TrainConfig", "FoldRun", "resolve_device", "class_weights", "absent_classes", "epoch_order",
           "predict_logits", "train_fold", "save_run"]

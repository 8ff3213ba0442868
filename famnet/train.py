"""Per-fold training of one method (a FAMNet branch, an ablation of it, or a baseline) under LOSO.

One call trains on every subject except the held-out fold's and writes, each atomically:
``model.safetensors`` (the state dict), ``config.json`` (everything that rebuilds and explains
the model: model config, classes, AUs, input normalisation, seeds, subjects used, timing) and
``train_log.csv`` (one row per epoch). The held-out subject is never used for training, input
statistics, early stopping or epoch choice: by default the epoch count is fixed; with
``val_fraction`` > 0 a share of the *training* subjects validates and the best epoch by their
UF1 is kept. docs/training.md explains every choice.

With ``report_test_epoch_oracle`` the held-out samples are also predicted after every epoch
(``test_epochs``, saved as test_epochs.csv) so evaluation can report what a script that keeps the
best *test* epoch would have published. That bookkeeping never touches the model: eval mode draws
no random numbers and updates no statistics, so the saved weights and predictions are the same
with it on or off (a test checks this).
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
from famnet.data import Normalisation, ProtocolData, split_indices
from famnet.io import atomic_write, write_csv_atomic, write_text_atomic
from famnet.metrics import uf1_uar
from famnet.methods import FIXED_RECIPE, INPUT_VARIANTS, ablation_applies, architecture, method
from famnet.models import create_model, multitask_loss

ABLATIONS = {"none": {}, "no_attention": {"attention": False}, "no_au": {"au_weight": 0.0}, FIXED_RECIPE: {},
             **{name: {"input": kind} for name, kind in INPUT_VARIANTS.items()}}
TEST_EPOCH_COLUMNS = ["epoch", "dataset", "subject", "sample", "fold", "label", "prediction", "saved"]
# A run has diverged when a logit's magnitude passes MAX_ABS_LOGIT (a softmax then says 0 or 1 for
# anything: a sane run of these models stays below about 100), or an epoch's mean loss exceeds the
# first epoch's by LOSS_GROWTH (orders of magnitude). Such a model's predictions are noise that can
# score anything: the job fails rather than hand the table an unmarked row (docs/training.md).
MAX_ABS_LOGIT = 1e4
LOSS_GROWTH = 1e3


class DivergenceError(FloatingPointError):
    """Training diverged: the job stops naming protocol, method, fold and epoch."""


@dataclass(frozen=True)
class TrainConfig:
    """The ``training`` section of config.yaml (defaults as there)."""
    methods: tuple[str, ...] = ("amnet2d", "amnet3d", "ststnet", "off_apexnet", "htnet", "sssnet")
    ablations: tuple[str, ...] = ()
    seeds: tuple[int, ...] = (0,)
    epochs: int = 16
    batch_size: int = 16
    optimizer: str = "adamw"          # adamw | adam | sgd
    lr: float = 2e-3
    weight_decay: float = 1e-4
    lr_schedule: str = "cosine"       # cosine (to 0 over all steps) | constant
    class_balance: str = "weighted_loss"
    hflip: float = 0.5
    val_fraction: float = 0.0
    device: str = "auto"
    amp: bool = True
    threads: int = 1
    report_test_epoch_oracle: bool = False
    deterministic: bool = False       # CUDA: deterministic kernels only (slower; the CPU path already is)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        check_known_keys(values, cls, "training config")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**values)


@dataclass
class FoldRun:
    """Which model, which fold: identifies a run and derives its random seed. ``branch`` is the
    method's registered model: a FAMNet branch (amnet2d, amnet3d) or a baseline (famnet/methods.py)."""
    protocol: str
    branch: str
    ablation: str = "none"
    fold: int = 0
    seed: int = 0
    classes: list[str] = field(default_factory=list)
    aus: list[int] = field(default_factory=list)
    model_config: dict = field(default_factory=dict)    # models.<branch> from config.yaml (architecture keys)

    @property
    def variant(self) -> str:
        return self.branch if self.ablation == "none" else f"{self.branch}-{self.ablation}"

    @property
    def input(self):
        """The method's InputSpec (famnet.data), declared by its model from its config (an input
        variant's input in place of the configured one)."""
        return method(self.branch).input_spec({**architecture(self.model_config), **ABLATIONS.get(self.ablation, {})})

    @property
    def torch_seed(self) -> int:
        """Distinct, reproducible per (protocol, variant, fold, seed); recorded in config.json."""
        return zlib.crc32(f"{self.protocol}|{self.variant}|fold{self.fold}|seed{self.seed}".encode())

    @property
    def split_seed(self) -> int:
        """Draws the validation subjects: per (protocol, fold, seed) only, so every method and
        ablation of a fold validates on the same subjects (FAMNet fuses branches chosen on one
        split; an ablation's difference holds no split difference)."""
        return zlib.crc32(f"{self.protocol}|fold{self.fold}|seed{self.seed}|validation".encode())

    def build_model(self) -> torch.nn.Module:
        if self.ablation not in ABLATIONS:
            raise ValueError(f"unknown ablation {self.ablation!r}; one of {sorted(ABLATIONS)}")
        spec = method(self.branch)
        if self.ablation != "none" and not ablation_applies(self.branch, self.ablation):
            raise ValueError(f"ablation {self.ablation!r} is not one of {spec.display}'s (the ablations are the FAMNet "
                             f"branches'; an input variant, the branch's that reads that input)")
        cfg = {**architecture(self.model_config), **ABLATIONS[self.ablation]}
        aus = list(self.aus) if spec.multitask else []     # the baselines have no AU head
        return create_model(self.branch, num_classes=len(self.classes), aus=aus, **cfg)

    @property
    def head_aus(self) -> list[int]:
        """The AUs of the model's AU head (none for the baselines)."""
        return list(self.aus) if method(self.branch).multitask else []


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
    """A training batch as the model sees it: on ``device``, mirrored where ``flip`` (before any
    per-image normalisation), standardised."""
    return _to_device(norm(data.batch(indices, device, flip)), device)


def fit_normalisation(data: ProtocolData, train) -> Normalisation:
    """The fold's per-channel statistics, or the identity where the input keeps its paper's scale."""
    if data.spec.standardise:
        return Normalisation.fit(data, train)
    channels = data.batch(np.asarray(train[:1])).shape[1]
    return Normalisation([0.0] * channels, [1.0] * channels)


def make_optimizer(parameters, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":   # L2 in the gradient, as Keras / torch Adam in the baselines' code
        return torch.optim.Adam(parameters, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; one of adamw, adam, sgd")


def make_scheduler(optimizer, cfg: TrainConfig, steps_per_epoch: int):
    if cfg.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs * steps_per_epoch)
    if cfg.lr_schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    raise ValueError(f"unknown lr_schedule {cfg.lr_schedule!r}; one of cosine, constant")


def held_out_epoch_rows(data: ProtocolData, test, epoch: int, logits: torch.Tensor) -> list[dict]:
    """One row per held-out sample of this epoch's predictions (the oracle analysis only)."""
    rows = data.table.iloc[np.asarray(test, dtype=np.int64)]
    predictions = logits.argmax(1).tolist()
    return [{"epoch": epoch, "dataset": r.dataset, "subject": r.subject, "sample": r.sample, "fold": int(r.fold),
             "label": int(r.label), "prediction": p} for r, p in zip(rows.itertuples(index=False), predictions)]


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


def use_deterministic_kernels() -> None:
    """Same job, same model on CUDA too: cuBLAS's fixed workspace (set before its first call),
    deterministic algorithms only (an op without one raises), no cuDNN autotuning."""
    import os

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False


def check_loss_growth(run: FoldRun, epoch: int, loss: float, first: float | None, lr: float) -> None:
    """DivergenceError when this epoch's mean loss is LOSS_GROWTH times the first epoch's or more."""
    if first is not None and loss > LOSS_GROWTH * max(first, 1e-3):
        raise DivergenceError(f"protocol {run.protocol!r} {run.variant} fold {run.fold} epoch {epoch}: training "
                              f"diverged, the mean loss grew from {first:.4g} (epoch 1) to {loss:.4g} (lr {lr:g} too "
                              f"high?)")


def train_fold(run: FoldRun, data: ProtocolData, cfg: TrainConfig, progress: bool = True,
               indices: tuple | None = None) -> dict:
    """Train one fold's model; returns {model, norm, log (DataFrame), info (dict for config.json)}.
    ``indices`` = (train, val, test) rows in place of the fold's split (selection's inner splits,
    which famnet.selection has checked against the held-out subject)."""
    started = time.perf_counter()
    torch.manual_seed(run.torch_seed)
    torch.set_num_threads(cfg.threads)
    if cfg.deterministic:
        use_deterministic_kernels()
    device = resolve_device(cfg.device)
    train, val, test = indices if indices is not None else \
        split_indices(data.table, run.fold, cfg.val_fraction, seed=run.split_seed)
    if len(train) == 0:
        raise ValueError(f"protocol {run.protocol!r} fold {run.fold}: no training samples left")
    absent = absent_classes(data.labels[train], run.classes)
    if absent:   # the fold still trains; its held-out samples of that class can only be wrong
        print(f"warning: protocol {run.protocol!r} {run.variant} fold {run.fold}: classes {absent} have no "
              f"training sample (held out: {sorted(set(data.table['subject'].to_numpy()[test]))})",
              file=sys.stderr)
    norm = fit_normalisation(data, train)
    model = run.build_model().to(device)
    if device.type == "cuda" and model.input_dims == 4:
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer([p for p in model.parameters() if p.requires_grad], cfg)
    scheduler = make_scheduler(optimizer, cfg, math.ceil(len(train) / cfg.batch_size))
    weights = class_weights(data.labels[train], len(run.classes)).to(device) \
        if cfg.class_balance == "weighted_loss" else None
    au_weight = model.config.au_weight
    generator = torch.Generator().manual_seed(run.torch_seed)
    rows, best, test_epochs = [], None, []

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
                raise DivergenceError(f"protocol {run.protocol!r} {run.variant} fold {run.fold} epoch {epoch}: "
                                      f"the loss is {parts.total.item()} (non-finite inputs or a too high lr?)")
            largest = float(out.emotion.detach().abs().max())
            if largest > MAX_ABS_LOGIT:
                raise DivergenceError(f"protocol {run.protocol!r} {run.variant} fold {run.fold} epoch {epoch}: "
                                      f"training diverged, a logit reached {largest:.3g} (bound {MAX_ABS_LOGIT:g}; "
                                      f"lr {cfg.lr:g} too high?)")
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
        check_loss_growth(run, epoch, totals["loss"] / seen, rows[0]["train_loss"] if rows else None, cfg.lr)
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
        if cfg.report_test_epoch_oracle:   # bookkeeping for the oracle column only; never selects anything
            logits, _ = predict_logits(model, data, test, norm, device, cfg.batch_size, cfg.amp)
            test_epochs += held_out_epoch_rows(data, test, epoch, logits)
        rows.append(row)
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", acc=f"{row['train_accuracy']:.2f}")
    chosen_epoch = cfg.epochs
    if best is not None:   # early stopping on the validation subjects (never the held-out one)
        model.load_state_dict(best[2])
        chosen_epoch = best[1]
    subjects = data.table["subject"].to_numpy()
    test_epochs = pd.DataFrame(test_epochs, columns=TEST_EPOCH_COLUMNS[:-1])
    test_epochs["saved"] = test_epochs["epoch"] == chosen_epoch    # the epoch whose weights are saved
    info = {
        "protocol": run.protocol, "variant": run.variant, "branch": run.branch, "ablation": run.ablation,
        "fold": run.fold, "seed": run.seed, "torch_seed": run.torch_seed, "split_seed": run.split_seed,
        "model": run.branch, "model_config": model.config.to_dict(), "input": data.input,
        "input_spec": data.spec.to_dict(),
        "classes": list(run.classes), "aus": [int(a) for a in run.head_aus],
        "normalisation": asdict(norm), "pretrained": model.pretrained_source,
        "training": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()},
        "held_out_subjects": sorted(set(subjects[test].tolist())),
        "train_subjects": sorted(set(subjects[train].tolist())),
        "val_subjects": sorted(set(subjects[val].tolist())),
        "samples": {"train": int(len(train)), "val": int(len(val)), "test": int(len(test))},
        "classes_absent_from_training": absent,
        "epochs": cfg.epochs, "chosen_epoch": chosen_epoch, "device": str(device),
        "amp": bool(cfg.amp and device.type == "cuda"), "torch": torch.__version__,
        "report_test_epoch_oracle": bool(cfg.report_test_epoch_oracle),
        "seconds": round(time.perf_counter() - started, 2),
    }
    return {"model": model.cpu(), "norm": norm, "log": pd.DataFrame(rows), "info": info,
            "test_epochs": test_epochs[TEST_EPOCH_COLUMNS]}


def score_candidate(run: FoldRun, data: ProtocolData, cfg: TrainConfig, splits: list) -> dict:
    """One candidate (its run and recipe) trained on each inner split's training subjects and
    scored on its validation subjects: UF1 / UAR pooled over the splits, seconds spent. A candidate
    whose training diverges scores nothing (``diverged`` says why) and cannot win."""
    device = resolve_device(cfg.device)
    labels, predictions, seconds = [], [], 0.0
    for inner_train, inner_val in splits:
        try:
            result = train_fold(run, data, cfg, progress=False,
                                indices=(inner_train, np.zeros(0, dtype=np.int64), inner_val))
        except DivergenceError as error:
            return {"inner_uf1": None, "inner_uar": None, "seconds": round(seconds, 2), "diverged": str(error)}
        logits, _ = predict_logits(result["model"].to(device), data, inner_val, result["norm"], device,
                                   cfg.batch_size, cfg.amp)
        labels.append(data.labels[inner_val].numpy())
        predictions.append(logits.argmax(1).numpy())
        seconds += result["info"]["seconds"]
    uf1, uar = uf1_uar(np.concatenate(labels), np.concatenate(predictions), len(run.classes))
    return {"inner_uf1": float(uf1), "inner_uar": float(uar), "seconds": round(seconds, 2)}


def select_and_train(run: FoldRun, data: ProtocolData, cfg: TrainConfig, spec, progress: bool = True) -> dict:
    """Leak-free selection (famnet.selection) then the winner's training: each candidate of
    ``spec`` trains on the outer fold's training subjects less an inner validation group and is
    scored on that group (UF1 pooled over the inner splits); the best is trained on all training
    subjects as train_fold does. The data is loaded once for all. info["selection"] records the
    candidates, the inner subjects, each candidate's inner scores and time, and the choice."""
    from dataclasses import replace

    from famnet.selection import candidate_label, choose, inner_splits, search_epochs, selection_seed, split_candidate

    started = time.perf_counter()
    folds, subjects = data.table["fold"].to_numpy(), data.table["subject"].to_numpy()
    held_out = set(subjects[folds == run.fold].tolist())
    where = f"protocol {run.protocol!r} {run.variant} fold {run.fold}: "
    splits = inner_splits(data.table, np.flatnonzero(folds != run.fold), held_out, spec,
                          selection_seed(run.protocol, run.fold, run.seed), where)
    candidates, scored = spec.candidates(), []
    for number, candidate in enumerate(candidates):
        recipe, model_keys = split_candidate(candidate)
        score = score_candidate(replace(run, model_config={**run.model_config, **model_keys}), data,
                                replace(cfg, **recipe, report_test_epoch_oracle=False), splits)
        scored.append({"candidate": number, "label": candidate_label(candidate), "settings": candidate, **score})
        if progress:
            said = score.get("diverged") or f"inner UF1 {score['inner_uf1']:.4f} UAR {score['inner_uar']:.4f}"
            print(f"{where}candidate {number} ({candidate_label(candidate)}): {said} in {score['seconds']:.1f} s",
                  file=sys.stderr)
    if all(c["inner_uf1"] is None for c in scored):
        raise DivergenceError(f"{where}every candidate's training diverged: " + "; ".join(c["diverged"] for c in scored))
    winner = choose([-np.inf if c["inner_uf1"] is None else c["inner_uf1"] for c in scored])
    recipe, model_keys = split_candidate(candidates[winner])
    final = train_fold(replace(run, model_config={**run.model_config, **model_keys}), data, replace(cfg, **recipe),
                       progress=progress)
    final["info"]["selection"] = {
        "spec": spec.to_dict(), "candidates": scored, "chosen": winner, "chosen_label": scored[winner]["label"],
        "chosen_settings": candidates[winner], "search_epochs": search_epochs(spec, cfg.epochs),
        "inner_splits": [{"train_subjects": sorted(set(subjects[a].tolist())),
                          "val_subjects": sorted(set(subjects[b].tolist()))} for a, b in splits],
        "seconds": round(time.perf_counter() - started, 2)}
    return final


def save_run(result: dict, out_dir) -> None:
    """model.safetensors, config.json and train_log.csv in ``out_dir``, each written atomically."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    state = {k: v.detach().cpu().contiguous() for k, v in result["model"].state_dict().items()}
    atomic_write(out_dir / "model.safetensors", lambda tmp: save_file(state, str(tmp)))
    write_text_atomic(json.dumps(result["info"], indent=1) + "\n", out_dir / "config.json")
    write_csv_atomic(result["log"], out_dir / "train_log.csv")
    # Always written (header only when the oracle analysis is off), so the workflow's outputs are fixed.
    write_csv_atomic(result["test_epochs"], out_dir / "test_epochs.csv")


__all__ = ["ABLATIONS", "TEST_EPOCH_COLUMNS", "MAX_ABS_LOGIT", "LOSS_GROWTH", "DivergenceError", "TrainConfig",
           "FoldRun", "resolve_device", "class_weights",
           "absent_classes", "epoch_order", "fit_normalisation", "make_optimizer", "make_scheduler",
           "held_out_epoch_rows", "predict_logits", "train_fold", "score_candidate", "select_and_train", "save_run"]

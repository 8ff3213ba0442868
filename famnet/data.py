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
  cancels and only what moved remains (the 3D branch learns micro-motion from few samples);
- ``flow_regions``: facial-region patches of the flow cut around the landmarks (HTNet), see
  :func:`region_patches`.
A model may ask for more than the kind (an :class:`InputSpec`, famnet/methods.py): a subset of the
flow channels, a spatial size (resizing a flow rescales its vectors; strain is a ratio and stays)
and a per-image normalisation, all derived here from the one per-subject artefact.
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
from famnet.datasets.formats import INPUT_ARRAYS
from famnet.protocols import TRAIN_ONLY

INPUTS = ("apex", "flow", "apex_flow", "clip", "clip_diff", "flow_regions")
FLOW_CHANNELS = ("u", "v", "strain")    # the artefact's flow channels, in stored order
PER_IMAGE = ("none", "minmax", "minmax_255")
FLOW_KINDS = ("flow", "apex_flow", "flow_regions")
# HTNet's 2×2 region montage, tiles in row-major order (top-left, top-right, bottom-left, bottom-right).
# ``authors``: what HTNet's main_HTNet.py assembles (its transposed landmark slicing puts the mouth
# beside each eye); ``regions``: eyes over mouth corners. Left = left of the image.
MONTAGES = {"authors": ("eye_left", "mouth_left", "eye_right", "mouth_right"),
            "regions": ("eye_left", "eye_right", "mouth_left", "mouth_right")}


@dataclass(frozen=True)
class InputSpec:
    """What a model reads, derived from the artefact at batch time (no preprocessing rerun).

    kind: one of INPUTS. channels / size (flow kinds): which flow channels, in this order, and the
    side the flow is resized to (None: as stored; apex_flow: the crop side). per_image: ``minmax``
    scales each channel of each sample to [0, 1], ``minmax_255`` to [0, 255] (STSTNet, OFF-ApexNet
    and HTNet read flow images normalised so and saved as 8-bit PNGs), after any mirroring.
    standardise: afterwards, the fold's per-channel mean / std of its training samples (the FAMNet
    branches); False leaves the per-image values as they are.
    montage (flow_regions): the tile layout, one of MONTAGES. HTNet's config declares ``authors`` by
    default; the field's own default, ``regions``, is how a spec stored without the key was trained.
    """
    kind: str
    channels: tuple[str, ...] = FLOW_CHANNELS
    size: int | None = None
    per_image: str = "none"
    standardise: bool = True
    montage: str = "regions"

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(self.channels))
        if self.kind not in INPUTS:
            raise ValueError(f"unknown model input {self.kind!r}; one of {list(INPUTS)}")
        if not self.channels or any(c not in FLOW_CHANNELS for c in self.channels) or \
                len(set(self.channels)) != len(self.channels):
            raise ValueError(f"input channels must be distinct names among {list(FLOW_CHANNELS)}, "
                             f"got {list(self.channels)}")
        if self.per_image not in PER_IMAGE:
            raise ValueError(f"per_image must be one of {list(PER_IMAGE)}, got {self.per_image!r}")
        if self.size is not None and self.size < 4:
            raise ValueError(f"input size must be >= 4 pixels, got {self.size}")
        if self.montage not in MONTAGES:
            raise ValueError(f"montage must be one of {list(MONTAGES)}, got {self.montage!r}")

    @classmethod
    def of(cls, value) -> "InputSpec":
        """An InputSpec from a kind name, a dict (config.json) or an InputSpec."""
        if isinstance(value, InputSpec):
            return value
        if isinstance(value, str):
            return cls(value)
        return cls(**value)

    def to_dict(self) -> dict:
        values = {"kind": self.kind, "channels": list(self.channels), "size": self.size, "per_image": self.per_image,
                  "standardise": self.standardise}
        if self.kind == "flow_regions" or self.montage != "regions":     # other kinds: as before the key
            values["montage"] = self.montage
        return values

    @property
    def u_channel(self) -> int | None:
        """Index of the flow's horizontal component u in the batch (a horizontal flip negates it)."""
        if self.kind not in FLOW_KINDS or "u" not in self.channels:
            return None
        return self.channels.index("u") + (3 if self.kind == "apex_flow" else 0)


class LeakageError(ValueError):
    """A held-out subject's sample would reach training or model selection."""


class DamagedArtefactError(ValueError):
    """An artefact that exists but cannot be read (truncated, overwritten): ``path`` names it."""

    def __init__(self, path, message: str):
        super().__init__(message)
        self.path = Path(path)


def artefact_path(root, subject: str) -> Path:
    """The artefact of a namespaced subject id ``<dataset>/<subject>``: ``<root>/<dataset>/<subject>.npz``
    under one root, or, with ``root`` a mapping {dataset: its artefact folder} (the workflow's
    settings-named folders, ``results/preprocessed/<dataset>/<settings hash>``), ``<folder>/<subject>.npz``."""
    if isinstance(root, dict):
        dataset, local = subject.split("/", 1)
        if dataset not in root:
            raise ValueError(f"dataset {dataset!r}, subject {subject!r}: no artefact folder given for the dataset "
                             f"(given: {sorted(root)})")
        return Path(root[dataset]) / f"{local}.npz"
    return Path(root) / f"{subject}.npz"


@dataclass
class ProtocolData:
    """Every sample of a protocol table, in table order."""
    table: pd.DataFrame          # the protocol rows (dataset, subject, sample, fold, label, aus, ...)
    input: str | InputSpec       # a kind (one of INPUTS) or a full spec; ``spec`` holds the full one
    arrays: tuple[np.ndarray, ...]  # per input part, N×... in the artefact's dtype
    labels: torch.Tensor         # N class ids
    au_targets: torch.Tensor     # N×K multi-hot over the configured AU list
    au_mask: torch.Tensor        # N bools: False where the sample's AUs are unknown (SMIC, '?')
    flow_encoding: str = "pixels"   # how the artefacts' flow is encoded (famnet.datasets.formats.FLOW_ENCODINGS)

    def __post_init__(self):
        self.spec = InputSpec.of(self.input)
        self.input = self.spec.kind

    def __len__(self) -> int:
        return len(self.table)

    def batch(self, indices, device: torch.device | str = "cpu", flip: torch.Tensor | None = None) -> torch.Tensor:
        """Float32 inputs of the given samples (not yet standardised), on ``device``, mirrored where
        ``flip`` (N bools; training augmentation) before any per-image normalisation.

        The stored compact arrays (uint8 images, float16 flow) go to the device before they are
        converted: a GPU receives a quarter (half) of the bytes and does the conversion itself."""
        indices = np.asarray(indices, dtype=np.int64)

        def compact(part: int) -> torch.Tensor:
            return torch.from_numpy(self.arrays[part][indices]).to(device, non_blocking=True)

        kind, spec, encoding = self.input, self.spec, self.flow_encoding
        if kind == "apex":
            x = _rgb(compact(0))
        elif kind == "flow":
            x = _flow(compact(0), spec, encoding=encoding)
        elif kind in ("clip", "clip_diff"):
            # artefact N×T×3×C×C -> torchvision video layout N×3×T×C×C
            clip = compact(0).permute(0, 2, 1, 3, 4).float().div_(255.0)
            x = clip - clip[:, :, :1] if kind == "clip_diff" else clip
        elif kind == "flow_regions":
            centres = torch.from_numpy(self.arrays[1][indices]).to(device)
            return region_patches(compact(0), centres, spec, flip, encoding)
        else:
            apex = _rgb(compact(0))
            x = torch.cat([apex, _flow(compact(1), spec, size=apex.shape[-1], encoding=encoding)], dim=1)
        if flip is not None and flip.any():
            flip = flip.to(x.device)
            x[flip] = hflip(x[flip], spec, encoding)
        return _per_image(x, spec)


def _flow(flow: torch.Tensor, spec: InputSpec, size: int | None = None, encoding: str = "pixels") -> torch.Tensor:
    """Stored N×3×F×F float16 flow -> the spec's channels at its size (u, v rescaled with the grid
    where the encoding is ``pixels``; a per-image scaled flow has no grid unit to rescale)."""
    flow = flow.float()
    size = size or spec.size
    if size and size != flow.shape[-1]:
        scale = size / flow.shape[-1]
        flow = F.interpolate(flow, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        if encoding == "pixels":    # pixels of its own grid: the vectors grow with it; strain is a ratio
            flow[:, :2] *= scale
    keep = [FLOW_CHANNELS.index(c) for c in spec.channels]
    return flow if keep == [0, 1, 2] else flow[:, keep]


# HTNet's regions, from the 68 dlib landmarks: the eye centres and the mouth corners, in image
# order (left of the image first), as its MTCNN points 0, 1 (eyes) and 3, 4 (mouth corners).
REGION_LANDMARKS = {"eye_left": range(36, 42), "eye_right": range(42, 48),
                    "mouth_left": (48,), "mouth_right": (54,)}


def region_centres(landmarks: np.ndarray, align_matrix: np.ndarray, crop_size: int) -> np.ndarray:
    """N×4×2 (x, y) centres of the REGION_LANDMARKS regions as fractions of the aligned crop's side
    (the flow grid covers the crop: a fraction is the same on any grid)."""
    points = np.concatenate([landmarks, np.ones((*landmarks.shape[:2], 1), landmarks.dtype)], axis=2)
    aligned = np.einsum("nij,nkj->nki", align_matrix.astype(np.float64), points.astype(np.float64)) / crop_size
    return np.stack([aligned[:, list(ids)].mean(1) for ids in REGION_LANDMARKS.values()], axis=1).astype(np.float32)


def region_patches(flow: torch.Tensor, centres: torch.Tensor, spec: InputSpec,
                   flip: torch.Tensor | None = None, encoding: str = "pixels") -> torch.Tensor:
    """HTNet's input: four (size/2)² patches of the flow around the region centres (``centres`` in
    REGION_LANDMARKS order), assembled 2×2 into one size² image as ``spec.montage`` lays them out:
    ``authors`` [eye left | mouth left] over [eye right | mouth right] (HTNet's main_HTNet.py),
    ``regions`` [eye left | eye right] over [mouth left | mouth right].

    The flow is resized to ``spec.size`` and normalised per image first (the whole-face flow image
    is what gets cut); a centre is rounded to the grid and clamped so its patch stays inside
    ([size/4, 3·size/4], HTNet's [7, 21] at 28). A mirrored sample is the mirrored flow (u negated)
    with mirrored centres whose left and right regions swap: the montage of the mirrored face.
    """
    size = spec.size or flow.shape[-1]
    half, quarter = size // 2, size // 4
    flow = _flow(flow, spec, size=size, encoding=encoding)
    centres = centres.float().clone()
    if flip is not None and flip.any():
        flip = flip.to(flow.device)
        flow = flow.clone()     # never mirror the caller's tensor in place
        flow[flip] = hflip(flow[flip], InputSpec("flow", channels=spec.channels), encoding)
        mirrored = centres[flip]
        mirrored[..., 0] = 1.0 - mirrored[..., 0]
        centres[flip] = mirrored[:, [1, 0, 3, 2]]
    flow = _per_image(flow, spec)
    grid = (centres * size).round().long().clamp(quarter, size - half + quarter)      # N×4×(x, y)
    out = flow.new_empty(flow.shape[0], flow.shape[1], 2 * half, 2 * half)
    regions = list(REGION_LANDMARKS)
    tiles = [regions.index(name) for name in MONTAGES[spec.montage]]      # row-major tile -> region
    for n in range(flow.shape[0]):
        for region, (row, col) in zip(tiles, ((0, 0), (0, 1), (1, 0), (1, 1))):
            x, y = grid[n, region].tolist()
            out[n, :, row * half:(row + 1) * half, col * half:(col + 1) * half] = \
                flow[n, :, y - quarter:y - quarter + half, x - quarter:x - quarter + half]
    return out


def _per_image(x: torch.Tensor, spec: InputSpec) -> torch.Tensor:
    if spec.per_image != "none":
        axes = tuple(range(2, x.dim()))
        low, high = x.amin(dim=axes, keepdim=True), x.amax(dim=axes, keepdim=True)
        x = (x - low) / (high - low).clamp_min(1e-6)    # a constant channel becomes 0
        if spec.per_image == "minmax_255":
            x = x * 255.0
    return x


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


ARTEFACT_KEYS = INPUT_ARRAYS     # the arrays each input kind reads (famnet.datasets.formats)


def _subject_arrays(root, subject: str, rows: pd.DataFrame, kind: str) -> tuple[list[np.ndarray], str, dict | None]:
    """The arrays an input kind needs of one subject's artefact, reordered to the protocol rows, the
    artefact's flow encoding and its provenance (None if it records none)."""
    from preprocess.artifact import load_subject

    keys = ARTEFACT_KEYS[kind]
    path = artefact_path(root, subject)
    try:
        artefact = load_subject(path, keys=keys)
    except FileNotFoundError as err:
        raise ValueError(f"dataset {rows['dataset'].iloc[0]!r}, subject {subject!r}: {err}") from err
    except Exception as err:     # a truncated or overwritten file: zipfile, numpy and json errors alike
        raise DamagedArtefactError(path, f"dataset {rows['dataset'].iloc[0]!r}, subject {subject!r}: the artefact "
                                         f"{path} is damaged ({type(err).__name__}: {err})") from err
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
    arrays = [artefact[key][order] for key in keys]
    if kind == "flow_regions":   # flow + the region centres as fractions of the crop side
        shape = artefact["meta"].get("arrays", {}).get("apex_rgb", {}).get("shape")
        if not shape:
            raise ValueError(f"dataset {rows['dataset'].iloc[0]!r}, subject {subject!r}: the sidecar of {path} does "
                             f"not give the crop size the landmarks' alignment maps to (rerun the preprocess rule)")
        arrays = [arrays[0], region_centres(arrays[1], arrays[2], int(shape[1]))]
    return arrays, artefact["meta"].get("flow_encoding", "pixels"), artefact.get("provenance")


def load_protocol_data(table: pd.DataFrame, preprocessed_root, input: str | InputSpec | dict,
                       aus=(), expect_preprocess: dict[str, dict] | None = None,
                       fingerprints: dict[tuple[str, str], str] | None = None) -> ProtocolData:
    """Load every sample of ``table`` from its subject's artefact (one file read per subject;
    ``preprocessed_root``: a root, or {dataset: artefact folder}, famnet.data.artefact_path).

    The artefacts' recorded preprocess settings must agree (per config dataset) and, with
    ``expect_preprocess`` ({config dataset: famnet.provenance.expected_preprocess}), be the run's;
    with ``fingerprints`` ({(dataset, subject): famnet.provenance.subject_fingerprint now}) each
    must have been built from its source files as they are: else ProvenanceError naming every
    subject that differs and how."""
    from famnet.provenance import check_artefacts

    spec = InputSpec.of(input)
    table = table.reset_index(drop=True)
    parts: list[list[np.ndarray]] | None = None
    order: list[np.ndarray] = []
    encodings: dict[str, list[str]] = {}
    provenance: dict[tuple[str, str], dict | None] = {}
    for subject, rows in table.groupby("subject", sort=False):
        arrays, encoding, provenance[(subject.split("/", 1)[0], subject)] = _subject_arrays(
            preprocessed_root, subject, rows, spec.kind)   # keyed by the config dataset (a release's subjects too)
        encodings.setdefault(encoding, []).append(subject)
        parts = parts or [[] for _ in arrays]
        for part, array in zip(parts, arrays):
            part.append(array)
        order.append(rows.index.to_numpy())
    check_artefacts(provenance, expect_preprocess, fingerprints,
                    {(s.split("/", 1)[0], s): artefact_path(preprocessed_root, s) for s in table["subject"].unique()})
    # Back to table order (groupby collected the rows subject by subject).
    inverse = np.argsort(np.concatenate(order)) if order else np.zeros(0, np.int64)
    arrays = tuple(np.concatenate(part)[inverse] for part in parts) if order else ()
    encoding = flow_encoding_for(spec, encodings)
    arrays = _resized_once(arrays, spec, encoding)
    targets, mask = au_targets(table, aus)
    labels = torch.tensor(table["label"].to_numpy(np.int64))
    return ProtocolData(table, spec, arrays, labels, targets, mask, encoding)


def flow_encoding_for(spec: InputSpec, encodings: dict[str, list[str]]) -> str:
    """The one flow encoding a batch decodes, from {encoding: subjects}. A per-image min-max input
    reads any mix (min-max of a rescaled or negated u equals that of the stored or range-reversed
    one, so the ``pixels`` operations are exact for every encoding); a standardised input refuses a
    mix, whose channels would mean different things from one subject to the next."""
    if len(encodings) <= 1:
        return next(iter(encodings), "pixels")
    if spec.kind not in FLOW_KINDS or spec.per_image != "none":
        return "pixels"
    listed = "; ".join(f"{e}: {len(s)} subjects, e.g. {s[0]!r}" for e, s in sorted(encodings.items()))
    raise ValueError(f"input {spec.kind!r} is standardised over the fold, but the protocol's artefacts encode their "
                     f"flow differently ({listed}): a per-image min-max image and a flow in pixels cannot share "
                     f"one normalisation. Train this method on one kind of dataset, or give it a per-image input")


def _resized_once(arrays: tuple, spec: InputSpec, encoding: str = "pixels", chunk: int = 256) -> tuple:
    """Resize a flow to the spec's side once at load (as float16, the stored precision) rather than
    in every batch: the baselines read 28×28 and train hundreds of epochs. A mirror commutes with
    the (symmetric) resize, so the per-batch flip and per-image scaling stay exact."""
    if spec.kind not in ("flow", "flow_regions") or not spec.size or not arrays or arrays[0].shape[-1] == spec.size:
        return arrays
    full = InputSpec(spec.kind, size=spec.size)      # all three channels: the batch picks its own
    resized = np.concatenate([_flow(torch.from_numpy(arrays[0][i:i + chunk]), full, encoding=encoding).numpy().astype(np.float16)
                              for i in range(0, len(arrays[0]), chunk)])
    return (resized, *arrays[1:])


def split_indices(table: pd.DataFrame, fold: int, val_fraction: float = 0.0, seed: int = 0):
    """(train, val, test) row indices for held-out ``fold``.

    test = the fold's rows; val = a ``val_fraction`` share of the *training* subjects (whole
    subjects, chosen with ``seed``), never the held-out one; train = the rest. Raises LeakageError
    if a held-out subject would also appear in train or val (a subject split across folds), and,
    where folds hold out datasets (``fold_by`` dataset: lodo, holdout), a held-out dataset.
    """
    folds = table["fold"].to_numpy()
    scored = sorted(set(folds.tolist()) - {TRAIN_ONLY})
    if fold == TRAIN_ONLY or fold not in scored:
        raise ValueError(f"fold {fold} is not in the protocol table (folds {scored})")
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
    if "fold_by" in table and (table["fold_by"].to_numpy()[test] == "dataset").any():
        check_no_leakage(table, set(table["dataset"].to_numpy()[test].tolist()), rest, val, by="dataset")
    return rest, val, test


def check_no_leakage(table: pd.DataFrame, held_out: set, train, val, by: str = "subject") -> None:
    """No training or validation row may share ``by`` (subject, or dataset where folds hold out
    datasets) with the held-out rows."""
    rule = {"subject": "each subject must be in exactly one fold",
            "dataset": "a dataset held out by a fold must be in that fold only"}[by]
    for name, indices in (("training", train), ("validation", val)):
        leaked = table.iloc[np.asarray(indices, dtype=np.int64)]
        leaked = leaked[leaked[by].isin(held_out)]
        if not leaked.empty:
            row = leaked.iloc[0]
            raise LeakageError(f"leakage: held-out {by} {row[by]!r} (dataset {row.dataset!r}, subject "
                               f"{row.subject!r}, sample {row['sample']!r}, fold {row.fold}) would be in the "
                               f"{name} set; {rule}")


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


def hflip(x: torch.Tensor, input: str | InputSpec, encoding: str = "pixels") -> torch.Tensor:
    """Mirror the inputs left-right; flow's u mirrors too: negated about zero where zero is known
    (``pixels``, ``unit_max``), reversed about its range (255 − u) for per-image min-max images
    (``minmax_255``: 128 is not zero motion). Applied before any standardisation."""
    x = x.flip(-1)
    u = InputSpec.of(input).u_channel
    if u is not None:
        if encoding == "minmax_255":
            x[:, u] = 255.0 - x[:, u]
        else:
            x[:, u] *= -1
    return x


__all__ = ["INPUTS", "LeakageError", "ProtocolData", "Normalisation", "artefact_path",
           "au_targets", "load_protocol_data", "split_indices", "check_no_leakage", "hflip"]

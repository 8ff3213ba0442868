"""How sure a pooled score is: intervals by bootstrap over held-out units, and paired comparisons.

A table row's UF1 / UAR is pooled over every fold's predictions (famnet.metrics). Its interval
comes from resampling what a fold holds out — subjects under ``loso`` and in a holdout's test
dataset, datasets under ``lodo`` — with replacement, pooling the resampled units' predictions and
recomputing the metric over the protocol's fixed label set; the interval is the percentile
interval of those recomputed scores (``evaluation.bootstrap``: resamples, seed, level). With
fewer than ``min_units`` units the interval is not defined (too few distinct resamples).

Vectorised: each unit's confusion matrix is computed once per method and seed (U × C × C); a
resample is a vector of counts over the units (R × U), so all pooled confusions are one matrix
product (R × C × C) and UF1 / UAR follow in batch. The draws depend only on the seed and the
number of units, so every method of a protocol slice is scored on the same resampled units: a
difference between two methods is paired.

Retraining (two levels): with several seeds, each resample also draws the method's seeds with
replacement (as many as it has; its own draws per method, from a stream keyed on the method's
name), and its score is the mean over the drawn seeds of each seed's score on the resampled units:
the interval then covers the retraining variance as well as the subjects'. With fewer than
``min_seeds`` seeds the row says the retraining variance is not covered (famnet.tables), and a
comparison is never called distinguishable.

Small slices: a resample that lacks a class the slice has would score that class F1 0 and bias the
interval low, so such resamples are drawn again (from the same generator, after the first draws,
which stay scipy's); a slice where a class occurs in fewer than ``min_units`` units has no interval
(its note says which class), as one with fewer than ``min_units`` units.

Paired comparisons: the difference of two methods' scores on each resample gives its percentile
interval and a two-sided bootstrap p-value, 2 · min(P*(d ≤ 0), P*(d ≥ 0)) with the +1 correction
(the smallest level at which the percentile interval of the difference would exclude 0; at least
2 / (resamples + 1)). docs/evaluation.md says how to read them.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class BootstrapSettings:
    resamples: int = 2000
    seed: int = 0
    level: float = 0.95
    min_units: int = 5
    max_redraws: int = 100    # rounds of redrawing resamples that lack a class, before giving up

    @classmethod
    def from_dict(cls, values: dict | None) -> "BootstrapSettings":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values or {}) - names)
        if unknown:
            raise ValueError(f"evaluation.bootstrap: unknown keys {unknown} (known: {sorted(names)})")
        return cls(**(values or {}))

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def unit_of_split(split: str) -> str:
    """The resampled unit: the dataset under lodo (folds hold out datasets), else the subject."""
    return "dataset" if split == "lodo" else "subject"


def resample_indices(n_units: int, settings: BootstrapSettings, rng: np.random.Generator | None = None) -> np.ndarray:
    """R × U unit indices drawn with replacement; row r is resample r. The same call as
    scipy.stats.bootstrap makes (``rng.integers(0, n, (resamples, n))``), so its intervals can be
    checked against scipy's with the same generator (by default a new one from ``settings.seed``)."""
    rng = np.random.default_rng(settings.seed) if rng is None else rng
    return rng.integers(0, n_units, size=(settings.resamples, n_units))


def resample_counts(indices: np.ndarray, n_units: int) -> np.ndarray:
    """R × U: how often each unit is drawn in each resample."""
    resamples = indices.shape[0]
    flat = (indices + n_units * np.arange(resamples)[:, None]).ravel()
    return np.bincount(flat, minlength=resamples * n_units).reshape(resamples, n_units)


def unit_confusions(frame: pd.DataFrame, units: list, unit_column: str, num_classes: int) -> np.ndarray:
    """U × C × C confusion counts (rows true, columns predicted) of each unit, in ``units`` order."""
    codes = pd.Categorical(frame[unit_column], categories=units).codes
    if (codes < 0).any():
        raise ValueError(f"{unit_column} {frame[unit_column][codes < 0].iloc[0]!r} is not among the resampled units")
    matrices = np.zeros((len(units), num_classes, num_classes), dtype=np.int64)
    np.add.at(matrices, (codes, frame["label"].to_numpy(dtype=int), frame["prediction"].to_numpy(dtype=int)), 1)
    return matrices


def scores_of_confusions(matrices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(UF1, UAR) of each C × C matrix in a stack (…, C, C): famnet.metrics' rules in batch
    (fixed label set; an undefined precision, recall or F1 is 0 and still averaged in)."""
    matrices = matrices.astype(float)
    true_positive = np.diagonal(matrices, axis1=-2, axis2=-1)
    predicted, actual = matrices.sum(axis=-2), matrices.sum(axis=-1)
    zeros = np.zeros_like(true_positive)
    precision = np.divide(true_positive, predicted, out=zeros.copy(), where=predicted > 0)
    recall = np.divide(true_positive, actual, out=zeros.copy(), where=actual > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=zeros.copy(), where=denominator > 0)
    return f1.mean(axis=-1), recall.mean(axis=-1)


def seed_draws(n_seeds: int, settings: BootstrapSettings, key: str) -> np.ndarray | None:
    """R × S seed indices drawn with replacement (the retraining level), from a stream of its own
    per ``key`` (the method's variant name): a method's draws are the same in every slice, and two
    methods of a paired comparison draw their seeds independently. None for one seed."""
    if n_seeds < 2:
        return None
    rng = np.random.default_rng([settings.seed, zlib.crc32(key.encode())])
    return rng.integers(0, n_seeds, size=(settings.resamples, n_seeds))


def seed_scores(per_seed: list[np.ndarray], counts: np.ndarray) -> dict[str, np.ndarray]:
    """{"uf1", "uar"}: S × R, each seed's score on each resample's units. ``per_seed`` = one
    U × C × C stack per seed, all over the same units."""
    uf1, uar = [], []
    for matrices in per_seed:
        pooled = np.tensordot(counts, matrices, axes=(1, 0))          # R × C × C
        seed_uf1, seed_uar = scores_of_confusions(pooled)
        uf1.append(seed_uf1)
        uar.append(seed_uar)
    return {"uf1": np.array(uf1), "uar": np.array(uar)}


def resampled_scores(per_seed: list[np.ndarray], counts: np.ndarray,
                     draws: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """{"uf1", "uar"}: R scores each, the mean over seeds of each seed's score on the resampled
    units; with ``draws`` (R × S, famnet.bootstrap.seed_draws) the mean over the drawn seeds."""
    scores = seed_scores(per_seed, counts)
    if draws is None:
        return {metric: values.mean(axis=0) for metric, values in scores.items()}
    columns = np.arange(counts.shape[0])[:, None]
    return {metric: values[draws, columns].mean(axis=1) for metric, values in scores.items()}


def percentile_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """The central ``level`` percentile interval (linear interpolation, as np.quantile / scipy)."""
    tail = (1 - level) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)


def paired_p_value(differences: np.ndarray) -> float:
    """Two-sided bootstrap p-value of a paired difference: 2 · min of the shares of resamples on
    either side of 0 (each counting 0), +1 corrected, at most 1. Identical methods give 1."""
    resamples = len(differences)
    below = (1 + np.count_nonzero(differences <= 0)) / (resamples + 1)
    above = (1 + np.count_nonzero(differences >= 0)) / (resamples + 1)
    return float(min(1.0, 2 * min(below, above)))


def redraw_missing_classes(indices: np.ndarray, presence: np.ndarray, settings: BootstrapSettings,
                           rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Draw again, from ``rng``, every resample (row of ``indices``) whose units hold no sample of a
    class that the slice has (``presence``: U × C, the units' classes); (indices, rows redrawn)."""
    needed = presence.any(axis=0)
    redrawn = 0
    for _ in range(settings.max_redraws):
        lacking = np.flatnonzero((presence[indices].any(axis=1) < needed).any(axis=1))
        if not len(lacking):
            return indices, redrawn
        indices[lacking] = rng.integers(0, indices.shape[1], size=(len(lacking), indices.shape[1]))
        redrawn += len(lacking)
    raise ValueError(f"bootstrap: resamples still lack a class after {settings.max_redraws} rounds of redrawing")


class SliceResamples:
    """The resampled units of one protocol slice, shared by every method scored on it.

    ``presence`` (U × C booleans, optional): which classes each unit holds, by its true labels;
    ``classes`` their names. With it, a class held by fewer than ``min_units`` units leaves the
    slice without an interval, and a resample that lacks a class of the slice is drawn again."""

    def __init__(self, units: list, unit_column: str, settings: BootstrapSettings,
                 presence: np.ndarray | None = None, classes: list[str] | None = None):
        self.units, self.unit_column, self.settings = list(units), unit_column, settings
        self.rare = {}
        if presence is not None:
            holding = presence.sum(axis=0)
            names = classes or [str(c) for c in range(presence.shape[1])]
            self.rare = {names[c]: int(n) for c, n in enumerate(holding) if 0 < n < settings.min_units}
        self.defined = len(self.units) >= settings.min_units and not self.rare
        self.indices, self.counts, self.redrawn = None, None, 0
        if self.defined:
            rng = np.random.default_rng(settings.seed)
            self.indices = resample_indices(len(self.units), settings, rng)
            if presence is not None:
                self.indices, self.redrawn = redraw_missing_classes(self.indices, presence, settings, rng)
            self.counts = resample_counts(self.indices, len(self.units))

    def note(self) -> str:
        """What was resampled, or why no interval is given."""
        plural = f"{len(self.units)} {self.unit_column}{'s' if len(self.units) != 1 else ''}"
        if len(self.units) < self.settings.min_units:
            return f"not defined: {plural} < {self.settings.min_units}"
        if self.rare:
            held = ", ".join(f"class {name!r} in {n} {self.unit_column}{'s' if n != 1 else ''}"
                             for name, n in self.rare.items())
            return f"not defined: {held} < {self.settings.min_units}"
        redrawn = f" ({self.redrawn} resamples lacking a class drawn again)" if self.redrawn else ""
        return f"{plural} resampled{redrawn}"

    def scores(self, pooled_by_seed: list[pd.DataFrame], num_classes: int,
               key: str | None = None) -> dict[str, np.ndarray] | None:
        """R (UF1, UAR) of one method: each resample's mean over its seeds, or, with ``key`` (the
        method's name) and two or more seeds, over the seeds drawn for it (two levels). None where
        the interval is not defined."""
        if not self.defined:
            return None
        draws = seed_draws(len(pooled_by_seed), self.settings, key) if key is not None else None
        return resampled_scores([unit_confusions(frame, self.units, self.unit_column, num_classes)
                                 for frame in pooled_by_seed], self.counts, draws)

    def interval_columns(self, scores: dict[str, np.ndarray] | None) -> dict:
        """uf1_ci_low, uf1_ci_high, uar_ci_low, uar_ci_high (None where not defined) and ci_note."""
        row = {"ci_note": self.note()}
        for metric in ("uf1", "uar"):
            low, high = percentile_interval(scores[metric], self.settings.level) if scores else (None, None)
            row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = low, high
        return row


NOT_COVERED = "not covered: "


def retraining_note(seeds: int, min_seeds: int) -> str:
    """Whether an interval covers retraining: 'covered: 3 seeds resampled' or 'not covered: 1 seed'."""
    if seeds >= min_seeds:
        return f"covered: {seeds} seeds resampled"
    return f"{NOT_COVERED}{seeds} seed{'s' if seeds != 1 else ''}" + (f" < {min_seeds}" if seeds > 1 else "")


def covers_retraining(note) -> bool:
    return str(note).startswith("covered")


def why_not_covered(note: str) -> str:
    """'not covered: 1 seed' -> '1 seed'."""
    return note[len(NOT_COVERED):] if note.startswith(NOT_COVERED) else note


def compare(method: dict[str, np.ndarray], reference: dict[str, np.ndarray], point_method: dict,
            point_reference: dict, level: float) -> dict:
    """Paired difference method − reference per metric: point value (from the table's scores),
    percentile interval and p-value over the shared resamples."""
    row = {}
    for metric in ("uf1", "uar"):
        differences = method[metric] - reference[metric]
        low, high = percentile_interval(differences, level)
        row.update({f"{metric}_diff": point_method[metric] - point_reference[metric], f"{metric}_diff_ci_low": low,
                    f"{metric}_diff_ci_high": high, f"{metric}_p": paired_p_value(differences)})
    return row


__all__ = ["BootstrapSettings", "unit_of_split", "resample_indices", "resample_counts", "unit_confusions",
           "scores_of_confusions", "seed_draws", "seed_scores", "resampled_scores", "percentile_interval",
           "paired_p_value", "redraw_missing_classes", "SliceResamples", "retraining_note", "covers_retraining",
           "why_not_covered", "compare"]

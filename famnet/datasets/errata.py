"""Known errors of the official releases, shipped as data (famnet/errata/<format>.csv) and applied
by the adapters, each one recorded (docs/annotations.md lists them with their reasons).

One CSV row per erratum: ``erratum`` (its id), the row it names (``subject`` as the adapter spells
it, ``filename``, and ``onset`` as released where one subject + filename holds several samples),
``release_says`` (``apex=83; offset=358``: what the release's row holds, checked against the
user's sheet), ``action`` and ``value``, ``source`` and ``reason``. Actions:

- ``set``: replace frame numbers (``value`` = ``onset=2647`` or ``onset=1; apex=1``); a set apex
  has ``apex_source = fixed``;
- ``estimate_apex``: the annotated apex is treated as unknown and estimated in preprocessing;
- ``drop``: the sample is left out of the manifest (the owners say remove it);
- ``clamp_offset``: for every row (``subject`` and ``filename`` are ``*``) whose offset's frame is
  missing although the clip is complete up to its last frame: the offset becomes that frame.

An erratum whose row is missing from the user's sheet, or whose ``release_says`` differs from it,
is an error naming the erratum and what differs (another release of the sheet): never ignored.
``errata: none`` in a dataset's config turns them off; ``errata: <path>`` reads another file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from famnet.datasets.base import DatasetError, clamp_offset_to_last_frame

ERRATA_DIR = Path(__file__).resolve().parent.parent / "errata"
COLUMNS = ["erratum", "subject", "filename", "onset", "release_says", "action", "value", "source", "reason"]
ACTIONS = ("set", "estimate_apex", "drop", "clamp_offset")
FRAME_KEYS = ("onset", "apex", "offset")
WILDCARD = "*"
ERRATA_LOG_COLUMNS = ["dataset", "erratum", "subject", "sample", "emotion", "action", "detail", "source"]


def _frame(text: str) -> int | None:
    text = text.strip()
    return None if text in ("", "/", "-") else int(text)


def parse_pairs(text: str, where: str) -> dict:
    """'apex=83; emotion=fear' -> {'apex': 83, 'emotion': 'fear'} (frame keys as integers or None)."""
    pairs = {}
    for part in filter(None, (p.strip() for p in str(text).split(";"))):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in (*FRAME_KEYS, "emotion"):
            raise ValueError(f"{where}: cannot read {part!r} (expected key=value with key in "
                             f"{[*FRAME_KEYS, 'emotion']})")
        pairs[key] = _frame(value) if key in FRAME_KEYS else value.strip().lower()
    return pairs


@dataclass(frozen=True)
class Erratum:
    id: str
    subject: str
    filename: str
    onset: int | None
    release_says: dict
    action: str
    value: dict
    source: str
    reason: str

    @property
    def wildcard(self) -> bool:
        return self.subject == WILDCARD

    def corrected(self, frames: dict) -> dict:
        """The row's onset / apex / offset after this erratum."""
        if self.action == "set":
            return {**frames, **self.value}
        if self.action == "estimate_apex":
            return {**frames, "apex": None}
        return frames

    def note(self, before: dict) -> str:
        """What the manifest's ``fixes`` says, e.g. 'casme3-149d: apex 83 -> estimated'."""
        if self.action == "set":
            changes = ", ".join(f"{k} {before[k]} -> {v}" for k, v in self.value.items())
        elif self.action == "estimate_apex":
            changes = f"apex {before['apex']} -> estimated"
        else:
            changes = self.action
        return f"{self.id}: {changes}"


def read_errata(path, where: str) -> list[Erratum]:
    """The errata of one CSV file, checked: known actions, readable values, unique ids."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False, comment=None)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{where}: errata file {path} lacks columns {missing}")
    entries = []
    for record in table.to_dict("records"):
        label = f"{where}: erratum {record['erratum']!r} in {path}"
        if record["action"] not in ACTIONS:
            raise ValueError(f"{label}: action {record['action']!r} not in {ACTIONS}")
        value = parse_pairs(record["value"], label) if record["action"] == "set" else {}
        if record["action"] == "set" and not value:
            raise ValueError(f"{label}: action set needs a value such as 'onset=12'")
        if (record["subject"] == WILDCARD) != (record["action"] == "clamp_offset"):
            raise ValueError(f"{label}: only clamp_offset applies to every row (subject '*'), and it only does")
        entries.append(Erratum(
            id=record["erratum"], subject=record["subject"].strip(), filename=record["filename"].strip(),
            onset=_frame(record["onset"]), release_says=parse_pairs(record["release_says"], label),
            action=record["action"], value=value, source=record["source"], reason=record["reason"]))
    ids = [e.id for e in entries]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise ValueError(f"{where}: errata ids {duplicated} appear more than once in {path}")
    return entries


class Errata:
    """The errata of one dataset while its sheet is read: lookup, checks, and what was applied."""

    def __init__(self, dataset: str, entries: list[Erratum], origin: str):
        self.dataset, self.origin = dataset, origin
        self.by_row = {(e.subject, e.filename, e.onset): e for e in entries if not e.wildcard}
        self.every_row = [e for e in entries if e.wildcard]
        self.used: set[str] = set()
        self.applied: list[dict] = []   # one entry per application, drops included

    @classmethod
    def none(cls, dataset: str) -> "Errata":
        return cls(dataset, [], "none")

    @classmethod
    def load(cls, dataset: str, format: str, source="builtin") -> "Errata":
        """``source``: 'builtin' (famnet/errata/<format>.csv, if the format has one), 'none' or a path."""
        if source in (None, "none"):
            return cls.none(dataset)
        path = ERRATA_DIR / f"{format}.csv" if source == "builtin" else Path(source)
        if source == "builtin" and not path.is_file():
            return cls.none(dataset)
        if not path.is_file():
            raise DatasetError(dataset, f"errata file {path} does not exist")
        try:
            entries = read_errata(path, f"dataset {dataset!r}")
        except ValueError as exc:
            raise DatasetError(dataset, str(exc).removeprefix(f"dataset {dataset!r}: ")) from None
        return cls(dataset, entries, f"built-in {path.name}" if source == "builtin" else str(path))

    def match(self, subject: str, filename: str, onset: int, values: dict, sample: str) -> Erratum | None:
        """The erratum naming this sheet row (None if none), after checking ``release_says``."""
        erratum = self.by_row.get((subject, filename, onset)) or self.by_row.get((subject, filename, None))
        if erratum is None:
            return None
        self.used.add(erratum.id)
        differs = {k: (values.get(k), v) for k, v in erratum.release_says.items() if values.get(k) != v}
        if differs:
            said = "; ".join(f"the sheet has {k}={got}, the erratum expects {k}={want}"
                             for k, (got, want) in differs.items())
            raise DatasetError(self.dataset, f"erratum {erratum.id} ({self.origin}) does not fit this sheet: {said}. "
                                             f"Another release of the sheet? Check the row, then correct or "
                                             f"remove the erratum (errata: <your file> or none in the dataset's "
                                             f"config)", subject, sample)
        if erratum.action == "drop":
            self._record(erratum, subject, sample, values["emotion"], "dropped")
        return erratum

    def finish(self, row: dict, erratum: Erratum | None) -> dict:
        """Record ``erratum`` (already applied to the frames) in the row, then the every-row errata."""
        notes = []
        if erratum is not None:
            before = {"onset": erratum.onset, **erratum.release_says}
            notes.append(erratum.note(before))
            if erratum.action == "estimate_apex":
                row["apex_source"] = "estimated"
            elif "apex" in erratum.value:
                row["apex_source"] = "fixed"
            self._record(erratum, row["subject"], row["sample"], row["emotion"], notes[-1])
        for every in self.every_row:
            note = clamp_offset_to_last_frame(row)
            if note:
                notes.append(f"{every.id}: {note}")
                self._record(every, row["subject"], row["sample"], row["emotion"], notes[-1])
        if notes:
            row["fixes"] = "; ".join(f for f in (row["fixes"], *notes) if f)
        return row

    def unmatched(self) -> list[DatasetError]:
        """An error for each row-specific erratum whose row the sheet does not have."""
        return [DatasetError(self.dataset, f"erratum {e.id} ({self.origin}) names a row the sheet does not have "
                                           f"(filename {e.filename!r}" + (f", onset {e.onset}" if e.onset is not None
                                                                         else "") +
                             "): another release of the sheet? Correct or remove the erratum", e.subject)
                for e in self.by_row.values() if e.id not in self.used]

    def _record(self, erratum: Erratum, subject: str, sample: str, emotion: str, detail: str) -> None:
        local = subject.split("/", 1)[1] if subject.startswith(f"{self.dataset}/") else subject
        self.applied.append({"dataset": self.dataset, "erratum": erratum.id, "subject": f"{self.dataset}/{local}",
                             "sample": sample, "emotion": emotion, "action": erratum.action, "detail": detail,
                             "source": erratum.source})


def errata_log_path(manifest_path) -> Path:
    """results/manifest/<dataset>.csv -> results/manifest/<dataset>.errata.csv (what was applied)."""
    path = Path(manifest_path)
    return path.with_name(f"{path.stem}.errata.csv")


def read_errata_log(path) -> list[dict]:
    """The errata a manifest stage applied; [] when the file is absent (a manifest written by hand)."""
    path = Path(path)
    if not path.is_file():
        return []
    return pd.read_csv(path, dtype=str, keep_default_na=False).to_dict("records")

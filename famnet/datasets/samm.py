"""SAMM: ``<root>/<NNN>/<Filename>/<NNN>_<frame, 5 or 4 digits>.jpg`` and the FACS code sheet
(sheet ``MICRO_ONLY``; 13 note rows above the header, which is found by its first cell)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from famnet.datasets.base import read_sheet, rows_from_sheet, sheet_aus, subject_digits

COLUMNS = {"filename": "Filename", "onset": "Onset Frame", "apex": "Apex Frame", "offset": "Offset Frame",
           "aus": "Action Units", "emotion": "Estimated Emotion"}


def _locate(root, subject, filename, cell):
    return Path(root) / subject / filename, [f"{subject}_{{:05d}}.jpg", f"{subject}_{{:04d}}.jpg"]


def _sheet(dataset: str, annotation, columns) -> pd.DataFrame:
    return read_sheet(annotation, dataset, ["Subject", *columns], sheet_name="MICRO_ONLY", header_first_cell="Subject")


def _subject_of(dataset: str):
    return lambda cell: subject_digits(cell["Subject"], dataset, width=3)


def load(dataset: str, root, annotation, errata=None, problems=None):
    return rows_from_sheet(
        dataset, _sheet(dataset, annotation, COLUMNS.values()), COLUMNS, subject_of=_subject_of(dataset),
        locate=lambda subject, filename, cell: _locate(root, subject, filename, cell),
        errata=errata, problems=problems,
    )


def au_table(dataset: str, annotation, problems=None) -> dict[tuple[str, str], str]:
    """{(subject 'NNN', Filename): AUs} of the FACS code sheet (the AU join of composite releases)."""
    sheet = _sheet(dataset, annotation, [COLUMNS["filename"], COLUMNS["aus"]])
    return sheet_aus(dataset, sheet, COLUMNS, _subject_of(dataset), problems)

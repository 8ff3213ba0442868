"""CASME II: ``<root>/subNN/<Filename>/img<N>.jpg`` (or the cropped release's ``reg_img<N>.jpg``)
and the coding sheet (first sheet, header on row 1, two blank columns)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from famnet.datasets.base import read_sheet, rows_from_sheet, sheet_aus, subject_digits

COLUMNS = {"filename": "Filename", "onset": "OnsetFrame", "apex": "ApexFrame", "offset": "OffsetFrame",
           "aus": "Action Units", "emotion": "Estimated Emotion"}
PATTERNS = ["img{}.jpg", "reg_img{}.jpg"]


def _sheet(dataset: str, annotation, columns) -> pd.DataFrame:
    return read_sheet(annotation, dataset, ["Subject", *columns], sheet_name=0, header_row=0)


def _subject_of(dataset: str):
    return lambda cell: "sub" + subject_digits(cell["Subject"], dataset, width=2)


def load(dataset: str, root, annotation, errata=None, problems=None):
    return rows_from_sheet(
        dataset, _sheet(dataset, annotation, COLUMNS.values()), COLUMNS, subject_of=_subject_of(dataset),
        locate=lambda subject, filename, cell: (Path(root) / subject / filename, PATTERNS),
        errata=errata, problems=problems,
    )


def au_table(dataset: str, annotation, problems=None) -> dict[tuple[str, str], str]:
    """{(subject 'subNN', Filename): AUs} of the coding sheet (the AU join of composite releases)."""
    sheet = _sheet(dataset, annotation, [COLUMNS["filename"], COLUMNS["aus"]])
    return sheet_aus(dataset, sheet, COLUMNS, _subject_of(dataset), problems)

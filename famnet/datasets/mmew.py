"""MMEW: ``<root>/<emotion>/<Filename>/<N>.jpg`` (root = the ``Micro_Expression`` folder) and the
sheet ``MMEW_Micro_Exp.xlsx`` (first sheet; Subject an integer 1-30, OnsetFrame always 1)."""

from __future__ import annotations

from pathlib import Path

from famnet.datasets.base import read_sheet, rows_from_sheet, subject_digits

COLUMNS = {"filename": "Filename", "onset": "OnsetFrame", "apex": "ApexFrame", "offset": "OffsetFrame",
           "aus": "Action Units", "emotion": "Estimated Emotion"}


def load(dataset: str, root, annotation, errata=None, problems=None):
    sheet = read_sheet(annotation, dataset, ["Subject", *COLUMNS.values()], sheet_name=0, header_row=0)
    return rows_from_sheet(
        dataset, sheet, COLUMNS,
        subject_of=lambda cell: "S" + subject_digits(cell["Subject"], dataset, width=2),
        locate=lambda subject, filename, cell: (
            Path(root) / str(cell["Estimated Emotion"]).strip().lower() / filename, ["{}.jpg"]),
        errata=errata, problems=problems,
    )

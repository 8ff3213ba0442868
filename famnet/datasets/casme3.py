"""CAS(ME)^3 part A: ``<root>/spNO.<n>/<material>/color/<N>.jpg`` (root = ``part_A``) and the ME
sheet ``cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx`` (sheet ``label``). One subject + material
holds several MEs, so the sample id is ``<material>_<onset>``."""

from __future__ import annotations

import re
from pathlib import Path

from famnet.datasets.base import DatasetError, read_sheet, rows_from_sheet

COLUMNS = {"filename": "Filename", "onset": "Onset", "apex": "Apex", "offset": "Offset",
           "aus": "AU", "emotion": "emotion"}


def _subject(dataset: str, value) -> str:
    text = str(value).strip()
    if not re.fullmatch(r"spNO\.\d+", text):
        raise DatasetError(dataset, f"subject {value!r} is not of the form spNO.<n>")
    return text


def load(dataset: str, root, annotation, errata=None, problems=None):
    sheet = read_sheet(annotation, dataset, ["Subject", *COLUMNS.values()], sheet_name="label", header_row=0)
    return rows_from_sheet(
        dataset, sheet, COLUMNS,
        subject_of=lambda cell: _subject(dataset, cell["Subject"]),
        locate=lambda subject, filename, cell: (Path(root) / subject / filename / "color", ["{}.jpg"]),
        sample_of=lambda filename, onset: f"{filename}_{onset}",
        errata=errata, problems=problems,
    )

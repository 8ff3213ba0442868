"""Write synthetic samples in each dataset's distributed layout and annotation sheet.

Paths and sheet quirks follow the real releases (docs/datasets.md, docs/annotations.md), so the real
adapters read the synthetic data unchanged.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from famnet.datasets.synthetic.plan import SampleSpec

# (frames root, annotation sheet) of each layout, relative to the generator's output folder.
LAYOUT_PATHS = {
    "casme2": ("CASME2/CASME2_RAW_selected", "CASME2/CASME2-coding-20140508.xlsx"),
    "samm": ("SAMM/SAMM", "SAMM/SAMM_Micro_FACS_Codes_v2.xlsx"),
    "smic": ("SMIC/HS", None),
    "mmew": ("MMEW/Micro_Expression", "MMEW/MMEW_Micro_Exp.xlsx"),
    "casme3": ("CASME3/part_A", "CASME3/cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx"),
}

SAMM_NOTES = [
    "SAMM Dataset - Master FACS Codes (synthetic stand-in written by famnet)", None,
    "Emotional and Objective Classes as in the 2017 update", None, None, "Symbol Key:", '"/" = or',
    '"?" = some AU\'s continue for a while and have unclear offset', None, "AU Help:",
    '"L2 or R2" = Unilateral AU 2 on left side of face / right side of face',
    '"A2" = Asymmetric AU 2. Occurs on both sides of face but stronger on one side', None,
]
SAMM_COLUMNS = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
                "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"]
SAMM_OBJECTIVE = {"anger": 1, "contempt": 2, "happiness": 3, "surprise": 4, "fear": 5, "sadness": 6,
                  "disgust": 7, "other": 7}


def frame_path(spec: SampleSpec, root: Path, number: int) -> Path:
    """Where frame `number` of a sample lives in its layout."""
    if spec.format == "casme2":
        return root / spec.subject / spec.sample / f"img{number}.jpg"
    if spec.format == "samm":
        return root / spec.subject / spec.sample / f"{spec.subject}_{number:05d}.jpg"
    if spec.format == "smic":
        return root / spec.subject / "micro" / spec.emotion / spec.sample / f"image{number:06d}.jpg"
    if spec.format == "mmew":
        return root / spec.emotion / spec.sample / f"{number}.jpg"
    return root / spec.subject / spec.sample / "color" / f"{number}.jpg"


def au_code(spec: SampleSpec, mirrored: bool) -> str:
    """The sheet's AU string for what was drawn. Sides are the subject's own: a mirrored subject's
    drawn right side is their left. SAMM writes intensity letters."""
    swap = {"L": "R", "R": "L", "": ""}
    codes = []
    for event in spec.events:
        side = swap[event.side] if mirrored else event.side
        codes.append(f"{side}{event.au}{event.intensity if spec.format == 'samm' else ''}")
    return "+".join(codes)


def write_sheet(fmt: str, specs: list[SampleSpec], mirrored: dict[int, bool], out_dir: Path) -> None:
    relative = LAYOUT_PATHS[fmt][1]
    if relative is None:
        return
    path = out_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [_sheet_row(fmt, spec, au_code(spec, mirrored[spec.subject_index])) for spec in specs]
    if fmt == "samm":
        # 13 note rows, then the header on row 14, as in the release.
        body = [[note] + [None] * (len(SAMM_COLUMNS) - 1) for note in SAMM_NOTES]
        body += [SAMM_COLUMNS] + [[row[c] for c in SAMM_COLUMNS] for row in rows]
        pd.DataFrame(body).to_excel(path, sheet_name="MICRO_ONLY", header=False, index=False)
        return
    if fmt == "casme2":
        # Two unnamed blank columns, as in the 2014 release.
        header = ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units",
                  "Estimated Emotion"]
        body = [header] + [[row.get(c) if c else None for c in header] for row in rows]
        pd.DataFrame(body).to_excel(path, sheet_name="Sheet1", header=False, index=False)
        return
    sheet_name = "label" if fmt == "casme3" else "Sheet1"
    pd.DataFrame(rows).to_excel(path, sheet_name=sheet_name, index=False)


def _sheet_row(fmt: str, spec: SampleSpec, aus: str) -> dict:
    if fmt == "casme2":
        return {"Subject": spec.subject[3:], "Filename": spec.sample, "OnsetFrame": spec.onset,
                "ApexFrame": "/" if spec.apex_unknown else spec.apex, "OffsetFrame": spec.offset,
                "Action Units": aus, "Estimated Emotion": spec.emotion}
    if fmt == "samm":
        return {"Subject": spec.subject, "Filename": spec.sample, "Inducement Code": int(spec.sample.split("_")[1]),
                "Onset Frame": spec.onset, "Apex Frame": spec.apex, "Offset Frame": spec.offset,
                "Duration": spec.n_frames, "Micro": 1, "Action Units": aus, "Estimated Emotion": spec.emotion,
                "Objective Classes": SAMM_OBJECTIVE[spec.emotion.lower()], "Notes": None}
    if fmt == "mmew":
        return {"Subject": int(spec.subject), "Filename": spec.sample, "OnsetFrame": spec.onset,
                "ApexFrame": spec.apex, "OffsetFrame": spec.offset, "Action Units": aus,
                "Estimated Emotion": spec.emotion, "remarks": None}
    return {"Subject": spec.subject, "Filename": spec.sample, "Onset": spec.onset, "Apex": spec.apex,
            "Offset": spec.offset, "AU": aus, "Objective class": None, "emotion": spec.emotion}

"""Blank frame folders laid out exactly as the real annotation sheets say (zero-byte .jpg files),
and the config that points the workflow at them.

The real sheets are public copies kept outside the project (../shared/reference, see
tests/test_reference_sheets.py); the frames are licensed and never available, so the adapters'
folder and file naming is checked against empty files. Each sample's folder holds every frame
from PAD frames before its smallest frame number to its largest (the sheets' own numbers, typos
included), so a row an erratum corrects still finds its frames; frame numbers start at 1, as in
the releases (CAS(ME)^3 has no 0.jpg).

    python tests/reference_layout.py SHEETS_DIR OUT_DIR   # writes OUT_DIR/frames and OUT_DIR/datasets.yaml
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SHEETS = REPO.parent / "shared" / "reference"
PAD = 30
SHEETS = {
    "casme2": "CASME2-coding-20140508.xlsx",
    "samm": "SAMM_Micro_FACS_Codes_v2.xlsx",
    "smic": "SMIC_HS_cropped.csv",
    "mmew": "MMEW_Micro_Exp.csv",
    "casme3": "casme3/cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx",
}
ROOTS = {"casme2": "CASME2/CASME2_RAW_selected", "samm": "SAMM/SAMM", "smic": "SMIC/HS",
         "mmew": "MMEW/Micro_Expression", "casme3": "CASME3/part_A"}


def _frames(*numbers) -> range:
    values = [int(float(n)) for n in numbers if str(n).strip() not in ("", "/", "-", "nan")]
    return range(max(min(values) - PAD, 1), max(values) + 1)   # the releases number frames from 1


def _touch(folder: Path, names) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for name in names:
        (folder / name).touch()
        count += 1
    return count


def _rows(sheets: Path, fmt: str) -> list[dict]:
    path = sheets / SHEETS[fmt]
    if fmt == "samm":
        raw = pd.read_excel(path, sheet_name="MICRO_ONLY", header=None, dtype=object)
        header = int(raw.index[raw.iloc[:, 0].astype(str).str.strip() == "Subject"][0])
        table = pd.read_excel(path, sheet_name="MICRO_ONLY", header=header, dtype=object)
    elif path.suffix == ".csv":
        table = pd.read_csv(path, dtype=object)
    else:
        table = pd.read_excel(path, sheet_name="label" if fmt == "casme3" else 0, dtype=object)
    return table.dropna(how="all").to_dict("records")


def lay_out(sheets: Path, out: Path, formats=tuple(SHEETS)) -> dict[str, int]:
    """Zero-byte frames for every sample of the given formats under ``out``; files written per format."""
    written = {}
    for fmt in formats:
        root, count = out / ROOTS[fmt], 0
        for r in _rows(sheets, fmt):
            if fmt == "casme2":
                folder = root / f"sub{int(float(r['Subject'])):02d}" / str(r["Filename"]).strip()
                names = (f"img{n}.jpg" for n in _frames(r["OnsetFrame"], r["ApexFrame"], r["OffsetFrame"]))
            elif fmt == "samm":
                subject = f"{int(float(r['Subject'])):03d}"
                folder = root / subject / str(r["Filename"]).strip()
                names = (f"{subject}_{n:05d}.jpg" for n in _frames(r["Onset Frame"], r["Apex Frame"], r["Offset Frame"]))
            elif fmt == "smic":
                # SMIC-HS: s<n>/micro/<emotion>/s<n>_<ne|po|sur>_<k>/image<6 digits>.jpg; no apex.
                name = str(r["Filename"]).strip()
                emotion = {"ne": "negative", "po": "positive", "sur": "surprise"}[re.match(r"s\d+_([a-z]+)_", name)[1]]
                folder = root / f"s{int(float(r['Subject']))}" / "micro" / emotion / name
                names = (f"image{n:06d}.jpg" for n in range(int(r["OnsetFrame"]), int(r["OffsetFrame"]) + 1))
            elif fmt == "mmew":
                folder = root / str(r["Estimated Emotion"]).strip().lower() / str(r["Filename"]).strip()
                names = (f"{n}.jpg" for n in _frames(r["OnsetFrame"], r["ApexFrame"], r["OffsetFrame"]))
            else:
                folder = root / str(r["Subject"]).strip() / str(r["Filename"]).strip() / "color"
                names = (f"{n}.jpg" for n in _frames(r["Onset"], r["Apex"], r["Offset"]))
            count += _touch(folder, names)
        written[fmt] = count
    return written


def datasets_config(sheets: Path, out: Path) -> dict:
    """The ``datasets`` section naming the real formats by their own names (casme2, samm, ...)."""
    return {"datasets": {fmt: {"format": fmt, "root": str(out / ROOTS[fmt]),
                               "annotation": None if fmt == "smic" else str(sheets / SHEETS[fmt])}
                         for fmt in SHEETS}}


if __name__ == "__main__":
    sheets_dir, out_dir = (Path(a).resolve() for a in sys.argv[1:3])
    print(lay_out(sheets_dir, out_dir / "frames"))
    (out_dir / "datasets.yaml").write_text(yaml.safe_dump(datasets_config(sheets_dir, out_dir / "frames"),
                                                          sort_keys=False))
    print(f"config overlay: {out_dir / 'datasets.yaml'}")

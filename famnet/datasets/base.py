"""The manifest schema every dataset adapter produces, and the checks they share.

One row per micro-expression sample. ``frames_dir`` / ``frame_pattern`` locate frame number ``n``
as ``Path(frames_dir) / frame_pattern.format(n)``. ``apex`` is empty where the dataset gives none
(SMIC, CASME II's "/"): ``apex_source`` is then ``estimated`` and preprocessing estimates it.
``aus`` is empty where the AUs are unknown (SMIC, "?"); such samples are masked out of the AU task.
``fixes`` names any documented annotation fix applied to the row (docs/annotations.md).
``source`` is the dataset the recording comes from: the dataset itself, or for a composite release
(format ``megc2019_public``) casme2 / samm / smic; protocols slice and split by it. ``flow_file`` and
``apex_file`` locate a release's precomputed images (relative to ``frames_dir``, its root); empty
for the video formats, whose onset / apex / offset are then empty instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from famnet.aus import AUParseError, normalise_aus
from famnet.datasets.formats import FORMATS, frame_rates

MANIFEST_COLUMNS = [
    "dataset", "subject", "sample", "frames_dir", "frame_pattern", "onset", "apex", "offset",
    "n_frames", "emotion", "aus", "apex_source", "fixes", "source", "flow_file", "apex_file",
]
APEX_SOURCES = ("annotated", "fixed", "estimated", "release")   # release: the precomputed crop's own apex
# Recording frame rates of the video releases (docs/datasets.md); a dataset's config `fps` overrides.
FRAME_RATES = frame_rates()
GREYSCALE_FORMATS = tuple(name for name, f in FORMATS.items() if f.greyscale)   # single-channel JPEG frames


class DatasetError(ValueError):
    """Bad dataset input; the message names the dataset, subject and sample where they are known.
    The subject is the dataset's own id (``sub01``), also when given namespaced (``casme2/sub01``)."""

    def __init__(self, dataset: str, message: str, subject: str | None = None, sample: str | None = None):
        if subject is not None and subject.startswith(f"{dataset}/"):
            subject = subject[len(dataset) + 1:]
        where = f"dataset {dataset!r}"
        if subject is not None:
            where += f", subject {subject!r}"
        if sample is not None:
            where += f", sample {sample!r}"
        super().__init__(f"{where}: {message}")
        self.dataset, self.subject, self.sample = dataset, subject, sample


class Problems:
    """Every problem of one dataset's rows, raised together: a user fixes them in one pass.

    One problem is raised as it is; several as one DatasetError listing the first ``shown`` in
    full (each naming subject and sample) and counting the rest.
    """

    def __init__(self, dataset: str, shown: int = 20):
        self.dataset, self.shown = dataset, shown
        self.errors: list[DatasetError] = []

    def add(self, error: DatasetError) -> None:
        self.errors.append(error)

    def raise_if_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            lines = [re.sub(rf"^dataset {re.escape(repr(self.dataset))}(: |, )", "", str(e)) for e in self.errors]
            more = len(lines) - self.shown
            listed = "\n  ".join(lines[:self.shown]) + (f"\n  ... and {more} more" if more > 0 else "")
            raise DatasetError(self.dataset, f"{len(lines)} problems (fix them all, then rerun):\n  {listed}")


def read_sheet(path, dataset: str, required: list[str], sheet_name=0, header_row: int | None = 0,
               header_first_cell: str | None = None) -> pd.DataFrame:
    """Read an annotation sheet (.xlsx, or a .csv export of it) as text cells, failing with the
    dataset named.

    ``header_first_cell`` finds the header row by its first cell (SAMM's notes above the header);
    otherwise ``header_row`` (0-based) is used.
    """
    path = Path(path) if path is not None else None
    if path is None or not path.is_file():
        raise DatasetError(dataset, f"annotation sheet {path} does not exist")
    try:
        if path.suffix.lower() == ".csv":
            raw = pd.read_csv(path, header=None, dtype=object, keep_default_na=False, na_values=[""])
        else:
            raw = pd.read_excel(path, sheet_name=sheet_name, header=None, dtype=object)
    except Exception as exc:  # openpyxl / the CSV parser raise many types for a corrupt or wrong file
        raise DatasetError(dataset, f"cannot read annotation sheet {path} (sheet {sheet_name!r}): {exc}") from exc
    if header_first_cell is not None:
        first = raw.iloc[:, 0].astype(str).str.strip()
        hits = first.index[first == header_first_cell]
        if len(hits) == 0:
            raise DatasetError(dataset, f"annotation sheet {path}: no header row starting with {header_first_cell!r}")
        header_row = int(hits[0])
    header = [str(c).strip() if not pd.isna(c) else f"blank_{i}" for i, c in enumerate(raw.iloc[header_row])]
    table = raw.iloc[header_row + 1:].copy()
    table.columns = header
    table = table.dropna(how="all").reset_index(drop=True)
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DatasetError(dataset, f"annotation sheet {path} lacks columns {missing}; found {header}")
    return table


def as_frame_number(value, dataset: str, subject: str, sample: str, column: str) -> int | None:
    """An integer frame number, None for an unknown one ('/', '-' or a blank cell), or a DatasetError.
    (An unknown onset or offset is then an error for the caller; an unknown apex is estimated.)"""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, str):
        value = value.strip()
        if value in ("/", "", "-"):
            return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DatasetError(dataset, f"{column} is {value!r}, not a frame number", subject, sample) from None
    if pd.isna(number) or number != int(number) or number < 0:
        raise DatasetError(dataset, f"{column} is {value!r}, not a frame number", subject, sample)
    return int(number)


def subject_digits(value, dataset: str, width: int) -> str:
    """'01', 1, 1.0 -> zero-padded digits; text like 'sub01' is rejected with the dataset named."""
    text = str(value).strip()
    if re.fullmatch(r"\d+(\.0)?", text):
        return f"{int(float(text)):0{width}d}"
    raise DatasetError(dataset, f"subject {value!r} is not a subject number")


def list_frame_numbers(frames_dir: Path, pattern: str) -> set[int]:
    """Frame numbers present in a folder for a pattern such as 'img{}.jpg' or '006_{:05d}.jpg'."""
    prefix, rest = pattern.split("{", 1)
    suffix = rest.split("}", 1)[1]
    numbers = set()
    for name in (p.name for p in frames_dir.iterdir()):
        if name.startswith(prefix) and name.endswith(suffix):
            middle = name[len(prefix):len(name) - len(suffix)]
            if middle.isdigit():
                numbers.add(int(middle))
    return numbers


def make_row(dataset: str, subject: str, sample: str, frames_dir: Path, frame_pattern: str,
             onset: int, apex: int | None, offset: int, emotion: str, aus: str,
             apex_source: str | None = None, fixes: str = "") -> dict:
    if apex_source is None:
        apex_source = "annotated" if apex is not None else "estimated"
    return {
        "dataset": dataset, "subject": f"{dataset}/{subject}", "sample": sample,
        "frames_dir": str(frames_dir), "frame_pattern": frame_pattern,
        "onset": onset, "apex": apex, "offset": offset, "n_frames": offset - onset + 1,
        "emotion": str(emotion).strip().lower(), "aus": aus, "apex_source": apex_source, "fixes": fixes,
        "source": dataset, "flow_file": "", "apex_file": "",
    }


def validate_manifest(manifest: pd.DataFrame, dataset: str, check_frames: bool = True,
                      problems: Problems | None = None) -> None:
    """Every row: unique id, onset <= apex <= offset, the folder and every frame onset..offset exist.
    All failing rows are reported at once (with ``problems``, together with the caller's)."""
    own = problems is None
    problems = problems or Problems(dataset)
    if manifest.empty and not problems.errors:
        raise DatasetError(dataset, "no samples found")
    duplicated = manifest[manifest.duplicated(["subject", "sample"], keep=False)]
    for (subject, sample), rows in duplicated.groupby(["subject", "sample"], sort=False):
        problems.add(DatasetError(dataset, f"duplicate sample id ({len(rows)} rows share it)", subject, sample))
    for row in manifest.itertuples(index=False):
        error = _row_problem(row, dataset, check_frames)
        if error:
            problems.add(error)
    if own:
        problems.raise_if_any()


def _row_problem(row, dataset: str, check_frames: bool) -> DatasetError | None:
    def problem(message):
        return DatasetError(dataset, message, row.subject, row.sample)

    if not row.onset <= row.offset:
        return problem(f"onset {row.onset} is after offset {row.offset}")
    if not pd.isna(row.apex) and not row.onset <= row.apex <= row.offset:
        return problem(f"apex {row.apex} is outside [onset {row.onset}, offset {row.offset}]")
    if row.apex_source not in APEX_SOURCES:
        return problem(f"apex_source {row.apex_source!r} not in {APEX_SOURCES}")
    if not check_frames:
        return None
    frames_dir = Path(row.frames_dir)
    if not frames_dir.is_dir():
        return problem(f"frame folder {frames_dir} does not exist")
    present = list_frame_numbers(frames_dir, row.frame_pattern)
    missing = [n for n in range(row.onset, row.offset + 1) if n not in present]
    if missing:
        first = frames_dir / row.frame_pattern.format(missing[0])
        return problem(f"{len(missing)} frame file(s) missing between onset {row.onset} and offset "
                       f"{row.offset}, first {first}")
    return None


def to_manifest(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    for column in ("onset", "apex", "offset", "n_frames"):
        frame[column] = frame[column].astype("Int64")
    return frame.sort_values(["subject", "sample"], kind="stable").reset_index(drop=True)


def clamp_offset_to_last_frame(row: dict) -> str | None:
    """The erratum action ``clamp_offset``: an offset past the clip's last frame becomes that frame.

    Applies only when the offset's frame file is missing, every frame from onset to the last one
    exists and the apex (if any) is still inside, so a genuinely broken clip still fails
    validation. Returns the note for ``fixes`` (the row is updated in place), or None.
    """
    frames_dir = Path(row["frames_dir"])
    if not frames_dir.is_dir():
        return None
    present = list_frame_numbers(frames_dir, row["frame_pattern"])
    if row["offset"] in present or not present:
        return None
    last = max(present)
    apex_ok = row["apex"] is None or row["apex"] <= last
    contiguous = all(n in present for n in range(row["onset"], last + 1))
    if not (row["onset"] <= last < row["offset"] and apex_ok and contiguous):
        return None
    note = f"offset {row['offset']} past last frame {last}: clamped"
    row.update(offset=last, n_frames=last - row["onset"] + 1)
    return note


def detect_pattern(frames_dir: Path, frame: int, candidates: list[str]) -> str:
    """The first candidate pattern whose file for `frame` exists; the first candidate if none does
    (validation then reports the missing frame with its full path)."""
    for pattern in candidates:
        if (frames_dir / pattern.format(frame)).is_file():
            return pattern
    return candidates[0]


def rows_from_sheet(dataset: str, sheet: pd.DataFrame, columns: dict[str, str], subject_of, locate,
                    sample_of=None, errata=None, problems: Problems | None = None) -> pd.DataFrame:
    """The loop shared by the sheet-based adapters.

    ``columns`` maps onset/apex/offset/aus/emotion/filename to the sheet's column names;
    ``subject_of(cell)`` gives the dataset's own subject id; ``locate(subject, filename, cell)``
    gives ``(frames_dir, candidate frame patterns)``; ``sample_of(filename, onset)`` the sample id
    (default: the filename). ``errata`` (famnet.datasets.errata.Errata) corrects or drops the
    rows it names, each recorded. A bad row goes to ``problems`` and the loop goes on, so every
    bad row of a sheet is reported at once.
    """
    from famnet.datasets.errata import Errata

    errata = errata or Errata.none(dataset)
    problems = problems or Problems(dataset)
    rows = []
    for cell in sheet.to_dict("records"):
        try:
            row = _row_from_cell(dataset, cell, columns, subject_of, locate, sample_of, errata)
        except DatasetError as exc:
            problems.add(exc)
            continue
        if row is not None:
            rows.append(row)
    for error in errata.unmatched():
        problems.add(error)
    return to_manifest(rows)


def _row_from_cell(dataset, cell, columns, subject_of, locate, sample_of, errata) -> dict | None:
    """One sheet row as a manifest row (None: dropped by an erratum), or a DatasetError."""
    subject = subject_of(cell)
    filename = str(cell[columns["filename"]]).strip()
    frames = {key: as_frame_number(cell[columns[key]], dataset, subject, filename, columns[key])
              for key in ("onset", "apex", "offset")}
    if frames["onset"] is None or frames["offset"] is None:
        raise DatasetError(dataset, "onset or offset frame missing", subject, filename)
    emotion = str(cell[columns["emotion"]]).strip().lower()
    sample = sample_of(filename, frames["onset"]) if sample_of else filename
    fix = errata.match(subject, filename, frames["onset"], {**frames, "emotion": emotion}, sample)
    if fix is not None and fix.action == "drop":
        return None
    if fix is not None:
        frames = fix.corrected(frames)
        sample = sample_of(filename, frames["onset"]) if sample_of else filename
    try:
        aus = normalise_aus(cell[columns["aus"]])
    except AUParseError as exc:
        raise DatasetError(dataset, str(exc), subject, sample) from None
    frames_dir, patterns = locate(subject, filename, cell)
    row = make_row(dataset, subject, sample, frames_dir, detect_pattern(frames_dir, frames["onset"], patterns),
                   frames["onset"], frames["apex"], frames["offset"], emotion, aus)
    return errata.finish(row, fix)


def sheet_aus(dataset: str, sheet: pd.DataFrame, columns: dict[str, str], subject_of,
              problems: Problems | None = None) -> dict[tuple[str, str], str]:
    """{(subject, filename): normalised AUs} of a coding sheet, for joining AUs onto another list
    (famnet.datasets.megc2019_public). A cell that does not parse is a problem naming its row."""
    out: dict[tuple[str, str], str] = {}
    for cell in sheet.to_dict("records"):
        subject, filename = subject_of(cell), str(cell[columns["filename"]]).strip()
        try:
            out[(subject, filename)] = normalise_aus(cell[columns["aus"]])
        except AUParseError as exc:
            error = DatasetError(dataset, str(exc), subject, filename)
            if problems is None:
                raise error from None
            problems.add(error)
    return out

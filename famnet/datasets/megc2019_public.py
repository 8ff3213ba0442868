"""The MEGC2019 composite's public preprocessed release (as distributed with HTNet's code).

``root`` is the release folder::

    combined_3_class2_for_optical_flow.csv                   the sample list
    datasets/STSNet_whole_norm_u_v_os/<sub>_<filename_o> .png   28x28 flow image (note the space)
    datasets/combined_datasets_whole/<imagename>              224x224 apex face crop

The list's columns: ``dataset`` (casme2 | samm | smic, the row's source), ``sub``, ``filename_o``
(the sample), ``label`` (0 negative, 1 positive, 2 surprise), ``imagename`` (the crop's file; SMIC's
differs from the flow's name). The flow PNG holds u (R), v (G) and optical strain (B), onset->apex,
each min-max scaled per image to 0..255 (docs/datasets.md says what that loses).

Subjects are namespaced by source dataset under the dataset's name (``<dataset>/casme2/sub01``,
shown as ``casme2/sub01``), and the manifest's ``source`` column says which dataset a row comes
from, so per-dataset scores and leave-one-dataset-out splits work on the composite. The release
has no AUs: ``au_sheets: {casme2: <CASME II coding sheet>, samm: <SAMM FACS sheet>}`` joins them by
(subject, sample) through those formats' own AU parsing; SMIC rows (and a source without a sheet)
stay unknown, masked out of the AU task. Every problem of the list is reported at once, each naming
the source dataset, subject and sample.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from famnet.datasets.base import DatasetError, Problems, to_manifest

LIST_NAME = "combined_3_class2_for_optical_flow.csv"
FLOW_DIR = "datasets/STSNet_whole_norm_u_v_os"
CROP_DIR = "datasets/combined_datasets_whole"
LIST_COLUMNS = ("dataset", "sub", "filename_o", "label", "imagename")
LABELS = {"0": "negative", "1": "positive", "2": "surprise"}
SOURCES = ("casme2", "samm", "smic")
FLOW_SIDE = 28       # the release's flow images
CROP_SIDE = 224      # and apex crops
AU_SHEET_FORMATS = ("casme2", "samm")     # the sources whose own sheets code AUs


def flow_file(sub: str, sample: str) -> str:
    return f"{FLOW_DIR}/{sub}_{sample} .png"


def read_image(path: Path, side: int, what: str, flow: bool = False) -> np.ndarray:
    """An 8-bit side x side image as RGB, or ValueError saying what is wrong with it. A flow image
    (``flow``) must hold three channels, u, v and strain: a one-channel file would be read as the
    same channel three times, and a fourth channel is no part of the release's encoding. An apex
    crop may be greyscale (SAMM's are): then its one channel is repeated, as the video formats'
    greyscale frames are (docs/datasets.md); an alpha channel is dropped."""
    import cv2

    from preprocess.run import damage

    try:
        data = path.read_bytes()
    except OSError:
        raise ValueError(f"{what} {path} does not exist or cannot be read") from None
    reason = damage(data)
    image = None if reason else cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"{what} {path} is damaged ({reason or 'cannot be decoded'})")
    if image.dtype != np.uint8:
        raise ValueError(f"{what} {path} is {image.dtype}, not 8-bit")
    channels = 1 if image.ndim == 2 else image.shape[2]
    if flow and channels != 3:
        raise ValueError(f"{what} {path} has {channels} channel{'s' if channels != 1 else ''}, not the three of a "
                         f"flow image (u, v, strain)")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.shape[2] == 4:
        image = image[:, :, :3]
    else:
        image = image[:, :, ::-1]    # OpenCV's BGR -> RGB: R is u in the flow images
    if image.shape[:2] != (side, side):
        raise ValueError(f"{what} {path} is {image.shape[1]}x{image.shape[0]}, not {side}x{side}")
    return np.ascontiguousarray(image)


def _au_tables(dataset: str, au_sheets: dict | None, problems: Problems) -> dict[str, dict]:
    from importlib import import_module

    tables = {}
    for source, sheet in (au_sheets or {}).items():
        if source not in AU_SHEET_FORMATS:
            problems.add(DatasetError(dataset, f"au_sheets.{source}: only {list(AU_SHEET_FORMATS)} have AU sheets"))
            continue
        try:
            tables[source] = import_module(f"famnet.datasets.{source}").au_table(dataset, sheet, problems)
        except DatasetError as exc:
            problems.add(DatasetError(dataset, f"au_sheets.{source}: {str(exc).split(': ', 1)[-1]}"))
    return tables


def read_list(dataset: str, root: Path) -> pd.DataFrame:
    path = root / LIST_NAME
    if not path.is_file():
        raise DatasetError(dataset, f"sample list {path} does not exist (root must be the release folder holding "
                                    f"{LIST_NAME} and datasets/)")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    table.columns = [c.strip() for c in table.columns]
    missing = [c for c in LIST_COLUMNS if c not in table.columns]
    if missing:
        raise DatasetError(dataset, f"sample list {path} lacks columns {missing}; found {list(table.columns)}")
    return table.apply(lambda column: column.str.strip())


def load(dataset: str, root, annotation=None, errata=None, problems=None, au_sheets=None) -> pd.DataFrame:
    root = Path(root)
    problems = problems or Problems(dataset)
    table = read_list(dataset, root)
    aus_of = _au_tables(dataset, au_sheets, problems)
    rows, first_row = [], {}
    for number, cell in enumerate(table.to_dict("records"), start=2):   # line 1 is the header
        source, sub, sample = cell["dataset"].lower(), cell["sub"], cell["filename_o"]
        subject = f"{dataset}/{source}/{sub}"

        def problem(message):
            problems.add(DatasetError(dataset, f"{message} (list line {number})", subject, sample))

        if source not in SOURCES:
            problem(f"unknown source dataset {cell['dataset']!r}; one of {list(SOURCES)}")
            continue
        key = (source, sub, sample)
        if key in first_row:
            problem(f"duplicate row: the same source, subject and sample as list line {first_row[key]}")
            continue
        first_row[key] = number
        if cell["label"] not in LABELS:
            problem(f"unknown label {cell['label']!r}; the release's labels are {LABELS}")
            continue
        if not cell["imagename"]:
            problem("no imagename (the apex crop's file name)")
            continue
        files = {"flow": (flow_file(sub, sample), FLOW_SIDE), "apex crop": (f"{CROP_DIR}/{cell['imagename']}", CROP_SIDE)}
        bad = False
        for what, (relative, side) in files.items():
            try:
                read_image(root / relative, side, f"{what} image", flow=what == "flow")
            except ValueError as exc:
                problem(str(exc))
                bad = True
        if bad:
            continue
        aus = ""
        if source in aus_of:
            if (sub, sample) not in aus_of[source]:
                problem(f"not in the {source} AU sheet (au_sheets.{source}): no row with subject {sub!r} and "
                        f"filename {sample!r}")
                continue
            aus = aus_of[source][(sub, sample)]
        rows.append({"dataset": dataset, "subject": subject, "sample": sample, "frames_dir": str(root),
                     "frame_pattern": "", "onset": None, "apex": None, "offset": None, "n_frames": None,
                     "emotion": LABELS[cell["label"]], "aus": aus, "apex_source": "release", "fixes": "",
                     "source": source, "flow_file": files["flow"][0], "apex_file": files["apex crop"][0]})
    return to_manifest(rows)

"""Dataset adapters: each reads one dataset's distributed layout and sheet into the manifest schema
(famnet.datasets.base). The synthetic generator (famnet.datasets.synthetic) writes those same
layouts, so the synthetic data goes through the real adapters."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

import pandas as pd

from famnet.datasets.base import MANIFEST_COLUMNS, DatasetError, Problems, validate_manifest
from famnet.datasets.errata import Errata

FORMATS = ("casme2", "samm", "smic", "mmew", "casme3")


def build_manifest(dataset: str, format: str, root, annotation=None, check_frames: bool = True,
                   errata="builtin") -> pd.DataFrame:
    """Read and validate one dataset; raise DatasetError naming dataset, subject and sample.

    A missing root or sheet is reported before any sample; then every bad row of the dataset at
    once (famnet.datasets.base.Problems). ``errata``: 'builtin' (famnet/errata/<format>.csv),
    'none', or the path of an errata file; the errata applied are in ``manifest.attrs['errata']``
    (drops included) and, per row, in the ``fixes`` column.
    """
    if format not in FORMATS:
        raise DatasetError(dataset, f"unknown format {format!r}; expected one of {FORMATS}")
    check_paths(dataset, format, root, annotation, check_frames)
    adapter = import_module(f"famnet.datasets.{format}")
    known = Errata.load(dataset, format, errata)
    problems = Problems(dataset)
    manifest = adapter.load(dataset, root, annotation, errata=known, problems=problems)
    validate_manifest(manifest, dataset, check_frames=check_frames, problems=problems)
    problems.raise_if_any()
    manifest.attrs["errata"] = known.applied
    return manifest


def check_paths(dataset: str, format: str, root, annotation, check_frames: bool = True) -> None:
    """The dataset's root folder and (except SMIC) its sheet exist, else one error naming both."""
    missing = []
    if check_frames and not Path(root).is_dir():
        missing.append(f"root folder {root} does not exist")
    if format != "smic" and (annotation is None or not Path(annotation).is_file()):
        missing.append(f"annotation sheet {annotation} does not exist")
    if missing:
        raise DatasetError(dataset, "; ".join(missing) + " (check datasets." + dataset + " in the config)")


def read_manifest(path) -> pd.DataFrame:
    """Load a manifest CSV written by the manifest rule with its column types."""
    frame = pd.read_csv(path, dtype={"subject": str, "sample": str, "aus": str, "fixes": str},
                        keep_default_na=False, na_values={"apex": [""]})
    for column in ("onset", "apex", "offset", "n_frames"):
        frame[column] = frame[column].astype("Int64")
    return frame[MANIFEST_COLUMNS]


__all__ = ["FORMATS", "MANIFEST_COLUMNS", "DatasetError", "build_manifest", "check_paths", "read_manifest"]

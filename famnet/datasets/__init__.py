"""Dataset adapters: each reads one dataset's distributed layout and sheet into the manifest schema
(famnet.datasets.base). The synthetic generator (famnet.datasets.synthetic) writes those same
layouts, so the synthetic data goes through the real adapters."""

from __future__ import annotations

from importlib import import_module

import pandas as pd

from famnet.datasets.base import MANIFEST_COLUMNS, DatasetError, validate_manifest

FORMATS = ("casme2", "samm", "smic", "mmew", "casme3")


def build_manifest(dataset: str, format: str, root, annotation=None, check_frames: bool = True) -> pd.DataFrame:
    """Read and validate one dataset; raise DatasetError naming dataset, subject and sample."""
    if format not in FORMATS:
        raise DatasetError(dataset, f"unknown format {format!r}; expected one of {FORMATS}")
    adapter = import_module(f"famnet.datasets.{format}")
    manifest = adapter.load(dataset, root, annotation)
    validate_manifest(manifest, dataset, check_frames=check_frames)
    return manifest


def read_manifest(path) -> pd.DataFrame:
    """Load a manifest CSV written by the manifest rule with its column types."""
    frame = pd.read_csv(path, dtype={"subject": str, "sample": str, "aus": str, "fixes": str},
                        keep_default_na=False, na_values={"apex": [""]})
    for column in ("onset", "apex", "offset", "n_frames"):
        frame[column] = frame[column].astype("Int64")
    return frame[MANIFEST_COLUMNS]


__all__ = ["FORMATS", "MANIFEST_COLUMNS", "DatasetError", "build_manifest", "read_manifest"]

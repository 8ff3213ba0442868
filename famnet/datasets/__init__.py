"""Dataset adapters: each reads one dataset's distributed layout and sheet into the manifest schema
(famnet.datasets.base). The synthetic generator (famnet.datasets.synthetic) writes those same
layouts, so the synthetic data goes through the real adapters."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

import pandas as pd

from famnet.datasets.base import MANIFEST_COLUMNS, DatasetError, Problems, validate_manifest
from famnet.datasets.errata import Errata

from famnet.datasets.formats import FORMATS as FORMAT_SPECS, get_format

FORMATS = tuple(FORMAT_SPECS)
TEXT_COLUMNS = ("subject", "sample", "aus", "fixes", "source", "flow_file", "apex_file")


def build_manifest(dataset: str, format: str, root, annotation=None, check_frames: bool = True,
                   errata="builtin", accept_emotions=(), **options) -> pd.DataFrame:
    """Read and validate one dataset; raise DatasetError naming dataset, subject and sample.

    A missing root or sheet is reported before any sample; then every bad row of the dataset at
    once (famnet.datasets.base.Problems). ``errata``: 'builtin' (famnet/errata/<format>.csv),
    'none', or the path of an errata file; the errata applied are in ``manifest.attrs['errata']``
    (drops included) and, per row, in the ``fixes`` column. ``options``: the format's own dataset
    keys (famnet.datasets.formats, e.g. ``au_sheets`` of megc2019_public). A row whose emotion
    word is not one of the format's (a typo such as 'hapiness') is one of those problems, unless
    ``accept_emotions`` lists the word.
    """
    if format not in FORMATS:
        raise DatasetError(dataset, f"unknown format {format!r}; expected one of {FORMATS}")
    spec = get_format(format)
    unknown = sorted(k for k, v in options.items() if v is not None and k not in spec.options)
    if unknown:
        raise DatasetError(dataset, f"format {format} does not read {unknown} (its own keys: {list(spec.options)})")
    check_paths(dataset, format, root, annotation, check_frames)
    adapter = import_module(f"famnet.datasets.{format}")
    known = Errata.load(dataset, format, errata)
    problems = Problems(dataset)
    given = {k: v for k, v in options.items() if v is not None}
    manifest = adapter.load(dataset, root, annotation, errata=known, problems=problems, **given)
    check_emotions(manifest, dataset, spec, accept_emotions, problems)
    if spec.provides == "frames":
        validate_manifest(manifest, dataset, check_frames=check_frames, problems=problems)
    elif manifest.empty and not problems.errors:
        raise DatasetError(dataset, "no samples found")
    problems.raise_if_any()
    manifest.attrs["errata"] = known.applied
    return manifest


def check_emotions(manifest: pd.DataFrame, dataset: str, spec, accepted, problems: Problems) -> None:
    """Every row's emotion is a word of its format (or accepted by the dataset's config): an unknown
    word would otherwise leave the row out of every protocol without a word."""
    if not spec.emotions:
        return
    known = set(spec.emotions) | {str(word).strip().lower() for word in accepted or ()}
    for row in manifest[~manifest["emotion"].isin(known)].itertuples(index=False):
        problems.add(DatasetError(dataset, f"unknown emotion {row.emotion!r} (the {spec.name} words: "
                                           f"{', '.join(sorted(known))}; if it is meant, list it under "
                                           f"datasets.{dataset}.accept_emotions)", row.subject, row.sample))


def check_paths(dataset: str, format: str, root, annotation, check_frames: bool = True) -> None:
    """The dataset's root folder and (except SMIC) its sheet exist, else one error naming both."""
    missing = []
    if check_frames and not Path(root).is_dir():
        missing.append(f"root folder {root} does not exist")
    if get_format(format).needs_annotation and (annotation is None or not Path(annotation).is_file()):
        missing.append(f"annotation sheet {annotation} does not exist")
    if missing:
        raise DatasetError(dataset, "; ".join(missing) + " (check datasets." + dataset + " in the config)")


def read_manifest(path) -> pd.DataFrame:
    """Load a manifest CSV written by the manifest rule with its column types."""
    frame = pd.read_csv(path, dtype={c: str for c in TEXT_COLUMNS}, keep_default_na=False,
                        na_values={c: [""] for c in ("onset", "apex", "offset", "n_frames")})
    if "source" not in frame:     # written before composite releases: every row is its dataset's own
        frame["source"] = frame["dataset"]
    for column in ("flow_file", "apex_file"):
        if column not in frame:
            frame[column] = ""
    for column in ("onset", "apex", "offset", "n_frames"):
        frame[column] = frame[column].astype("Int64")
    return frame[MANIFEST_COLUMNS]


__all__ = ["FORMATS", "MANIFEST_COLUMNS", "DatasetError", "build_manifest", "check_paths", "read_manifest"]

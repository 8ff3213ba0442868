"""SMIC-HS: ``<root>/s<n>/micro/<negative|positive|surprise>/s<n>_<ne|po|sur>_<k>/image<6 digits>.jpg``
(root = the ``HS`` folder). There is no sheet: the emotion is the folder, onset and offset are the
clip's first and last frame, and the apex is unknown (estimated in preprocessing). Subject and
sample ids take the MEGC form with two-digit subjects (``s01``, ``s01_ne_01``)."""

from __future__ import annotations

import re
from pathlib import Path

from famnet.datasets.base import DatasetError, Problems, list_frame_numbers, make_row, to_manifest

EMOTIONS = ("negative", "positive", "surprise")
PATTERN = "image{:06d}.jpg"


def _megc_id(name: str) -> str:
    """'s1_ne_01' -> 's01_ne_01'; 's1' -> 's01'."""
    return re.sub(r"^s(\d+)", lambda m: f"s{int(m.group(1)):02d}", name)


def load(dataset: str, root, annotation=None, errata=None, problems=None):
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(dataset, f"root folder {root} does not exist")
    subject_dirs = sorted(p for p in root.iterdir() if p.is_dir() and re.fullmatch(r"s\d+", p.name))
    if not subject_dirs:
        raise DatasetError(dataset, f"no subject folders s<n> under {root}")
    problems = problems or Problems(dataset)
    rows = []
    for subject_dir in subject_dirs:
        subject = _megc_id(subject_dir.name)
        micro = subject_dir / "micro"
        if not micro.is_dir():
            problems.add(DatasetError(dataset, f"folder {micro} does not exist", subject))
            continue
        for emotion_dir in sorted(p for p in micro.iterdir() if p.is_dir()):
            if emotion_dir.name not in EMOTIONS:
                problems.add(DatasetError(dataset, f"unknown emotion folder {emotion_dir}", subject))
                continue
            for clip in sorted(p for p in emotion_dir.iterdir() if p.is_dir()):
                sample = _megc_id(clip.name)
                frames = list_frame_numbers(clip, PATTERN)
                if not frames:
                    problems.add(DatasetError(dataset, f"no frames {PATTERN.format(0).replace('000000', 'NNNNNN')} "
                                                       f"in {clip}", subject, sample))
                    continue
                rows.append(make_row(dataset, subject, sample, clip, PATTERN, min(frames), None, max(frames),
                                     emotion_dir.name, aus=""))
    return to_manifest(rows)

"""SMIC-HS: ``<root>/s<n>/micro/<negative|positive|surprise>/s<n>_<ne|po|sur>_<k>/image<6 digits>.jpg``
(root = the ``HS`` folder). There is no sheet: the emotion is the folder, onset and offset are the
clip's first and last frame, and the apex is unknown (estimated in preprocessing). Subject and
sample ids take the MEGC form with two-digit subjects (``s01``, ``s01_ne_01``).

With no sheet, nothing lists what should be there, so a sample folder lost from a copy would drop
out silently. What can be checked is: the release numbers each subject's samples of an emotion
1..n without a gap (all 38 subject-emotion groups of SMIC-HS do), so a gap names a missing sample;
an emotion folder that exists but is empty, or a sample folder without frames, is an error too.
A subject lacking an emotion folder, or the last sample of a group, cannot be told from the
release's own gaps (nine subjects lack an emotion): the manifest's log lists the count per subject
and emotion folder (``manifest.attrs['folder_counts']``) and protocols with expected counts (SMIC's
164 samples / 16 subjects) catch a loss."""

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
    rows, counts = [], {}
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
            clips = sorted(p for p in emotion_dir.iterdir() if p.is_dir())
            counts.setdefault(subject, {})[emotion_dir.name] = len(clips)
            if not clips:
                problems.add(DatasetError(dataset, f"emotion folder {emotion_dir} holds no sample folder", subject))
            for missing in numbering_gaps([clip.name for clip in clips]):
                problems.add(DatasetError(dataset, f"no folder {emotion_dir / missing}: the release numbers a subject's "
                                                   f"samples of an emotion from 1 without gaps", subject,
                                          _megc_id(missing)))
            for clip in clips:
                sample = _megc_id(clip.name)
                frames = list_frame_numbers(clip, PATTERN)
                if not frames:
                    problems.add(DatasetError(dataset, f"no frames {PATTERN.format(0).replace('000000', 'NNNNNN')} "
                                                       f"in {clip}", subject, sample))
                    continue
                rows.append(make_row(dataset, subject, sample, clip, PATTERN, min(frames), None, max(frames),
                                     emotion_dir.name, aus=""))
    manifest = to_manifest(rows)
    manifest.attrs["folder_counts"] = counts
    return manifest


def numbering_gaps(names: list[str]) -> list[str]:
    """Sample folder names missing from 1..max of one subject's emotion ('s1_ne_01', 's1_ne_03' ->
    ['s1_ne_02']); names that do not end in a number are left to the other checks."""
    numbered = {}
    for name in names:
        match = re.fullmatch(r"(.*_)(\d+)", name)
        if match:
            numbered[int(match[2])] = match
    if not numbered:
        return []
    stem, width = next(iter(numbered.values()))[1], len(next(iter(numbered.values()))[2])
    return [f"{stem}{k:0{width}d}" for k in range(1, max(numbered) + 1) if k not in numbered]

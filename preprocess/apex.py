"""Apex estimation for samples whose apex is not annotated (SMIC, CASME II's '/').

Method (``estimate_apex``):

1. Candidates: every k-th frame after the onset up to the offset, k = ceil((offset - onset) /
   max_candidates), plus the offset; so at most ``max_candidates`` + 1 frames are decoded.
2. Each candidate and the onset are aligned with the sample's onset alignment and converted to
   grey at ``size`` x ``size`` (config ``apex.size``, 64).
3. Motion score: Farneback flow onset -> candidate; the affine flow fitted over the face (head
   movement) is subtracted; the score is the mean residual magnitude inside the face ellipse.
4. The scores are smoothed over neighbouring candidates (weights 1-2-1) and the apex is the
   candidate with the largest smoothed score. ``apex_source`` becomes ``estimated``.
"""

from __future__ import annotations

import math

import numpy as np

from preprocess.flow import face_mask, optical_flow, remove_global_motion


def candidate_frames(onset: int, offset: int, max_candidates: int = 16) -> list[int]:
    """Frames after the onset to score, at most ``max_candidates`` + 1 (the offset is always in)."""
    if offset <= onset:
        return [onset]
    step = max(1, math.ceil((offset - onset) / max(1, max_candidates)))
    frames = list(range(onset + step, offset + 1, step))
    if not frames or frames[-1] != offset:
        frames.append(offset)
    return frames


def motion_scores(onset_grey: np.ndarray, frames_grey: list[np.ndarray]) -> np.ndarray:
    """Mean non-rigid motion magnitude of each frame against the onset, inside the face."""
    mask = face_mask(onset_grey.shape[0])
    scores = []
    for grey in frames_grey:
        flow = remove_global_motion(optical_flow(onset_grey, grey, "farneback"), mask)
        scores.append(float(np.sqrt(flow[0] ** 2 + flow[1] ** 2)[mask].mean()))
    return np.array(scores)


def smooth(scores: np.ndarray) -> np.ndarray:
    if len(scores) < 3:
        return scores.copy()
    padded = np.concatenate([scores[:1], scores, scores[-1:]])
    return (padded[:-2] + 2 * padded[1:-1] + padded[2:]) / 4.0


def estimate_apex(onset_grey: np.ndarray, candidates: dict[int, np.ndarray]) -> tuple[int, dict[int, float]]:
    """(estimated apex frame, {frame: smoothed score}) from aligned grey frames keyed by frame number."""
    numbers = sorted(candidates)
    if not numbers:
        raise ValueError("no candidate frames to estimate the apex from")
    scores = smooth(motion_scores(onset_grey, [candidates[n] for n in numbers]))
    best = numbers[int(np.argmax(scores))]
    return best, {n: float(s) for n, s in zip(numbers, scores)}

"""Temporal sampling of the 3D branch's clip: exactly T frames from the onset.

``clip_sampling: span`` (default): the T sample times are ``linspace(onset, offset, T)`` (both ends
included), whatever the frame rate: every clip covers the whole movement, onset to offset, so a
30 fps and a 200 fps sample give clips of the same phases. ``clip_sampling: time``: the T times
are evenly spaced over ``clip_seconds`` from the onset at the dataset's frame rate, so one clip
frame is the same time step in every dataset; times after the offset are the offset frame (the
recording's annotated end; a short movement ends in repeats of it).

When the times are at least a frame apart each is rounded to the nearest frame (uniform sampling,
no interpolation). When they are closer, each time falls between two frames and the clip frame is
their linear blend (temporal interpolation), so a short clip is stretched smoothly, never padded.
"""

from __future__ import annotations

import numpy as np


def sample_times(onset: int, offset: int, length: int, sampling: str = "span", fps: float | None = None,
                 seconds: float | None = None) -> np.ndarray:
    """The ``length`` sample times (in frame numbers) of a clip; see the module docstring."""
    if length < 1:
        raise ValueError(f"clip length must be at least 1, got {length}")
    if offset < onset:
        raise ValueError(f"offset {offset} is before onset {onset}")
    if sampling == "span":
        return np.linspace(onset, offset, length) if length > 1 else np.array([float(onset)])
    if sampling != "time":
        raise ValueError(f"unknown clip sampling {sampling!r}; expected 'span' or 'time'")
    if not fps or not seconds or fps <= 0 or seconds <= 0:
        raise ValueError(f"clip sampling by time needs the frame rate and clip_seconds, got {fps} and {seconds}")
    step = fps * seconds / max(length - 1, 1)
    return np.minimum(onset + step * np.arange(length), float(offset))


def clip_plan(onset: int, offset: int, length: int, times: np.ndarray | None = None) -> list[tuple[int, int, float]]:
    """For each of ``length`` clip frames: (frame a, frame b, weight of b); the frame is
    (1 - w) * a + w * b. With enough frames a == b and w == 0. ``times`` (sample_times) defaults
    to the span sampling."""
    if times is None:
        times = sample_times(onset, offset, length)
    if len(times) != length:
        raise ValueError(f"{len(times)} sample times for a clip of {length} frames")
    gaps = np.diff(times)
    plan = []
    if len(times) == 1 or gaps[gaps > 0].size == 0 or gaps[gaps > 0].min() >= 1.0 - 1e-9:
        for t in times:
            n = int(np.floor(t + 0.5))
            plan.append((n, n, 0.0))
    else:
        for t in times:
            a = int(np.floor(t))
            b = min(a + 1, offset)
            w = float(t - a) if b != a else 0.0
            if w < 1e-6:
                b, w = a, 0.0
            plan.append((a, b, w))
    return plan


def frames_needed(plan: list[tuple[int, int, float]]) -> list[int]:
    return sorted({n for a, b, _ in plan for n in (a, b)})


def assemble_clip(plan: list[tuple[int, int, float]], frames: dict[int, np.ndarray]) -> np.ndarray:
    """(T, H, W, C) uint8 clip from decoded/aligned frames keyed by frame number."""
    out = []
    for a, b, w in plan:
        if w == 0.0:
            out.append(frames[a])
        else:
            blend = (1.0 - w) * frames[a].astype(np.float32) + w * frames[b].astype(np.float32)
            out.append(np.clip(blend + 0.5, 0, 255).astype(np.uint8))
    return np.stack(out)

"""Temporal sampling of the 3D branch's clip: exactly T frames from onset to offset.

The T sample times are ``linspace(onset, offset, T)`` (both ends included). When the sample has at
least T frames each time is rounded to the nearest frame (uniform sampling, no repeats, no
interpolation). When it has fewer, each time falls between two frames and the clip frame is their
linear blend (temporal interpolation), so a short clip is stretched smoothly rather than padded.
"""

from __future__ import annotations

import numpy as np


def clip_plan(onset: int, offset: int, length: int) -> list[tuple[int, int, float]]:
    """For each of ``length`` clip frames: (frame a, frame b, weight of b); the frame is
    (1 - w) * a + w * b. With enough frames a == b and w == 0."""
    if length < 1:
        raise ValueError(f"clip length must be at least 1, got {length}")
    if offset < onset:
        raise ValueError(f"offset {offset} is before onset {onset}")
    times = np.linspace(onset, offset, length) if length > 1 else np.array([float(onset)])
    plan = []
    if offset - onset + 1 >= length:
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

"""Action-unit motion: where each AU moves the skin, and how a micro-expression unfolds in time.

Each AU is a set of anchors on the 68-point landmark layout (dlib / iBUG numbering, image
coordinates, y down). An anchor moves the skin around it along a direction with a Gaussian
fall-off; a side (``R`` = subject's right = image left, ``L`` = image right) restricts a
unilateral AU to one half of the face. Amplitudes are in units of the peak displacement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Anchor: (landmark indices averaged into the centre, direction (dx, dy) for the subject's right
# side; the left side mirrors dx). Each entry lists the right-side anchor; the left one is derived.
_RIGHT_TO_LEFT = {17: 26, 18: 25, 19: 24, 20: 23, 21: 22, 31: 35, 36: 45, 37: 44, 38: 43, 39: 42, 40: 47,
                  41: 46, 48: 54, 49: 53, 50: 52, 59: 55, 58: 56, 4: 12, 5: 11, 6: 10}

AU_ANCHORS: dict[int, list[tuple[tuple[int, ...], tuple[float, float]]]] = {
    1: [((21, 20), (0.0, -1.0))],                 # inner brow raiser
    2: [((18, 17), (0.0, -1.0))],                 # outer brow raiser
    4: [((19, 20), (0.45, 0.9))],                 # brow lowerer: down and towards the midline
    5: [((37, 38), (0.0, -1.0))],                 # upper lid raiser
    6: [((41, 40, 49), (0.0, -1.0))],             # cheek raiser (below the eye)
    7: [((41, 40), (0.0, -1.0))],                 # lid tightener: lower lid up
    9: [((31, 39), (0.1, -1.0))],                 # nose wrinkler: side of the nose up
    10: [((50,), (0.0, -1.0))],                   # upper lip raiser
    12: [((48,), (-0.8, -0.6))],                  # lip corner puller: up and out
    14: [((48,), (0.9, 0.1))],                    # dimpler: corner pulled in
    15: [((48,), (-0.1, 1.0))],                   # lip corner depressor
}
# AUs on the midline have one anchor and no side.
MIDLINE_AUS = {
    17: ((57, 8), (0.0, -1.0)),                   # chin raiser
    25: ((57,), (0.0, 1.0)),                      # lips part: lower lip down
    26: ((57, 8), (0.0, 1.0)),                    # jaw drop
}
KNOWN_AUS = sorted({*AU_ANCHORS, *MIDLINE_AUS})  # every AU the generator can draw

# FACS intensity letters used by the SAMM-style sheets, as amplitude factors.
INTENSITY = {"A": 0.6, "B": 0.8, "C": 1.0, "D": 1.15, "E": 1.3}


@dataclass(frozen=True)
class AUEvent:
    """One AU of a sample: number, side ('' both, 'L' or 'R') and FACS intensity letter."""

    au: int
    side: str = ""
    intensity: str = "C"

    def code(self, with_intensity: bool = False) -> str:
        return f"{self.side}{self.au}{self.intensity if with_intensity else ''}"


def anchors(event: AUEvent, landmarks: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Centres and unit directions of an AU on a face with the given 68 landmarks."""
    if event.au in MIDLINE_AUS:
        indices, direction = MIDLINE_AUS[event.au]
        return [(landmarks[list(indices)].mean(axis=0), np.array(direction, dtype=np.float32))]
    result = []
    sides = {"": ("R", "L"), "R": ("R",), "L": ("L",)}[event.side]
    for indices, (dx, dy) in AU_ANCHORS[event.au]:
        for side in sides:
            idx = indices if side == "R" else tuple(_RIGHT_TO_LEFT.get(i, i) for i in indices)
            direction = np.array([dx if side == "R" else -dx, dy], dtype=np.float32)
            result.append((landmarks[list(idx)].mean(axis=0), direction / np.linalg.norm(direction)))
    return result


def displacement_field(events: list[AUEvent], landmarks: np.ndarray, shape: tuple[int, int],
                       sigma: float) -> np.ndarray:
    """(2, H, W) skin displacement at apex, peak magnitude about 1 for intensity C."""
    height, width = shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    field = np.zeros((2, height, width), dtype=np.float32)
    for event in events:
        gain = INTENSITY[event.intensity]
        for centre, direction in anchors(event, landmarks):
            bump = np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * sigma ** 2))
            field[0] += gain * direction[0] * bump
            field[1] += gain * direction[1] * bump
    # Overlapping anchors (AU6 + AU12) must not exceed the intended peak by much.
    magnitude = np.sqrt(field[0] ** 2 + field[1] ** 2)
    peak = float(magnitude.max()) if magnitude.size else 0.0
    max_gain = max((INTENSITY[e.intensity] for e in events), default=1.0)
    if peak > max_gain:
        field *= max_gain / peak
    return field


def intensity_profile(n_frames: int, onset: int, apex: int, offset: int) -> np.ndarray:
    """Per-frame expression intensity in [0, 1]: smooth rise onset -> apex, fall apex -> offset."""
    t = np.arange(n_frames, dtype=np.float64)
    profile = np.zeros(n_frames)
    rise = (t >= onset) & (t < apex)
    fall = (t > apex) & (t <= offset)
    profile[rise] = np.sin(0.5 * np.pi * (t[rise] - onset) / (apex - onset)) ** 2 if apex > onset else 0.0
    profile[fall] = np.cos(0.5 * np.pi * (t[fall] - apex) / (offset - apex)) ** 2 if offset > apex else 0.0
    if 0 <= apex < n_frames:
        profile[apex] = 1.0
    return profile


# Emotion -> AUs as coded in real data. Each: (always, optional pool, how many optional at most).
EMOTION_AUS = {
    "positive": ((6, 12), (), 0),
    "negative": ((4,), (7, 9, 10, 14, 15), 2),
    "surprise": ((1, 2), (25, 26), 1),
    "others": ((), (5, 14, 17), 1),
}
UNILATERAL_CANDIDATES = {2, 10, 12, 14}  # never a midline AU


def sample_aus(emotion_class: str, rng: np.random.Generator, unilateral_prob: float = 0.15) -> list[AUEvent]:
    """Draw the AUs of one sample of a MEGC-style class ('others' always gets exactly one AU)."""
    always, pool, most = EMOTION_AUS[emotion_class]
    chosen = list(always)
    if pool:
        count = int(rng.integers(1 if not always else 0, most + 1))
        chosen += sorted(rng.choice(pool, size=count, replace=False).tolist()) if count else []
    events = []
    for au in sorted(set(chosen)):
        side = ""
        if au in UNILATERAL_CANDIDATES and rng.random() < unilateral_prob:
            side = "L" if rng.random() < 0.5 else "R"
        events.append(AUEvent(au, side, str(rng.choice(list("BCD")))))
    return events

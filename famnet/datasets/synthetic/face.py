"""The synthetic identity: a real face photograph, its landmarks, and per-subject appearance.

The photograph is scikit-image's ``data.astronaut()`` (public domain, ships inside the wheel).
Its 68 landmarks come from dlib's predictor (face-recognition-models) on the dlib HOG detection,
so the AU anchors sit where a landmark detector will later find them.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import cv2
import numpy as np


@functools.lru_cache(maxsize=1)
def base_face() -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8 image, (68, 2) float32 landmarks) of the identity photograph."""
    import dlib
    from skimage import data

    with warnings.catch_warnings():  # it imports pkg_resources, which warns on every import
        warnings.simplefilter("ignore", UserWarning)
        import face_recognition_models

    image = np.ascontiguousarray(data.astronaut())
    detector = dlib.get_frontal_face_detector()
    boxes, scores, _ = detector.run(image, 1)
    if not boxes:
        raise RuntimeError("dlib found no face in skimage.data.astronaut(): check the installed versions")
    box = boxes[int(np.argmax(scores))]
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    shape = predictor(image, box)
    landmarks = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
    return image, landmarks


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(subject's right eye = image left, subject's left eye) centres."""
    return landmarks[36:42].mean(axis=0), landmarks[42:48].mean(axis=0)


@dataclass(frozen=True)
class Appearance:
    """How one synthetic subject differs from the photograph."""

    face_width: float      # inter-ocular distance as a fraction of the frame width
    rotation_deg: float
    centre: tuple[float, float]   # face centre as fractions of the frame
    colour_gain: tuple[float, float, float]
    brightness: float      # added grey levels
    mirror: bool
    noise_sigma: float     # sensor noise, grey levels

    @staticmethod
    def draw(rng: np.random.Generator) -> "Appearance":
        return Appearance(
            face_width=float(rng.uniform(0.13, 0.17)),
            rotation_deg=float(rng.uniform(-6, 6)),
            centre=(float(rng.uniform(0.45, 0.55)), float(rng.uniform(0.42, 0.52))),
            colour_gain=tuple(float(g) for g in rng.uniform(0.85, 1.15, size=3)),
            brightness=float(rng.uniform(-15, 15)),
            mirror=bool(rng.random() < 0.5),
            noise_sigma=float(rng.uniform(1.0, 3.0)),
        )


def subject_transform(appearance: Appearance, landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """2x3 similarity matrix from photograph to frame coordinates (mirror included)."""
    width, height = size
    right_eye, left_eye = eye_centres(landmarks)
    iod = float(np.linalg.norm(left_eye - right_eye))
    scale = appearance.face_width * width / iod
    face_centre = landmarks[[36, 45, 48, 54]].mean(axis=0)
    angle = np.deg2rad(appearance.rotation_deg)
    cos, sin = scale * np.cos(angle), scale * np.sin(angle)
    linear = np.array([[cos, -sin], [sin, cos]], dtype=np.float64)
    if appearance.mirror:
        linear = linear @ np.array([[-1.0, 0.0], [0.0, 1.0]])
    target = np.array([appearance.centre[0] * width, appearance.centre[1] * height])
    offset = target - linear @ face_centre
    return np.hstack([linear, offset[:, None]]).astype(np.float64)


def compose(matrix: np.ndarray, shift: tuple[float, float], angle_deg: float, size: tuple[int, int]) -> np.ndarray:
    """Add a small head movement (rotation about the frame centre, then a shift) to a 2x3 matrix."""
    width, height = size
    drift = cv2.getRotationMatrix2D((width / 2, height / 2), angle_deg, 1.0)
    drift[:, 2] += shift
    return (np.vstack([drift, [0, 0, 1]]) @ np.vstack([matrix, [0, 0, 1]]))[:2]


def support_box(displacement: np.ndarray, threshold: float = 1e-3) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of the region where the displacement field is not negligible."""
    moving = np.hypot(displacement[0], displacement[1]) > threshold * max(float(np.abs(displacement).max()), 1e-12)
    if not moving.any():
        return 0, 0, 0, 0
    rows, cols = np.flatnonzero(moving.any(axis=1)), np.flatnonzero(moving.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def move_skin(image: np.ndarray, displacement: np.ndarray, strength: float,
              box: tuple[int, int, int, int]) -> np.ndarray:
    """Backward warp inside `box`: the pixel now at x came from x - d(x), so features move by +d.
    Outside the box the field is negligible and the photo is left as it is (a large saving)."""
    y0, y1, x0, x1 = box
    moved = image.copy()
    if strength <= 0 or y1 <= y0 or x1 <= x0:
        return moved
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    moved[y0:y1, x0:x1] = cv2.remap(image, xs - strength * displacement[0, y0:y1, x0:x1],
                                    ys - strength * displacement[1, y0:y1, x0:x1],
                                    interpolation=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    return moved


def render_frame(image: np.ndarray, displacement: np.ndarray | None, strength: float, matrix: np.ndarray,
                 size: tuple[int, int], appearance: Appearance, rng: np.random.Generator | None,
                 box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """One BGR uint8 frame: skin moved by ``strength * displacement`` (photo pixels), placed by
    ``matrix``, then colour, brightness and sensor noise."""
    moved = image
    if displacement is not None and strength > 0:
        moved = move_skin(image, displacement, strength, box or support_box(displacement))
    frame = cv2.warpAffine(moved, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    frame = frame.astype(np.float32) * np.array(appearance.colour_gain, dtype=np.float32) + appearance.brightness
    if rng is not None and appearance.noise_sigma > 0:
        frame += rng.standard_normal(frame.shape, dtype=np.float32) * np.float32(appearance.noise_sigma)
    return cv2.cvtColor(np.clip(frame, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)

"""Face detection (MTCNN), landmarks (dlib 68-point) and the canonical similarity alignment.

* :func:`detect_faces` runs facenet-pytorch's MTCNN (its weights ship inside the wheel) on a batch
  of same-sized RGB frames, optionally downscaled first (``detect_max_side``) because a face of a
  micro-expression dataset fills much of the frame and the detector's cost grows with the area.
* :func:`landmarks_in_box` runs dlib's 68-point shape predictor (the .dat file shipped by
  face-recognition-models) inside the detected box, on the full-resolution frame.
* :func:`alignment_matrix` is a closed-form weighted least-squares similarity (rotation, uniform
  scale, translation; never a reflection) taking the two eye centres and the mouth centre to
  canonical positions in a square output of side ``size``. With the default weights the eyes
  dominate (weight 1 each) and the mouth (``mouth_weight``) only steadies the scale; with
  ``mouth_weight: 0`` the eyes land exactly on their canonical points.
* :func:`warp` applies a matrix (scaled to any output size) to a frame.

The matrix is computed once per sample (on the onset frame) and applied to every frame, so the
crop does not jitter; head movement after the onset stays in the crops (and is removed from the
flow by the global-motion option of preprocess.flow).
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import cv2
import numpy as np

# Canonical positions as fractions of the output side (x, y): image-left eye (the subject's right
# eye), image-right eye, mouth centre (mean of the 12 outer-lip landmarks 48-59).
DEFAULT_CANONICAL = {"left_eye": (0.3, 0.38), "right_eye": (0.7, 0.38), "mouth": (0.5, 0.78)}


class FaceError(RuntimeError):
    """No face could be found or aligned; the message says where and why."""


@dataclass
class Face:
    box: np.ndarray          # (4,) x0, y0, x1, y1 in original frame pixels
    score: float
    landmarks: np.ndarray    # (68, 2) float32, original frame pixels
    frame: int               # frame number it was found on


@functools.lru_cache(maxsize=4)
def get_detector(device: str = "cpu", min_face_size: int = 40, thresholds: tuple = (0.6, 0.7, 0.7)):
    """A cached MTCNN (facenet-pytorch). Weights are loaded from the installed wheel, never downloaded."""
    from facenet_pytorch import MTCNN

    return MTCNN(keep_all=True, device=device, min_face_size=min_face_size, thresholds=list(thresholds),
                 post_process=False)


@functools.lru_cache(maxsize=1)
def get_predictor():
    """dlib's 68-point shape predictor from face-recognition-models (cached)."""
    import dlib

    with warnings.catch_warnings():  # face_recognition_models imports pkg_resources, which warns
        warnings.simplefilter("ignore", UserWarning)
        import face_recognition_models

    return dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())


def detect_faces(frames_rgb: list[np.ndarray], device: str = "cpu", max_side: int = 320, min_face_size: int = 40,
                 min_score: float = 0.9) -> list[tuple[np.ndarray, float] | None]:
    """The most confident face box (in original pixels) and its score for each frame, or None.

    Frames of equal shape are sent to MTCNN as one batch. ``max_side`` > 0 downscales each frame so
    its longer side is at most that many pixels before detection (boxes are scaled back).
    """
    if not frames_rgb:
        return []
    detector = get_detector(device, min_face_size)
    results: list[tuple[np.ndarray, float] | None] = [None] * len(frames_rgb)
    groups: dict[tuple, list[int]] = {}
    for i, frame in enumerate(frames_rgb):
        groups.setdefault(frame.shape, []).append(i)
    for shape, indices in groups.items():
        scale = 1.0
        if max_side and max(shape[:2]) > max_side:
            scale = max_side / max(shape[:2])
        batch = [frames_rgb[i] if scale == 1.0 else
                 cv2.resize(frames_rgb[i], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                 for i in indices]
        batch_array = np.stack(batch)
        boxes, probs = detector.detect(batch_array)
        for i, b, p in zip(indices, boxes, probs):
            if b is None or len(b) == 0:
                continue
            best = int(np.nanargmax(p))
            if p[best] is None or float(p[best]) < min_score:
                continue
            results[i] = (np.asarray(b[best], dtype=np.float64) / scale, float(p[best]))
    return results


def landmarks_in_box(frame_rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
    """(68, 2) float32 dlib landmarks of the face inside ``box`` (x0, y0, x1, y1)."""
    import dlib

    x0, y0, x1, y1 = (int(round(v)) for v in box)
    shape = get_predictor()(np.ascontiguousarray(frame_rgb), dlib.rectangle(x0, y0, x1, y1))
    return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)


def anchor_points(landmarks: np.ndarray) -> np.ndarray:
    """(3, 2): image-left eye centre (36-41), image-right eye centre (42-47), mouth centre (48-59)."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    return np.stack([landmarks[36:42].mean(0), landmarks[42:48].mean(0), landmarks[48:60].mean(0)])


def canonical_points(size: int, canonical: dict | None = None) -> np.ndarray:
    canonical = {**DEFAULT_CANONICAL, **(canonical or {})}
    return np.array([canonical["left_eye"], canonical["right_eye"], canonical["mouth"]], dtype=np.float64) * size


def similarity_lstsq(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """2x3 similarity (no reflection) minimising sum w_i |M src_i - dst_i|^2, in closed form.

    With complex numbers z' = a z + t: a = sum w (z - zm)* (z' - z'm) / sum w |z - zm|^2.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    w = np.ones(len(src)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.sum() <= 0:
        raise ValueError("similarity weights must not all be zero")
    w = w / w.sum()
    zs = src[:, 0] + 1j * src[:, 1]
    zd = dst[:, 0] + 1j * dst[:, 1]
    ms, md = (w * zs).sum(), (w * zd).sum()
    denom = (w * np.abs(zs - ms) ** 2).sum()
    if denom <= 1e-12:
        raise ValueError("anchor points coincide: cannot compute a similarity")
    a = (w * np.conj(zs - ms) * (zd - md)).sum() / denom
    t = md - a * ms
    return np.array([[a.real, -a.imag, t.real], [a.imag, a.real, t.imag]], dtype=np.float64)


def alignment_matrix(landmarks: np.ndarray, size: int, canonical: dict | None = None,
                     mouth_weight: float = 0.1) -> np.ndarray:
    """2x3 matrix from frame pixels to a ``size`` x ``size`` canonical crop (see module doc)."""
    return similarity_lstsq(anchor_points(landmarks), canonical_points(size, canonical),
                            np.array([1.0, 1.0, float(mouth_weight)]))


def scale_matrix(matrix: np.ndarray, factor: float) -> np.ndarray:
    """The same alignment for an output ``factor`` times larger (canonical points scale with the side)."""
    return np.asarray(matrix, dtype=np.float64) * factor


def warp(frame: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Apply a 2x3 alignment to a frame, giving a ``size`` x ``size`` crop (border replicated)."""
    return cv2.warpAffine(frame, np.asarray(matrix, dtype=np.float64), (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    return points @ np.asarray(matrix)[:, :2].T + np.asarray(matrix)[:, 2]


def find_face(frames: list[tuple[int, np.ndarray]], device: str = "cpu", max_side: int = 320,
              min_face_size: int = 40, min_score: float = 0.9) -> Face | None:
    """The face on the first frame of ``frames`` ((number, RGB) pairs, in order) that has one."""
    found = detect_faces([f for _, f in frames], device, max_side, min_face_size, min_score)
    for (number, frame), hit in zip(frames, found):
        if hit is not None:
            box, score = hit
            return Face(box=box, score=score, landmarks=landmarks_in_box(frame, box), frame=number)
    return None

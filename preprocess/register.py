"""Registration of a sample's later frames to its onset: the head drift inside one sample.

A sample is aligned once, on its onset frame (preprocess/face.py), so a head that drifts by a pixel
or two over the clip moves the whole face in the apex crop and the clip frames; the 3D branch then
sees the drift, which is larger than the micro-expression, rather than the expression. Each later
frame's global motion relative to the onset is estimated on the aligned grey crops (Farneback flow,
the robust affine fit of preprocess/flow.py over the face ellipse, so local AU motion is left out
of it) and folded into that frame's crop matrix: the frame is warped once, from the source, onto
the onset's face. The motion is estimated at ``register_size`` (112, or the crop size if smaller):
Farneback costs 1.6 ms a frame at 64², 5.5 at 112² and 24 at 224² on one core.
``preprocess.register_frames: false`` turns it off.
"""

from __future__ import annotations

import numpy as np

from preprocess.flow import face_mask, fit_affine, motion_matrix, optical_flow


def frame_motion(onset_grey: np.ndarray, frame_grey: np.ndarray) -> np.ndarray:
    """(3, 3) affine map of crop points from the onset to where they are in the frame."""
    flow = optical_flow(onset_grey, frame_grey, "farneback")
    return motion_matrix(fit_affine(flow, face_mask(onset_grey.shape[0])))


def rescale_motion(motion: np.ndarray, factor: float) -> np.ndarray:
    """``motion`` estimated on a grid ``factor`` times smaller, in the coordinates of the larger one."""
    scale = np.diag([factor, factor, 1.0])
    return scale @ motion @ np.linalg.inv(scale)


def registered_matrix(matrix: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """The 2x3 crop matrix (frame -> crop) that undoes ``motion``: the registered crop at p is the
    frame's crop at motion(p), so its matrix is motion^-1 @ matrix."""
    full = np.vstack([np.asarray(matrix, np.float64), [0.0, 0.0, 1.0]])
    return (np.linalg.inv(motion) @ full)[:2]


def motion_size(motion: np.ndarray, side: int) -> float:
    """Largest displacement, in crop pixels, that ``motion`` gives a corner of a ``side`` crop."""
    corners = np.array([[0, 0, 1], [side, 0, 1], [0, side, 1], [side, side, 1]], np.float64).T
    return float(np.abs((motion @ corners - corners)[:2]).max())

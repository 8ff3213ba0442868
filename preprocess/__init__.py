"""Preprocessing stage: face detection and alignment, crops, optical flow, clips (docs/preprocessing.md).

Modules: ``face`` (MTCNN + dlib landmarks, canonical similarity alignment), ``flow`` (TV-L1 /
Farneback, global-motion removal, optical strain, normalisation), ``clip`` (T-frame temporal
sampling), ``apex`` (estimating an unannotated apex), ``run`` (one (dataset, subject) from a
manifest), ``artifact`` (the per-subject .npz + .json and its loader), ``qc`` (the QC figure),
``settings`` (config defaults).

Later stages read the artefacts only through :func:`load_subject` (schema: docs/artifacts.md).
"""

from preprocess.artifact import load_subject

__all__ = ["load_subject"]

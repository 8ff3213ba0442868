"""Preprocessing of a precomputed release (format megc2019_public): its images into the artefact.

Per sample: ``apex_rgb`` is the release's apex crop resized to ``crop_size`` (``colour: grey`` as
for the frames); ``flow`` is the flow PNG's u, v, strain channels as stored (0..255, min-max per
image: the sidecar's ``flow_encoding`` is ``minmax_255``, decoded by famnet.data); ``landmarks``
are dlib's 68 points on the crop (crop pixels) in the MTCNN box, and ``align_matrix`` is the crop's
own mapping to the ``crop_size`` side, so HTNet's regions come out as for the video formats.

The crops are tight (the face fills the 224 x 224 image, the forehead cut off). On the crop itself
MTCNN returns boxes far larger than the face (up to twice the crop's side), in which dlib's points
miss the eyes by tens of pixels; so the face is searched on the crop padded into a canvas twice its
side (edge pixels replicated), where the box fits the face (``face_source: padded``, the normal
case). Where that finds none, the crop itself is tried (``unpadded``), and where that also fails
the whole crop is the box given to dlib (``crop_box``: it is a face crop). Every sample's
``face_source`` is in the sidecar; the fallbacks (unpadded, crop_box) are counted in the dataset's
preprocess report, marked red in the QC figure and printed as warnings: never a silent default.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from famnet.datasets.megc2019_public import CROP_SIDE, FLOW_SIDE, read_image
from preprocess.face import detect_faces, get_detector, get_predictor, landmarks_in_box
from preprocess.run import PreprocessError, as_grey_rgb

FACE_SOURCES = ("padded", "unpadded", "crop_box")
FALLBACKS = ("unpadded", "crop_box")
PAD_FACTOR = 2      # the canvas side, in crop sides, for the second search


def crop_face(crop: np.ndarray, settings: dict) -> tuple[np.ndarray, float, str]:
    """(box x0, y0, x1, y1 in crop pixels, MTCNN score or 0, face_source) of a release's apex crop."""
    def detect(image):
        return detect_faces([image], settings["device"], 0, settings["min_face_size"], settings["min_face_score"])[0]

    side = crop.shape[0]
    pad = side * (PAD_FACTOR - 1) // 2
    found = detect(cv2.copyMakeBorder(crop, pad, pad, pad, pad, cv2.BORDER_REPLICATE))
    if found is not None:    # the box may reach past the crop (the forehead is cut off): dlib takes it so
        return found[0] - pad, found[1], "padded"
    found = detect(crop)
    if found is not None:
        return found[0], found[1], "unpadded"
    return np.array([0.0, 0.0, side, side]), 0.0, "crop_box"


def process_release_sample(row, settings: dict) -> tuple[dict, dict]:
    root = Path(row.frames_dir)
    try:
        flow_image = read_image(root / row.flow_file, FLOW_SIDE, "flow image", flow=True)
        crop = read_image(root / row.apex_file, CROP_SIDE, "apex crop image")
    except ValueError as exc:
        raise PreprocessError(row.dataset, str(exc), row.subject, row.sample) from None
    s = settings["crop_size"]
    apex_rgb = crop if s == crop.shape[0] else cv2.resize(crop, (s, s), interpolation=cv2.INTER_AREA)
    if settings["colour"] == "grey":
        apex_rgb = as_grey_rgb(apex_rgb)
    box, score, source = crop_face(crop, settings)
    landmarks = landmarks_in_box(crop, box)     # dlib reads pixels inside the image only; the box may exceed it
    scale = s / crop.shape[0]
    arrays = {"sample": row.sample, "apex_rgb": apex_rgb,
              "flow": flow_image.transpose(2, 0, 1).astype(np.float16),      # u, v, strain as stored, 0..255
              "landmarks": landmarks.astype(np.float32),
              "align_matrix": np.array([[scale, 0, 0], [0, scale, 0]], np.float32),
              "face_box": np.asarray(box, np.float32), "face_score": np.float32(score)}
    meta = {"sample": row.sample, "face_source": source, "face_score": round(float(score), 4),
            "apex_source": "release", "flow_file": row.flow_file, "apex_file": row.apex_file}
    meta["face_fallback"] = source in FALLBACKS
    if source in FALLBACKS:
        fallback = ("found on the crop itself (a box larger than the face)" if source == "unpadded" else
                    "the whole crop is the face box for the landmarks")
        problem = PreprocessError(row.dataset, f"MTCNN found no face on the apex crop padded into a larger canvas; "
                                               f"{fallback}", row.subject, row.sample)
        print(f"warning: {problem}", file=sys.stderr)
    return arrays, meta


def process_release_subject(rows: pd.DataFrame, dataset: str, settings: dict, progress: bool = False) -> tuple[dict, dict]:
    from tqdm import tqdm

    started = time.perf_counter()
    get_detector(settings["device"], settings["min_face_size"])
    get_predictor()
    per_sample, metas = [], []
    bar = tqdm(list(rows.itertuples(index=False)), desc=f"{dataset}/{rows['subject'].iloc[0].split('/', 1)[-1]}",
               unit="sample", disable=not progress, file=sys.stderr, mininterval=0, ascii=True)
    for row in bar:
        arrays, meta = process_release_sample(row, settings)
        per_sample.append(arrays)
        metas.append(meta)
    stacked = {k: np.stack([np.asarray(a[k]) for a in per_sample]) for k in per_sample[0]}
    counts = {source: sum(m["face_source"] == source for m in metas) for source in FACE_SOURCES}
    meta = {"dataset": dataset, "subject": rows["subject"].iloc[0], "samples": metas, "skipped": [],
            "settings": settings, "format": "megc2019_public", "flow_encoding": "minmax_255",
            "face_sources": counts, "timing_s": {"total": round(time.perf_counter() - started, 4)},
            "frames_decoded": 0}
    return stacked, meta

"""Defaults of the ``preprocess:`` config section (documented in docs/preprocessing.md and in
workflow/schemas/config.schema.yaml) and the merge of a user's section over them."""

from __future__ import annotations

import copy

from preprocess.flow import FARNEBACK_DEFAULTS, TVL1_DEFAULTS

DEFAULTS: dict = {
    "device": "cpu",              # MTCNN device: cpu or cuda
    "crop_size": 224,             # side of the aligned onset / apex RGB crops (2D branch)
    "clip_size": 112,             # side of the clip frames (3D branch)
    "clip_length": 16,            # T: frames per clip, onset..offset
    "clip_sampling": "span",      # span: T frames over onset..offset; time: T frames over clip_seconds at the fps
    "clip_seconds": 0.5,          # time: the clip's duration from the onset (the micro-expression limit)
    "fps": None,                  # the dataset's frame rate (the rule passes it; datasets.base.FRAME_RATES)
    "colour": "keep",             # keep: frames as recorded (SAMM's grey in 3 equal channels); grey: every dataset grey
    "flow_size": 128,             # side of the grid the onset->apex flow is computed on
    "canonical": {"left_eye": [0.3, 0.38], "right_eye": [0.7, 0.38], "mouth": [0.5, 0.78]},
    "mouth_weight": 0.1,          # weight of the mouth anchor in the similarity fit (eyes: 1 each)
    "detect_max_side": 320,       # downscale frames to this longer side before MTCNN (0: never)
    "min_face_size": 40,          # MTCNN's smallest face, in pixels of the (downscaled) detector input
    "min_face_score": 0.9,        # MTCNN probability below which a box is not a face
    "face_search_frames": 5,      # onset and the next 4 frames are tried before giving up on a sample
    "on_no_face": "error",        # error: stop the job; skip: leave the sample out, listed in the report
    "damaged_frames": {           # a frame file that exists but does not decode completely
        "policy": "error",        # error: stop the job; nearest: use the nearest readable frame (recorded)
        "window": 2,              # nearest: at most this many frames away, inside onset..offset
    },
    "register_frames": True,      # warp the apex and clip frames onto the onset face (head drift)
    "register_size": 112,         # side of the grey crops the head motion is estimated on (at most crop_size)
    "flow": {
        "method": "tvl1",         # tvl1 (OpenCV contrib DualTVL1) or farneback (faster)
        "remove_global_motion": True,   # subtract the affine motion fitted over the face (head drift)
        "normalise": "none",      # none (pixels of the flow grid) or max (per sample, to [-1, 1] / [0, 1])
        "tvl1": dict(TVL1_DEFAULTS),
        "farneback": dict(FARNEBACK_DEFAULTS),
    },
    "apex": {
        "max_candidates": 16,     # frames scored for an unannotated apex (every k-th onset..offset)
        "size": 64,               # side of the grey crops the apex score's flow is computed on
    },
    "reduced_decode": True,       # decode frames for smaller outputs (clip, apex) at 1/2, 1/4, 1/8 size
    "compress": True,             # np.savez_compressed for the per-subject artefact
    "threads": 1,                 # threads of one preprocess job (torch and OpenCV)
}


def resolve(section: dict | None) -> dict:
    """DEFAULTS with a config's ``preprocess:`` section merged over them (nested keys update).

    The section is checked against the config schema first, so unknown keys and bad choices raise
    famnet.config.ConfigError naming the key also in direct CLI / library use.
    """
    from famnet.config import deep_update, validate_section

    validate_section("preprocess", section or {})
    return deep_update(copy.deepcopy(DEFAULTS), copy.deepcopy(section or {}))

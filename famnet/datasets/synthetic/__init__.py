"""Synthetic micro-expression datasets in the real distributed layouts.

A real face photograph (one identity, varied per subject in scale, rotation, position, colour,
brightness, mirror and noise) is moved by smooth local displacement fields anchored on facial
landmarks, one pattern per AU (motion.py), rising from onset to apex and falling to offset, with
slow global head drift and sensor noise on top. Peak displacement is ``amplitude_px`` at 640x480
(scaled with the frame). Labels follow real data: positive = AU6+AU12, negative = AU4 with some of
AU7/9/10/14/15, surprise = AU1+AU2 with some of AU25/26; the sheets' AU strings are what was drawn.

``generate()`` writes every requested format under one folder, plus ``truth.csv`` (what was drawn,
for tests) and ``generation.json`` (settings and the layout paths for config).
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from famnet.datasets.base import FRAME_RATES, GREYSCALE_FORMATS
from famnet.datasets.synthetic.face import (Appearance, base_face, compose, eye_centres, render_frame,
                                           subject_transform, support_box)
from famnet.datasets.synthetic.layouts import LAYOUT_PATHS, au_code, frame_path, write_sheet
from famnet.datasets.synthetic.motion import displacement_field, intensity_profile
from famnet.datasets.synthetic.plan import FORMAT_INDEX, PRESETS, SampleSpec, plan_format, resolve_settings

JPEG_QUALITY = 95
DRIFT_PX = 3.0          # peak head translation at 640x480 over one clip
DRIFT_DEG = 0.4         # peak head rotation over one clip
SIGMA_IOD = 0.22        # AU bump width as a fraction of the inter-ocular distance


def subject_appearance(fmt: str, subject_index: int, seed: int) -> Appearance:
    return Appearance.draw(np.random.default_rng([seed, FORMAT_INDEX[fmt], 1, subject_index]))


def head_drift(n: int, size: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Slow, smooth head movement: (n, 2) shifts in pixels and (n,) angles in degrees."""
    t = np.linspace(0.0, 1.0, n)
    def smooth(amplitude: float) -> np.ndarray:
        phase, freq = rng.uniform(0, 2 * np.pi), rng.uniform(0.3, 0.8)
        return amplitude * rng.uniform(0.5, 1.0) * (np.sin(2 * np.pi * freq * t + phase) - np.sin(phase))
    scale = size[0] / 640.0
    shifts = np.stack([smooth(DRIFT_PX * scale), smooth(DRIFT_PX * scale)], axis=1)
    return shifts, smooth(DRIFT_DEG)


def render_sample(spec: SampleSpec, settings: dict, seed: int, drift: bool = True, noise: bool = True):
    """Yield (frame number, BGR frame) for every written frame of a sample."""
    image, landmarks = base_face()
    size = (settings["width"], settings["height"])
    appearance = subject_appearance(spec.format, spec.subject_index, seed)
    if not noise:
        appearance = Appearance(**{**appearance.__dict__, "noise_sigma": 0.0})
    matrix = subject_transform(appearance, landmarks, size)
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    iod = float(np.linalg.norm(np.subtract(*eye_centres(landmarks))))
    # Displacement is drawn in photo pixels; amplitude_px is meant at 640x480.
    peak_photo_px = settings["amplitude_px"] * (size[0] / 640.0) / scale
    field = displacement_field(spec.events, landmarks, image.shape[:2], SIGMA_IOD * iod) * peak_photo_px
    rng = np.random.default_rng([seed, FORMAT_INDEX[spec.format], 2, spec.sample_index])
    total = spec.total_frames
    onset = spec.pad[0]
    profile = intensity_profile(total, onset, onset + spec.apex_index, onset + spec.n_frames - 1)
    shifts, angles = head_drift(total, size, rng)
    box = support_box(field)
    for i in range(total):
        frame_matrix = compose(matrix, tuple(shifts[i]), float(angles[i]), size) if drift else matrix
        frame = render_frame(image, field, float(profile[i]), frame_matrix, size, appearance,
                             rng if noise else None, box)
        yield spec.first_frame + i, frame


def write_sample(spec: SampleSpec, settings: dict, seed: int, root: Path) -> None:
    """Render one sample and write its frames in its layout under `root`."""
    for number, frame in render_sample(spec, settings, seed):
        path = frame_path(spec, root, number)
        path.parent.mkdir(parents=True, exist_ok=True)
        if spec.format in GREYSCALE_FORMATS:     # as the release: one-channel JPEGs
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if not cv2.imwrite(str(path), frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
            raise OSError(f"could not write {path}")


def generate(out_dir, size: str = "tiny", seed: int = 0, formats=("casme2", "samm", "smic"),
             progress: bool = True, workers: int = 1, **overrides) -> dict:
    """Write the synthetic datasets under `out_dir` (atomically: built beside it, then renamed).

    ``workers`` > 1 renders samples in that many processes; the output is identical, since every
    sample has its own random stream."""
    out_dir = Path(out_dir)
    settings = resolve_settings(size, overrides)
    staging = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    plans = {fmt: plan_format(fmt, settings, seed) for fmt in formats}
    jobs = [(spec, settings, seed, staging / LAYOUT_PATHS[fmt][0]) for fmt, specs in plans.items() for spec in specs]
    bar = tqdm(total=len(jobs), desc=f"synthetic {size}", unit="sample", disable=not progress)
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for future in as_completed([pool.submit(write_sample, *job) for job in jobs]):
                future.result()
                bar.update()
    else:
        for job in jobs:
            write_sample(*job)
            bar.update()
    bar.close()
    truth = []
    for fmt, specs in plans.items():
        mirrored = {s.subject_index: subject_appearance(fmt, s.subject_index, seed).mirror for s in specs}
        truth += [_truth_row(spec, au_code(spec, mirrored[spec.subject_index]), mirrored[spec.subject_index])
                  for spec in specs]
        write_sheet(fmt, specs, mirrored, staging)
    pd.DataFrame(truth).to_csv(staging / "truth.csv", index=False)
    info = {"size": size, "seed": seed, "formats": list(formats), "settings": settings,
            "layouts": {fmt: {"root": LAYOUT_PATHS[fmt][0], "annotation": LAYOUT_PATHS[fmt][1]} for fmt in formats},
            "samples": {fmt: len(p) for fmt, p in plans.items()},
            "fps": {fmt: FRAME_RATES[fmt] for fmt in formats},
            "greyscale": [fmt for fmt in formats if fmt in GREYSCALE_FORMATS]}
    (staging / "generation.json").write_text(json.dumps(info, indent=2) + "\n")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    staging.rename(out_dir)
    return info


def _truth_row(spec: SampleSpec, aus_label: str, mirrored: bool) -> dict:
    return {"format": spec.format, "subject": spec.subject, "sample": spec.sample,
            "emotion_class": spec.emotion_class, "emotion": spec.emotion, "aus_label": aus_label,
            "aus_drawn": "+".join(e.code() for e in spec.events), "mirrored": mirrored,
            "onset": spec.onset, "apex": spec.apex, "offset": spec.offset, "apex_unknown": spec.apex_unknown,
            "first_frame": spec.first_frame, "last_frame": spec.first_frame + spec.total_frames - 1}


__all__ = ["PRESETS", "LAYOUT_PATHS", "generate", "render_sample", "plan_format", "resolve_settings"]

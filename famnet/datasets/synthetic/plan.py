"""What to generate: presets, subjects, samples, their emotions, AUs and timing (no pixels here)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd

from famnet.datasets.base import FRAME_RATES
from famnet.datasets.synthetic.motion import AUEvent, sample_aus

FORMAT_INDEX = {"casme2": 0, "samm": 1, "smic": 2, "mmew": 3, "casme3": 4}

PRESETS = {
    # CI: a few subjects per dataset, a few samples per class, ~24 frames of 320x240.
    "tiny": dict(subjects=2, samples_per_class=2, others_per_subject=0, n_frames=24, width=320, height=240,
                 amplitude_px=2.5, realistic_lengths=True, megc_list=False),
    # The README's demo (./pipeline.sh run): six subjects, twelve samples each, in a few core-minutes.
    "demo": dict(subjects=2, samples_per_class=4, others_per_subject=0, n_frames=28, width=320, height=240,
                 amplitude_px=2.5, realistic_lengths=True, megc_list=False),
    # Benchmarks at paper sizes (docs/performance.md): twelve subjects.
    "small": dict(subjects=4, samples_per_class=3, others_per_subject=0, n_frames=28, width=320, height=240,
                  amplitude_px=2.5, realistic_lengths=False, megc_list=False),
    # Benchmarks: the MEGC2019 composite's shape (68 subjects, 442 samples, same ids), 640x480,
    # clip lengths of the real frame rates.
    "full": dict(subjects=10, samples_per_class=3, others_per_subject=0, n_frames=64, width=640, height=480,
                 amplitude_px=2.0, realistic_lengths=True, megc_list=True),
}

# Onset->offset length relative to the 200 fps datasets, for realistic_lengths: the same movement
# recorded at each release's frame rate (SMIC 100, MMEW 90, CAS(ME)^3 30 fps) has that many fewer
# frames. n_frames is the length at 200 fps.
FPS_FACTOR = {fmt: rate / 200 for fmt, rate in FRAME_RATES.items()}
# Neutral frames written before the onset and after the offset in each layout.
PADDING = {"casme2": (0, 0), "samm": (3, 3), "smic": (0, 0), "mmew": (0, 2), "casme3": (6, 6)}

VOCABULARY = {
    "casme2": {"negative": ["disgust", "repression"], "positive": ["happiness"], "surprise": ["surprise"],
               "others": ["others"]},
    "samm": {"negative": ["Anger", "Contempt", "Disgust", "Fear", "Sadness"], "positive": ["Happiness"],
             "surprise": ["Surprise"], "others": ["Other"]},
    "smic": {"negative": ["negative"], "positive": ["positive"], "surprise": ["surprise"]},
    "mmew": {"negative": ["disgust", "fear", "sadness", "anger"], "positive": ["happiness"],
             "surprise": ["surprise"], "others": ["others"]},
    "casme3": {"negative": ["disgust", "fear", "anger", "sad"], "positive": ["happy"], "surprise": ["surprise"],
               "others": ["others"]},
}
SMIC_ABBREVIATION = {"negative": "ne", "positive": "po", "surprise": "sur"}
CLASSES = ("negative", "positive", "surprise")


@dataclass
class SampleSpec:
    """One micro-expression to draw, in its dataset's own naming."""

    format: str
    subject_index: int
    subject: str            # the dataset's own subject id as written in its layout
    sample: str             # the dataset's own sample / file name
    emotion_class: str      # negative | positive | surprise | others
    emotion: str            # the dataset's own word
    events: list[AUEvent]
    n_frames: int           # onset..offset inclusive
    apex_index: int         # apex position within onset..offset
    first_frame: int        # frame number of the first written frame
    pad: tuple[int, int]
    apex_unknown: bool = False
    sample_index: int = 0

    @property
    def onset(self) -> int:
        return self.first_frame + self.pad[0]

    @property
    def apex(self) -> int:
        return self.onset + self.apex_index

    @property
    def offset(self) -> int:
        return self.onset + self.n_frames - 1

    @property
    def total_frames(self) -> int:
        return self.n_frames + self.pad[0] + self.pad[1]


def resolve_settings(size: str, overrides: dict) -> dict:
    if size not in PRESETS:
        raise ValueError(f"unknown synthetic size {size!r}; expected one of {sorted(PRESETS)}")
    settings = dict(PRESETS[size])
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return settings


def megc2019_list() -> pd.DataFrame:
    """The official MEGC2019 composite list shipped as protocol data (format, subject, sample, class)."""
    with resources.files("famnet.protocol_data").joinpath("megc2019.csv").open() as handle:
        return pd.read_csv(handle, dtype=str)


def _subject_id(fmt: str, index: int) -> str:
    return {"casme2": f"sub{index + 1:02d}", "samm": f"{index + 6:03d}", "smic": f"s{index + 1}",
            "mmew": str(index + 1), "casme3": f"spNO.{index + 1}"}[fmt]


def _sample_name(fmt: str, subject: str, index: int, emotion_class: str, class_count: int) -> str:
    if fmt == "casme2":
        return f"EP{index + 1:02d}_{(3 * index) % 7 + 1:02d}" + ("f" if index % 2 == 0 else "")
    if fmt == "samm":
        return f"{subject}_{index % 7 + 1}_{index + 1}"
    if fmt == "smic":
        return f"{subject}_{SMIC_ABBREVIATION[emotion_class]}_{class_count + 1:02d}"
    if fmt == "mmew":
        return f"S{int(subject):02d}-{index + 1:02d}-001"
    return "a"  # casme3: every ME of a subject lies in material 'a'; the sample id adds the onset


def _subject_classes(settings: dict, fmt: str) -> list[str]:
    classes = [c for c in CLASSES for _ in range(settings["samples_per_class"])]
    if fmt != "smic":
        classes += ["others"] * settings["others_per_subject"]
    return classes


def _draw_sample(fmt: str, settings: dict, rng: np.random.Generator, subject_index: int, subject: str,
                 sample: str, emotion_class: str, sample_index: int) -> SampleSpec:
    length = settings["n_frames"] * (FPS_FACTOR[fmt] if settings["realistic_lengths"] else 1.0)
    n_frames = max(8, int(round(length * rng.uniform(0.8, 1.2))))
    apex_index = int(round((n_frames - 1) * rng.uniform(0.3, 0.5)))
    first_frame = 1 if fmt in ("mmew", "casme3") else int(rng.integers(20, 3000))
    return SampleSpec(
        format=fmt, subject_index=subject_index, subject=subject, sample=sample,
        emotion_class=emotion_class, emotion=str(rng.choice(VOCABULARY[fmt][emotion_class])),
        events=sample_aus(emotion_class, rng), n_frames=n_frames, apex_index=apex_index,
        first_frame=first_frame, pad=PADDING[fmt],
        # CASME II's sheet has an unknown apex ("/"): every 8th CASME II sample gets one.
        apex_unknown=(fmt == "casme2" and sample_index % 8 == 3), sample_index=sample_index,
    )


def plan_format(fmt: str, settings: dict, seed: int) -> list[SampleSpec]:
    """Every sample of one format, deterministic in (seed, format)."""
    rng = np.random.default_rng([seed, FORMAT_INDEX[fmt], 0])
    specs: list[SampleSpec] = []
    if settings["megc_list"] and fmt in ("casme2", "samm", "smic"):
        listed = megc2019_list()
        listed = listed[listed["format"] == fmt]
        subjects = list(dict.fromkeys(listed["subject"]))
        for row in listed.to_dict("records"):
            # SMIC's folders say s1 / s1_ne_01 where the list says s01 / s01_ne_01.
            subject = row["subject"] if fmt != "smic" else f"s{int(row['subject'][1:])}"
            sample = row["sample"] if fmt != "smic" else f"{subject}_{row['sample'].split('_', 1)[1]}"
            specs.append(_draw_sample(fmt, settings, rng, subjects.index(row["subject"]), subject, sample,
                                      row["class"], len(specs)))
        return specs
    for subject_index in range(settings["subjects"]):
        subject = _subject_id(fmt, subject_index)
        counts = {c: 0 for c in (*CLASSES, "others")}
        classes = _subject_classes(settings, fmt)
        order = rng.permutation(len(classes))
        for index, class_position in enumerate(order):
            emotion_class = classes[class_position]
            sample = _sample_name(fmt, subject, index, emotion_class, counts[emotion_class])
            counts[emotion_class] += 1
            specs.append(_draw_sample(fmt, settings, rng, subject_index, subject, sample, emotion_class, len(specs)))
    if fmt == "casme3":
        _place_in_one_sequence(specs)
    return specs


def _place_in_one_sequence(specs: list[SampleSpec]) -> None:
    """CAS(ME)^3: a subject's MEs follow each other in one long material sequence."""
    next_frame: dict[int, int] = {}
    for spec in specs:
        spec.first_frame = next_frame.get(spec.subject_index, 1)
        next_frame[spec.subject_index] = spec.first_frame + spec.total_frames

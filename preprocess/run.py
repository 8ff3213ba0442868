"""Process one (dataset, subject) of a manifest into its artefact.

Per sample, only the frames that are used are decoded: the onset (plus up to
``face_search_frames - 1`` following frames when no face is found on it), the apex, the clip's
frames, and, where the apex is unknown, the apex candidates. The face is detected once per sample,
on the onset frame (all onset frames of the subject go to MTCNN as one batch); the alignment found
there is applied to every frame of the sample. A damaged frame (zero bytes, truncated, garbage) stops
the job or, with ``damaged_frames.policy: nearest``, is replaced by the nearest readable frame
(docs/preprocessing.md, "Damaged frames").
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from famnet.datasets.base import DatasetError
from preprocess import apex as apex_mod
from preprocess.artifact import empty_arrays, write_subject
from preprocess.clip import assemble_clip, clip_plan, frames_needed, sample_times
from preprocess.face import (Face, alignment_matrix, detect_faces, find_face, get_detector, get_predictor,
                             landmarks_in_box, scale_matrix, warp)
from preprocess.flow import flow_with_strain
from preprocess.register import frame_motion, motion_size, registered_matrix, rescale_motion
from preprocess.settings import DEFAULTS, resolve

STAGES = ("load", "decode", "detect", "align", "register", "apex", "flow", "clip")


class PreprocessError(DatasetError):
    """A sample cannot be preprocessed; the message names the dataset, subject and sample."""


class NoFaceError(PreprocessError):
    """No face on the onset frame nor on the frames tried after it."""


class DamagedFrameError(PreprocessError):
    """A frame file exists but does not decode completely, and no readable frame may stand in for it."""


class Timer:
    """Accumulates seconds per stage (decode, detect, align, register, apex, flow, clip) and counts
    decoded frames."""

    def __init__(self):
        self.seconds = defaultdict(float)
        self.frames_decoded = 0

    def add(self, stage: str, started: float) -> None:
        self.seconds[stage] += time.perf_counter() - started

    @contextlib.contextmanager
    def stage(self, name: str):
        """Time a block as ``name``, minus the decoding and the other stages timed inside it (each
        counted as itself: registering the clip's frames is ``register``, not ``clip``)."""
        inside, started = sum(self.seconds.values()), time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started - (sum(self.seconds.values()) - inside)
            self.seconds[name] += elapsed


REDUCED_FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                 8: cv2.IMREAD_REDUCED_COLOR_8}
END_MARKERS = {b"\xff\xd8": (b"\xff\xd9", "truncated JPEG, no end-of-image marker"),
               b"\x89PNG": (b"IEND", "truncated PNG, no IEND chunk")}   # file signature -> last marker
END_SLACK = 64         # bytes searched for the end marker: some writers pad the file after it


def damage(data: bytes) -> str | None:
    """Why a frame file's bytes are not a complete image, from the signature and the last bytes only
    (cheap; on every decode), or None. A half-written JPEG lacks its end-of-image marker: cv2.imread
    would still decode it, greying the missing part, with only libjpeg's warning on stderr."""
    if not data:
        return "zero bytes"
    for signature, (marker, reason) in END_MARKERS.items():
        if data.startswith(signature) and marker not in data[-END_SLACK:]:
            return reason
    return None


def nearest_frames(number: int, window: int, first: int, last: int) -> list[int]:
    """Stand-ins for frame ``number``: within ±window and first..last, nearest first; of two equally near,
    the earlier one (holding the last good frame, as a video player does)."""
    return [n for d in range(1, window + 1) for n in (number - d, number + d) if first <= n <= last]


class FrameReader:
    """Decodes frames of one sample on demand (RGB), each (frame, reduction) at most once.

    ``reduce`` 2, 4 or 8 decodes the JPEG at 1/2, 1/4 or 1/8 of its size (libjpeg's scaled IDCT,
    cheaper than a full decode); a reduced pixel (x, y) covers the full-size pixels around
    (r x + (r - 1) / 2, r y + (r - 1) / 2). A frame already decoded at full size is reduced by a box
    average instead of being decoded again.

    A damaged frame raises DamagedFrameError (``damaged``: the ``damaged_frames`` settings, policy
    error) or is replaced by the nearest readable frame of the sample (policy nearest); every
    replacement is in ``substitutions`` and printed as a warning.
    """

    def __init__(self, row, dataset: str, timer: Timer, damaged: dict | None = None):
        self.dir = Path(row.frames_dir)
        self.pattern = row.frame_pattern
        self.dataset, self.subject, self.sample = dataset, row.subject, row.sample
        self.onset, self.offset = int(row.onset), int(row.offset)
        self.policy = damaged or DEFAULTS["damaged_frames"]
        self.timer = timer
        self.cache: dict[tuple[int, int], np.ndarray] = {}
        self.decoded: list[tuple[int, int]] = []   # (frame, reduction) of every JPEG decode
        self.damaged: dict[int, str] = {}           # frame -> why it is unusable
        self.used: dict[int, int] = {}              # frame asked for -> frame read for it
        self.substitutions: list[dict] = []         # {"frame", "used", "reason"}, in the order met

    def path(self, number: int) -> Path:
        return self.dir / self.pattern.format(number)

    def error(self, message: str, kind: type = PreprocessError) -> PreprocessError:
        return kind(self.dataset, message, self.subject, self.sample)

    def __call__(self, number: int, reduce: int = 1) -> np.ndarray:
        if number not in self.used:
            self.used[number] = self._choose(number, reduce)
        return self._frame(self.used[number], reduce)

    def _choose(self, number: int, reduce: int) -> int:
        """``number`` if it decodes, else (policy nearest) the nearest frame that does."""
        if self._readable(number, reduce):
            return number
        damaged = f"frame {number} is damaged ({self.damaged[number]}): {self.path(number)}"
        if self.policy["policy"] == "error":
            raise self.error(damaged, DamagedFrameError)
        window = self.policy["window"]
        for other in nearest_frames(number, window, self.onset, self.offset):
            if self._readable(other, reduce):
                self.substitutions.append({"frame": number, "used": other, "reason": self.damaged[number]})
                print(f"warning: damaged frame: {self.error(damaged)}; frame {other} used instead", file=sys.stderr)
                return other
        raise self.error(f"{damaged}; no readable frame was found within ±{window} frames "
                         f"(onset..offset {self.onset}..{self.offset})", DamagedFrameError)

    def _readable(self, number: int, reduce: int) -> bool:
        """Whether the frame decodes completely (it is then cached); a damaged one is remembered, not retried."""
        if number not in self.damaged:
            with contextlib.suppress(DamagedFrameError):
                self._frame(number, reduce)
        return number not in self.damaged

    def _frame(self, number: int, reduce: int) -> np.ndarray:
        key = (number, reduce)
        if key not in self.cache:
            started = time.perf_counter()
            full = self.cache.get((number, 1))
            if full is not None:   # already decoded at full size: a 2x2 / 4x4 box average is the same grid
                height, width = full.shape[:2]
                self.cache[key] = cv2.resize(full, (-(-width // reduce), -(-height // reduce)),
                                             interpolation=cv2.INTER_AREA)
            else:
                self.cache[key] = cv2.cvtColor(self._decode(number, reduce), cv2.COLOR_BGR2RGB)
                self.timer.frames_decoded += 1
                self.decoded.append(key)
            self.timer.add("decode", started)
        return self.cache[key]

    def _decode(self, number: int, reduce: int) -> np.ndarray:
        """BGR frame from the file's bytes, read once; a missing file is an error whatever the policy."""
        path = self.path(number)
        try:
            data = path.read_bytes()
        except OSError:
            raise self.error(f"cannot read frame {number}: {path}") from None
        reason = damage(data)
        frame = None if reason else cv2.imdecode(np.frombuffer(data, np.uint8), REDUCED_FLAGS[reduce])
        if frame is None:   # garbage, or (this OpenCV's imdecode) libjpeg's premature end of data
            self.damaged[number] = reason or "cannot be decoded"
            raise self.error(f"frame {number} is damaged ({self.damaged[number]}): {path}", DamagedFrameError)
        return frame


def as_grey_rgb(rgb: np.ndarray) -> np.ndarray:
    """``colour: grey``: the crop's luminance in all three channels (what a greyscale release, SAMM,
    gives every frame), so colour cannot tell the datasets apart."""
    return cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)


def reduction_for(matrix: np.ndarray, allow: bool = True) -> int:
    """The largest JPEG reduction (1, 2, 4, 8) after which ``matrix`` still does not enlarge the frame."""
    scale = float(np.sqrt(abs(np.linalg.det(np.asarray(matrix)[:, :2]))))
    factor = 1
    while allow and factor < 8 and scale * factor * 2 <= 1.0 + 1e-6:
        factor *= 2
    return factor


def for_reduced(matrix: np.ndarray, factor: int) -> np.ndarray:
    """``matrix`` (full-size frame -> crop) re-expressed for a frame decoded at 1/factor size."""
    if factor == 1:
        return matrix
    to_full = np.array([[factor, 0.0, (factor - 1) / 2], [0.0, factor, (factor - 1) / 2], [0.0, 0.0, 1.0]])
    return np.asarray(matrix, dtype=np.float64) @ to_full


def _local(subject: str) -> str:
    return subject.split("/", 1)[1] if "/" in subject else subject


def subject_rows(manifest: pd.DataFrame, dataset: str, subject: str) -> pd.DataFrame:
    """Rows of one subject; ``subject`` may be local (``sub01``) or namespaced (``casme2/sub01``)."""
    namespaced = subject if subject.startswith(f"{dataset}/") else f"{dataset}/{subject}"
    rows = manifest[manifest["subject"] == namespaced]
    if rows.empty:
        known = sorted(_local(s) for s in manifest["subject"].unique())
        raise PreprocessError(dataset, f"subject {_local(namespaced)!r} is not in the manifest (subjects: {known})")
    return rows


def process_sample(row, dataset: str, settings: dict, timer: Timer, face: Face | None = None,
                   read: FrameReader | None = None) -> tuple[dict, dict]:
    """(arrays of one sample, metadata) — or raise NoFaceError when no face is found.

    ``face`` is the result of the subject's batched onset detection (None: search here); ``read``
    the sample's frame reader (holding the frames already decoded).
    """
    read = read or FrameReader(row, dataset, timer, settings["damaged_frames"])
    onset, offset = int(row.onset), int(row.offset)
    s, c, f = settings["crop_size"], settings["clip_size"], settings["flow_size"]

    if face is None:
        search = list(range(onset, min(offset, onset + settings["face_search_frames"] - 1) + 1))
        with timer.stage("detect"):
            frames = [(n, read(n)) for n in search]
            face = find_face(frames, settings["device"], settings["detect_max_side"], settings["min_face_size"],
                             settings["min_face_score"])
        if face is None:
            raise NoFaceError(dataset, f"no face found on frames {search[0]}..{search[-1]} "
                                           f"(onset and the next {len(search) - 1})", row.subject, row.sample)

    with timer.stage("align"):
        matrix = alignment_matrix(face.landmarks, s, settings["canonical"], settings["mouth_weight"])

    def crop(number: int, size: int = s, crop_matrix: np.ndarray = matrix) -> np.ndarray:
        """Aligned RGB crop of side ``size``. The frame is decoded at the smallest JPEG reduction that
        still gives at least one source pixel per crop pixel, then warped straight to ``size``."""
        sized = scale_matrix(crop_matrix, size / s)
        factor = reduction_for(sized, settings["reduced_decode"])
        out = warp(read(number, factor), for_reduced(sized, factor), size)
        return as_grey_rgb(out) if settings["colour"] == "grey" else out

    def grey(number: int, size: int) -> np.ndarray:
        return cv2.cvtColor(crop(number, size), cv2.COLOR_RGB2GRAY)

    registered: dict[int, np.ndarray] = {onset: matrix}   # frame -> its crop matrix (the apex may be a clip frame)
    registration: dict[str, float] = {}
    onset_grey = None

    def frame_matrix(number: int) -> np.ndarray:
        """The crop matrix of a frame: the onset's, registered to the onset face (preprocess/register.py)."""
        nonlocal onset_grey
        if not settings["register_frames"]:
            return matrix
        if number not in registered:
            size = min(settings["register_size"], s)     # a global motion needs no detail: a smaller grid
            with timer.stage("register"):
                onset_grey = grey(onset, size) if onset_grey is None else onset_grey
                motion = rescale_motion(frame_motion(onset_grey, grey(number, size)), s / size)
            registration[str(number)] = round(motion_size(motion, s), 3)
            registered[number] = registered_matrix(matrix, motion)
        return registered[number]

    meta: dict = {"sample": row.sample, "face_frame": face.frame, "face_score": face.score}
    apex_source = row.apex_source
    if pd.isna(row.apex):
        with timer.stage("apex"):
            candidates = apex_mod.candidate_frames(onset, offset, settings["apex"]["max_candidates"])
            size = settings["apex"]["size"]
            greys = {n: grey(n, size) for n in candidates}
            apex, scores = apex_mod.estimate_apex(grey(onset, size), greys)
        apex_source = "estimated"
        meta["apex_scores"] = {str(k): round(v, 5) for k, v in scores.items()}
    else:
        apex = int(row.apex)
    meta.update(apex=apex, apex_source=apex_source)

    with timer.stage("align"):
        onset_rgb, apex_rgb = crop(onset), crop(apex, s, frame_matrix(apex))

    with timer.stage("flow"):
        fcfg = settings["flow"]
        to_grey = lambda rgb: cv2.cvtColor(rgb if f == s else cv2.resize(rgb, (f, f), interpolation=cv2.INTER_AREA),
                                           cv2.COLOR_RGB2GRAY)
        flow = flow_with_strain(to_grey(onset_rgb), to_grey(apex_rgb), fcfg["method"], fcfg[fcfg["method"]],
                                fcfg["remove_global_motion"], fcfg["normalise"])

    with timer.stage("clip"):
        length = settings["clip_length"]
        times = sample_times(onset, offset, length, settings["clip_sampling"], settings["fps"],
                             settings["clip_seconds"])
        plan = clip_plan(onset, offset, length, times)
        frames = {n: crop(n, c, frame_matrix(n)) for n in frames_needed(plan)}
        clip = assemble_clip(plan, frames).transpose(0, 3, 1, 2)

    arrays = {"sample": row.sample, "onset_rgb": onset_rgb, "apex_rgb": apex_rgb, "flow": flow.astype(np.float16),
              "clip": np.ascontiguousarray(clip), "landmarks": face.landmarks.astype(np.float32),
              "align_matrix": matrix.astype(np.float32), "face_box": np.asarray(face.box, np.float32),
              "face_score": np.float32(face.score), "face_frame": np.int32(face.frame),
              "onset": np.int32(onset), "apex": np.int32(apex), "offset": np.int32(offset),
              "apex_source": apex_source}
    meta["frames_used"] = [[n, r] for n, r in sorted(read.decoded)]
    meta["registration_px"] = registration   # frame -> largest head-drift correction, crop pixels
    meta["substitutions"] = list(read.substitutions)   # damaged frames and their stand-ins
    return arrays, meta


def detect_onsets(rows: pd.DataFrame, readers: list[FrameReader], settings: dict, timer: Timer) -> list[Face | None]:
    """One batched MTCNN pass over the onset frames of all rows; None where no face was found."""
    frames = [reader(int(r.onset)) for reader, r in zip(readers, rows.itertuples(index=False))]
    faces: list[Face | None] = []
    with timer.stage("detect"):
        hits = detect_faces(frames, settings["device"], settings["detect_max_side"], settings["min_face_size"],
                            settings["min_face_score"])
        for frame, hit, r in zip(frames, hits, rows.itertuples(index=False)):
            faces.append(None if hit is None else Face(box=hit[0], score=hit[1],
                                                       landmarks=landmarks_in_box(frame, hit[0]), frame=int(r.onset)))
    return faces


def process_subject(manifest: pd.DataFrame, dataset: str, subject: str, settings: dict | None = None,
                    progress: bool = False, timer: Timer | None = None) -> tuple[dict, dict]:
    """(stacked arrays, sidecar metadata) of one subject, samples in manifest order."""
    from tqdm import tqdm

    settings = resolve(settings)
    rows = subject_rows(manifest, dataset, subject)
    timer = timer or Timer()
    started = time.perf_counter()
    get_detector(settings["device"], settings["min_face_size"])
    get_predictor()
    timer.add("load", started)
    readers = [FrameReader(r, dataset, timer, settings["damaged_frames"]) for r in rows.itertuples(index=False)]
    faces = detect_onsets(rows, readers, settings, timer)
    per_sample, metas, skipped = [], [], []
    bar = tqdm(list(zip(rows.itertuples(index=False), faces, readers)), desc=f"{dataset}/{_local(subject)}",
               unit="sample", disable=not progress, file=sys.stderr, mininterval=0, ascii=True)
    for row, face, read in bar:
        try:
            arrays, meta = process_sample(row, dataset, settings, timer, face, read)
            read.cache.clear()
        except NoFaceError as exc:
            if settings["on_no_face"] == "skip":
                print(f"warning: skipped: {exc}", file=sys.stderr)
                skipped.append({"sample": row.sample, "reason": str(exc)})
                continue
            raise
        per_sample.append(arrays)
        metas.append(meta)
    bar.close()
    if per_sample:
        stacked = {k: np.stack([np.asarray(a[k]) for a in per_sample]) for k in per_sample[0]}
    else:
        stacked = empty_arrays(settings)
    meta = {"dataset": dataset, "subject": rows["subject"].iloc[0], "samples": metas, "skipped": skipped,
            "settings": settings, "flow_encoding": "pixels" if settings["flow"]["normalise"] == "none" else "unit_max",
            "timing_s": {k: round(v, 4) for k, v in timer.seconds.items()}, "frames_decoded": timer.frames_decoded}
    return stacked, meta


def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(int(threads))
    cv2.setNumThreads(int(threads))


def run(manifest_path, dataset: str, subject: str, out, settings: dict | None = None, progress: bool = True) -> dict:
    """Read the manifest, process the subject, write the artefact (+ sidecar); return the metadata."""
    from famnet.datasets import read_manifest

    settings = resolve(settings)
    set_threads(settings["threads"])
    manifest = read_manifest(manifest_path)
    started = time.perf_counter()
    rows = subject_rows(manifest, dataset, subject)
    if (rows["flow_file"] != "").all():      # a precomputed release (famnet.datasets.formats: arrays)
        from famnet.datasets.formats import FORMATS
        from preprocess.release import process_release_subject

        arrays, meta = process_release_subject(rows, dataset, settings, progress=progress)
        keys = FORMATS[meta["format"]].arrays
    else:
        arrays, meta = process_subject(manifest, dataset, subject, settings, progress=progress)
        keys = None
    meta["seconds"] = round(time.perf_counter() - started, 3)
    meta["provenance"] = artefact_provenance(settings, rows, meta.get("format"))
    write_subject(out, arrays, meta, compress=settings["compress"], keys=keys)
    return meta


def artefact_provenance(settings: dict, rows: pd.DataFrame, format_name: str | None = None) -> dict:
    """What built the artefact (famnet.provenance): the settings that shape its arrays (those its
    format reads) and their hash, and the fingerprint of what it read (``inputs``: its manifest
    rows' preprocessing columns and its source files), which the train job checks; the subject's
    manifest rows and the code, recorded."""
    from famnet.provenance import code_version, digest, preprocess_provenance, subject_fingerprint

    return {**preprocess_provenance(settings, format_name), "inputs": subject_fingerprint(rows),
            "manifest_rows": digest(rows.astype(str).to_dict("records")), "code_version": code_version()}

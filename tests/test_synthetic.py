"""The synthetic generator: deterministic, sized like the real data, labelled like it, and the pixels
move where the drawn AUs say (checked with optical flow on landmarks found independently by dlib)."""

import dataclasses
import hashlib
import warnings
from collections import Counter
from pathlib import Path

import cv2
import dlib
import numpy as np
import pytest
from conftest import ALL_FORMATS

from famnet.datasets.synthetic import generate, plan_format, render_sample, resolve_settings
from famnet.datasets.synthetic.motion import AUEvent, intensity_profile

with warnings.catch_warnings():  # it imports pkg_resources, which warns on import
    warnings.simplefilter("ignore", UserWarning)
    import face_recognition_models

MEGC_FORMATS = ("casme2", "samm", "smic")


# --- determinism -----------------------------------------------------------------------------------

def file_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def small_smic(out_dir: Path, seed: int, workers: int = 1) -> dict[str, str]:
    generate(out_dir, size="tiny", seed=seed, formats=("smic",), progress=False, workers=workers,
             subjects=1, samples_per_class=1)
    return file_hashes(out_dir)


def test_generation_is_deterministic_in_the_seed(tmp_path):
    first = small_smic(tmp_path / "a", seed=0)
    again = small_smic(tmp_path / "b", seed=0, workers=2)  # parallel rendering changes nothing
    other = small_smic(tmp_path / "c", seed=1)

    assert (tmp_path / "a" / "truth.csv").read_bytes() == (tmp_path / "b" / "truth.csv").read_bytes()
    assert first == again
    frames = {name: digest for name, digest in first.items() if name.endswith(".jpg")}
    other_frames = {name: digest for name, digest in other.items() if name.endswith(".jpg")}
    assert len(frames) > 3 * 8
    assert not set(frames.values()) & set(other_frames.values()), "seed 1 repeated frames of seed 0"


# --- sizes -----------------------------------------------------------------------------------------

def test_full_size_has_the_megc2019_shape():
    settings = resolve_settings("full", {})
    plans = {fmt: plan_format(fmt, settings, 0) for fmt in MEGC_FORMATS}
    assert {fmt: len(specs) for fmt, specs in plans.items()} == {"casme2": 145, "samm": 133, "smic": 164}
    assert sum(len({s.subject for s in specs}) for specs in plans.values()) == 68
    classes = Counter(s.emotion_class for specs in plans.values() for s in specs)
    assert classes == {"negative": 250, "positive": 109, "surprise": 83}


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_tiny_size(fmt):
    specs = plan_format(fmt, resolve_settings("tiny", {}), 0)
    per_subject = Counter(s.subject for s in specs)
    assert len(per_subject) == 2
    assert set(per_subject.values()) == {6}


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_tiny_frames_are_320x240_and_samm_is_greyscale(synthetic_tiny, fmt):
    out_dir, info = synthetic_tiny
    frame = next((Path(out_dir) / info["layouts"][fmt]["root"]).rglob("*.jpg"))
    image = cv2.imread(str(frame))
    assert image is not None and image.shape == (240, 320, 3)
    # as the releases: SAMM's JPEGs hold one channel, the others three
    stored = cv2.imread(str(frame), cv2.IMREAD_UNCHANGED)
    assert stored.shape == ((240, 320) if fmt == "samm" else (240, 320, 3))
    assert info["greyscale"] == ["samm"]


def test_each_layout_has_its_release_frame_rate(synthetic_tiny):
    # the same movement recorded at 200 (CASME II, SAMM), 100 (SMIC), 90 (MMEW) and 30 fps (CAS(ME)^3)
    _, info = synthetic_tiny
    assert info["fps"] == {"casme2": 200, "samm": 200, "smic": 100, "mmew": 90, "casme3": 30}
    settings = resolve_settings("tiny", {})
    mean_frames = {fmt: np.mean([s.n_frames for s in plan_format(fmt, settings, 0)]) for fmt in ALL_FORMATS}
    assert 19 < mean_frames["casme2"] < 29 and 19 < mean_frames["samm"] < 29          # 24 +- 20 %
    assert 0.4 < mean_frames["smic"] / mean_frames["casme2"] < 0.6
    assert mean_frames["casme3"] == 8                                                  # the generator's minimum


# --- labels ----------------------------------------------------------------------------------------

ALLOWED_AUS = {  # class: (AUs every sample has, AUs a sample may have)
    "positive": ({6, 12}, {6, 12}),
    "negative": ({4}, {4, 7, 9, 10, 14, 15}),
    "surprise": ({1, 2}, {1, 2, 25, 26}),
}


@pytest.mark.parametrize("fmt", MEGC_FORMATS)
def test_drawn_aus_follow_the_class(fmt):
    specs = plan_format(fmt, resolve_settings("full", {}), 0)
    assert {s.emotion_class for s in specs} == set(ALLOWED_AUS)
    for spec in specs:
        aus = {event.au for event in spec.events}
        required, allowed = ALLOWED_AUS[spec.emotion_class]
        assert required <= aus <= allowed, (spec.subject, spec.sample, spec.emotion_class, aus)


# --- the pixels move where the AU says -------------------------------------------------------------

FLOW_SETTINGS = {"amplitude_px": 3.0, "width": 640, "height": 480}
CHEEKS = ((41, 40, 49), (46, 47, 53))   # AU6 anchors below the eyes (image-left and image-right)
BROWS = tuple(range(17, 27))
MOUTH_CORNERS = (48, 54)


@pytest.fixture(scope="module")
def landmarker():
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())

    def find(bgr):
        """(face box as (left, top, right, bottom), (68, 2) landmarks) of the most confident face."""
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        boxes, scores, _ = detector.run(rgb, 1)
        assert boxes, "dlib found no face on the rendered frame"
        box = boxes[int(np.argmax(scores))]
        points = np.array([[p.x, p.y] for p in predictor(rgb, box).parts()], dtype=np.float64)
        return (box.left(), box.top(), box.right(), box.bottom()), points
    return find


def onset_and_apex(spec, settings):
    """The rendered onset and apex frames (BGR), without head drift and sensor noise."""
    frames = {}
    for number, frame in render_sample(spec, settings, 0, drift=False, noise=False):
        if number in (spec.onset, spec.apex):
            frames[number] = frame
        if number >= spec.apex:
            break
    return frames[spec.onset], frames[spec.apex]


def discs(shape, centres, radius) -> np.ndarray:
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]]
    mask = np.zeros(shape, dtype=bool)
    for x, y in centres:
        mask |= (xs - x) ** 2 + (ys - y) ** 2 <= radius ** 2
    return mask


def measure_flow(emotion_class, events, target, moved, landmarker):
    """Flow onset -> apex of one sample with exactly `events`: statistics near the `target`
    landmarks and over the face box away from every `moved` region."""
    settings = resolve_settings("full", FLOW_SETTINGS)
    spec = next(s for s in plan_format("casme2", settings, 0) if s.emotion_class == emotion_class)
    spec = dataclasses.replace(spec, events=events)
    onset, apex = onset_and_apex(spec, settings)
    (left, top, right, bottom), points = landmarker(onset)
    iod = float(np.linalg.norm(points[42:48].mean(0) - points[36:42].mean(0)))

    grey = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in (onset, apex)]
    flow = cv2.calcOpticalFlowFarneback(grey[0], grey[1], None, 0.5, 3, 15, 3, 5, 1.2, 0)
    magnitude = np.linalg.norm(flow, axis=2)

    near = discs(magnitude.shape, points[list(target)], 0.25 * iod)
    face = np.zeros(magnitude.shape, dtype=bool)
    face[max(top, 0):bottom, max(left, 0):right] = True
    moved_centres = [points[list(group)].mean(0) for group in moved]
    rest = face & ~discs(magnitude.shape, moved_centres, 0.6 * iod)
    assert rest.sum() > 0.1 * face.sum(), "too little of the face box left to compare with"
    stats = {"near": float(magnitude[near].mean()), "rest": float(magnitude[rest].mean()),
             "dy": float(flow[..., 1][near].mean()), "peak": float(magnitude[near].max())}
    stats["ratio"] = stats["near"] / max(stats["rest"], 1e-6)
    print(emotion_class, spec.subject, {k: round(v, 3) for k, v in stats.items()})
    return stats


def assert_localised(stats):
    assert stats["ratio"] >= 3.0, stats
    assert 0.5 <= stats["peak"] <= 4.5, stats


def test_positive_moves_the_mouth_corners_up(landmarker):
    stats = measure_flow("positive", [AUEvent(6), AUEvent(12)], MOUTH_CORNERS,
                         [(48,), (54,), *CHEEKS], landmarker)
    assert_localised(stats)
    assert stats["dy"] < 0, stats


def test_surprise_raises_the_brows(landmarker):
    stats = measure_flow("surprise", [AUEvent(1), AUEvent(2)], BROWS, [(i,) for i in BROWS], landmarker)
    assert_localised(stats)
    assert stats["dy"] < 0, stats


def test_negative_lowers_the_brows(landmarker):
    stats = measure_flow("negative", [AUEvent(4)], BROWS, [(i,) for i in BROWS], landmarker)
    assert_localised(stats)
    assert stats["dy"] > 0, stats


# --- time course -----------------------------------------------------------------------------------

@pytest.mark.parametrize("n, onset, apex, offset", [(30, 5, 12, 25), (24, 0, 9, 23), (64, 3, 30, 40)])
def test_intensity_profile(n, onset, apex, offset):
    profile = intensity_profile(n, onset, apex, offset)
    assert profile.shape == (n,)
    assert profile[onset] == pytest.approx(0.0, abs=1e-12)
    assert profile[apex] == pytest.approx(1.0)
    assert profile[offset] == pytest.approx(0.0, abs=1e-12)
    assert profile.max() == pytest.approx(1.0) and profile.min() >= 0.0
    assert np.all(np.diff(profile[onset:apex + 1]) > 0)       # rises onset -> apex
    assert np.all(np.diff(profile[apex:offset + 1]) < 0)      # falls apex -> offset
    assert np.all(profile[:onset] == 0) and np.all(profile[offset + 1:] == 0)


@pytest.mark.parametrize("n, onset, apex, offset", [(10, 2, 2, 6), (10, 2, 6, 6)])
def test_intensity_profile_peaks_at_an_apex_on_the_clip_edge(n, onset, apex, offset):
    profile = intensity_profile(n, onset, apex, offset)
    assert profile[apex] == pytest.approx(1.0) and profile.max() == pytest.approx(1.0)
    assert profile[onset if apex != onset else offset] == pytest.approx(0.0, abs=1e-12)

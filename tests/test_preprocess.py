"""Preprocessing stage: face detection + alignment, flow + strain, clips, apex estimation, the
artefact and its loader, and every failure path's message (synthetic data + a real face photo)."""

import dataclasses
import json
import re
import shutil

import cv2
import numpy as np
import pandas as pd
import pytest

from famnet.config import ConfigError, load_schema, validate_config
from famnet.datasets import build_manifest
from famnet.datasets.synthetic import generate, plan_format, render_sample, resolve_settings, subject_appearance
from famnet.datasets.synthetic.face import base_face, subject_transform
from famnet.datasets.synthetic.motion import AUEvent, anchors
from preprocess.apex import candidate_frames, estimate_apex, smooth
from preprocess.artifact import ARRAY_KEYS, load_subject, skip_report, write_subject
from preprocess.clip import assemble_clip, clip_plan, frames_needed, sample_times
from preprocess.face import (alignment_matrix, anchor_points, canonical_points, find_face, scale_matrix,
                             similarity_lstsq, transform_points, warp)
from preprocess.flow import face_mask, flow_with_strain, normalise, optical_flow, optical_strain
from preprocess.qc import qc_figure
from preprocess.register import frame_motion, registered_matrix, rescale_motion
from preprocess.run import (DamagedFrameError, FrameReader, NoFaceError, PreprocessError, Timer,
                            process_subject, run)
from preprocess.settings import resolve

SMALL = {"crop_size": 112, "clip_size": 48, "clip_length": 8, "flow_size": 64, "apex": {"size": 64}}


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    """Tiny synthetic CASME II + SMIC layouts, one subject each (6 samples apiece), and manifests."""
    out = tmp_path_factory.mktemp("pre") / "syn"
    info = generate(out, size="tiny", seed=0, formats=("casme2", "smic"), progress=False, subjects=1)
    manifests = {
        "syn_casme2": build_manifest("syn_casme2", "casme2", out / "CASME2/CASME2_RAW_selected",
                                     out / "CASME2/CASME2-coding-20140508.xlsx"),
        "syn_smic": build_manifest("syn_smic", "smic", out / "SMIC/HS"),
    }
    return out, info, manifests, pd.read_csv(out / "truth.csv", dtype={"subject": str})


@pytest.fixture(scope="module")
def smic_subject(syn):
    """process_subject on SMIC s01 (every apex unknown) at small sizes."""
    _, _, manifests, _ = syn
    return process_subject(manifests["syn_smic"], "syn_smic", "s01", SMALL)


def _rgb(frame_bgr):
    return cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)


def _true_eyes(fmt, spec, size=(320, 240)):
    """Eye centres of a synthetic frame (no drift) from the generator's own geometry, left to right."""
    _, photo_landmarks = base_face()
    matrix = subject_transform(subject_appearance(fmt, spec.subject_index, 0), photo_landmarks, size)
    eyes = transform_points(matrix, np.stack([photo_landmarks[36:42].mean(0), photo_landmarks[42:48].mean(0)]))
    return eyes[np.argsort(eyes[:, 0])], matrix


# ---------------------------------------------------------------- face + alignment

def test_face_found_on_the_real_photo_and_aligned_eyes_on_canonical_points():
    from skimage import data

    image = np.ascontiguousarray(data.astronaut())
    face = find_face([(0, image)])
    assert face is not None and face.score > 0.99
    x0, y0, x1, y1 = face.box
    assert 150 < (x0 + x1) / 2 < 300 and 50 < (y0 + y1) / 2 < 200   # the astronaut's face, upper centre
    matrix = alignment_matrix(face.landmarks, 224)
    crop = warp(image, matrix, 224)
    # Detect again on the aligned crop: its eye centres sit on the canonical points.
    again = find_face([(0, crop)], max_side=0)
    error = np.linalg.norm(anchor_points(again.landmarks)[:2] - canonical_points(224)[:2], axis=1)
    assert error.max() < 2.0, error


@pytest.mark.parametrize("fmt,index", [("casme2", 0), ("casme2", 6), ("smic", 0), ("smic", 6)])
def test_synthetic_eyes_land_within_2px_of_canonical(fmt, index):
    settings = resolve_settings("tiny", {})
    spec = plan_format(fmt, settings, 0)[index]
    number, frame = next(render_sample(spec, settings, 0, drift=False, noise=True))
    face = find_face([(number, _rgb(frame))])
    assert face is not None
    eyes, _ = _true_eyes(fmt, spec)
    matrix = alignment_matrix(face.landmarks, 224)
    error = np.linalg.norm(transform_points(matrix, eyes) - canonical_points(224)[:2], axis=1)
    assert error.max() < 2.0, error


def test_similarity_is_exact_for_eyes_alone_and_never_reflects():
    src = np.array([[10.0, 20.0], [50.0, 25.0], [30.0, 70.0]])
    dst = canonical_points(100)
    m = similarity_lstsq(src, dst, np.array([1.0, 1.0, 0.0]))
    assert np.allclose(transform_points(m, src[:2]), dst[:2], atol=1e-9)
    assert np.linalg.det(m[:, :2]) > 0
    with pytest.raises(ValueError, match="coincide"):
        similarity_lstsq(np.zeros((3, 2)), dst)


# ---------------------------------------------------------------- flow + strain

def _apex_flow(events, drift, size=128):
    """Flow onset->apex of a synthetic sample with the given AUs, and the AU anchors in crop pixels."""
    settings = resolve_settings("tiny", {})
    spec = dataclasses.replace(plan_format("casme2", settings, 0)[6], events=events)
    frames = dict(render_sample(spec, settings, 0, drift=drift, noise=drift))
    face = find_face([(spec.onset, _rgb(frames[spec.onset]))])
    matrix = alignment_matrix(face.landmarks, size)
    grey = lambda n: cv2.cvtColor(warp(_rgb(frames[n]), matrix, size), cv2.COLOR_RGB2GRAY)
    field = flow_with_strain(grey(spec.onset), grey(spec.apex))
    _, photo_landmarks = base_face()
    _, subject = _true_eyes("casme2", spec)
    linear = matrix[:, :2] @ subject[:, :2]
    points = []
    for event in events:
        for centre, direction in anchors(event, photo_landmarks):
            where = transform_points(matrix, transform_points(subject, centre[None]))[0]
            d = linear @ direction
            points.append((where, d / np.linalg.norm(d)))
    return field, points


@pytest.mark.parametrize("events,drift", [([AUEvent(12)], True), ([AUEvent(4)], False), ([AUEvent(12, "L")], True)])
def test_flow_is_strongest_in_the_moved_au_region_and_points_its_way(events, drift):
    size = 128
    field, points = _apex_flow(events, drift, size)
    ys, xs = np.mgrid[0:size, 0:size]
    magnitude = np.hypot(field[0], field[1])
    region = np.zeros((size, size), bool)
    for where, direction in points:
        distance2 = (xs - where[0]) ** 2 + (ys - where[1]) ** 2
        near = distance2 <= (0.06 * size) ** 2
        mean = np.array([field[0][near].mean(), field[1][near].mean()])
        assert mean @ direction / np.linalg.norm(mean) > 0.9, (where, direction, mean)   # the right direction
        assert np.linalg.norm(mean) > 0.3                                                # a real movement
        region |= distance2 <= (0.15 * size) ** 2
    elsewhere = face_mask(size) & ~region
    assert magnitude[region].mean() > 3 * magnitude[elsewhere].mean()
    assert np.quantile(magnitude[elsewhere], 0.95) < 0.25                              # small elsewhere (px)
    if events[0].side == "L":   # a unilateral AU leaves the other mouth corner still
        other = np.array([size - points[0][0][0], points[0][0][1]])
        near_other = (xs - other[0]) ** 2 + (ys - other[1]) ** 2 <= (0.06 * size) ** 2
        assert magnitude[near_other].mean() < 0.35 * magnitude[(xs - points[0][0][0]) ** 2 +
                                                               (ys - points[0][0][1]) ** 2 <= (0.06 * size) ** 2].mean()


def test_strain_matches_an_analytic_field():
    ys, xs = np.mgrid[0:40, 0:50].astype(np.float64)
    u = 0.01 * xs * ys + 0.003 * xs ** 2
    v = 0.02 * xs ** 2 - 0.005 * ys ** 2
    ux, uy = 0.01 * ys + 0.006 * xs, 0.01 * xs
    vx, vy = 0.04 * xs, -0.01 * ys
    expected = np.sqrt(ux ** 2 + vy ** 2 + 0.5 * (uy + vx) ** 2)
    strain = optical_strain(np.stack([u, v]).astype(np.float32))
    assert np.allclose(strain[1:-1, 1:-1], expected[1:-1, 1:-1], rtol=1e-4, atol=1e-4)
    # A rigid motion (translation + small rotation) has no strain.
    theta = 0.01
    rigid = np.stack([1.5 - theta * ys, -0.7 + theta * xs]).astype(np.float32)
    assert np.abs(optical_strain(rigid)).max() < 1e-5


def test_flow_methods_shift_and_normalisation():
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur((rng.random((64, 64)) * 255).astype(np.uint8), (0, 0), 2)
    shifted = np.roll(texture, 1, axis=1)   # content moves +1 px in x
    for method in ("tvl1", "farneback"):
        flow = optical_flow(texture, shifted, method)
        assert flow.shape == (2, 64, 64)
        assert abs(np.median(flow[0][8:-8, 8:-8]) - 1.0) < 0.2 and abs(np.median(flow[1][8:-8, 8:-8])) < 0.2
    field = np.stack([flow[0], flow[1], optical_strain(flow)])
    scaled = normalise(field, "max")
    assert np.hypot(scaled[0], scaled[1]).max() == pytest.approx(1.0, abs=1e-5)
    assert scaled[2].max() == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="unknown flow method 'lk'"):
        optical_flow(texture, shifted, "lk")
    with pytest.raises(ValueError, match="unknown flow normalisation 'std'"):
        normalise(field, "std")
    with pytest.raises(ValueError, match="two grey images of one shape"):
        optical_flow(texture, texture[:32], "tvl1")


# ---------------------------------------------------------------- clips

@pytest.mark.parametrize("onset,offset,length", [(10, 40, 16), (10, 25, 16), (5, 9, 16), (3, 3, 4), (1, 100, 1)])
def test_clip_has_exactly_t_frames_from_onset_to_offset(onset, offset, length):
    plan = clip_plan(onset, offset, length)
    assert len(plan) == length
    assert plan[0][0] == onset
    if length > 1:
        assert plan[-1][0] + plan[-1][2] == pytest.approx(offset)
    times = [a + w * (b - a) for a, b, w in plan]
    assert all(t2 >= t1 for t1, t2 in zip(times, times[1:]))
    if offset - onset + 1 >= length:   # uniform sampling, no interpolation, no repeats
        assert all(w == 0 for _, _, w in plan) and len({a for a, _, _ in plan}) == length
    frames = {n: np.full((2, 2, 3), n, np.uint8) for n in frames_needed(plan)}
    clip = assemble_clip(plan, frames)
    assert clip.shape == (length, 2, 2, 3)
    assert np.allclose(clip[:, 0, 0, 0], np.round(times), atol=1)   # interpolated values follow time


@pytest.mark.parametrize("fps, onset, offset, frames", [
    (200, 100, 200, [100, 120, 140, 160]),    # 0.3 s at 200 fps: a step of 20 frames
    (100, 100, 200, [100, 110, 120, 130]),    # the same 0.3 s at 100 fps: 10 frames
    (200, 100, 150, [100, 120, 140, 150]),    # past the offset: the offset frame
])
def test_clip_sampling_by_time_takes_the_same_seconds_at_any_frame_rate(fps, onset, offset, frames):
    times = sample_times(onset, offset, 4, "time", fps=fps, seconds=0.3)
    plan = clip_plan(onset, offset, 4, times)
    assert [a for a, _, _ in plan] == frames and all(w == 0 for _, _, w in plan)


def test_clip_sampling_by_time_blends_when_frames_are_scarcer_than_clip_frames():
    # CAS(ME)^3 at 30 fps: 0.1 s holds 3 frames, a clip of 5 frames is interpolated between them
    times = sample_times(10, 40, 5, "time", fps=30, seconds=0.1)
    assert np.allclose(times, [10, 10.75, 11.5, 12.25, 13])
    plan = clip_plan(10, 40, 5, times)
    assert plan[1] == (10, 11, pytest.approx(0.75)) and plan[-1] == (13, 13, 0.0)
    with pytest.raises(ValueError, match="needs the frame rate and clip_seconds"):
        sample_times(10, 40, 5, "time", fps=None, seconds=0.1)
    with pytest.raises(ValueError, match="unknown clip sampling 'frames'"):
        sample_times(10, 40, 5, "frames")


def test_clip_plan_refuses_bad_input():
    with pytest.raises(ValueError, match="clip length must be at least 1"):
        clip_plan(1, 5, 0)
    with pytest.raises(ValueError, match="offset 1 is before onset 5"):
        clip_plan(5, 1, 4)


# ---------------------------------------------------------------- apex estimation + a whole subject

def test_apex_candidates_and_smoothing():
    assert candidate_frames(10, 40, 16) == list(range(12, 41, 2))
    assert candidate_frames(10, 15, 16) == [11, 12, 13, 14, 15]
    assert candidate_frames(7, 7) == [7]
    assert np.allclose(smooth(np.array([0.0, 4.0, 0.0])), [1.0, 2.0, 1.0])
    blank = np.zeros((32, 32), np.uint8)
    with pytest.raises(ValueError, match="no candidate frames"):
        estimate_apex(blank, {})


def test_estimated_apex_is_near_the_true_apex(smic_subject, syn):
    arrays, meta = smic_subject
    truth = syn[3].set_index("sample")
    assert list(arrays["apex_source"]) == ["estimated"] * 6
    for sample, apex in zip(arrays["sample"], arrays["apex"]):
        row = truth.loc[sample.replace("s01_", "s1_")]
        tolerance = max(2, round(0.2 * (row.offset - row.onset + 1)))
        assert abs(int(apex) - row.apex) <= tolerance, (sample, apex, row.apex)


def test_subject_arrays_have_the_documented_shapes(smic_subject):
    arrays, meta = smic_subject
    n = 6
    expected = {"onset_rgb": ((n, 112, 112, 3), np.uint8), "apex_rgb": ((n, 112, 112, 3), np.uint8),
                "flow": ((n, 3, 64, 64), np.float16), "clip": ((n, 8, 3, 48, 48), np.uint8),
                "landmarks": ((n, 68, 2), np.float32), "align_matrix": ((n, 2, 3), np.float32),
                "onset": ((n,), np.int32), "apex": ((n,), np.int32), "offset": ((n,), np.int32)}
    for key, (shape, dtype) in expected.items():
        assert arrays[key].shape == shape and arrays[key].dtype == dtype, key
    assert set(ARRAY_KEYS) <= set(arrays)
    assert (arrays["onset"] <= arrays["apex"]).all() and (arrays["apex"] <= arrays["offset"]).all()
    assert (arrays["face_frame"] == arrays["onset"]).all()
    assert meta["skipped"] == [] and meta["subject"] == "syn_smic/s01"
    assert all(sample["apex_scores"] for sample in meta["samples"])
    # decode only what is used: onset, apex, clip frames and apex candidates (SMIC's short clips at
    # 100 fps need most of their frames; a long one would not)
    for sample, onset, apex, offset in zip(meta["samples"], arrays["onset"], arrays["apex"], arrays["offset"]):
        onset, apex, offset = int(onset), int(apex), int(offset)
        needed = ({onset, apex} | set(candidate_frames(onset, offset, 16))
                  | set(frames_needed(clip_plan(onset, offset, 8))))
        assert {n for n, _ in sample["frames_used"]} <= needed
    # every clip frame and the apex registered to the onset, the correction recorded per frame
    for sample, onset, apex, offset in zip(meta["samples"], arrays["onset"], arrays["apex"], arrays["offset"]):
        plan = clip_plan(int(onset), int(offset), 8)
        assert set(sample["registration_px"]) == {str(n) for n in frames_needed(plan) + [int(apex)]} - {str(onset)}
        assert all(0 < px < 4 for px in sample["registration_px"].values())   # the generator's drift is ~1 px


def _drifted(frame: np.ndarray, shift: tuple[float, float], angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """``frame`` moved as a head would (rotation about its centre, then a shift): (frame, 3x3 map)."""
    height, width = frame.shape[:2]
    move = np.vstack([cv2.getRotationMatrix2D((width / 2, height / 2), angle_deg, 1.0), [0, 0, 1]])
    move[:2, 2] += shift
    return cv2.warpAffine(frame, move[:2], (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT101), move


def test_registration_recovers_a_known_head_movement_and_leaves_the_expression():
    # The apex of a drift-free synthetic sample (AU 12 moves the mouth corners), moved by a known
    # rotation + shift in the frame; the onset's alignment crops both. The estimated motion must be
    # the known one carried into crop coordinates (M D M^-1), not the smile's, and the registered
    # apex must sit on the onset face again while its smile stays.
    settings = resolve_settings("tiny", {})
    spec = dataclasses.replace(plan_format("casme2", settings, 0)[6], events=[AUEvent(12)])
    frames = {n: _rgb(f) for n, f in render_sample(spec, settings, 0, drift=False, noise=False)}
    size = 64
    matrix = alignment_matrix(find_face([(spec.onset, frames[spec.onset])]).landmarks, size)
    moved, move = _drifted(frames[spec.apex], (1.6, -1.1), 0.7)
    grey = lambda rgb, m: cv2.cvtColor(warp(rgb, m, size), cv2.COLOR_RGB2GRAY)
    onset = grey(frames[spec.onset], matrix)
    motion = frame_motion(onset, grey(moved, matrix))

    crop = np.vstack([matrix, [0, 0, 1]])
    truth = crop @ move @ np.linalg.inv(crop)
    ys, xs = np.nonzero(face_mask(size))
    points = np.stack([xs, ys, np.ones_like(xs)]).astype(np.float64)
    error = np.linalg.norm((motion @ points - truth @ points)[:2], axis=0)
    drift = np.linalg.norm((truth @ points - points)[:2], axis=0)
    assert drift.mean() > 0.4 and error.mean() < 0.25 * drift.mean(), (drift.mean(), error.mean())
    # estimated on this 64 grid, carried to a 128 crop (register_size below crop_size): the known
    # movement in the 128 crop's coordinates
    big = np.vstack([scale_matrix(matrix, 2.0), [0, 0, 1]])
    points_big = np.vstack([2 * points[:2], points[2:]])
    truth_big = big @ move @ np.linalg.inv(big)
    error_big = np.linalg.norm((rescale_motion(motion, 2.0) @ points_big - truth_big @ points_big)[:2], axis=0)
    assert error_big.mean() < 0.25 * np.linalg.norm((truth_big @ points_big - points_big)[:2], axis=0).mean()

    registered = grey(moved, registered_matrix(matrix, motion)).astype(float)
    unregistered, still = grey(moved, matrix).astype(float), grey(frames[spec.apex], matrix).astype(float)
    inside = face_mask(size, margin=0.05)
    assert np.abs(registered - still)[inside].mean() < 0.5 * np.abs(unregistered - still)[inside].mean()
    # the expression survives: registered apex minus onset is largest at the mouth corners
    mouth = np.zeros((size, size), bool)
    mouth[int(0.7 * size):int(0.88 * size), int(0.2 * size):int(0.8 * size)] = True
    change = np.abs(registered - onset.astype(float))
    assert change[mouth & inside].mean() > 2 * change[inside & ~mouth].mean()


FAST = {"crop_size": 64, "clip_size": 32, "clip_length": 4, "flow_size": 32, "apex": {"size": 32},
        "flow": {"method": "farneback"}}


def _equal_channels(images: np.ndarray) -> bool:
    return bool((images[..., 0] == images[..., 1]).all() and (images[..., 1] == images[..., 2]).all())


def test_greyscale_release_and_colour_grey(tmp_path):
    out = tmp_path / "syn"
    generate(out, size="tiny", seed=0, formats=("samm", "casme2"), progress=False, subjects=1)
    samm = build_manifest("syn_samm", "samm", out / "SAMM/SAMM", out / "SAMM/SAMM_Micro_FACS_Codes_v2.xlsx")
    casme2 = build_manifest("syn_casme2", "casme2", out / "CASME2/CASME2_RAW_selected",
                            out / "CASME2/CASME2-coding-20140508.xlsx")
    local = lambda manifest: manifest["subject"].iloc[0].split("/", 1)[1]
    # SAMM's one-channel JPEGs: found, aligned, and cropped into three equal channels
    grey_release, meta = process_subject(samm, "syn_samm", local(samm), FAST)
    assert meta["skipped"] == [] and len(meta["samples"]) == 6
    clips = grey_release["clip"].transpose(0, 1, 3, 4, 2)          # N, T, H, W, C
    assert _equal_channels(grey_release["onset_rgb"]) and _equal_channels(clips)
    # colour: grey gives a colour release the same: the luminance (ITU-R 601 weights) in every channel
    kept, _ = process_subject(casme2, "syn_casme2", local(casme2), FAST)
    greyed, _ = process_subject(casme2, "syn_casme2", local(casme2), {**FAST, "colour": "grey"})
    assert not _equal_channels(kept["onset_rgb"]) and _equal_channels(greyed["onset_rgb"])
    luminance = kept["onset_rgb"].astype(float) @ np.array([0.299, 0.587, 0.114])
    assert np.abs(greyed["onset_rgb"][..., 0] - luminance).max() <= 1.0


def test_run_writes_artefact_atomically_and_loader_reads_it(syn, tmp_path):
    out, _, manifests, truth = syn
    manifest_path = tmp_path / "syn_casme2.csv"
    manifests["syn_casme2"].to_csv(manifest_path, index=False)
    target = tmp_path / "pre" / "sub01.npz"
    meta = run(manifest_path, "syn_casme2", "sub01", target, {**SMALL, "flow": {"method": "farneback"}},
               progress=False)
    assert sorted(p.name for p in target.parent.iterdir()) == ["sub01.json", "sub01.npz"]   # no temp files left
    data = load_subject(target)
    assert list(data["sample"]) == list(manifests["syn_casme2"]["sample"])
    sources = dict(zip(data["sample"], data["apex_source"]))
    unknown = truth[(truth.format == "casme2") & truth.apex_unknown]["sample"].tolist()
    assert unknown and all(sources[s] == "estimated" for s in unknown)
    assert all(sources[s] == "annotated" for s in sources if s not in unknown)
    annotated = truth.set_index("sample")
    for sample, apex, source in zip(data["sample"], data["apex"], data["apex_source"]):
        if source == "annotated":
            assert apex == annotated.loc[sample, "apex"]
    assert data["meta"]["settings"]["flow"]["method"] == "farneback"
    assert data["meta"]["arrays"]["clip"]["shape"] == [6, 8, 3, 48, 48]
    assert json.loads(target.with_suffix(".json").read_text())["dataset"] == "syn_casme2"
    assert meta["seconds"] > 0
    figure = qc_figure(target, tmp_path / "qc" / "sub01.png")
    image = cv2.imread(str(figure))
    assert image is not None and image.shape[0] > 300 and image.shape[1] > 600


# ---------------------------------------------------------------- failure paths

def _blank_sample(tmp_path, frames=range(1, 9)):
    """A one-sample manifest of faceless frames 1..8; frame n is uniform grey 100 + n, so the frame a
    reader returned can be told from its pixels."""
    folder = tmp_path / "blank"
    folder.mkdir()
    for n in frames:
        cv2.imwrite(str(folder / f"img{n}.jpg"), np.full((120, 160, 3), 100 + n, np.uint8))
    row = {"dataset": "d", "subject": "d/s1", "sample": "blank01", "frames_dir": str(folder),
           "frame_pattern": "img{}.jpg", "onset": 1, "apex": 4, "offset": 8, "n_frames": 8, "emotion": "x",
           "aus": "", "apex_source": "annotated", "fixes": ""}
    frame = pd.DataFrame([row])
    for column in ("onset", "apex", "offset", "n_frames"):
        frame[column] = frame[column].astype("Int64")
    return frame


def test_no_face_is_an_error_naming_the_sample_and_frames(tmp_path):
    manifest = _blank_sample(tmp_path)
    with pytest.raises(NoFaceError, match=r"dataset 'd', subject 's1', sample 'blank01': no face found on "
                                          r"frames 1\.\.5 \(onset and the next 4\)"):
        process_subject(manifest, "d", "s1", SMALL)


def test_no_face_with_skip_is_listed_never_silent(tmp_path, capsys):
    manifest = _blank_sample(tmp_path)
    arrays, meta = process_subject(manifest, "d", "s1", {**SMALL, "on_no_face": "skip"})
    assert arrays["onset_rgb"].shape == (0, 112, 112, 3) and arrays["clip"].shape == (0, 8, 3, 48, 48)
    assert [s["sample"] for s in meta["skipped"]] == ["blank01"]
    assert "no face found" in meta["skipped"][0]["reason"]
    assert "warning: skipped: dataset 'd', subject 's1', sample 'blank01': no face found" in capsys.readouterr().err
    target = tmp_path / "out" / "s1.npz"
    write_subject(target, arrays, meta)
    assert load_subject(target)["meta"]["skipped"][0]["sample"] == "blank01"
    assert qc_figure(target, tmp_path / "qc" / "s1.png").stat().st_size > 1000   # a figure even with N = 0
    report = skip_report([target.with_suffix(".json")], "d")
    assert report["samples_skipped"] == 1 and report["skipped"][0]["subject"] == "d/s1"
    assert report["skipped"][0]["sample"] == "blank01"


def test_missing_frame_and_unknown_subject_are_named(syn, tmp_path):
    manifest = syn[2]["syn_casme2"].copy()
    first = manifest.iloc[0]
    (tmp_path / "frames").mkdir()
    manifest.loc[0, "frames_dir"] = str(tmp_path / "frames")
    with pytest.raises(PreprocessError, match=rf"sample '{first['sample']}': cannot read frame {first.onset}: "):
        process_subject(manifest.iloc[:1], "syn_casme2", "sub01", SMALL)
    with pytest.raises(PreprocessError, match=r"dataset 'syn_casme2': subject 'sub09' is not in the manifest "
                                              r"\(subjects: \['sub01'\]\)"):
        process_subject(manifest, "syn_casme2", "sub09", SMALL)


# ---------------------------------------------------------------- damaged frames

def _texture():
    rng = np.random.default_rng(0)
    return cv2.GaussianBlur((rng.random((120, 160, 3)) * 255).astype(np.uint8), (0, 0), 2)


def _damage(path, kind):
    """Overwrite a frame file with a damaged one (zero bytes, truncated or garbage); return its path."""
    if kind == "truncated":   # a real JPEG cut to half its length, as a half-written file
        jpeg = cv2.imencode(".jpg", _texture())[1].tobytes()
        path.write_bytes(jpeg[:len(jpeg) // 2])
    else:
        path.write_bytes(b"" if kind == "zero bytes" else np.random.default_rng(1).bytes(4000))
    return path


def _reader(manifest, **damaged):
    settings = resolve({"damaged_frames": damaged})["damaged_frames"]
    return FrameReader(next(manifest.itertuples(index=False)), "d", Timer(), settings)


@pytest.mark.parametrize("kind,reason", [("zero bytes", "zero bytes"), ("garbage", "cannot be decoded"),
                                         ("truncated", "truncated JPEG, no end-of-image marker")])
@pytest.mark.parametrize("reduce", [1, 4])
def test_damaged_frame_is_an_error_naming_sample_frame_path_and_why(tmp_path, kind, reason, reduce):
    manifest = _blank_sample(tmp_path)
    path = _damage(tmp_path / "blank" / "img3.jpg", kind)
    read = _reader(manifest)
    assert read(2, reduce)[0, 0, 0] == 102
    with pytest.raises(DamagedFrameError, match=rf"^dataset 'd', subject 's1', sample 'blank01': frame 3 is damaged "
                                                rf"\({re.escape(reason)}\): {re.escape(str(path))}$"):
        read(3, reduce)
    assert read.decoded == [(2, reduce)] and read.substitutions == []


def test_truncated_jpeg_is_caught_where_imread_decoded_it_silently(tmp_path):
    manifest = _blank_sample(tmp_path)
    path = _damage(tmp_path / "blank" / "img3.jpg", "truncated")
    whole = cv2.imdecode(cv2.imencode(".jpg", _texture())[1], cv2.IMREAD_COLOR)
    silent = cv2.imread(str(path))   # the reader before: a whole-sized frame, only a libjpeg warning on stderr
    assert silent is not None and silent.shape == whole.shape
    assert (silent[-30:] == silent[-1, -1]).all() and whole[-30:].std() > 5   # its lower part is flat grey fill
    with pytest.raises(DamagedFrameError, match=r"frame 3 is damaged \(truncated JPEG"):
        _reader(manifest)(3)
    # padding after the end-of-image marker is not damage
    (tmp_path / "blank" / "img4.jpg").write_bytes(cv2.imencode(".jpg", _texture())[1].tobytes() + bytes(16))
    assert np.array_equal(cv2.cvtColor(_reader(manifest)(4), cv2.COLOR_RGB2BGR), whole)


def test_nearest_policy_uses_the_nearest_readable_frame_earlier_first(tmp_path, capsys):
    manifest = _blank_sample(tmp_path)   # onset 1, offset 8
    for n, kind in ((1, "garbage"), (2, "truncated"), (5, "zero bytes")):
        _damage(tmp_path / "blank" / f"img{n}.jpg", kind)
    read = _reader(manifest, policy="nearest")
    assert read(1)[0, 0, 0] == 103              # the onset: only later frames are in onset..offset; 2 is damaged
    assert read(5)[0, 0, 0] == 104              # 4 and 6 equally near: the earlier
    assert read(5, 4).shape == (30, 40, 3) and read(5, 4)[0, 0, 0] == 104   # the same stand-in at any size
    assert read.substitutions == [{"frame": 1, "used": 3, "reason": "cannot be decoded"},
                                  {"frame": 5, "used": 4, "reason": "zero bytes"}]
    assert read.decoded == [(3, 1), (4, 1)]    # (4, 4) from the full-size 4; the damaged ones failed
    err = capsys.readouterr().err
    assert (f"warning: damaged frame: dataset 'd', subject 's1', sample 'blank01': frame 5 is damaged (zero bytes): "
            f"{tmp_path / 'blank' / 'img5.jpg'}; frame 4 used instead") in err


def test_damaged_onset_without_a_readable_frame_in_the_window_stops_nearest(tmp_path):
    manifest = _blank_sample(tmp_path)
    for n in (1, 2, 3):
        _damage(tmp_path / "blank" / f"img{n}.jpg", "garbage")
    with pytest.raises(DamagedFrameError, match=r"sample 'blank01': frame 1 is damaged \(cannot be decoded\): "
                                                r".*img1\.jpg; no readable frame was found within ±2 frames "
                                                r"\(onset\.\.offset 1\.\.8\)"):
        process_subject(manifest, "d", "s1", {**SMALL, "damaged_frames": {"policy": "nearest"}})


def test_nearest_substitutes_a_damaged_onset_and_apex_and_records_them(syn, tmp_path, capsys):
    manifest = syn[2]["syn_casme2"].iloc[:1].copy()
    row = manifest.iloc[0]   # onset 69, apex 82 (annotated), offset 95
    folder = shutil.copytree(row.frames_dir, tmp_path / "frames")
    manifest["frames_dir"] = str(folder)
    onset, apex = int(row.onset), int(row.apex)
    _damage(folder / row.frame_pattern.format(onset), "truncated")
    _damage(folder / row.frame_pattern.format(apex), "garbage")
    arrays, meta = process_subject(manifest, "syn_casme2", "sub01",
                                   {**SMALL, "flow": {"method": "farneback"}, "damaged_frames": {"policy": "nearest"}})
    assert arrays["face_frame"][0] == onset and arrays["apex"][0] == apex   # detected on the stand-in for the onset
    substitutions = [{"frame": onset, "used": onset + 1, "reason": "truncated JPEG, no end-of-image marker"},
                     {"frame": apex, "used": apex - 1, "reason": "cannot be decoded"}]
    assert meta["samples"][0]["substitutions"] == substitutions
    err = capsys.readouterr().err
    for n in (onset, apex):
        assert (f"warning: damaged frame: dataset 'syn_casme2', subject 'sub01', sample '{row['sample']}': "
                f"frame {n} is damaged") in err and str(folder / row.frame_pattern.format(n)) in err
    target = tmp_path / "out" / "sub01.npz"
    write_subject(target, arrays, meta)
    assert load_subject(target)["meta"]["samples"][0]["substitutions"] == substitutions
    report = skip_report([target.with_suffix(".json")], "syn_casme2")
    assert report["frames_substituted"] == 2
    assert report["substitutions"] == [{"subject": "syn_casme2/sub01", "sample": row["sample"], **entry}
                                       for entry in substitutions]


def test_bad_preprocess_settings_name_the_key():
    with pytest.raises(ConfigError, match=r"config error at preprocess: unknown key 'crop'"):
        resolve({"crop": 3})
    with pytest.raises(ConfigError, match=r"config error at preprocess.flow: unknown key 'metod'"):
        resolve({"flow": {"metod": "tvl1"}})
    with pytest.raises(ConfigError, match=r"config error at preprocess.on_no_face: 'ignore' is not one of"):
        resolve({"on_no_face": "ignore"})
    with pytest.raises(ConfigError, match=r"config error at preprocess.damaged_frames.policy: 'skip' is not one of"):
        resolve({"damaged_frames": {"policy": "skip"}})
    with pytest.raises(ConfigError, match=r"config error at preprocess.damaged_frames.window"):
        resolve({"damaged_frames": {"window": 0}})
    assert resolve(None)["crop_size"] == 224 and resolve({"flow": {"method": "farneback"}})["flow"]["tvl1"]


def test_config_schema_checks_the_preprocess_section():
    import yaml
    from pathlib import Path

    config = yaml.safe_load((Path(__file__).resolve().parent.parent / "config" / "config.yaml").read_text())
    demo_sizes = {"crop_size": 64, "clip_size": 32, "clip_length": 4, "flow_size": 64}
    # config.yaml documents the defaults, except the CPU demo's sizes
    assert resolve(config["preprocess"]) == {**resolve(None), **demo_sizes}
    config["preprocess"]["flow"]["method"] = "lk"
    with pytest.raises(ConfigError, match=r"config error at preprocess.flow.method"):
        validate_config(config, load_schema())
    config["preprocess"]["flow"]["method"] = "tvl1"
    config["preprocess"]["sise"] = 3
    with pytest.raises(ConfigError, match=r"config error at preprocess: unknown key"):
        validate_config(config, load_schema())


def test_cli_reports_a_bad_subject_in_one_line(syn, tmp_path, capsys):
    from famnet.cli import main

    manifest_path = tmp_path / "m.csv"
    syn[2]["syn_smic"].to_csv(manifest_path, index=False)
    code = main(["preprocess", "--manifest", str(manifest_path), "--dataset", "syn_smic", "--subject", "s7",
                 "--out", str(tmp_path / "s7.npz"), "--quiet"])
    assert code == 1
    assert "error: dataset 'syn_smic': subject 's7' is not in the manifest" in capsys.readouterr().err
    assert not (tmp_path / "s7.npz").exists()


def test_loader_names_a_missing_artefact(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the preprocess rule"):
        load_subject(tmp_path / "nothing.npz")


def test_schema_documents_the_same_defaults_as_the_code():
    from preprocess.settings import DEFAULTS

    def walk(schema, defaults, where):
        for key, sub in schema["properties"].items():
            assert key in defaults, f"{where}.{key} is in the schema but has no default in the code"
            if "default" in sub:
                assert sub["default"] == defaults[key], f"{where}.{key}"
            elif "properties" in sub:
                walk(sub, defaults[key], f"{where}.{key}")
        assert set(defaults) == set(schema["properties"]), where

    walk(load_schema()["properties"]["preprocess"], DEFAULTS, "preprocess")
